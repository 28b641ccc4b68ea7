package html5

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// The differential tests below hold the fork to one rule: for every input,
// with scripting on and off, as a document and as a fragment, it builds
// exactly the tree golang.org/x/net/html builds (or fails with the same
// error). The inputs are x/net's own test corpus, the html5lib
// tree-construction suite, read from the x/net module this repository
// depends on, plus spiderrun's extract testdata pages.

// xnetDir is the directory of the golang.org/x/net module in use.
var xnetDir = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/net").Output()
	if err != nil {
		return "", fmt.Errorf("locate golang.org/x/net: %w", err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", errors.New("locate golang.org/x/net: empty module directory")
	}
	return dir, nil
})

type datCase struct {
	file      string
	index     int
	text      string
	context   string
	scripting bool
}

// readDat reads the #data/#document-fragment/#script-* parts of an
// html5lib .dat file (the expected dumps are x/net's business: here the
// expectation is x/net's own tree).
func readDat(t testing.TB, path string) []datCase {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cases []datCase
	r := bufio.NewReader(bytes.NewReader(raw))
	section := ""
	var cur *datCase
	var data []byte
	flush := func() {
		if cur != nil {
			cases = append(cases, *cur)
		}
	}
	for {
		line, err := r.ReadString('\n')
		if line == "" && err != nil {
			break
		}
		if strings.HasPrefix(line, "#") {
			name := strings.TrimRight(line, "\n")
			switch name {
			case "#data":
				flush()
				cur = &datCase{file: filepath.Base(path), index: len(cases), scripting: true}
				data = data[:0]
				section = name
				continue
			case "#errors", "#new-errors", "#document", "#document-fragment", "#script-on", "#script-off":
				if section == "#data" && cur != nil {
					cur.text = strings.TrimSuffix(string(data), "\n")
				}
				if name == "#script-off" && cur != nil {
					cur.scripting = false
				}
				section = name
				continue
			}
		}
		switch section {
		case "#data":
			data = append(data, line...)
		case "#document-fragment":
			if cur != nil && strings.TrimSpace(line) != "" {
				cur.context = strings.TrimSpace(line)
			}
		}
	}
	flush()
	if len(cases) == 0 {
		t.Fatalf("%s: no test cases", path)
	}
	return cases
}

func datFiles(t testing.TB) []string {
	t.Helper()
	dir, err := xnetDir()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, pat := range []string{
		"html/testdata/html5lib-tests/tree-construction/*.dat",
		"html/testdata/html5lib-tests/tree-construction/scripted/*.dat",
		"html/testdata/go/*.dat",
	} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 50 {
		t.Fatalf("found %d .dat files under %s, want the html5lib suite", len(files), dir)
	}
	return files
}

// formattingAtoms are the elements x/net's addFormattingElement adds
// with their attributes sorted by name; the fork keeps source order (see
// the package comment), so dumpTree lists theirs sorted and
// TestFormattingAttrOrder checks the fork's order.
var formattingAtoms = map[atom.Atom]bool{
	atom.A: true, atom.B: true, atom.Big: true, atom.Code: true, atom.Em: true,
	atom.Font: true, atom.I: true, atom.Nobr: true, atom.S: true, atom.Small: true,
	atom.Strike: true, atom.Strong: true, atom.Tt: true, atom.U: true,
}

// dumpTree writes every field of every node (attribute order, namespaces
// and atoms included; for HTML formatting elements the attributes sorted)
// and checks the tree's links are consistent.
func dumpTree(w *strings.Builder, n *html.Node, depth int) error {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Parent != n {
			return fmt.Errorf("node %q: wrong parent", c.Data)
		}
		if c.PrevSibling == nil && n.FirstChild != c || c.NextSibling == nil && n.LastChild != c {
			return fmt.Errorf("node %q: wrong first/last child links", c.Data)
		}
		if c.NextSibling != nil && c.NextSibling.PrevSibling != c {
			return fmt.Errorf("node %q: wrong sibling links", c.Data)
		}
		fmt.Fprintf(w, "%s%d %d %q %q", strings.Repeat(" ", depth), c.Type, c.DataAtom, c.Namespace, c.Data)
		if c.Attr == nil {
			w.WriteString(" nil")
		}
		attrs := c.Attr
		if c.Type == html.ElementNode && c.Namespace == "" && formattingAtoms[c.DataAtom] {
			attrs = slices.SortedFunc(slices.Values(attrs), attrCompare)
		}
		for _, a := range attrs {
			fmt.Fprintf(w, " [%q %q %q]", a.Namespace, a.Key, a.Val)
		}
		w.WriteByte('\n')
		if err := dumpTree(w, c, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func dump(n *html.Node, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	var b strings.Builder
	if n.Type != html.DocumentNode {
		return fmt.Sprintf("root type %d", n.Type)
	}
	if e := dumpTree(&b, n, 0); e != nil {
		return "inconsistent tree: " + e.Error()
	}
	return b.String()
}

func dumpFragment(nodes []*html.Node, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	doc := &html.Node{Type: html.DocumentNode}
	for _, n := range nodes {
		doc.AppendChild(n)
	}
	return dump(doc, nil)
}

// compare parses text with both parsers and reports a difference.
func compare(text string, scripting bool) (fork, xnet string) {
	fork = dump(Parse(text, ParseOptionEnableScripting(scripting)))
	xnet = dump(html.ParseWithOptions(strings.NewReader(text), html.ParseOptionEnableScripting(scripting)))
	return fork, xnet
}

func contextNode(context string) *html.Node {
	namespace := ""
	if i := strings.IndexByte(context, ' '); i >= 0 {
		namespace, context = context[:i], context[i+1:]
	}
	return &html.Node{Data: context, DataAtom: atom.Lookup([]byte(context)), Namespace: namespace, Type: html.ElementNode}
}

func compareFragment(text, context string, scripting bool) (fork, xnet string) {
	fork = dumpFragment(ParseFragment(text, contextNode(context), ParseOptionEnableScripting(scripting)))
	xnet = dumpFragment(html.ParseFragmentWithOptions(strings.NewReader(text), contextNode(context), html.ParseOptionEnableScripting(scripting)))
	return fork, xnet
}

// TestSameTreeHTML5Lib: every html5lib tree-construction input (and x/net's
// own), parsed as its test says (document or fragment) with scripting on
// and off, gives the same tree as x/net/html. No case is skipped.
func TestSameTreeHTML5Lib(t *testing.T) {
	total := 0
	for _, f := range datFiles(t) {
		for _, c := range readDat(t, f) {
			for _, scripting := range []bool{c.scripting, !c.scripting} {
				var fork, xnet string
				if c.context != "" {
					fork, xnet = compareFragment(c.text, c.context, scripting)
				} else {
					fork, xnet = compare(c.text, scripting)
				}
				total++
				if fork != xnet {
					t.Errorf("%s #%d (context %q, scripting %v) %q:\nfork:\n%s\nx/net:\n%s", c.file, c.index, c.context, scripting, c.text, fork, xnet)
				}
			}
			if c.context == "" {
				// Document inputs also as a <div> and a <title> fragment:
				// the fragment tokenizer states are exercised too.
				for _, ctx := range []string{"div", "title", "svg svg"} {
					total++
					if fork, xnet := compareFragment(c.text, ctx, false); fork != xnet {
						t.Errorf("%s #%d as %s fragment %q:\nfork:\n%s\nx/net:\n%s", c.file, c.index, ctx, c.text, fork, xnet)
					}
				}
			}
		}
	}
	t.Logf("compared %d parses", total)
	if total < 5000 {
		t.Fatalf("compared %d parses, want the whole suite (> 5000)", total)
	}
}

// pages returns the HTML pages of runtime/extract/testdata.
func pages(t testing.TB) map[string]string {
	t.Helper()
	m, err := filepath.Glob("../../testdata/*.html")
	if err != nil {
		t.Fatal(err)
	}
	if len(m) == 0 {
		t.Fatal("no pages in ../../testdata")
	}
	out := map[string]string{}
	for _, p := range m {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = string(b)
	}
	return out
}

// edgeCases are inputs that walk the fork's own code rather than
// upstream's: the string fast paths and their slow fallbacks.
var edgeCases = []string{
	"",
	"plain",
	"<",
	"<a",
	"<a href",
	"<a href=",
	"<a href='x",
	"<!DOCTYP",
	"<!--",
	"<!-- a --",
	"<!-- a --!",
	"<p>a\r\nb\rc\n\r</p>",
	"<p title='a\r\nb\r'>x</p>",
	"<p>a\x00b</p><P\x00Q x\x00Y=\x00>c</P\x00Q>",
	"<textarea>a\x00&amp;\r\n</textarea><title>&lt;t\x00</title>",
	"<script>a\x00</script><style>\x00</style><plaintext>\x00&amp;",
	"<DIV CLASS=A Id=b ID=c class=d>x</DIV>",
	`<a HREF="/x?a=1&amp;b=2&copy=3&notit;&notin;" title="&#x41;&#65;&#0;&#x110000;&#128;">x</a>`,
	"<p>&amp&lt;&gt&quot;&nbsp;&NotEqualTilde;&acE;&#xD800;&unknown;</p>",
	"<svg viewBox='0 0 1 1'><linearGradient gradientUnits=x xlink:href=y xml:lang=z/><foreignObject><p>x</svg>",
	"<math><mi>x</mi><annotation-xml encoding=TEXT/HTML><p>y</math>",
	"<html a=1><body b=2><html c=3 a=9><body d=4 b=8><p>",
	"<b c=1 a=2 b=3><b a=2 b=3 c=1><b b=3 c=1 a=2><b a=2 c=1 b=3><p>x</b>y",
	"<table><tr><td>a<td>b</table><table><caption>c<col><tr>d",
	"<select><option>a<optgroup><option>b</select><frameset><frame>",
	"<template><td>a</template><noscript><img src=x></noscript>",
	"<br/><p a=/><img src=x/><input value=a/>",
	"<!doctype html public '-//W3C//DTD HTML 4.01//EN' 'http://www.w3.org/TR/html4/strict.dtd'>x",
	"<?xml version='1.0'?><![CDATA[x]]><svg><![CDATA[y]]></svg>",
	"</>x</ p></3>",
	strings.Repeat("<div>", 511) + "x",
	strings.Repeat("<div>", 513) + "x",
	strings.Repeat("<b>", 600),
	"<p " + manyAttrs40() + ">",
	"<" + strings.Repeat("x", 100) + " " + strings.Repeat("Y", 80) + "=1>",
	"<ünknown ÄTTR=1>x</ünknown>",
	"<a k\u212a=1 K=2 s\u017f=3 S=4>",
}

func manyAttrs40() string {
	var b strings.Builder
	for i := 0; i < 40; i++ {
		fmt.Fprintf(&b, " a%d=%d A%d=dup", i%25, i, i%7)
	}
	return b.String()
}

// TestSameTreePagesAndEdges: spiderrun's test pages and the edge cases
// above give x/net's tree, including the "too deep" error parseHTML checks.
func TestSameTreePagesAndEdges(t *testing.T) {
	inputs := map[string]string{}
	for name, page := range pages(t) {
		inputs[name] = page
		inputs[name+" crlf"] = strings.ReplaceAll(page, "\n", "\r\n")
	}
	for i, c := range edgeCases {
		inputs[fmt.Sprintf("edge %d", i)] = c
	}
	for name, text := range inputs {
		for _, scripting := range []bool{false, true} {
			if fork, xnet := compare(text, scripting); fork != xnet {
				t.Errorf("%s (scripting %v):\nfork:\n%s\nx/net:\n%s", name, scripting, fork, xnet)
			}
		}
	}
	_, err := Parse(strings.Repeat("<div>", 513))
	if err == nil || !strings.Contains(err.Error(), "512") {
		t.Fatalf("513 nested divs: err %v, want the 512 nodes error", err)
	}
}

// TestFormattingAttrOrder: formatting elements, their clones (the
// adoption agency, reconstruction) and the Noah's Ark clause see the
// attributes in source order (x/net sorts them by name).
func TestFormattingAttrOrder(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`<a href=x data-url=y id=z>t</a><p>`, "a href data-url id|p"},
		{`<p><b z=1 a=2>x<p>y`, "p|b z a|p|b z a"},
		{`<b z=1 a=2><p>x</b>y`, "b z a|p|b z a"},
		{`<font size=1 color=red face=x><font size=1 color=red face=x>`, "font size color face|font size color face"},
		// Noah's Ark: four identical <b> (in any order): the first leaves
		// the list, so the new <p> reopens three.
		{`<b c=1 a=2><b a=2 c=1><b c=1 a=2><b a=2 c=1><p>x</b></b></b></b>y`,
			"b c a|b a c|b c a|b a c|p|b a c|b c a|b a c"},
		// The same past manyAttrs (compared through sorted copies).
		{strings.Repeat(`<b`+distinctAttrs(false)+`><b`+distinctAttrs(true)+`>`, 2) + `<p>x</b></b></b></b>y`, ""},
	} {
		doc, err := Parse(c.in)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			if n.Type == html.ElementNode && n.DataAtom != atom.Html && n.DataAtom != atom.Head && n.DataAtom != atom.Body {
				s := n.Data
				for _, a := range n.Attr {
					s += " " + a.Key
				}
				got = append(got, s)
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(doc)
		if fork, xnet := compare(c.in, false); fork != xnet {
			t.Errorf("%.40q: the tree differs from x/net's beyond attribute order:\nfork:\n%s\nx/net:\n%s", c.in, fork, xnet)
		}
		if c.want == "" { // many attributes: source order, whatever it is
			want := []string{}
			for _, a := range doc.FirstChild.LastChild.FirstChild.Attr {
				want = append(want, a.Key)
			}
			if slices.IsSorted(want) {
				t.Errorf("%.40q: attributes sorted: %v", c.in, want)
			}
			continue
		}
		if g := strings.Join(got, "|"); g != c.want {
			t.Errorf("%q:\ngot  %s\nwant %s", c.in, g, c.want)
		}
	}
}

// distinctAttrs is " k0=0 k1=1 ..." past manyAttrs, in reverse if asked.
func distinctAttrs(reverse bool) string {
	var f []string
	for i := range manyAttrs + 4 {
		f = append(f, fmt.Sprintf("k%d=%d", i, i))
	}
	if reverse {
		slices.Reverse(f)
	}
	return " " + strings.Join(f, " ")
}

// TestAttrSlicesDoNotAlias: attributes come from shared chunks; growing
// one element's list (as copyAttributes does for a second <html>) must not
// overwrite the next element's.
func TestAttrSlicesDoNotAlias(t *testing.T) {
	doc, err := Parse(`<html a=1><body><p x=1><i y=2></i><html b=2 a=3>`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			s := n.Data
			for _, a := range n.Attr {
				s += " " + a.Key + "=" + a.Val
			}
			got = append(got, s)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	want := "html a=1 b=2|head|body|p x=1|i y=2"
	if strings.Join(got, "|") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, "|"), want)
	}
	p := doc.FirstChild.LastChild.FirstChild
	p.Attr = append(p.Attr, html.Attribute{Key: "z", Val: "9"})
	if i := p.FirstChild; len(i.Attr) != 1 || i.Attr[0].Key != "y" {
		t.Fatalf("appending to <p>'s attributes changed <i>'s: %v", i.Attr)
	}
}

// TestRenderRoundTrip: html.Render accepts the fork's trees.
func TestRenderRoundTrip(t *testing.T) {
	for name, page := range pages(t) {
		doc, err := Parse(page)
		if err != nil {
			t.Fatal(err)
		}
		var a, b bytes.Buffer
		if err := html.Render(&a, doc); err != nil {
			t.Fatal(err)
		}
		xdoc, err := html.Parse(strings.NewReader(page))
		if err != nil {
			t.Fatal(err)
		}
		if err := html.Render(&b, xdoc); err != nil {
			t.Fatal(err)
		}
		if a.String() != b.String() {
			t.Errorf("%s: rendering differs", name)
		}
	}
}

// FuzzSameTree: for any input the fork and x/net build the same tree (or
// fail the same way), as a document and as a <div> fragment.
func FuzzSameTree(f *testing.F) {
	for _, file := range datFiles(f) {
		for _, c := range readDat(f, file) {
			f.Add(c.text)
		}
	}
	for _, page := range pages(f) {
		f.Add(page)
	}
	for _, c := range edgeCases {
		f.Add(c)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for _, scripting := range []bool{false, true} {
			if fork, xnet := compare(text, scripting); fork != xnet {
				t.Fatalf("scripting %v %q:\nfork:\n%s\nx/net:\n%s", scripting, text, fork, xnet)
			}
		}
		if fork, xnet := compareFragment(text, "div", false); fork != xnet {
			t.Fatalf("fragment %q:\nfork:\n%s\nx/net:\n%s", text, fork, xnet)
		}
	})
}
