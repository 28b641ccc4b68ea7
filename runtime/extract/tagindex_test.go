package extract

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

func TestRightmostTag(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"a", "a"},
		{"A", "a"},
		{"h1.title", "h1"},
		{"ul.links a", "a"},
		{"div > p:not(.x)", "p"},
		{"li+li", "li"},
		{"p ~ span[title]", "span"},
		{"h2\ta", "a"},
		{"a[href~='x y']", "a"},
		{`a[title="b > c"]`, "a"},
		{"p:nth-child(2n+1)", "p"},
		{"div :not(a)", ""},
		{"div *", ""},
		{"*", ""},
		{".cls", ""},
		{"#id", ""},
		{"[href]", ""},
		{"svg|rect", ""},
		{`h\31`, ""},
		{"-moz-x", ""},
		{"h1", "h1"},
		{"div > h2.name a", "a"},
	} {
		if got := rightmostTag(c.in); got != c.want {
			t.Errorf("rightmostTag(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The tag index must give exactly what walking the tree gives: every
// selector below, on every HTML page of the test sites and this package's
// fixtures, once through the index and once with it turned off.
func TestTagIndexSameAsTreeWalk(t *testing.T) {
	var pages []string
	err := filepath.WalkDir("../../testdata/sites", func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(p, ".html") {
			pages = append(pages, p)
		}
		return err
	})
	if err != nil || len(pages) < 20 {
		t.Fatalf("test sites: %d pages, %v", len(pages), err)
	}
	pages = append(pages, "testdata/links.html", "") // "": the inline page below
	inline := `<!DOCTYPE html><title>t</title><table><tr><td>1<td>2</table><svg><rect/></svg>
<p>a<p>b<span title="x">s</span><form><input type=text><label>l</label></form><A HREF="/x">X</A>`
	queries := []string{"a", "A", "p", "span[title]", "td:first-child", "table tr", "tr", "tbody",
		"html", "body", "head title", "div > p", "li + li", "p ~ span", "a[href$='.html']",
		"a:not(.x)", "p:nth-child(2n+1)", "input + label", "ul.pager a", "div.quote span.text",
		"a, p", "h1 a", "li.next a", "rect", "svg rect", "article h3 a", "img", "meta"}
	for _, page := range pages {
		text := inline
		if page != "" {
			b, err := os.ReadFile(page)
			if err != nil {
				t.Fatal(err)
			}
			text = string(b)
		}
		root := mustSelector(t, text, "html")
		for _, q := range queries {
			c, err := compileCSS(q)
			if err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			for _, part := range c {
				indexed := root.cssPart(part)
				part.tag = ""
				walked := root.cssPart(part)
				if len(indexed) != len(walked) {
					t.Fatalf("%s: %q: %d matches through the index, %d walking", page, q, len(indexed), len(walked))
				}
				for i := range indexed {
					if indexed[i].node != walked[i].node || indexed[i].Get() != walked[i].Get() {
						t.Fatalf("%s: %q: match %d differs", page, q, i)
					}
				}
			}
		}
		// The index lists every element exactly once.
		listed := 0
		for _, els := range root.doc.tags {
			listed += len(els)
		}
		elements := 0
		for d := range root.doc.root.Descendants() {
			if d.Type == html.ElementNode {
				elements++
			}
		}
		if listed != elements {
			t.Fatalf("%s: index lists %d elements, the page has %d", page, listed, elements)
		}
	}
}
