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
//
// The FEEDS options a Scrapy user brings are Config fields: fields given
// as a mapping (Rename), item_export_kwargs (Export, ParseExportKwargs),
// batch_item_count (BatchItemCount: a series of files, each opened with
// its first item and fsynced when full) and postprocessing (Postprocessing,
// ParsePlugins: Scrapy's gzip, bz2 and lzma plugins). specs/feeds.md
// documents them; TestFeedReference compares every format and option with
// Scrapy 2.8's exporters and plugins.
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
	"time"

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
	// Rename gives output names to some of Fields (fields given as a
	// mapping, {"field": "Output name"}): the JSON key, the XML element,
	// the CSV header.
	Rename map[string]string
	// Export are the item_export_kwargs.
	Export ExportOptions
	// BatchItemCount starts a new file after that many items (Scrapy's
	// batch_item_count, FEED_EXPORT_BATCH_ITEM_COUNT); 0 writes one file.
	// With it, URI is a template expanded with Params for every batch
	// (its %(batch_id)d and %(batch_time)s change).
	BatchItemCount int
	Params         URIParams
	// Postprocessing are the plugins the output goes through (gzip, bz2,
	// lzma), in order.
	Postprocessing []Plugin
	// Durable says that acknowledgements wait on this feed's Sync (a
	// JOBDIR or Redis crawl): Open refuses what cannot be made durable or
	// continued after a kill (a compressed feed).
	Durable bool
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
// With BatchItemCount it is a series of files, one open at a time.
type Feed struct {
	cfg    Config
	name   string
	stdout io.Writer

	mu      sync.Mutex
	file    *os.File     // nil for stdout
	path    string       // the file's path
	created bool         // Open created the file (it did not exist)
	pending *pendingFile // the file, until the first write changes it; nil with StoreEmpty
	post    *chain       // postprocessing; nil without
	bw      *bufio.Writer
	exp     exporter // nil between two batches
	count   int      // items exported, every batch
	inBatch int      // items in the open batch
	batchID int      // the open (or last) batch, from 1
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

// Open opens the feed; stdout is used for URI "-". A batched feed opens
// its first batch now (so a path that cannot be written fails before the
// crawl), the next ones with their first item.
func Open(cfg Config, stdout io.Writer) (*Feed, error) {
	if _, err := ParseFormat(string(cfg.Format)); err != nil {
		return nil, fmt.Errorf("feed %s: %w", cfg.URI, err)
	}
	cfg.Indent = max(cfg.Indent, 0)
	if cfg.Durable && len(cfg.Postprocessing) > 0 && cfg.URI != "-" {
		return nil, fmt.Errorf("feed %s: %w", cfg.URI, ErrCompressedDurable)
	}
	if cfg.BatchItemCount > 0 && cfg.URI == "-" {
		return nil, fmt.Errorf("feed -: batch_item_count needs a file URI with %%(batch_id)d or %%(batch_time)s")
	}
	if stdout == nil {
		stdout = os.Stdout
	}
	f := &Feed{cfg: cfg, name: cfg.URI, stdout: stdout}
	if err := f.openPart(); err != nil {
		return nil, err
	}
	return f, nil
}

// ErrCompressedDurable refuses a compressed feed in a crawl whose
// acknowledgements wait on the feed (JOBDIR, Redis): its items are
// readable only once its stream is finished, and a killed run's file
// cannot be continued.
var ErrCompressedDurable = errors.New("postprocessing (compression) cannot be used with --jobdir/JOBDIR or the Redis scheduler: " +
	"a compressed file is complete only when the crawl ends, so after a kill its items would be lost although their requests are done; " +
	"write the feed uncompressed (jsonlines) and compress it afterwards")

// partURI is the URI of the open batch: Config.URI, or with
// BatchItemCount the template expanded for batch f.batchID.
func (f *Feed) partURI() (string, error) {
	if f.cfg.BatchItemCount <= 0 {
		return f.cfg.URI, nil
	}
	p := f.cfg.Params
	p.BatchID = f.batchID
	p.BatchTime = time.Now()
	uri, err := ExpandURI(f.cfg.URI, p)
	if err != nil {
		return "", fmt.Errorf("feed %s: %w", f.cfg.URI, err)
	}
	return uri, nil
}

// openPart opens the next file of the feed (the only one without
// batches).
func (f *Feed) openPart() error {
	cfg := f.cfg
	f.batchID++
	f.inBatch = 0
	f.file, f.path, f.created, f.pending, f.post = nil, "", false, nil, nil
	uri, err := f.partURI()
	if err != nil {
		return err
	}
	var enc encoding.Encoding = unicode.UTF8
	if cfg.Encoding != "" && !strings.EqualFold(cfg.Encoding, "utf-8") && !strings.EqualFold(cfg.Encoding, "utf8") {
		e, err := htmlindex.Get(encodingLabel(cfg.Encoding))
		if err != nil {
			return fmt.Errorf("feed %s: unknown encoding %q: %w", uri, cfg.Encoding, err)
		}
		enc = e
	}
	var resume resumeState
	var w io.Writer
	if uri == "-" {
		w = f.stdout
	} else {
		path := strings.TrimPrefix(uri, "file://")
		// As Scrapy's file storage, create the feed's directory.
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("feed: %w", err)
		}
		file, created, err := openFile(path)
		if err != nil {
			return fmt.Errorf("feed: %w", err)
		}
		fail := func(err error) error {
			file.Close()
			if created {
				os.Remove(path)
			}
			return fmt.Errorf("feed %s: %w", path, err)
		}
		// prepare makes the first change to the file; it runs now with
		// StoreEmpty, else just before the first byte is written.
		var prepare func() error
		switch {
		case cfg.Overwrite:
			prepare = func() error { return truncate(file) }
		case len(cfg.Postprocessing) > 0:
			// A compressed file cannot be cut or continued: jsonlines
			// gets a new compressed stream after the old one (the file
			// decompresses to both, as Scrapy's appending does).
			if prepare, err = appendCompressed(file, cfg.Format); err != nil {
				return fail(err)
			}
		default:
			if resume, prepare, err = prepareAppend(file, cfg.Format, cfg.Export); err != nil {
				return fail(err)
			}
			if resume.cutBytes > 0 && cfg.Logger != nil {
				cfg.Logger.Warn("feed ends with a torn record (a run was killed or its disk filled up): cutting it before appending",
					"feed", path, "bytes", resume.cutBytes)
			}
			if header := f.outputNames(); resume.csvHeader != nil && len(cfg.Fields) > 0 && !slices.Equal(resume.csvHeader, header) {
				return fail(fmt.Errorf("cannot append: its header %q differs from the feed's fields %q (use -O to overwrite)",
					resume.csvHeader, header))
			}
		}
		f.file, f.path, f.created = file, path, created
		if cfg.StoreEmpty && f.batchID == 1 {
			if err := prepare(); err != nil {
				return fail(err)
			}
			w = file
		} else {
			f.pending = &pendingFile{f: file, prepare: prepare}
			w = f.pending
		}
		if len(cfg.Postprocessing) > 0 {
			if f.post, err = newChain(cfg.Postprocessing, w, path); err != nil {
				return fail(err)
			}
			w = f.post
		}
	}
	if enc != unicode.UTF8 {
		w = encoding.ReplaceUnsupported(enc.NewEncoder()).Writer(w)
	}
	f.bw = bufio.NewWriterSize(w, 64<<10)
	f.exp = newExporter(cfg, f.bw, resume, enc)
	return nil
}

// outputNames are the feed's fields under their output names.
func (f *Feed) outputNames() []string {
	out := make([]string, len(f.cfg.Fields))
	for i, k := range f.cfg.Fields {
		out[i] = k
		if o, ok := f.cfg.Rename[k]; ok {
			out[i] = o
		}
	}
	return out
}

// appendCompressed positions an existing compressed file for appending:
// an empty one is written from the start, a jsonlines one gets a new
// stream after its end; other formats cannot be continued inside a
// compressed stream.
func appendCompressed(file *os.File, format Format) (func() error, error) {
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	if st.Mode().IsRegular() && st.Size() > 0 && format != JSONLines {
		return nil, fmt.Errorf("cannot append to a compressed %s feed (its document cannot be reopened inside the compressed stream): set overwrite (-O) or use jsonlines", format)
	}
	return func() error {
		_, err := file.Seek(0, io.SeekEnd)
		return err
	}, nil
}

// Name is the feed's URI.
func (f *Feed) Name() string { return f.name }

// Count is the number of items exported.
func (f *Feed) Count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.count
}

// Export writes one item. With BatchItemCount, the item that fills a
// batch closes its file and the next item opens the next one.
func (f *Feed) Export(it *crawl.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fmt.Errorf("feed %s: export after close", f.name)
	}
	if f.err != nil {
		return f.err
	}
	if f.exp == nil {
		if err := f.openPart(); err != nil {
			f.err = writeErr{err}
			return f.err
		}
	}
	if err := f.exp.export(it); err != nil {
		if isWriteErr(err) {
			f.err = fmt.Errorf("feed %s: %w", f.name, err)
			return f.err
		}
		return fmt.Errorf("feed %s: %w", f.name, err)
	}
	f.count++
	f.inBatch++
	if f.cfg.BatchItemCount > 0 && f.inBatch >= f.cfg.BatchItemCount {
		if err := f.closePart(); err != nil {
			f.err = err
			return f.err
		}
	}
	return nil
}

// Flush pushes buffered output to the file (the engine calls it
// periodically so a killed process loses at most the last interval). A
// gzip feed is sync-flushed: what was written so far decompresses
// (Bz2 and LZMA hold their last block until Close).
func (f *Feed) Flush() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flushLocked()
}

func (f *Feed) flushLocked() error {
	if f.closed || f.err != nil || f.exp == nil {
		return f.err
	}
	if err := f.bw.Flush(); err != nil {
		f.err = fmt.Errorf("feed %s: %w", f.name, writeErr{err})
		return f.err
	}
	if f.post != nil {
		if err := f.post.flush(); err != nil {
			f.err = fmt.Errorf("feed %s: %w", f.name, writeErr{err})
		}
	}
	return f.err
}

// Sync flushes buffered output and fsyncs the file, so that what was
// exported survives a kill and a power loss (the engine's group commit
// calls it before acknowledging requests). A write error is sticky: every
// later Export, Flush and Sync returns it. Standard output, pipes and
// devices are flushed only.
func (f *Feed) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.flushLocked(); err != nil {
		return err
	}
	if f.closed || f.exp == nil || f.file == nil || f.untouched() {
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
	if f.exp == nil {
		return f.err // between two batches: nothing open
	}
	if err := f.closePart(); err != nil {
		return err
	}
	return f.err
}

// closePart finishes the open file: its document, the postprocessing
// streams, the CSV header rewrite; a file that received nothing is left
// as it was (or removed, if Open created it).
func (f *Feed) closePart() error {
	exp := f.exp
	f.exp = nil
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
		if err := exp.finish(); err != nil {
			errs = append(errs, err)
		}
		if err := f.bw.Flush(); err != nil {
			errs = append(errs, err)
		}
		if f.post != nil && len(errs) == 0 {
			if err := f.post.close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if f.file != nil {
		if fin, ok := exp.(finalizer); ok && len(errs) == 0 && f.err == nil {
			if err := fin.finalize(f.file); err != nil {
				errs = append(errs, err)
			}
		}
		if f.cfg.BatchItemCount > 0 && len(errs) == 0 && f.err == nil {
			// A finished batch is durable before the next one starts.
			if err := f.file.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
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
	return f.pending != nil && !f.pending.started() && f.inBatch == 0 && f.err == nil && f.bw.Buffered() == 0 &&
		(f.post == nil || !f.post.written)
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
