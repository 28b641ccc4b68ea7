package feed_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/feed"
)

// indentItems nests values two and three levels deep (an item in an item,
// a list of lists, a map) next to the empty containers, which stay on one
// line when indented.
func indentItems() []*crawl.Item {
	inner := crawl.NewItem("city", "Zürich", "geo", crawl.NewItem("lat", 47.37, "lon", 8.54))
	return []*crawl.Item{
		crawl.NewItem("name", "Color TV", "price", int64(1200), "tags", []any{"tv", "color"}),
		crawl.NewItem("name", `DVD "player" <b>&`, "tags", []any{}, "empty", crawl.NewItem(), "stock", true, "none", nil),
		crawl.NewItem("name", "Naïve café, 东京", "address", inner, "matrix", []any{[]any{int64(1), int64(2)}, []any{}},
			"meta", map[string]any{"b": "x\ny", "a": []any{"z"}}),
		crawl.NewItem(),
	}
}

func export(t *testing.T, cfg feed.Config, stdout io.Writer, items []*crawl.Item) {
	t.Helper()
	f, err := feed.Open(cfg, stdout)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := f.Export(it); err != nil {
			t.Fatal(err)
		}
	}
	// The engine flushes periodically; a flush must not change what Close
	// decides.
	if err := f.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func exportToString(t *testing.T, format feed.Format, indent int, items []*crawl.Item) string {
	t.Helper()
	var out bytes.Buffer
	export(t, feed.Config{URI: "-", Format: format, Indent: indent}, &out, items)
	return out.String()
}

// TestIndentSameDocument: an indented JSON or XML feed is the unindented
// one plus whitespace: a parser reads the same values.
func TestIndentSameDocument(t *testing.T) {
	items := append(indentItems(), sampleItems()...)
	for _, indent := range []int{1, 2, 4, 8} {
		flat := exportToString(t, feed.JSON, 0, items)
		pretty := exportToString(t, feed.JSON, indent, items)
		var a, b any
		if err := json.Unmarshal([]byte(flat), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(pretty), &b); err != nil {
			t.Fatalf("indent %d: %v\n%s", indent, err, pretty)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("indent %d: json values differ:\n%s\n%s", indent, flat, pretty)
		}
		flatX := xmlTokens(t, exportToString(t, feed.XML, 0, items))
		prettyX := xmlTokens(t, exportToString(t, feed.XML, indent, items))
		if !reflect.DeepEqual(flatX, prettyX) {
			t.Fatalf("indent %d: xml differs:\n%q\n%q", indent, flatX, prettyX)
		}
	}
}

// xmlTokens lists the document's elements and text, without the
// whitespace-only text that indentation adds.
func xmlTokens(t *testing.T, doc string) []string {
	t.Helper()
	d := xml.NewDecoder(strings.NewReader(doc))
	var out []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("bad XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			out = append(out, "<"+tok.Name.Local)
		case xml.EndElement:
			out = append(out, "/"+tok.Name.Local)
		case xml.CharData:
			if s := string(tok); strings.TrimSpace(s) != "" {
				out = append(out, s)
			}
		}
	}
}

// TestIndentIgnored: jsonlines and csv have one fixed layout; a negative
// indent is 0 as in Scrapy.
func TestIndentIgnored(t *testing.T) {
	cases := []struct {
		format feed.Format
		indent int
	}{{feed.JSONLines, 4}, {feed.CSV, 4}, {feed.JSON, -2}, {feed.XML, -2}}
	for _, c := range cases {
		want := exportToString(t, c.format, 0, sampleItems())
		if got := exportToString(t, c.format, c.indent, sampleItems()); got != want {
			t.Errorf("%s indent %d:\n got %s\nwant %s", c.format, c.indent, got, want)
		}
	}
}

// TestAppendIndented runs a feed three times with -o (the middle run
// exports nothing): the file is byte for byte what one run exporting every
// item writes, and parses, with and without StoreEmpty.
func TestAppendIndented(t *testing.T) {
	items := indentItems()
	for _, format := range []feed.Format{feed.JSON, feed.XML} {
		for _, indent := range []int{0, 2, 4} {
			for _, storeEmpty := range []bool{false, true} {
				name := string(format) + "/indent" + string(rune('0'+indent))
				if storeEmpty {
					name += "/store_empty"
				}
				t.Run(name, func(t *testing.T) {
					path := filepath.Join(t.TempDir(), "out."+string(format))
					cfg := feed.Config{URI: path, Format: format, Indent: indent, StoreEmpty: storeEmpty}
					export(t, cfg, nil, items[:2])
					export(t, cfg, nil, nil)
					export(t, cfg, nil, items[2:])
					got, err := os.ReadFile(path)
					if err != nil {
						t.Fatal(err)
					}
					checkValid(t, format, got, len(items))
					if want := exportToString(t, format, indent, items); string(got) != want {
						t.Fatalf("appended file differs from one run:\n--- got\n%s\n--- want\n%s", got, want)
					}
				})
			}
		}
	}
}

// TestAppendToScrapyIndentedJSON appends to an array as Scrapy's
// JsonItemExporter writes it with indent 2 (no newline after "]").
func TestAppendToScrapyIndentedJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	scrapy := "[\n{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n}\n]"
	if err := os.WriteFile(path, []byte(scrapy), 0o644); err != nil {
		t.Fatal(err)
	}
	export(t, feed.Config{URI: path, Format: feed.JSON, Indent: 2}, nil, []*crawl.Item{crawl.NewItem("a", int64(2))})
	got, _ := os.ReadFile(path)
	want := "[\n{\n  \"a\": 1,\n  \"b\": [\n    \"x\"\n  ]\n},\n{\n  \"a\": 2\n}\n]\n"
	if string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// existing holds a file of each format as a previous run (or a user) left
// it, with irregular trailing whitespace and a torn last record (JSON
// lines, CSV), so "left as it was" is checked byte for byte.
var existing = map[feed.Format]string{
	feed.JSON:      "[\n{\"old\":1},\n{\"old\":2}\n]  \n\n",
	feed.XML:       "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<items>\n<item><old>1</old></item>\n</items>\n \n",
	feed.CSV:       "old\n1\n2\n3",
	feed.JSONLines: "{\"old\":1}\n{\"old\":",
}

// TestStoreEmpty: a file feed that exports nothing leaves no trace without
// StoreEmpty (no new file; an existing one unchanged even with -O, as
// Scrapy's FEED_STORE_EMPTY=False) and writes the empty document with it.
func TestStoreEmpty(t *testing.T) {
	type mode struct {
		name      string
		exists    bool
		overwrite bool
	}
	modes := []mode{{"new", false, false}, {"new-overwrite", false, true}, {"append", true, false}, {"overwrite", true, true}}
	for _, format := range feed.Formats {
		for _, m := range modes {
			for _, storeEmpty := range []bool{false, true} {
				name := string(format) + "/" + m.name
				if storeEmpty {
					name += "/store_empty"
				}
				t.Run(name, func(t *testing.T) {
					path := filepath.Join(t.TempDir(), "out")
					if m.exists {
						if err := os.WriteFile(path, []byte(existing[format]), 0o600); err != nil {
							t.Fatal(err)
						}
					}
					export(t, feed.Config{URI: path, Format: format, Overwrite: m.overwrite, StoreEmpty: storeEmpty, Indent: 2}, nil, nil)
					got, err := os.ReadFile(path)
					switch {
					case !storeEmpty && !m.exists:
						if !errors.Is(err, fs.ErrNotExist) {
							t.Fatalf("file left behind: %q, %v", got, err)
						}
					case !storeEmpty:
						if err != nil || string(got) != existing[format] {
							t.Fatalf("existing file changed to %q (%v), want %q", got, err, existing[format])
						}
						if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
							t.Fatalf("mode changed to %v", st.Mode())
						}
					case m.exists && !m.overwrite:
						// Appending nothing: the document is closed again
						// (JSON, XML) or the torn last record cut (lines, CSV).
						if err != nil {
							t.Fatal(err)
						}
						if format == feed.JSONLines {
							if want := "{\"old\":1}\n"; string(got) != want {
								t.Fatalf("got %q, want %q", got, want)
							}
						} else {
							checkValid(t, format, got, map[feed.Format]int{feed.JSON: 2, feed.XML: 1, feed.CSV: 2}[format])
						}
					default:
						want := map[feed.Format]string{
							feed.JSON: "[]\n",
							feed.XML:  "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<items>\n</items>\n",
						}[format]
						if err != nil || string(got) != want {
							t.Fatalf("got %q (%v), want the empty document %q", got, err, want)
						}
					}
				})
			}
		}
	}
}

// TestStoreEmptyFailedItems: items that cannot be serialized are not
// exported, so the feed is still empty: nothing is created or changed.
func TestStoreEmptyFailedItems(t *testing.T) {
	bad := crawl.NewItem("name", "x", "ch", make(chan int))
	for _, format := range feed.Formats {
		for _, exists := range []bool{false, true} {
			path := filepath.Join(t.TempDir(), "out")
			if exists {
				if err := os.WriteFile(path, []byte(existing[format]), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			f, err := feed.Open(feed.Config{URI: path, Format: format}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Export(bad); err == nil {
				t.Fatalf("%s: exporting a channel succeeded", format)
			}
			if err := f.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if !exists && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("%s: file left behind: %q, %v", format, got, err)
			}
			if exists && string(got) != existing[format] {
				t.Fatalf("%s: existing file changed to %q", format, got)
			}
		}
	}
}

// TestStoreEmptyStdout: standard output always gets the empty document.
func TestStoreEmptyStdout(t *testing.T) {
	want := map[feed.Format]string{
		feed.JSON:      "[]\n",
		feed.XML:       "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<items>\n</items>\n",
		feed.JSONLines: "",
		feed.CSV:       "",
	}
	for _, format := range feed.Formats {
		for _, storeEmpty := range []bool{false, true} {
			var out bytes.Buffer
			export(t, feed.Config{URI: "-", Format: format, StoreEmpty: storeEmpty}, &out, nil)
			if out.String() != want[format] {
				t.Errorf("%s store_empty=%v: got %q, want %q", format, storeEmpty, out.String(), want[format])
			}
		}
	}
}

// TestWithItemsChangesFileAtFirstFlush: holding back the first change
// does not weaken crash safety: once an item is flushed, an -O file holds
// only the new item (a shorter file than before, so a missed truncation
// would show) and an -o JSON array has been reopened.
func TestWithItemsChangesFileAtFirstFlush(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		format    feed.Format
		overwrite bool
		before    string
		flushed   string // the file after Export and Flush, before Close
		closed    string
	}{
		{feed.JSONLines, true, "{\"old\":1,\"long\":\"xxxxxxxxxxxxxxxx\"}\n", "{\"n\":1}\n", "{\"n\":1}\n"},
		{feed.JSON, true, "[\n{\"old\":1,\"long\":\"xxxxxxxxxxxxxxxx\"}\n]\n", "[\n{\"n\":1}", "[\n{\"n\":1}\n]\n"},
		{feed.JSON, false, "[\n{\"old\":1}\n]\n", "[\n{\"old\":1},\n{\"n\":1}", "[\n{\"old\":1},\n{\"n\":1}\n]\n"},
		{feed.CSV, false, "n\n0\n1", "n\n0\n1\n", "n\n0\n1\n"},
	}
	for i, c := range cases {
		path := filepath.Join(dir, "out"+string(rune('a'+i)))
		if err := os.WriteFile(path, []byte(c.before), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := feed.Open(feed.Config{URI: path, Format: c.format, Overwrite: c.overwrite}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Export(crawl.NewItem("n", int64(1))); err != nil {
			t.Fatal(err)
		}
		if err := f.Flush(); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != c.flushed {
			t.Errorf("case %d after Flush: got %q, want %q", i, got, c.flushed)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(path); string(got) != c.closed {
			t.Errorf("case %d after Close: got %q, want %q", i, got, c.closed)
		}
	}
}
