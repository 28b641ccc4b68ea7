package extract

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// The selector cases compared with parsel itself are in
// testdata/reference/selectors (selector_reference_test.go); the tests here
// cover the API around them. Fixtures from parsel's tests/test_selector.py.
const listBody = `<body>
  <div class='one'>
    <ul>
      <li>one</li><li>two</li>
    </ul>
  </div>
  <div class='two'>
    <ul>
      <li>four</li><li>five</li><li>six</li>
    </ul>
  </div>
</body>`

const nsXML = `<?xml version="1.0" encoding="UTF-8"?>
<BrowseNode xmlns="http://webservices.amazon.com/AWSECommerceService/2005-10-05"
            xmlns:b="http://somens.com"
            xmlns:p="http://www.scrapy.org/product" >
    <b:Operation>hello</b:Operation>
    <TestTag b:att="value"><Other>value</Other></TestTag>
    <p:SecondTestTag><material>iron</material><price>90</price><p:name>Dried Rose</p:name></p:SecondTestTag>
</BrowseNode>`

func TestSelectorNesting(t *testing.T) {
	t.Parallel()
	x := mustSelector(t, listBody, "html")
	two, err := x.XPath(`//div[@class="two"]`)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		q    string
		want []string
	}{
		{"//li", []string{"<li>one</li>", "<li>two</li>", "<li>four</li>", "<li>five</li>", "<li>six</li>"}},
		{"./ul/li", []string{"<li>four</li>", "<li>five</li>", "<li>six</li>"}},
		{".//li", []string{"<li>four</li>", "<li>five</li>", "<li>six</li>"}},
		{"./li", []string{}},
	} {
		got, err := two.XPath(tc.q)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.GetAll(), tc.want) {
			t.Errorf("%s: got %q want %q", tc.q, got.GetAll(), tc.want)
		}
	}
	// css on a sub-selector includes the context element itself
	// (descendant-or-self), and mixed css/xpath chains work.
	divs, _ := x.CSS("div")
	self, _ := divs[1].CSS("div::attr(class)")
	if got := self.GetAll(); !reflect.DeepEqual(got, []string{"two"}) {
		t.Errorf("css self-match: %q", got)
	}
	m := mustSelector(t, `<body><div id=1>not<span>me</span></div><div class="dos"><p>text</p><a href='#'>foo</a></div></body>`, "html")
	d, _ := m.XPath(`//div[@id="1"]`)
	sp, _ := d.CSS("span::text")
	if sp.GetAll()[0] != "me" {
		t.Errorf("xpath then css: %q", sp.GetAll())
	}
	d2, _ := m.CSS("#1")
	sp2, _ := d2.XPath("./span/text()")
	if len(sp2) != 1 || sp2.Get() != "me" {
		t.Errorf("css then xpath: %q", sp2.GetAll())
	}
	// text and attribute results cannot be queried further
	txt, _ := m.XPath("//span/text()")
	if r, _ := txt.XPath(".//b"); len(r) != 0 {
		t.Errorf("query on text: %q", r.GetAll())
	}
	if r, _ := txt.CSS("b"); len(r) != 0 {
		t.Errorf("css on text: %q", r.GetAll())
	}
}

func TestSelectorGetDefaultsAndAttrib(t *testing.T) {
	t.Parallel()
	s := mustSelector(t, `<html lang="en" version="1.0"><body><ul id="some-list" class="list-cls">
<li class="item-cls" id="list-item-1"><li class="item-cls active" id="list-item-2"></ul></body></html>`, "html")
	if got := s.Attrib(); !reflect.DeepEqual(got, []Attr{{"lang", "en"}, {"version", "1.0"}}) {
		t.Errorf("root attrib: %v", got)
	}
	li, _ := s.CSS("li")
	if got := li.Attrib(); !reflect.DeepEqual(got, []Attr{{"class", "item-cls"}, {"id", "list-item-1"}}) {
		t.Errorf("list attrib: %v", got)
	}
	none, _ := s.CSS("nothing")
	if none.Attrib() != nil || none.Get() != "" || none.Get("missing") != "missing" {
		t.Error("empty list defaults")
	}
	if _, ok := none.First(); ok {
		t.Error("First on empty list reports a value")
	}
	empty, _ := s.XPath(`//li[1]/text()`)
	if v, ok := empty.First(); ok || v != "" {
		t.Errorf("no text node: %q %v", v, ok)
	}
	href := mustSelector(t, `<a href="">false</a><a href="nonempty">true</a>`, "html")
	l, _ := href.XPath("//a/@href")
	if v, ok := l.First(); !ok || v != "" {
		t.Error("empty attribute is present")
	}
	if v, ok := l[1].AttribValue("href"); ok || v != "" {
		t.Error("AttribValue on a value selector")
	}
	a, _ := href.CSS("a")
	if v, ok := a[1].AttribValue("href"); !ok || v != "nonempty" {
		t.Error("AttribValue")
	}
}

func TestSelectorRe(t *testing.T) {
	t.Parallel()
	x := mustSelector(t, `<div>Name: Mary
  <ul><li>Name: John</li><li>Age: 10</li><li>Name: Paul</li><li>Age: 20</li></ul>
  Age: 20</div>`, "html")
	li, _ := x.XPath("//ul/li")
	cases := []struct {
		on interface {
			Re(string) ([]string, error)
		}
		pattern string
		want    []string
	}{
		{li, `Name: (\w+)`, []string{"John", "Paul"}},
		{li, `Age: (\d+)`, []string{"10", "20"}},
		{mustSelector(t, "foobar", "html"), `(?P<extract>foo)`, []string{"foo"}},
		{mustSelector(t, "foobar", "html"), `(?P<extract>baz)`, []string{}},
		{mustSelector(t, "baz", "html"), `(?P<extract>foo)|(?P<bar>baz)`, []string{}},
		{mustSelector(t, "<div>Evento: cumplea\u00f1os</div>", "html"), `Evento: (\w+)`, []string{"cumplea\u00f1os"}},
		{mustSelector(t, "<p>a1b2</p>", "html"), `([a-z])(\d)`, []string{"a", "1", "b", "2"}},
		{mustSelector(t, "<p>a1b2</p>", "html"), `[a-z](?=\d)`, []string{"a", "b"}},
		{mustSelector(t, "<p>abab</p>", "html"), `(?P<x>ab)(?P=x)`, []string{"ab"}},
		// Python numbers groups by their opening parenthesis
		{mustSelector(t, "<p>1x2 3x4</p>", "html"), `(\d)(?P<n>x)(\d)`, []string{"1", "x", "2", "3", "x", "4"}},
		{mustSelector(t, "<p>a-b</p>", "html"), `(a)(?:-)([c-z])?(b)?`, []string{"a", "", "b"}},
		{mustSelector(t, "<p>[x](y)</p>", "html"), `[(\[](\w)[)\]]`, []string{"x", "y"}},
	}
	for _, tc := range cases {
		got, err := tc.on.Re(tc.pattern)
		if err != nil {
			t.Fatalf("%s: %v", tc.pattern, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q want %q", tc.pattern, got, tc.want)
		}
	}
	// entities replaced except &amp; and &lt;
	sc := mustSelector(t, `<script>{"foo":"bar &amp; &quot;baz&quot;"}</script>`, "html")
	st, _ := sc.XPath("//script/text()")
	got, _ := st.ReFirst(`{"foo":(.*)}`, "")
	if got != `"bar &amp; "baz""` {
		t.Errorf("replace entities: %q", got)
	}
	if v, _ := st.ReFirst(`nomatch`, "dflt"); v != "dflt" {
		t.Errorf("ReFirst default: %q", v)
	}
	if _, err := st.Re(`(`); err == nil {
		t.Error("bad regex must be an error")
	}
}

func TestRegexTimeoutIsAnError(t *testing.T) {
	// Not parallel: it lowers the package-wide timeout.
	old := RegexTimeout
	RegexTimeout = 50e6 // 50ms
	defer func() { RegexTimeout = old }()
	s := mustSelector(t, "<p>"+strings.Repeat("a", 40)+"!</p>", "html")
	p, _ := s.XPath("//p/text()")
	_, err := p.Re(`^(a+)+\1$`)
	if !errors.Is(err, ErrRegexTimeout) {
		t.Fatalf("want ErrRegexTimeout, got %v", err)
	}
}

func TestSelectorNamespaces(t *testing.T) {
	t.Parallel()
	x := mustSelector(t, nsXML, "xml")
	if _, err := x.XPath("//b:Operation"); err == nil || !strings.Contains(err.Error(), "undefined namespace prefix") {
		t.Fatalf("unregistered prefix: %v", err)
	}
	x.RegisterNamespace("xmlns", "http://webservices.amazon.com/AWSECommerceService/2005-10-05")
	x.RegisterNamespace("p", "http://www.scrapy.org/product")
	x.RegisterNamespace("b", "http://somens.com")
	for q, want := range map[string]string{
		"//b:Operation/text()":                    "hello",
		"//xmlns:TestTag/@b:att":                  "value",
		"//p:SecondTestTag/xmlns:price/text()":    "90",
		"//p:SecondTestTag/xmlns:material/text()": "iron",
	} {
		l, err := x.XPath(q)
		if err != nil || l.Get() != want {
			t.Errorf("%s: %q %v", q, l.GetAll(), err)
		}
	}
	// registrations are shared with derived selectors
	tag, _ := x.XPath("//p:SecondTestTag")
	price, _ := tag.XPath("./xmlns:price/text()")
	if price.Get() != "90" {
		t.Errorf("chained: %q", price.GetAll())
	}

	feed := mustSelector(t, `<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-US" xmlns:media="http://search.yahoo.com/mrss/">
  <link type="text/html"/><entry><link type="text/html"/></entry><link atom:type="x" xmlns:atom="http://www.w3.org/2005/Atom" type="application/atom+xml"/>
</feed>`, "xml")
	if l, _ := feed.XPath("//link"); len(l) != 0 {
		t.Fatalf("before remove_namespaces: %d", len(l))
	}
	feed.RemoveNamespaces()
	if l, _ := feed.XPath("//link"); len(l) != 3 {
		t.Fatalf("after remove_namespaces: %d", len(l))
	}
	if l, _ := feed.XPath("//link/@type"); len(l) != 4 {
		t.Fatalf("attributes after remove_namespaces: %q", l.GetAll())
	}
}

func TestSelectorErrors(t *testing.T) {
	t.Parallel()
	s := mustSelector(t, "<html></html>", "html")
	for _, q := range []string{"//test[@foo='bar]", "//[", "re:match(., 'a')", "//a[. = $undefined]"} {
		if _, err := s.XPath(q); err == nil {
			t.Errorf("%s: want an error", q)
		} else if !strings.Contains(err.Error(), "xpath") {
			t.Errorf("%s: error should name the query: %v", q, err)
		}
	}
	for _, q := range []string{"a[[", "::text-node", "p::foo", "a,,b", "::attr()"} {
		if _, err := s.CSS(q); err == nil {
			t.Errorf("%s: want an error", q)
		}
	}
	if _, err := NewSelector("x", "xhtml"); err == nil {
		t.Error("unknown type accepted")
	}
	if err := CompileCSS("div > p::text"); err != nil {
		t.Error(err)
	}
	if err := CompileXPath("//div/text()"); err != nil {
		t.Error(err)
	}
}

func TestTooDeepHTMLIsFlattened(t *testing.T) {
	t.Parallel()
	// 1000 nested divs (RELIABILITY M15): x/net/html refuses the page; the
	// fallback keeps its text and links.
	deep := "<html><body><p id=top>top</p>" + strings.Repeat("<div class=d>", 1000) +
		`deep text <a href="/deep">deep link</a><img src="/i.png">` + strings.Repeat("</div>", 1000) +
		`<p id=after>after</p><a href="/after">after link</a></body></html>`
	resp := htmlResponse("http://deep.test/page", deep)
	root, err := Root(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !root.Flattened() {
		t.Error("Flattened() = false")
	}
	for q, want := range map[string]string{
		"#top::text":            "top",
		"#after::text":          "after",
		"a[href='/deep']::text": "deep link",
		"img::attr(src)":        "/i.png",
	} {
		l, err := root.CSS(q)
		if err != nil || l.Get() != want {
			t.Errorf("%s = %q, %v; want %q", q, l.Get(), err, want)
		}
	}
	if l, _ := root.XPath("normalize-space(//body)"); l.Get() != "topdeep text deep linkafterafter link" {
		t.Errorf("body text: %q", l.Get())
	}
	// the structure above the flattening depth is kept (html, body and 398 divs)
	if l, _ := root.XPath("count(//div)"); l.Get() != "398.0" {
		t.Errorf("count(//div) = %s", l.Get())
	}
	le, _ := NewLinkExtractor(LinkExtractorOptions{})
	links, err := le.ExtractLinks(resp)
	if err != nil {
		t.Fatal(err)
	}
	if len(links) != 2 || links[0].URL != "http://deep.test/deep" || links[1].URL != "http://deep.test/after" {
		t.Errorf("links: %v", links)
	}
	shallow := mustSelector(t, "<div><p>x</p></div>", "html")
	if shallow.Flattened() {
		t.Error("a normal page reports Flattened")
	}
}

func TestEmptyAndCommentOnlyDocuments(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"", "<!-- hello world -->", "   "} {
		s := mustSelector(t, doc, "html")
		if _, err := s.XPath("//text()"); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
	// parsel 1.7 parses blank text (NULs aside) as "<html/>", both types.
	for _, c := range []struct{ doc, typ, want string }{
		{"", "html", "<html></html>"},
		{" \n\x00 ", "html", "<html></html>"},
		{"", "xml", "<html/>"},
		{"\t", "xml", "<html/>"},
	} {
		s := mustSelector(t, c.doc, c.typ)
		if got := s.Get(); got != c.want {
			t.Errorf("%q as %s: %q, want %q", c.doc, c.typ, got, c.want)
		}
	}
	if _, err := NewSelector("  ", "json"); err == nil {
		t.Error("blank text of an unknown type: no error")
	}
}

// cssselect anchors a selector's first compound at the context (descendant-
// or-self::), so an ancestor of the context never satisfies a combinator,
// while a sibling step may leave the subtree.
func TestCSSScopedToContext(t *testing.T) {
	t.Parallel()
	doc := mustSelector(t, `<div><section id="s"><span>in</span><p><span>deep</span></p></section><b>out</b></div><h2 id="t">T</h2><p>after</p><p>later</p>`, "html")
	sec, _ := doc.CSS("#s")
	h2, _ := doc.CSS("#t")
	cases := []struct {
		on   *Selector
		q    string
		want []string
	}{
		{sec[0], "div span::text", []string{}},
		{sec[0], "section span::text", []string{"in", "deep"}},
		{sec[0], "p span::text", []string{"deep"}},
		{sec[0], "section > span::text", []string{"in"}},
		{sec[0], "section ~ b::text", []string{"out"}},
		{sec[0], "span, p span::text", []string{"<span>in</span>", "<span>deep</span>", "deep"}},
		{h2[0], "h2 + p::text", []string{"after"}},
		{h2[0], "h2 ~ p::text", []string{"after", "later"}},
		{h2[0], "body h2", []string{}},
		{doc, "div span::text", []string{"in", "deep"}},
		{doc, `[id="s"] > :not(p)::text`, []string{"in"}},
	}
	for _, tc := range cases {
		l, err := tc.on.CSS(tc.q)
		if err != nil {
			t.Fatalf("%s: %v", tc.q, err)
		}
		if got := l.GetAll(); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: got %q want %q", tc.q, got, tc.want)
		}
	}
}

func TestConcurrentQueriesOnOneDocument(t *testing.T) {
	t.Parallel()
	resp := htmlResponse("http://c.test/", benchPage())
	le, _ := NewLinkExtractor(LinkExtractorOptions{Allow: []string{`/product/`}})
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 20; i++ {
				root, err := Root(resp)
				if err != nil {
					done <- err
					return
				}
				a, err := root.XPath("count(//li)")
				if err != nil || a.Get() != "50.0" {
					done <- fmt.Errorf("count: %q %v", a.GetAll(), err)
					return
				}
				b, err := root.CSS("ul.products li a::attr(href)")
				if err != nil || len(b) != 150 {
					done <- fmt.Errorf("css: %d %v", len(b), err)
					return
				}
				links, err := le.ExtractLinks(resp)
				if err != nil || len(links) != 50 {
					done <- fmt.Errorf("links: %d %v", len(links), err)
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
