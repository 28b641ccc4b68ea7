package feed_test

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/feed"
)

// sampleItems exercises field order, unicode, escaping, nesting, lists,
// nulls, numbers and a field that first appears in a later item.
func sampleItems() []*crawl.Item {
	nested := crawl.NewItem("city", "Zürich", "zip", int64(8001))
	return []*crawl.Item{
		crawl.NewItem("name", "Color TV", "price", int64(1200), "tags", []any{"tv", "color"}),
		crawl.NewItem("name", `DVD "player" <b>&`, "price", 99.5, "tags", []any{}, "stock", true),
		crawl.NewItem("name", "Naïve café, 东京", "price", nil, "address", nested, "tags", []any{int64(1), "x"}),
	}
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name   string
		format feed.Format
		fields []string
		indent int
		items  []*crawl.Item
	}{
		{"items.jsonl", feed.JSONLines, nil, 0, sampleItems()},
		{"items.json", feed.JSON, nil, 0, sampleItems()},
		{"items.csv", feed.CSV, nil, 0, sampleItems()},
		{"items.xml", feed.XML, nil, 0, sampleItems()},
		{"fields.csv", feed.CSV, []string{"price", "name", "missing"}, 0, sampleItems()},
		{"fields.json", feed.JSON, []string{"price", "name"}, 0, sampleItems()},
		{"empty.json", feed.JSON, nil, 0, nil},
		{"empty.xml", feed.XML, nil, 0, nil},
		{"empty.csv", feed.CSV, nil, 0, nil},
		{"indent2.json", feed.JSON, nil, 2, indentItems()},
		{"indent4.json", feed.JSON, nil, 4, indentItems()},
		{"indent2.xml", feed.XML, nil, 2, indentItems()},
		{"indent4.xml", feed.XML, nil, 4, indentItems()},
		{"indent2-fields.json", feed.JSON, []string{"price", "name"}, 2, sampleItems()},
		{"indent2-empty.json", feed.JSON, nil, 2, nil},
		{"indent2-empty.xml", feed.XML, nil, 2, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), c.name)
			// StoreEmpty so the empty cases write their empty document.
			f, err := feed.Open(feed.Config{URI: path, Format: c.format, Fields: c.fields, Indent: c.indent,
				Overwrite: true, StoreEmpty: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range c.items {
				if err := f.Export(it); err != nil {
					t.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			checkValid(t, c.format, got, len(c.items))
			golden.Check(t, filepath.Join("testdata", c.name), got)
		})
	}
}

// checkValid parses the output with a real parser of the format and counts
// the items.
func checkValid(t *testing.T, format feed.Format, data []byte, want int) {
	t.Helper()
	n := 0
	switch format {
	case feed.JSON:
		var arr []json.RawMessage
		if err := json.Unmarshal(data, &arr); err != nil {
			t.Fatalf("not a JSON array: %v\n%s", err, data)
		}
		n = len(arr)
	case feed.JSONLines:
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			if line == "" {
				continue
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(line), &m); err != nil {
				t.Fatalf("bad JSON line %q: %v", line, err)
			}
			n++
		}
	case feed.CSV:
		recs, err := csv.NewReader(bytes.NewReader(data)).ReadAll()
		if err != nil {
			t.Fatalf("bad CSV: %v\n%s", err, data)
		}
		if len(recs) > 0 {
			n = len(recs) - 1
		}
	case feed.XML:
		var doc struct {
			Items []struct{} `xml:"item"`
		}
		if err := xml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("bad XML: %v\n%s", err, data)
		}
		n = len(doc.Items)
	}
	if n != want {
		t.Fatalf("%d items in output, want %d:\n%s", n, want, data)
	}
}

// TestAppend opens the same file three times with -o (append): every format
// stays one valid document holding every item.
func TestAppend(t *testing.T) {
	for _, format := range feed.Formats {
		t.Run(string(format), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out."+string(format))
			total := 0
			for round, n := range []int{2, 0, 3} {
				f, err := feed.Open(feed.Config{URI: path, Format: format}, nil)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				for i := range n {
					if err := f.Export(crawl.NewItem("round", int64(round), "i", int64(i))); err != nil {
						t.Fatal(err)
					}
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				total += n
				data, _ := os.ReadFile(path)
				checkValid(t, format, data, total)
			}
		})
	}
}

func TestAppendRefusesForeignDocument(t *testing.T) {
	for _, c := range []struct {
		format  feed.Format
		content string
	}{{feed.JSON, `{"not": "an array"}`}, {feed.XML, "<html></html>"}} {
		path := filepath.Join(t.TempDir(), "out")
		if err := os.WriteFile(path, []byte(c.content), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := feed.Open(feed.Config{URI: path, Format: c.format}, nil)
		if err == nil || !strings.Contains(err.Error(), "use -O") {
			t.Fatalf("%s: err = %v, want a hint to use -O", c.format, err)
		}
		if got, _ := os.ReadFile(path); string(got) != c.content {
			t.Fatalf("%s: file was changed to %q", c.format, got)
		}
	}
}

func TestOverwrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, []byte("{\"old\":1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := feed.Open(feed.Config{URI: path, Format: feed.JSONLines, Overwrite: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Export(crawl.NewItem("new", int64(1))); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "{\"new\":1}\n" {
		t.Fatalf("got %q", got)
	}
}

func TestAppendTornJSONLines(t *testing.T) {
	// A killed run can leave a half-written last line; the next run cuts it
	// so that every line of the file is a whole item.
	path := filepath.Join(t.TempDir(), "out.jsonl")
	if err := os.WriteFile(path, []byte("{\"a\":1}\n{\"a\":"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := feed.Open(feed.Config{URI: path, Format: feed.JSONLines}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Export(crawl.NewItem("a", int64(2))); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "{\"a\":1}\n{\"a\":2}\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestStdoutAndEncoding(t *testing.T) {
	var out bytes.Buffer
	f, err := feed.Open(feed.Config{URI: "-", Format: feed.CSV, Encoding: "latin1"}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Export(crawl.NewItem("name", "café")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if want := "name\r\ncaf\xe9\r\n"; out.String() != want {
		t.Fatalf("got %q, want %q", out.String(), want)
	}
}

func TestExportAfterClose(t *testing.T) {
	var out bytes.Buffer
	f, err := feed.Open(feed.Config{URI: "-", Format: feed.JSON}, &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := f.Export(crawl.NewItem("a", "b")); err == nil {
		t.Fatal("Export after Close succeeded")
	}
	if out.String() != "[]\n" {
		t.Fatalf("got %q", out.String())
	}
}

func TestParseOutput(t *testing.T) {
	cases := []struct {
		arg     string
		uri     string
		format  feed.Format
		wantErr string
	}{
		{"items.jsonl", "items.jsonl", feed.JSONLines, ""},
		{"items.jl", "items.jl", feed.JSONLines, ""},
		{"items.json", "items.json", feed.JSON, ""},
		{"out/items.CSV", "out/items.CSV", feed.CSV, ""},
		{"items.xml", "items.xml", feed.XML, ""},
		{"items.txt:json", "items.txt", feed.JSON, ""},
		{"C:items.json", "C:items.json", feed.JSON, ""},
		{"-", "-", feed.JSONLines, ""},
		{"-:csv", "-", feed.CSV, ""},
		{"items", "", "", "cannot infer the format"},
		{"items.txt", "", "", "cannot infer the format from .txt"},
		{"", "", "", "empty feed output"},
	}
	for _, c := range cases {
		t.Run(c.arg, func(t *testing.T) {
			cfg, err := feed.ParseOutput(c.arg, false)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.URI != c.uri || cfg.Format != c.format {
				t.Fatalf("got %q %q, want %q %q", cfg.URI, cfg.Format, c.uri, c.format)
			}
		})
	}
}

// TestFastJSONMatchesItemMarshal: the feed's own JSON writer is byte for
// byte crawl.Item.MarshalJSON, except that it writes U+2028, U+2029 and
// the U+FFFD of invalid UTF-8 as they are, as Python's json does, where
// encoding/json escapes them.
func TestFastJSONMatchesItemMarshal(t *testing.T) {
	items := append(sampleItems(),
		crawl.NewItem("ctl", "a\tb\nc\x01", "html", "<a href=\"x\">&</a>", "u2028", "x\u2028y", "bad", "\xff",
			"map", map[string]any{"b": 1, "a": []any{nil, false}}, "f", 1e21, "neg", int64(-5), "int", 7))
	for i, it := range items {
		want, err := it.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		f, err := feed.Open(feed.Config{URI: "-", Format: feed.JSONLines}, &out)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Export(it); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		want = bytes.ReplaceAll(want, []byte(`\u2028`), []byte("\u2028"))
		want = bytes.ReplaceAll(want, []byte(`\u2029`), []byte("\u2029"))
		want = bytes.ReplaceAll(want, []byte(`\ufffd`), []byte("\ufffd"))
		if got := strings.TrimSuffix(out.String(), "\n"); got != string(want) {
			t.Errorf("item %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func TestSet(t *testing.T) {
	dir := t.TempDir()
	cfgs := []feed.Config{
		{URI: filepath.Join(dir, "a.json"), Format: feed.JSON},
		{URI: filepath.Join(dir, "b.csv"), Format: feed.CSV},
	}
	s, err := feed.OpenAll(cfgs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range sampleItems() {
		if err := s.Export(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cfgs {
		data, err := os.ReadFile(c.URI)
		if err != nil {
			t.Fatal(err)
		}
		checkValid(t, c.Format, data, 3)
	}
	// A bad entry fails OpenAll and leaves no feed open: the first file is
	// closed, so it is a complete empty document with StoreEmpty and gone
	// without.
	for _, storeEmpty := range []bool{false, true} {
		c := filepath.Join(dir, fmt.Sprintf("c-%v.json", storeEmpty))
		bad := []feed.Config{{URI: c, Format: feed.JSON, StoreEmpty: storeEmpty}, {URI: filepath.Join(dir, "d"), Format: "yaml"}}
		if _, err := feed.OpenAll(bad, nil); err == nil || !strings.Contains(err.Error(), "unknown feed format") {
			t.Fatalf("err = %v", err)
		}
		data, err := os.ReadFile(c)
		if storeEmpty && string(data) != "[]\n" {
			t.Fatalf("store_empty: %s = %q, %v", c, data, err)
		}
		if !storeEmpty && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("no store_empty: %s = %q, %v; want no file", c, data, err)
		}
	}
}

func TestAppendCSVFieldsMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	if err := os.WriteFile(path, []byte("a,b\n1,2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := feed.Open(feed.Config{URI: path, Format: feed.CSV, Fields: []string{"b", "a"}}, nil); err == nil ||
		!strings.Contains(err.Error(), "differs from the feed's fields") {
		t.Fatalf("err = %v", err)
	}
	f, err := feed.Open(feed.Config{URI: path, Format: feed.CSV, Fields: []string{"a", "b"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Export(crawl.NewItem("b", "4", "a", "3")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "a,b\n1,2\n3,4\n" {
		t.Fatalf("got %q", got)
	}
}

func TestCSVNewColumnWithEncoding(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.csv")
	f, err := feed.Open(feed.Config{URI: path, Format: feed.CSV, Encoding: "latin1", Overwrite: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range []*crawl.Item{crawl.NewItem("nom", "café"), crawl.NewItem("nom", "thé", "prix€", "3")} {
		if err := f.Export(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	// WHATWG maps the label latin1 to windows-1252, where "€" is 0x80.
	if want := "nom,prix\x80\r\ncaf\xe9,\r\nth\xe9,3\r\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// FEED_EXPORT_ENCODING takes Python codec names, as Scrapy users write
// them, and WHATWG labels; an unknown name fails the feed at open.
func TestEncodingNames(t *testing.T) {
	for name, want := range map[string]string{
		"latin-1": "\xe9", "latin_1": "\xe9", "LATIN1": "\xe9", "iso8859_15": "\xe9", "cp1251": `\u00e9`,
		"utf_8": "é", "UTF-8": "é", "windows-1252": "\xe9", "koi8_r": `\u00e9`,
	} {
		path := filepath.Join(t.TempDir(), "out.jsonl")
		f, err := feed.Open(feed.Config{URI: path, Format: feed.JSONLines, Encoding: name}, nil)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := f.Export(crawl.NewItem("v", "é")); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if string(got) != `{"v":"`+want+`"}`+"\n" {
			t.Errorf("%s: wrote %q", name, got)
		}
	}
	// Above U+FFFF: a surrogate pair, as JSON spells it; the file stays
	// valid JSON and decodes to the same string.
	path := filepath.Join(t.TempDir(), "out.json")
	f, err := feed.Open(feed.Config{URI: path, Format: feed.JSON, Encoding: "cp1251"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Export(crawl.NewItem("v", "Жé😀")); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if want := "[\n{\"v\":\"\xc6\\u00e9\\ud83d\\ude00\"}\n]\n"; string(got) != want {
		t.Errorf("wrote %q, want %q", got, want)
	}
	if _, err := feed.Open(feed.Config{URI: filepath.Join(t.TempDir(), "x"), Format: feed.JSONLines, Encoding: "klingon"}, nil); err == nil || !strings.Contains(err.Error(), `unknown encoding "klingon"`) {
		t.Fatalf("unknown encoding: %v", err)
	}
}
