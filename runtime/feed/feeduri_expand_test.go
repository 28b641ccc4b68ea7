package feed_test

import (
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestExpandURI: Scrapy's default FEED_URI_PARAMS, %(name)s, %(time)s and
// the spider arguments, with Python's %% escape; every error names the
// parameter and lists the known ones.
func TestExpandURI(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 12, 7, 7, 16, 0, 123, time.FixedZone("CET", 3600))
	p := feed.URIParams{Name: "books", Time: start, Args: map[string]string{"category": "sci-fi", "page": "2"}}
	cases := []struct{ uri, want, err string }{
		{uri: "items.jsonl", want: "items.jsonl"},
		{uri: "out/%(name)s/%(time)s.jsonl", want: "out/books/2026-12-07T06-16-00.jsonl"},
		{uri: "%(name)s-%(category)s-%(page)s.csv", want: "books-sci-fi-2.csv"},
		{uri: "100%%-%(name)s.json", want: "100%-books.json"},
		{uri: "100%.json", want: "100%.json"},
		{uri: "file:///tmp/%(name)s.xml", want: "file:///tmp/books.xml"},
		{uri: "%(nme)s.jsonl", err: "unknown parameter %(nme)s (known: name, time, batch_id, batch_time; spider arguments: category, page)"},
		// Scrapy gives every feed batch_id 1 (and batch_time) even without batches.
		{uri: "%(batch_id)d.jsonl", want: "1.jsonl"},
		{uri: "%(batch_id)05d-%(batch_id)s.jsonl", want: "00001-1.jsonl"},
		{uri: "%(batch_id)x.jsonl", err: "%(batch_id)x: write %(batch_id)d (or %(batch_id)05d)"},
		{uri: "%(name.jsonl", err: `"%(name.jsonl" has no closing ")" (write %(name)s)`},
	}
	for _, tc := range cases {
		t.Run(tc.uri, func(t *testing.T) {
			t.Parallel()
			got, err := feed.ExpandURI(tc.uri, p)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := feed.ExpandURI("%(x)s", feed.URIParams{Name: "s"}); err == nil || err.Error() != "unknown parameter %(x)s (known: name, time, batch_id, batch_time; no spider arguments given with -a)" {
		t.Errorf("no args: %v", err)
	}
	// A zero Time is now.
	got, err := feed.ExpandURI("%(time)s", feed.URIParams{})
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := time.Parse(feed.TimeFormat, got); err != nil || time.Since(ts) > time.Minute || time.Since(ts) < -time.Minute {
		t.Errorf("%%(time)s = %q (%v)", got, err)
	}
}

// TestParseOutputFormatSuffix: FILE:FORMAT with a FORMAT that is not
// known names the known ones, instead of taking ":yaml" as part of the
// file name.
func TestParseOutputFormatSuffix(t *testing.T) {
	t.Parallel()
	for arg, want := range map[string]string{
		"out.json:yaml": "unknown format yaml (known: jsonlines, jsonl, json, csv, xml)",
		"-:txt":         "unknown format txt (known: jsonlines, jsonl, json, csv, xml)",
		"out.json:":     `no format after ":" (known: jsonlines, jsonl, json, csv, xml)`,
	} {
		if _, err := feed.ParseOutput(arg, false); err == nil || err.Error() != want {
			t.Errorf("%s: err = %v, want %s", arg, err, want)
		}
	}
	for arg, uri := range map[string]string{"out.txt:jl": "out.txt", "C:items.json": "C:items.json", "file:///tmp/x.csv": "file:///tmp/x.csv"} {
		if c, err := feed.ParseOutput(arg, false); err != nil || c.URI != uri {
			t.Errorf("%s: %+v, %v", arg, c, err)
		}
	}
}

// TestOpenCreatesDirectory: as Scrapy's file storage, a feed in a
// directory that does not exist creates it (and its parents).
func TestOpenCreatesDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "deeper", "items.jsonl")
	f, err := feed.Open(feed.Config{URI: path, Format: feed.JSONLines}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Export(crawl.NewItem("a", int64(1))); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "{\"a\":1}\n" {
		t.Fatalf("%q, %v", b, err)
	}
	// A file where the directory should be is an error that names it.
	block := filepath.Join(dir, "file")
	if err := os.WriteFile(block, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = feed.Open(feed.Config{URI: filepath.Join(block, "items.jsonl"), Format: feed.JSONLines}, nil)
	if err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("err = %v", err)
	}
}

// TestOptionsFromSettings: FEED_EXPORT_FIELDS, FEED_EXPORT_ENCODING and
// FEED_EXPORT_INDENT are the defaults of every feed's own fields,
// encoding and indent, which win when set; -o feeds take them too.
func TestOptionsFromSettings(t *testing.T) {
	t.Parallel()
	v := settings.Defaults()
	if o := feed.OptionsFromSettings(&v); !reflect.DeepEqual(o, feed.Options{}) {
		t.Errorf("the table's defaults give %+v, want zero Options", o)
	}
	v.FeedExportFields = []settings.KV{{Key: "b", Value: "B"}, {Key: "a", Value: "a"}}
	v.FeedExportEncoding = "latin-1"
	v.FeedExportIndent = 4
	o := feed.OptionsFromSettings(&v)
	o.Params = feed.URIParams{Name: "s"}
	zero := 0
	got, err := o.FromSettings(settings.Feed{URI: "%(name)s.json"})
	want := feed.Config{URI: "s.json", Format: feed.JSON, StoreEmpty: true, Fields: []string{"b", "a"}, Rename: map[string]string{"b": "B"}, Encoding: "latin-1", Indent: 4}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("defaults: %+v, %v\nwant %+v", got, err, want)
	}
	got, err = o.FromSettings(settings.Feed{URI: "x.json", Fields: []settings.KV{{Key: "c", Value: "c"}}, Encoding: "utf-8", Indent: &zero})
	want = feed.Config{URI: "x.json", Format: feed.JSON, StoreEmpty: true, Fields: []string{"c"}, Encoding: "utf-8", Indent: 0}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("own options: %+v, %v\nwant %+v", got, err, want)
	}
	if _, err := o.FromSettings(settings.Feed{URI: "%(cat)s.json"}); err == nil ||
		err.Error() != "feeds.%(cat)s.json: unknown parameter %(cat)s (known: name, time, batch_id, batch_time; no spider arguments given with -a)" {
		t.Errorf("unknown parameter: %v", err)
	}
	out, _ := feed.ParseOutput("%(name)s/items.xml", true)
	got, err = o.Output(out)
	want = feed.Config{URI: "s/items.xml", Format: feed.XML, Overwrite: true, Fields: []string{"b", "a"}, Rename: map[string]string{"b": "B"}, Encoding: "latin-1", Indent: 4}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("-o: %+v, %v\nwant %+v", got, err, want)
	}
}

// TestCheckEncoding: what Open accepts as an encoding, CheckEncoding
// accepts (Python codec names, WHATWG labels); the rest is named.
func TestCheckEncoding(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"", "utf-8", "UTF8", "latin-1", "latin_1", "cp1251", "iso8859_15", "shift_jis", "windows-1252"} {
		if err := feed.CheckEncoding(name); err != nil {
			t.Errorf("%q: %v", name, err)
			continue
		}
		f, err := feed.Open(feed.Config{URI: "-", Format: feed.JSONLines, Encoding: name}, io.Discard)
		if err != nil {
			t.Errorf("%q: CheckEncoding accepts it, Open does not: %v", name, err)
			continue
		}
		f.Close()
	}
	want := `unknown encoding "klingon" (write a Python codec name such as latin-1 or cp1251, or a WHATWG label)`
	if err := feed.CheckEncoding("klingon"); err == nil || err.Error() != want {
		t.Errorf("klingon: %v", err)
	}
	if _, err := feed.Open(feed.Config{URI: "-", Format: feed.JSONLines, Encoding: "klingon"}, io.Discard); err == nil {
		t.Error("Open accepts klingon")
	}
}
