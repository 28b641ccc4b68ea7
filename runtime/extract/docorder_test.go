package extract

import (
	"slices"
	"testing"
)

// TestCSSDocOrderWithoutSort checks the shortcut of Selector.CSS that
// skips sorting when one part's matches are already in document order:
// the result must be what sorting gives, for matches that nest (where
// ::text of an outer element comes out of order) and for those that don't.
func TestCSSDocOrderWithoutSort(t *testing.T) {
	const page = `<html><body>
<div id="outer">t1<div id="inner">t2</div>t3</div>
<ul><li><a href="/1" id="a1">one</a></li><li><a href="/2" id="a2">two</a></li></ul>
<p class="x">p1</p><p class="x">p2<b class="x">b1</b>p3</p>
</body></html>`
	cases := []struct {
		query string
		want  []string
	}{
		{"div::text", []string{"t1", "t2", "t3"}},
		{".x::text", []string{"p1", "p2", "b1", "p3"}},
		{"a::attr(href)", []string{"/1", "/2"}},
		{"a::text", []string{"one", "two"}},
		{"*::attr(id)", []string{"outer", "inner", "a1", "a2"}},
		{"div ::text", []string{"t1", "t2", "t3"}},
		{"li a::attr(id)", []string{"a1", "a2"}},
	}
	root, err := NewSelector(page, TypeHTML)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.query, func(t *testing.T) {
			got, err := root.CSS(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.GetAll(), tc.want) {
				t.Errorf("%s = %q, want %q", tc.query, got.GetAll(), tc.want)
			}
			sorted := sortDocOrder(root.doc, slices.Clone(got))
			if !slices.Equal(got.GetAll(), sorted.GetAll()) {
				t.Errorf("%s = %q, sorted %q", tc.query, got.GetAll(), sorted.GetAll())
			}
		})
	}
}

// TestNodeBefore compares nodeBefore with the position map on every pair
// of nodes of a document.
func TestNodeBefore(t *testing.T) {
	root, err := NewSelector(`<html><body><div>a<p>b<i>c</i></p>d</div><ul><li>e</li><li>f</li></ul></body></html>`, TypeHTML)
	if err != nil {
		t.Fatal(err)
	}
	all, err := root.XPath("//node()")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 10 {
		t.Fatalf("%d nodes", len(all))
	}
	for _, a := range all {
		for _, b := range all {
			if a.node == b.node {
				continue
			}
			want := root.doc.position(a.node) < root.doc.position(b.node)
			if got := nodeBefore(a.node, b.node); got != want {
				t.Errorf("nodeBefore(%q, %q) = %v, want %v", a.Get(), b.Get(), got, want)
			}
		}
	}
}
