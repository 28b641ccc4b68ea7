package feed_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/feed"
)

// TestAppendCutsTornTail: a feed left by a killed run (torn last record,
// no closing bracket or tag) is continued after its last complete record,
// so the file is one valid document holding every complete item once.
func TestAppendCutsTornTail(t *testing.T) {
	cases := []struct {
		name   string
		format feed.Format
		indent int
		before string
		want   string
	}{
		{"jsonl torn", feed.JSONLines, 0, "{\"a\":1}\n{\"a\":", "{\"a\":1}\n{\"n\":1}\n"},
		{"jsonl torn first line", feed.JSONLines, 0, "{\"a\":", "{\"n\":1}\n"},
		{"jsonl whole line without newline kept", feed.JSONLines, 0, "{\"a\":1}\n{\"a\":2}", "{\"a\":1}\n{\"a\":2}\n{\"n\":1}\n"},
		{"jsonl torn after a newline inside", feed.JSONLines, 0, "{\"a\":1}\n[1,\n", "{\"a\":1}\n[1,\n{\"n\":1}\n"},
		{"json killed mid item", feed.JSON, 0, "[\n{\"a\":1},\n{\"a\":2},\n{\"a\":", "[\n{\"a\":1},\n{\"a\":2},\n{\"n\":1}\n]\n"},
		{"json killed between items", feed.JSON, 0, "[\n{\"a\":1},\n", "[\n{\"a\":1},\n{\"n\":1}\n]\n"},
		{"json killed before any item", feed.JSON, 0, "[\n", "[\n{\"n\":1}\n]\n"},
		{"json indented killed mid item", feed.JSON, 2, "[\n{\n  \"a\": 1\n},\n{\n  \"a\":", "[\n{\n  \"a\": 1\n},\n{\n  \"n\": 1\n}\n]\n"},
		{"json string with brackets", feed.JSON, 0, "[\n{\"a\":\"]}\"},\n{\"b\":\"x", "[\n{\"a\":\"]}\"},\n{\"n\":1}\n]\n"},
		{"xml killed mid item", feed.XML, 0,
			"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<items>\n<item><a>1</a></item>\n<item><a>",
			"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<items>\n<item><a>1</a></item>\n<item><n>1</n></item>\n</items>\n"},
		{"xml killed before any item", feed.XML, 0,
			"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<items>\n<it",
			"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<items>\n<item><n>1</n></item>\n</items>\n"},
		{"csv torn row", feed.CSV, 0, "n\n0\n1", "n\n0\n1\n"},
		{"csv torn inside a quoted newline", feed.CSV, 0, "n\n0\n\"x\ny", "n\n0\n1\n"},
		{"csv torn right after a quoted newline", feed.CSV, 0, "n\n0\n\"x\n", "n\n0\n1\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "out")
			if err := os.WriteFile(path, []byte(c.before), 0o644); err != nil {
				t.Fatal(err)
			}
			f, err := feed.Open(feed.Config{URI: path, Format: c.format, Indent: c.indent}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Export(crawl.NewItem("n", int64(1))); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if string(got) != c.want {
				t.Fatalf("got %q, want %q", got, c.want)
			}
		})
	}
}

// TestAppendRefusesForeignFiles: a file that is not a document of the
// feed's format is refused, never cut.
func TestAppendRefusesForeignFiles(t *testing.T) {
	cases := []struct {
		format feed.Format
		before string
	}{
		{feed.JSON, "{\"a\":1}\n"},
		{feed.JSON, "hello"},
		{feed.XML, "<other><item/></other>"},
		{feed.XML, "plain text"},
		{feed.CSV, "\"unclosed header"},
	}
	for _, c := range cases {
		path := filepath.Join(t.TempDir(), "out")
		if err := os.WriteFile(path, []byte(c.before), 0o644); err != nil {
			t.Fatal(err)
		}
		if f, err := feed.Open(feed.Config{URI: path, Format: c.format}, nil); err == nil {
			f.Close()
			t.Errorf("%s %q: opened for appending", c.format, c.before)
		}
		if got, _ := os.ReadFile(path); string(got) != c.before {
			t.Errorf("%s: file changed to %q", c.format, got)
		}
	}
}
