// Package feed writes scraped items to feeds (Scrapy's FEEDS and -o/-O):
// JSON lines, a JSON array, CSV and XML, to files or stdout. Every format is
// valid after any kind of stop that runs Close (finish, Ctrl-C, a second
// Ctrl-C): the JSON array's "]" and the XML's "</items>" are written on
// Close, and appending (-o) to an existing JSON or XML feed continues the
// array or document instead of producing two concatenated documents.
package feed

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Format is a feed format name (FEEDS' format key).
type Format string

// Formats.
const (
	JSONLines Format = "jsonlines"
	JSON      Format = "json"
	CSV       Format = "csv"
	XML       Format = "xml"
)

// Formats lists the supported formats.
var Formats = []Format{JSONLines, JSON, CSV, XML}

// ParseFormat validates a format name; "jl" and "jsonl" are aliases of
// jsonlines.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(s) {
	case "jsonlines", "jsonl", "jl":
		return JSONLines, nil
	case "json":
		return JSON, nil
	case "csv":
		return CSV, nil
	case "xml":
		return XML, nil
	}
	return "", fmt.Errorf("unknown feed format %q (want jsonlines, json, csv or xml)", s)
}

// FormatFromPath infers the format from a file extension: .jsonl .jl
// .jsonlines, .json, .csv, .xml.
func FormatFromPath(path string) (Format, error) {
	ext := strings.TrimPrefix(filepath.Ext(path), ".")
	if ext == "" {
		return "", fmt.Errorf("feed %s: cannot infer the format without an extension; write FILE:FORMAT", path)
	}
	f, err := ParseFormat(ext)
	if err != nil {
		return "", fmt.Errorf("feed %s: cannot infer the format from .%s; write FILE:FORMAT", path, ext)
	}
	return f, nil
}

// Config is one feed (a FEEDS entry or an -o/-O flag).
type Config struct {
	// URI is a file path (or file:// URL), or "-" for standard output.
	URI    string
	Format Format
	// Overwrite truncates an existing file (-O); otherwise items are
	// appended (-o), continuing an existing JSON array, XML document or CSV
	// table.
	Overwrite bool
	// Fields selects and orders the exported fields (FEED_EXPORT_FIELDS);
	// empty means every field, in item order.
	Fields []string
	// Encoding is the output encoding (FEED_EXPORT_ENCODING), a WHATWG label
	// such as "latin1"; empty means UTF-8.
	Encoding string
}

// ParseOutput parses the argument of -o/-O: FILE or FILE:FORMAT, "-" or
// "-:FORMAT" for stdout (stdout defaults to jsonlines).
func ParseOutput(arg string, overwrite bool) (Config, error) {
	if arg == "" {
		return Config{}, errors.New("empty feed output")
	}
	cfg := Config{URI: arg, Overwrite: overwrite}
	if i := strings.LastIndexByte(arg, ':'); i >= 0 {
		if f, err := ParseFormat(arg[i+1:]); err == nil && i > 0 {
			cfg.URI, cfg.Format = arg[:i], f
			return cfg, nil
		}
	}
	if cfg.URI == "-" {
		cfg.Format = JSONLines
		return cfg, nil
	}
	f, err := FormatFromPath(strings.TrimPrefix(cfg.URI, "file://"))
	if err != nil {
		return Config{}, err
	}
	cfg.Format = f
	return cfg, nil
}

// Feed is one open feed. Export and Close are safe for concurrent use.
type Feed struct {
	cfg  Config
	name string

	mu     sync.Mutex
	file   *os.File // nil for stdout
	bw     *bufio.Writer
	exp    exporter
	count  int
	closed bool
	err    error // first write error; later writes are skipped
}

// Open opens the feed; stdout is used for URI "-".
func Open(cfg Config, stdout io.Writer) (*Feed, error) {
	if _, err := ParseFormat(string(cfg.Format)); err != nil {
		return nil, fmt.Errorf("feed %s: %w", cfg.URI, err)
	}
	f := &Feed{cfg: cfg, name: cfg.URI}
	var enc encoding.Encoding = unicode.UTF8
	if cfg.Encoding != "" && !strings.EqualFold(cfg.Encoding, "utf-8") && !strings.EqualFold(cfg.Encoding, "utf8") {
		e, err := htmlindex.Get(cfg.Encoding)
		if err != nil {
			return nil, fmt.Errorf("feed %s: unknown encoding %q: %w", cfg.URI, cfg.Encoding, err)
		}
		enc = e
	}
	var resume resumeState
	var w io.Writer
	if cfg.URI == "-" {
		if stdout == nil {
			stdout = os.Stdout
		}
		w = stdout
	} else {
		path := strings.TrimPrefix(cfg.URI, "file://")
		flags := os.O_RDWR | os.O_CREATE
		if cfg.Overwrite {
			flags |= os.O_TRUNC
		}
		file, err := os.OpenFile(path, flags, 0o644)
		if err != nil {
			return nil, fmt.Errorf("feed: %w", err)
		}
		if !cfg.Overwrite {
			if resume, err = prepareAppend(file, cfg.Format); err != nil {
				file.Close()
				return nil, fmt.Errorf("feed %s: %w", path, err)
			}
			if resume.csvHeader != nil && len(cfg.Fields) > 0 && !slices.Equal(resume.csvHeader, cfg.Fields) {
				file.Close()
				return nil, fmt.Errorf("feed %s: cannot append: its header %q differs from the feed's fields %q (use -O to overwrite)",
					path, resume.csvHeader, cfg.Fields)
			}
		}
		f.file = file
		w = file
	}
	if enc != unicode.UTF8 {
		w = encoding.ReplaceUnsupported(enc.NewEncoder()).Writer(w)
	}
	f.bw = bufio.NewWriterSize(w, 64<<10)
	f.exp = newExporter(cfg, f.bw, resume, enc)
	return f, nil
}

// Name is the feed's URI.
func (f *Feed) Name() string { return f.name }

// Count is the number of items exported.
func (f *Feed) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// Export writes one item.
func (f *Feed) Export(it *crawl.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("feed %s: export after close", f.name)
	}
	if f.err != nil {
		return f.err
	}
	if err := f.exp.export(it); err != nil {
		if isWriteErr(err) {
			f.err = fmt.Errorf("feed %s: %w", f.name, err)
			return f.err
		}
		return fmt.Errorf("feed %s: %w", f.name, err)
	}
	f.count++
	return nil
}

// Flush pushes buffered output to the file (the engine calls it
// periodically so a killed process loses at most the last interval).
func (f *Feed) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.err != nil {
		return f.err
	}
	if err := f.bw.Flush(); err != nil {
		f.err = fmt.Errorf("feed %s: %w", f.name, err)
	}
	return f.err
}

// Close finishes the document (closing bracket or tag), flushes and closes
// the file. It is idempotent.
func (f *Feed) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	var errs []error
	if f.err == nil {
		if err := f.exp.finish(); err != nil {
			errs = append(errs, err)
		}
		if err := f.bw.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	if f.file != nil {
		if fin, ok := f.exp.(finalizer); ok && len(errs) == 0 && f.err == nil {
			if err := fin.finalize(f.file); err != nil {
				errs = append(errs, err)
			}
		}
		if err := f.file.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("feed %s: %w", f.name, err)
	}
	return f.err
}

// writeErr marks an error of the underlying writer (as opposed to an item
// that cannot be serialized, which only loses that item).
type writeErr struct{ error }

func (e writeErr) Unwrap() error { return e.error }

func isWriteErr(err error) bool {
	var w writeErr
	return errors.As(err, &w)
}

// Set is every feed of a crawl.
type Set struct {
	feeds []*Feed
}

// OpenAll opens every feed; on error the ones already open are closed.
func OpenAll(cfgs []Config, stdout io.Writer) (*Set, error) {
	s := &Set{}
	for _, c := range cfgs {
		f, err := Open(c, stdout)
		if err != nil {
			_ = s.Close()
			return nil, err
		}
		s.feeds = append(s.feeds, f)
	}
	return s, nil
}

// Feeds returns the open feeds.
func (s *Set) Feeds() []*Feed { return s.feeds }

// Export writes it to every feed; one feed failing does not stop the others.
func (s *Set) Export(it *crawl.Item) error {
	var errs []error
	for _, f := range s.feeds {
		if err := f.Export(it); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Flush flushes every feed.
func (s *Set) Flush() error {
	var errs []error
	for _, f := range s.feeds {
		errs = append(errs, f.Flush())
	}
	return errors.Join(errs...)
}

// Close closes every feed.
func (s *Set) Close() error {
	var errs []error
	for _, f := range s.feeds {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
