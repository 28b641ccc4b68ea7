package feed_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/reftest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/feed"
)

type feedOutput struct {
	Text   *string `json:"text"`
	Base64 string  `json:"base64"`
	Error  string  `json:"error"`
}

func (o feedOutput) bytes(t *testing.T) []byte {
	if o.Text != nil {
		return []byte(*o.Text)
	}
	b, err := base64.StdEncoding.DecodeString(o.Base64)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// feedDifferences are the cases where our bytes differ from Scrapy's on
// purpose (specs/scrapy-differences.md); the test logs both.
var feedDifferences = map[string]string{
	"csvsafe.csv":   "a field first seen in a later item becomes a new column (the header is rewritten on Close); Scrapy drops it",
	"pytypes.jsonl": "numbers are written as JavaScript writes them (10, 1e+21, 1.5e-7, 10000000000000000), not Python's repr (10.0, 1e+21, 1.5e-07, 1e+16)",
	"pytypes.csv": "values are written as JavaScript/JSON writes them (true, JSON for lists and objects, JS numbers), " +
		"not Python's str() (True, [1, 'x', None, True], {'a': 1}, 10.0)",
	"pytypes.xml":        "null is an empty element, booleans and numbers as JavaScript writes them; Scrapy writes Python's str(): None, True, 10.0",
	"xmlnames.xml":       "field names that are not XML names are made valid (my_field, _1digit, _); Scrapy writes them as they are, which is not well-formed XML",
	"ctrl.xml":           "characters XML 1.0 forbids (U+0001, U+001F, U+0008, U+000C) become U+FFFD; Scrapy writes them raw, which is not well-formed XML",
	"basic-indent2.xml":  "an element without children stays on one line (<tags></tags>); Scrapy puts a line break and spaces inside, which a parser reads as text",
	"empty.json":         "an empty array is written []; Scrapy writes [, a blank line, ]",
	"empty-indent2.json": "an empty array is written []; Scrapy writes [, a blank line, ]",
	"latin1.csv":         "a character the encoding cannot represent is replaced; Scrapy raises UnicodeEncodeError and the feed fails",
	"latin1.jsonl":       "a character the encoding cannot represent is replaced; Scrapy raises UnicodeEncodeError and the feed fails",
	"empty-fields.csv":   "with FEED_EXPORT_FIELDS and no item the header is written (store_empty); Scrapy writes it with the first item, so an empty file",
	"basic.csv":          "a field first seen in a later item becomes a new column (the header is rewritten on Close); Scrapy drops it",
	"latin1.xml":         "the declaration names the encoding by its WHATWG name (windows-1252: FEED_EXPORT_ENCODING latin-1 is windows-1252 for us); Scrapy repeats the setting (latin-1)",
}

// TestFeedReference compares our feed bytes with Scrapy 2.8's item
// exporters on testdata/reference/feeds. The reference for jsonlines and
// json is Scrapy's exporter with separators=(",", ":"): our JSON is
// compact like JSON.stringify's, where Python's json puts a space after
// "," and ":" (specs/scrapy-differences.md). Scrapy's json and xml files
// end without a line break; ours end with one.
func TestFeedReference(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Name     string   `json:"name"`
		Format   string   `json:"format"`
		Items    string   `json:"items"`
		Fields   []string `json:"fields"`
		Indent   int      `json:"indent"`
		Encoding string   `json:"encoding"`
	}
	var sets map[string][]json.RawMessage
	var want map[string]struct {
		Scrapy  feedOutput `json:"scrapy"`
		Compact feedOutput `json:"compact"`
	}
	reftest.Load(t, "feeds", "cases.json", &cases)
	reftest.Load(t, "feeds", "items.json", &sets)
	reftest.Load(t, "feeds", "expected.json", &want)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			exp, ok := want[c.Name]
			if !ok {
				t.Fatal("no expected result: regenerate")
			}
			format, err := feed.ParseFormat(c.Format)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), c.Name)
			// FEED_EXPORT_ENCODING is a Python codec name, as in Scrapy
			// (latin-1 is windows-1252 for us, as for WHATWG).
			enc := c.Encoding
			f, err := feed.Open(feed.Config{URI: path, Format: format, Fields: c.Fields, Indent: c.Indent,
				Encoding: enc, Overwrite: true, StoreEmpty: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, raw := range sets[c.Items] {
				var it crawl.Item
				if err := json.Unmarshal(raw, &it); err != nil {
					t.Fatal(err)
				}
				if err := f.Export(jsNumbers(&it).(*crawl.Item)); err != nil {
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
			if exp.Compact.Error != "" {
				if why, ok := feedDifferences[c.Name]; ok {
					t.Logf("differs from Scrapy on purpose: %s\n got:    %q\n scrapy: %s", why, got, exp.Compact.Error)
					return
				}
				t.Fatalf("scrapy raised %s, we wrote %q", exp.Compact.Error, got)
			}
			// Indented JSON is Python's json.dumps(indent=N) byte for
			// byte (its separators are "," and ": " then).
			w := exp.Compact.bytes(t)
			if format == feed.JSON && c.Indent > 0 {
				w = exp.Scrapy.bytes(t)
			}
			if format == feed.JSON || format == feed.XML {
				w = append(w, '\n')
			}
			if why, ok := feedDifferences[c.Name]; ok {
				if bytes.Equal(got, w) {
					t.Errorf("marked as a deliberate difference (%s) but equal to Scrapy now: drop the mark", why)
				}
				t.Logf("differs from Scrapy on purpose: %s\n got:    %q\n scrapy: %q", why, got, w)
				return
			}
			if !bytes.Equal(got, w) {
				t.Errorf("\n got:    %q\n scrapy: %q\n%s", got, w, firstDiff(got, w))
			}
		})
	}
}

// jsNumbers turns the json.Numbers of a decoded item into what a JS
// callback's item holds: int64 for integers, float64 otherwise.
func jsNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case *crawl.Item:
		for i := range x.Fields {
			x.Fields[i].Value = jsNumbers(x.Fields[i].Value)
		}
		return x
	case []any:
		for i := range x {
			x[i] = jsNumbers(x[i])
		}
		return x
	}
	return v
}

func firstDiff(a, b []byte) string {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			lo := max(0, i-20)
			return "first difference at byte " + strings.TrimSpace(string(rune('0'))) + ": got " +
				strconvQuote(a[lo:min(len(a), i+20)]) + " scrapy " + strconvQuote(b[lo:min(len(b), i+20)])
		}
	}
	return "one is a prefix of the other"
}

func strconvQuote(b []byte) string {
	s, _ := json.Marshal(string(b))
	return string(s)
}
