// Package feed writes scraped items to feeds (Scrapy's FEEDS and -o/-O):
// JSON lines, a JSON array, CSV and XML, to files or stdout. Every format is
// valid after any kind of stop that runs Close (finish, Ctrl-C, a second
// Ctrl-C): the JSON array's "]" and the XML's "</items>" are written on
// Close, and appending (-o) to an existing JSON or XML feed continues the
// array or document instead of producing two concatenated documents.
//
// A file feed that exports no item leaves no trace unless StoreEmpty is
// set: every change to an existing file (truncating it for -O, cutting the
// closing "]" or "</items>" for -o) is held back until the first item is
// written, and a file Open had to create is removed on Close. The file is
// still created at Open so that a path that cannot be written fails before
// the crawl starts.
package feed

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"

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
	// Indent pretty-prints json and xml with that many spaces per level
	// (FEED_EXPORT_INDENT); 0 (or negative, as in Scrapy) writes one item
	// per line. jsonlines and csv ignore it.
	Indent int
	// StoreEmpty writes the empty document ("[]", the bare <items>, the
	// header) when no item was exported. When false, a file feed without
	// items leaves no trace: a file it created is removed on Close and an
	// existing file (-o or -O) is left byte for byte as it was. Standard
	// output always gets the empty document.
	StoreEmpty bool
	// Logger receives the notice that a torn last record left by a killed
	// run was cut before appending [discard].
	Logger *slog.Logger
}

// knownFormats are the format names -o FILE:FORMAT and feeds' format
// take, as the messages list them (jl is an alias too).
const knownFormats = "jsonlines, jsonl, json, csv, xml"

// formatWord is what follows the last ":" of an -o argument when it is
// meant as a format (out.json:yaml), not part of the path (C:items.json,
// file:///tmp/x.json).
var formatWord = regexp.MustCompile(`^[A-Za-z0-9_]*$`)

// ParseOutput parses the argument of -o/-O: FILE or FILE:FORMAT, "-" or
// "-:FORMAT" for stdout (stdout defaults to jsonlines). A FORMAT that is
// not a known one is an error ("unknown format yaml (known: jsonlines,
// jsonl, json, csv, xml)"); FILE may hold the %(name)s, %(time)s and
// spider-argument parameters of Scrapy's feed URIs (ExpandURI).
func ParseOutput(arg string, overwrite bool) (Config, error) {
	if arg == "" {
		return Config{}, errors.New("empty feed output")
	}
	cfg := Config{URI: arg, Overwrite: overwrite}
	if i := strings.LastIndexByte(arg, ':'); i > 0 && formatWord.MatchString(arg[i+1:]) {
		name := arg[i+1:]
		f, err := ParseFormat(name)
		switch {
		case name == "":
			return Config{}, fmt.Errorf("no format after \":\" (known: %s)", knownFormats)
		case err != nil:
			return Config{}, fmt.Errorf("unknown format %s (known: %s)", name, knownFormats)
		}
		cfg.URI, cfg.Format = arg[:i], f
		return cfg, nil
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

	mu      sync.Mutex
	file    *os.File     // nil for stdout
	path    string       // the file's path
	created bool         // Open created the file (it did not exist)
	pending *pendingFile // the file, until the first write changes it; nil with StoreEmpty
	bw      *bufio.Writer
	exp     exporter
	count   int
	closed  bool
	err     error // first write error; later writes are skipped
}

// encodingLabel turns a Python codec name, as Scrapy users write
// FEED_EXPORT_ENCODING (latin-1, latin_1, utf_8, iso8859_15, cp1251), into
// the WHATWG label of the same encoding; WHATWG labels pass unchanged.
// Like WHATWG (and browsers), latin-1 names windows-1252.
func encodingLabel(name string) string {
	l := strings.ToLower(strings.TrimSpace(name))
	l = strings.ReplaceAll(l, "_", "-")
	if rest, ok := strings.CutPrefix(l, "latin-"); ok {
		l = "latin" + rest
	}
	if rest, ok := strings.CutPrefix(l, "iso8859-"); ok {
		l = "iso-8859-" + rest
	}
	return l
}

// Open opens the feed; stdout is used for URI "-".
func Open(cfg Config, stdout io.Writer) (*Feed, error) {
	if _, err := ParseFormat(string(cfg.Format)); err != nil {
		return nil, fmt.Errorf("feed %s: %w", cfg.URI, err)
	}
	cfg.Indent = max(cfg.Indent, 0)
	f := &Feed{cfg: cfg, name: cfg.URI}
	var enc encoding.Encoding = unicode.UTF8
	if cfg.Encoding != "" && !strings.EqualFold(cfg.Encoding, "utf-8") && !strings.EqualFold(cfg.Encoding, "utf8") {
		e, err := htmlindex.Get(encodingLabel(cfg.Encoding))
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
		// As Scrapy's file storage, create the feed's directory.
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, fmt.Errorf("feed: %w", err)
		}
		file, created, err := openFile(path)
		if err != nil {
			return nil, fmt.Errorf("feed: %w", err)
		}
		fail := func(err error) (*Feed, error) {
			file.Close()
			if created {
				os.Remove(path)
			}
			return nil, fmt.Errorf("feed %s: %w", path, err)
		}
		// prepare makes the first change to the file; it runs now with
		// StoreEmpty, else just before the first byte is written.
		var prepare func() error
		if cfg.Overwrite {
			prepare = func() error { return truncate(file) }
		} else {
			if resume, prepare, err = prepareAppend(file, cfg.Format); err != nil {
				return fail(err)
			}
			if resume.cutBytes > 0 && cfg.Logger != nil {
				cfg.Logger.Warn("feed ends with a torn record (a run was killed or its disk filled up): cutting it before appending",
					"feed", path, "bytes", resume.cutBytes)
			}
			if resume.csvHeader != nil && len(cfg.Fields) > 0 && !slices.Equal(resume.csvHeader, cfg.Fields) {
				return fail(fmt.Errorf("cannot append: its header %q differs from the feed's fields %q (use -O to overwrite)",
					resume.csvHeader, cfg.Fields))
			}
		}
		f.file, f.path, f.created = file, path, created
		if cfg.StoreEmpty {
			if err := prepare(); err != nil {
				return fail(err)
			}
			w = file
		} else {
			f.pending = &pendingFile{f: file, prepare: prepare}
			w = f.pending
		}
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
		f.err = fmt.Errorf("feed %s: %w", f.name, writeErr{err})
	}
	return f.err
}

// Sync flushes buffered output and fsyncs the file, so that what was
// exported survives a kill and a power loss (the engine's group commit
// calls it before acknowledging requests). A write error is sticky: every
// later Export, Flush and Sync returns it. Standard output, pipes and
// devices are flushed only.
func (f *Feed) Sync() error {
	if err := f.Flush(); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || f.file == nil || f.untouched() {
		return nil
	}
	if err := f.file.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		f.err = fmt.Errorf("feed %s: %w", f.name, writeErr{err})
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
	if f.untouched() {
		// Nothing was exported and nothing reached the file: leave it as
		// it was before Open, or remove it if Open created it.
		err := f.file.Close()
		if f.created {
			if rerr := os.Remove(f.path); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
				err = errors.Join(err, rerr)
			}
		}
		if err != nil {
			return fmt.Errorf("feed %s: %w", f.name, err)
		}
		return nil
	}
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
		return fmt.Errorf("feed %s: %w", f.name, writeErr{err})
	}
	return f.err
}

// untouched reports a file feed without StoreEmpty that exported nothing
// and has not changed its file yet. Exporters write only for an item that
// serialized, so an empty buffer and an unprepared file mean no item; the
// engine's periodic Flush of an empty buffer writes nothing.
func (f *Feed) untouched() bool {
	return f.pending != nil && !f.pending.started() && f.count == 0 && f.err == nil && f.bw.Buffered() == 0
}

// openFile opens path for reading and writing, creating it if needed, and
// reports whether it created it (O_EXCL, so a file that appears meanwhile
// is never taken for ours and removed).
func openFile(path string) (*os.File, bool, error) {
	for range 3 {
		file, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return file, true, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, false, err
		}
		file, err = os.OpenFile(path, os.O_RDWR, 0o644)
		if err == nil {
			return file, false, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, false, err
		}
		// Removed between the two opens: try again.
	}
	return nil, false, fmt.Errorf("open %s: the file keeps appearing and disappearing", path)
}

// truncate empties a regular file for -O; devices and pipes (/dev/null, a
// FIFO) cannot be truncated and are written as they are, as O_TRUNC did.
func truncate(file *os.File) error {
	st, err := file.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return nil
	}
	if err := file.Truncate(0); err != nil {
		return err
	}
	_, err = file.Seek(0, io.SeekStart)
	return err
}

// pendingFile runs prepare (truncation, cutting the closing bracket) just
// before the first write, so a feed that never writes leaves its file
// unchanged.
type pendingFile struct {
	f       *os.File
	prepare func() error // nil once run
}

func (p *pendingFile) Write(b []byte) (int, error) {
	if p.prepare != nil {
		if err := p.prepare(); err != nil {
			return 0, err
		}
		p.prepare = nil
	}
	return p.f.Write(b)
}

func (p *pendingFile) started() bool { return p.prepare == nil }

// writeErr marks an error of the underlying writer (as opposed to an item
// that cannot be serialized, which only loses that item).
type writeErr struct{ error }

func (e writeErr) Unwrap() error { return e.error }

// WriteFailed marks the error as the storage's (the engine stops the crawl
// with feed_error), not one item's.
func (writeErr) WriteFailed() bool { return true }

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

// Sync flushes and fsyncs every feed.
func (s *Set) Sync() error {
	var errs []error
	for _, f := range s.feeds {
		errs = append(errs, f.Sync())
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
