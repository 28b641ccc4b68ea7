package feed_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/feed"
)

// specialValues holds every character CSV treats specially, and the ones
// that spreadsheets or a careless rewrite change.
var specialValues = []string{
	`say "hi"`, `a,b`, "cr\ronly", "lf\nonly", "crlf\r\ninside", "trailing crlf\r\n",
	"\r\n", `"`, `""`, ",", "tab\there", "nul\x00byte", "Naïve café, 东京 🕷", "  leading spaces",
	"=1+2", "=HYPERLINK(\"http://x\")", "+cmd", "-1", "@SUM(A1)", `\.`, "", " ", "quote at end\"",
	"\"quoted, \r\n all\"",
}

// csvRewriteItems returns items whose later ones add columns, so Close
// rewrites the header; the first item has a single field "a".
func csvRewriteItems() []*crawl.Item {
	items := []*crawl.Item{crawl.NewItem("a", "first")}
	for i, v := range specialValues {
		items = append(items, crawl.NewItem("a", v))
		if i%3 == 0 {
			items = append(items, crawl.NewItem("a", v, "b", v))
		}
		if i%5 == 0 {
			items = append(items, crawl.NewItem("c", v, "a", v, "b", ""))
		}
	}
	return items
}

func writeCSV(t *testing.T, cfg feed.Config, items []*crawl.Item) []byte {
	t.Helper()
	f, err := feed.Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if err := f.Export(it); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(cfg.URI)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestCSVHeaderRewriteKeepsValues: the file rewritten at close, when later
// items added columns, is byte for byte the file written with every column
// known from the start (FEED_EXPORT_FIELDS): values with quotes, commas,
// "\r", "\n", "\r\n", tabs, NUL, non-ASCII, leading spaces and formulas are
// unchanged, earlier rows are padded with empty fields.
func TestCSVHeaderRewriteKeepsValues(t *testing.T) {
	t.Parallel()
	for _, enc := range []string{"", "latin1", "utf-16le"} {
		t.Run("encoding="+enc, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			items := csvRewriteItems()
			got := writeCSV(t, feed.Config{URI: filepath.Join(dir, "grown.csv"), Format: feed.CSV, Encoding: enc}, items)
			want := writeCSV(t, feed.Config{URI: filepath.Join(dir, "fixed.csv"), Format: feed.CSV, Encoding: enc, Fields: []string{"a", "b", "c"}}, items)
			if !bytes.Equal(got, want) {
				t.Fatalf("rewritten CSV differs from the one written with every column:\ngot  %q\nwant %q", got, want)
			}
			if enc == "" && !bytes.Contains(got, []byte("\"crlf\r\ninside\"")) {
				t.Fatalf("a \\r\\n inside a value was altered:\n%q", got)
			}
		})
	}
}

// TestCSVHeaderRewriteAppend: appending (-o) to a CSV written with "\n" row
// endings and adding a column keeps the old rows' bytes and endings.
func TestCSVHeaderRewriteAppend(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "old.csv")
	old := "a\nx\n\"multi\r\nline\"\n"
	if err := os.WriteFile(path, []byte(old), 0o640); err != nil {
		t.Fatal(err)
	}
	got := writeCSV(t, feed.Config{URI: path, Format: feed.CSV}, []*crawl.Item{crawl.NewItem("a", "y\r\nz", "b", "2")})
	if want := "a,b\nx,\n\"multi\r\nline\",\n\"y\r\nz\",2\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v after the header rewrite, want the file's own -rw-r-----", st.Mode().Perm())
	}
}

// TestCSVHeaderRewriteMode: a new feed rewritten at close has the mode a
// feed that needed no rewrite gets (0644 less the umask), not
// os.CreateTemp's 0600.
func TestCSVHeaderRewriteMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	plain, grown := filepath.Join(dir, "plain.csv"), filepath.Join(dir, "grown.csv")
	writeCSV(t, feed.Config{URI: plain, Format: feed.CSV}, []*crawl.Item{crawl.NewItem("a", "1")})
	writeCSV(t, feed.Config{URI: grown, Format: feed.CSV}, []*crawl.Item{crawl.NewItem("a", "1"), crawl.NewItem("b", "2")})
	sp, err := os.Stat(plain)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := os.Stat(grown)
	if err != nil {
		t.Fatal(err)
	}
	if sg.Mode().Perm() != sp.Mode().Perm() {
		t.Fatalf("rewritten feed has mode %v, a feed without rewrite %v", sg.Mode().Perm(), sp.Mode().Perm())
	}
	if sp.Mode().Perm()&0o044 == 0 {
		t.Logf("umask hides group/other read: %v", sp.Mode().Perm())
	}
}
