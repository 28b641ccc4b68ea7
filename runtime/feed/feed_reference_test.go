package feed_test

import (
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"
	"github.com/ulikunitz/xz/lzma"

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
	"pytypes.xml":                    "null is an empty element, booleans and numbers as JavaScript writes them; Scrapy writes Python's str(): None, True, 10.0",
	"xmlnames.xml":                   "field names that are not XML names are made valid (my_field, _1digit, _); Scrapy writes them as they are, which is not well-formed XML",
	"ctrl.xml":                       "characters XML 1.0 forbids (U+0001, U+001F, U+0008, U+000C) become U+FFFD; Scrapy writes them raw, which is not well-formed XML",
	"basic-indent2.xml":              "an element without children stays on one line (<tags></tags>); Scrapy puts a line break and spaces inside, which a parser reads as text",
	"empty.json":                     "an empty array is written []; Scrapy writes [, a blank line, ]",
	"empty-indent2.json":             "an empty array is written []; Scrapy writes [, a blank line, ]",
	"latin1.csv":                     "a character the encoding cannot represent is replaced; Scrapy raises UnicodeEncodeError and the feed fails",
	"latin1.jsonl":                   "a character the encoding cannot represent is replaced; Scrapy raises UnicodeEncodeError and the feed fails",
	"empty-fields.csv":               "with FEED_EXPORT_FIELDS and no item the header is written (store_empty); Scrapy writes it with the first item, so an empty file",
	"basic.csv":                      "a field first seen in a later item becomes a new column (the header is rewritten on Close); Scrapy drops it",
	"xml-elements-indent2.xml":       "booleans and null as JavaScript writes them (true, empty); Scrapy writes Python's str(): True, None",
	"refused-quoting-nonnumeric.csv": "csv.QUOTE_NONNUMERIC (and QUOTE_NONE) are refused: every value of ours is text (numbers included), so QUOTE_NONNUMERIC could not tell them apart",
	"gzip-empty.json":                "an empty array is written []; Scrapy writes [, a blank line, ] (as empty.json, inside the gzip stream)",
	"gzip-latin1.xml":                "the declaration names the encoding by its WHATWG name (as latin1.xml, inside the gzip stream)",
	"latin1.xml":                     "the declaration names the encoding by its WHATWG name (windows-1252: FEED_EXPORT_ENCODING latin-1 is windows-1252 for us); Scrapy repeats the setting (latin-1)",
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
		Name           string          `json:"name"`
		Format         string          `json:"format"`
		Items          string          `json:"items"`
		Fields         json.RawMessage `json:"fields"` // a list, or a mapping to output names
		Indent         int             `json:"indent"`
		Encoding       string          `json:"encoding"`
		Kwargs         map[string]any  `json:"kwargs"`
		Postprocessing []string        `json:"postprocessing"`
		FeedOptions    map[string]any  `json:"feed_options"`
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
			fields, rename := orderedFields(t, c.Fields)
			export, err := feed.ParseExportKwargs(format, intsOf(c.Kwargs))
			if err != nil {
				// Refused at validate; Scrapy must refuse it too (a
				// TypeError when FeedExporter builds the exporter).
				if why, ok := feedDifferences[c.Name]; ok && exp.Compact.Error == "" {
					t.Logf("differs from Scrapy on purpose: %s\n refused: %v", why, err)
					return
				}
				if exp.Compact.Error == "" {
					t.Fatalf("we refuse %v (%v); scrapy accepts it", c.Kwargs, err)
				}
				t.Logf("refused as Scrapy refuses it (%s): %v", exp.Compact.Error, err)
				return
			}
			plugins, err := feed.ParsePlugins(c.Postprocessing, intsOf(c.FeedOptions))
			if err != nil {
				t.Fatal(err)
			}
			f, err := feed.Open(feed.Config{URI: path, Format: format, Fields: fields, Rename: rename, Indent: c.Indent,
				Encoding: enc, Overwrite: true, StoreEmpty: true, Export: export, Postprocessing: plugins}, nil)
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
			// A compressed feed is compared decompressed, as gen.py
			// stores Scrapy's (the plugins undone in reverse order).
			for i := len(plugins) - 1; i >= 0; i-- {
				if got, err = decompress(plugins[i].Name, got); err != nil {
					t.Fatalf("%s: %v", plugins[i].Name, err)
				}
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
			if format == feed.JSON && c.Indent > 0 || c.Kwargs["separators"] != nil {
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

// orderedFields reads a case's fields: a list of names, or a mapping of
// names to output names, in the order written.
func orderedFields(t *testing.T, raw json.RawMessage) ([]string, map[string]string) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '[' {
		var l []string
		if err := json.Unmarshal(raw, &l); err != nil {
			t.Fatal(err)
		}
		return l, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	var names []string
	rename := map[string]string{}
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		k, _ := dec.Token()
		v, _ := dec.Token()
		names = append(names, k.(string))
		rename[k.(string)] = v.(string)
	}
	return names, rename
}

// intsOf turns the float64 numbers of decoded JSON into the int64 the
// spec's decoder gives.
func intsOf(m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if f, ok := v.(float64); ok && f == float64(int64(f)) {
			v = int64(f)
		}
		out[k] = v
	}
	return out
}

func decompress(plugin string, b []byte) ([]byte, error) {
	var r io.Reader
	var err error
	switch plugin {
	case feed.GzipPlugin:
		r, err = gzip.NewReader(bytes.NewReader(b))
	case feed.Bz2Plugin:
		r = bzip2.NewReader(bytes.NewReader(b))
	case feed.LZMAPlugin:
		if bytes.HasPrefix(b, []byte("\xfd7zXZ")) {
			r, err = xz.NewReader(bytes.NewReader(b))
		} else {
			r, err = lzma.NewReader(bytes.NewReader(b))
		}
	}
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}
