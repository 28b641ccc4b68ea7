package feed_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/feed"
)

func numbered(n int) []*crawl.Item {
	var out []*crawl.Item
	for i := 1; i <= n; i++ {
		out = append(out, crawl.NewItem("id", int64(i)))
	}
	return out
}

// TestBatches: batch_item_count starts a new file after N items, its URI
// expanded again (%(batch_id)d + 1, a new %(batch_time)s); the next file
// opens with the next item, so no empty file follows the last full batch;
// every finished batch is a complete document.
func TestBatches(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		format     feed.Format
		n          int
		storeEmpty bool
		want       map[string]string
	}{
		{"json 5 by 2", feed.JSON, 5, true, map[string]string{
			"b-001.json": "[\n{\"id\":1},\n{\"id\":2}\n]\n", "b-002.json": "[\n{\"id\":3},\n{\"id\":4}\n]\n", "b-003.json": "[\n{\"id\":5}\n]\n"}},
		{"jsonl 4 by 2", feed.JSONLines, 4, true, map[string]string{
			"b-001.jsonl": "{\"id\":1}\n{\"id\":2}\n", "b-002.jsonl": "{\"id\":3}\n{\"id\":4}\n"}},
		{"csv 3 by 2", feed.CSV, 3, true, map[string]string{
			"b-001.csv": "id\r\n1\r\n2\r\n", "b-002.csv": "id\r\n3\r\n"}},
		{"xml empty store_empty", feed.XML, 0, true, map[string]string{
			"b-001.xml": "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<items>\n</items>\n"}},
		{"jsonl empty no store_empty", feed.JSONLines, 0, false, map[string]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			uri := filepath.Join(dir, "b-%(batch_id)03d."+string(tc.format))
			if tc.format == feed.JSONLines {
				uri = filepath.Join(dir, "b-%(batch_id)03d.jsonl")
			}
			export(t, feed.Config{URI: uri, Format: tc.format, BatchItemCount: 2, StoreEmpty: tc.storeEmpty, Overwrite: true}, nil, numbered(tc.n))
			entries, _ := os.ReadDir(dir)
			got := map[string]string{}
			for _, e := range entries {
				b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
				got[e.Name()] = string(b)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("files %v, want %v", got, tc.want)
			}
			for name, want := range tc.want {
				if got[name] != want {
					t.Errorf("%s: %q, want %q", name, got[name], want)
				}
			}
		})
	}
}

// TestBatchTime: %(batch_time)s is Scrapy's utcnow().isoformat() with ":"
// replaced, microseconds included (left out when 0, as Python does), and
// differs between batches.
func TestBatchTime(t *testing.T) {
	t.Parallel()
	if got := feed.BatchTimeFormat(time.Date(2026, 12, 7, 6, 16, 0, 123456789, time.UTC)); got != "2026-12-07T06-16-00.123456" {
		t.Errorf("got %s", got)
	}
	if got := feed.BatchTimeFormat(time.Date(2026, 12, 7, 6, 16, 0, 999, time.UTC)); got != "2026-12-07T06-16-00" {
		t.Errorf("got %s", got)
	}
	dir := t.TempDir()
	export(t, feed.Config{URI: filepath.Join(dir, "%(batch_time)s.jsonl"), Format: feed.JSONLines, BatchItemCount: 1}, nil, numbered(3))
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("files: %v", entries)
	}
}

// TestGzipSyncSurvivesKill: after Sync (the group commit) a gzip feed's
// file decompresses to every item exported so far without Close — what a
// kill -9 leaves; the stream just lacks its end. Bz2 and xz cannot: their
// plugins are not Flushable, and a durable crawl refuses them (and gzip:
// the file cannot be continued after a kill).
func TestGzipSyncSurvivesKill(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "items.jsonl.gz")
	plugins, err := feed.ParsePlugins([]string{feed.GzipPlugin}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := feed.Open(feed.Config{URI: path, Format: feed.JSONLines, Postprocessing: plugins}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range numbered(3) {
		if err := f.Export(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("an unfinished stream: err %v, want unexpected EOF", err)
	}
	if want := "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n"; string(got) != want {
		t.Errorf("after Sync: %q, want %q", got, want)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{feed.Bz2Plugin, feed.LZMAPlugin} {
		p, _ := feed.ParsePlugins([]string{name}, nil)
		if p[0].Flushable() {
			t.Errorf("%s claims to flush", name)
		}
	}
	if _, err := feed.Open(feed.Config{URI: path, Format: feed.JSONLines, Postprocessing: plugins, Durable: true}, nil); !errors.Is(err, feed.ErrCompressedDurable) {
		t.Errorf("a compressed feed in a durable crawl: %v", err)
	}
}

// TestCompressedAppend: appending to a compressed jsonlines file adds a
// stream after the old one (both decompress, as Scrapy's "ab" does); a
// json, csv or xml file cannot be reopened inside the stream and is
// refused; an empty crawl without store_empty leaves the file as it was.
func TestCompressedAppend(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plugins, _ := feed.ParsePlugins([]string{feed.GzipPlugin}, nil)
	path := filepath.Join(dir, "a.jsonl.gz")
	for i := 0; i < 2; i++ {
		export(t, feed.Config{URI: path, Format: feed.JSONLines, Postprocessing: plugins}, nil, numbered(2))
	}
	before, _ := os.ReadFile(path)
	export(t, feed.Config{URI: path, Format: feed.JSONLines, Postprocessing: plugins}, nil, nil)
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("an empty run changed the file")
	}
	zr, _ := gzip.NewReader(bytes.NewReader(before))
	got, err := io.ReadAll(zr)
	if want := strings.Repeat("{\"id\":1}\n{\"id\":2}\n", 2); err != nil || string(got) != want {
		t.Errorf("appended: %q, %v; want %q", got, err, want)
	}
	jpath := filepath.Join(dir, "a.json.gz")
	export(t, feed.Config{URI: jpath, Format: feed.JSON, Postprocessing: plugins}, nil, numbered(1))
	if _, err := feed.Open(feed.Config{URI: jpath, Format: feed.JSON, Postprocessing: plugins}, nil); err == nil ||
		!strings.Contains(err.Error(), "cannot append to a compressed json feed") {
		t.Errorf("append to a compressed json feed: %v", err)
	}
	export(t, feed.Config{URI: jpath, Format: feed.JSON, Postprocessing: plugins, Overwrite: true}, nil, numbered(1))
}

// TestCompressedWriteError: a write error under a compressed feed is the
// feed's error (feed_error), as for a plain one.
func TestCompressedWriteError(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	plugins, _ := feed.ParsePlugins([]string{feed.GzipPlugin}, map[string]any{"gzip_compresslevel": int64(0)})
	f, err := feed.Open(feed.Config{URI: "/dev/full", Format: feed.JSONLines, Postprocessing: plugins}, nil)
	if err != nil {
		t.Fatal(err)
	}
	big := crawl.NewItem("x", strings.Repeat("y", 200<<10))
	err = f.Export(big)
	if err == nil {
		err = f.Sync()
	}
	var wf interface{ WriteFailed() bool }
	if err == nil || !errors.As(err, &wf) || !wf.WriteFailed() {
		t.Errorf("write to /dev/full: %v, want a write failure", err)
	}
	f.Close()
}

// TestExportOptionsRefused: the kwargs and plugin options that cannot be
// honoured say why.
func TestExportOptionsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		format feed.Format
		kw     map[string]any
		want   string
	}{
		{feed.XML, map[string]any{"item_element": "a b"}, `item_export_kwargs.item_element: "a b" is not an XML element name`},
		{feed.CSV, map[string]any{"quoting": int64(3)}, `item_export_kwargs.quoting: only 0 (QUOTE_MINIMAL) and 1 (QUOTE_ALL) are supported, got 3`},
		{feed.JSON, map[string]any{"separators": []any{";", ":"}}, `item_export_kwargs.separators: ";" must be "," with spaces around it (the output must stay JSON, one item a line in jsonlines)`},
		{feed.CSV, map[string]any{"delimiter": "'", "quotechar": "'"}, `item_export_kwargs: delimiter and quotechar must differ`},
		{feed.JSONLines, map[string]any{"default": "str"}, `item_export_kwargs.default: not supported: a Python callable: convert values in a JS pipeline instead`},
	} {
		if _, err := feed.ParseExportKwargs(tc.format, tc.kw); err == nil || err.Error() != tc.want {
			t.Errorf("%v: %v, want %s", tc.kw, err, tc.want)
		}
	}
	if _, err := feed.ParsePlugins([]string{feed.LZMAPlugin}, map[string]any{"lzma_format": int64(3)}); err == nil ||
		err.Error() != "lzma_format: expected 1 (FORMAT_XZ) or 2 (FORMAT_ALONE), got 3 (FORMAT_RAW needs lzma_filters, which are not supported)" {
		t.Errorf("lzma_format 3: %v", err)
	}
	if _, err := feed.ParsePlugins([]string{feed.LZMAPlugin}, map[string]any{"lzma_format": "FORMAT_ALONE", "lzma_check": int64(1)}); err == nil ||
		err.Error() != "lzma_check: integrity checks are only supported by FORMAT_XZ (Python raises ValueError)" {
		t.Errorf("lzma_check with FORMAT_ALONE: %v", err)
	}
}

// TestAppendWithExportOptions: appending (-o) keeps one document or table
// with item_export_kwargs too: the XML feed's own root and item elements
// are reopened, a CSV header written with its own delimiter is read back
// with it, a CSV without a header line continues its rows; a quotechar of
// its own cannot be read back, so appending to such a file is refused.
func TestAppendWithExportOptions(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		format feed.Format
		fields []string
		opts   feed.ExportOptions
		want   string
	}{
		{"x.xml", feed.XML, nil, feed.ExportOptions{ItemElement: "book", RootElement: "books"},
			"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<books>\n<book><id>1</id></book>\n<book><id>2</id></book>\n<book><id>1</id></book>\n<book><id>2</id></book>\n</books>\n"},
		{"semi.csv", feed.CSV, []string{"id"}, feed.ExportOptions{Delimiter: ';'}, "id\r\n1\r\n2\r\n1\r\n2\r\n"},
		{"nohead.csv", feed.CSV, nil, feed.ExportOptions{NoHeader: true}, "1\r\n2\r\n1\r\n2\r\n"},
	} {
		path := filepath.Join(dir, tc.name)
		for range 2 {
			export(t, feed.Config{URI: path, Format: tc.format, Fields: tc.fields, Export: tc.opts}, nil, numbered(2))
		}
		if got, _ := os.ReadFile(path); string(got) != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	path := filepath.Join(dir, "q.csv")
	opts := feed.ExportOptions{QuoteChar: '\''}
	export(t, feed.Config{URI: path, Format: feed.CSV, Export: opts}, nil, numbered(1))
	if _, err := feed.Open(feed.Config{URI: path, Format: feed.CSV, Export: opts}, nil); err == nil ||
		!strings.Contains(err.Error(), "cannot append to a csv feed with a quotechar or lineterminator of its own") {
		t.Errorf("append with a quotechar of its own: %v", err)
	}
}

// TestGzipHeaderName: the gzip header names the file as Python's GzipFile
// does (the base name without .gz; gzip_filename the same way), and a
// name that is not Latin-1 is left out instead of failing the feed.
func TestGzipHeaderName(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		file     string
		filename *string
		want     string
	}{
		{"items.jsonl.gz", nil, "items.jsonl"},
		{"données.jsonl.gz", nil, "données.jsonl"},
		{"東京.jsonl.gz", nil, ""},
		{"x.gz", ptr("dir/renamed.jsonl.gz"), "renamed.jsonl"},
	} {
		path := filepath.Join(dir, tc.file)
		p := feed.Plugin{Name: feed.GzipPlugin, Level: 9, GzipFilename: tc.filename}
		export(t, feed.Config{URI: path, Format: feed.JSONLines, Postprocessing: []feed.Plugin{p}}, nil, numbered(1))
		b, _ := os.ReadFile(path)
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if zr.Header.Name != tc.want {
			t.Errorf("%s: header name %q, want %q", tc.file, zr.Header.Name, tc.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }
