// Package extract holds the data-extraction side of spiderrun: parsel-style
// selectors (CSS with ::text and ::attr(), XPath 1.0), response decoding,
// Scrapy's link extractor, FormRequest.from_response, embedded JSON and
// sitemaps. It is plain Go over golang.org/x/net/html, antchfx/xpath and
// cascadia; jsbridge wraps it one to one for JavaScript.
package extract

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	stdunicode "unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/encoding/unicode"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract/internal/html5"
)

// Document types accepted by NewSelector.
const (
	TypeHTML = "html"
	TypeXML  = "xml"
)

var (
	entityDeclRe = regexp.MustCompile(`<!ENTITY\s+([A-Za-z_][\w.-]*)\s`)
	entityRefRe  = regexp.MustCompile(`&([A-Za-z_][\w.-]*);`)
)

// xmlEntities maps the named entity references of an XML text as lxml
// (recover=True, resolve_entities=False) treats them. Entities a DTD
// declares are never expanded (no XXE, no billion laughs): they stay
// references, absent from text values and written back as "&name;" — a
// private-use marker carries them through encoding/xml. Undeclared ones
// (HTML's &nbsp; included: XML does not know it) are dropped, as libxml2's
// recovery drops them. The five XML entities are the decoder's own.
func xmlEntities(text string) map[string]string {
	if !strings.Contains(text, "&") {
		return nil
	}
	ents := map[string]string{}
	for _, e := range entityDeclRe.FindAllStringSubmatch(text, 256) {
		ents[e[1]] = entityMark + e[1] + entityMark
	}
	for _, e := range entityRefRe.FindAllStringSubmatch(text, -1) {
		switch e[1] {
		case "amp", "lt", "gt", "quot", "apos":
			continue
		}
		if _, ok := ents[e[1]]; !ok {
			ents[e[1]] = ""
		}
	}
	return ents
}

// entityMark brackets an unexpanded entity name in decoded text.
const entityMark = "\U000F0000"

// appendXMLText adds text to n, coalescing with a previous text node and
// turning marked entity references into raw nodes.
func appendXMLText(n *html.Node, s string) {
	for s != "" {
		i := strings.Index(s, entityMark)
		text := s
		if i >= 0 {
			text = s[:i]
		}
		if text != "" {
			if last := n.LastChild; last != nil && last.Type == html.TextNode {
				last.Data += text
			} else {
				n.AppendChild(&html.Node{Type: html.TextNode, Data: text})
			}
		}
		if i < 0 {
			return
		}
		rest := s[i+len(entityMark):]
		j := strings.Index(rest, entityMark)
		if j < 0 {
			return
		}
		n.AppendChild(&html.Node{Type: html.RawNode, Data: "&" + rest[:j] + ";"})
		s = rest[j+len(entityMark):]
	}
}

var xmlDeclStart = regexp.MustCompile(`^\s*<\?xml[\s?]`)

// ErrTooDeep reports an HTML document nested deeper than the HTML parser
// accepts (x/net/html refuses more than 512 open elements) even after
// flattening (see Selector.Flattened). The caller reports it and the crawl
// goes on.
var ErrTooDeep = errors.New("html nesting deeper than 512 elements")

// document is one parsed page shared by every selector taken from it.
type document struct {
	root *html.Node
	typ  string
	nsState
	// flattened is set when the page was nested too deep to parse and its
	// deep structure was flattened (flattenHTML).
	flattened bool

	// cascadia lower-cases type and attribute names in selectors, so XML
	// elements and attributes are stored lower-case and their real names
	// kept here (only for names that have upper-case letters). XPath,
	// serialization and CSS type selectors (xmlNameIs) use the real names,
	// so they are case-sensitive on XML as in parsel; CSS attribute names
	// ([Foo]) are still compared lower-cased.
	elemNames map[*html.Node]string
	attrNames map[*html.Node][]string

	orderOnce sync.Once
	order     map[*html.Node]int

	tagsOnce sync.Once
	tags     map[string][]*html.Node
}

// elementsByTag returns the elements named tag (as stored: lower-case),
// in document order, from an index built by one walk on first use (or by
// Selector.Prepare) instead of one walk of the whole page per CSS query.
func (d *document) elementsByTag(tag string) []*html.Node {
	d.indexTags()
	return d.tags[tag]
}

func (d *document) indexTags() {
	d.tagsOnce.Do(func() {
		d.tags = map[string][]*html.Node{}
		for n := range d.root.Descendants() {
			if n.Type == html.ElementNode {
				d.tags[n.Data] = append(d.tags[n.Data], n)
			}
		}
	})
}

// Prepare builds what later CSS queries from this document's root use,
// so that the work happens here (the JS bridge calls it while parsing
// pages ahead of the event loop) rather than in the first query.
func (s *Selector) Prepare() {
	if s.doc != nil && s.node.Parent == s.doc.root {
		s.doc.indexTags()
	}
}

// position returns n's index in document order, for sorting node sets that
// were collected element by element (CSS pseudo-elements, selector groups).
func (d *document) position(n *html.Node) int {
	d.orderOnce.Do(func() {
		// Sized up front: growing a map of every node step by step
		// rehashes it several times.
		count := 0
		for range d.root.Descendants() {
			count++
		}
		d.order = make(map[*html.Node]int, count+1)
		i := 0
		var walk func(*html.Node)
		walk = func(n *html.Node) {
			d.order[n] = i
			i++
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				walk(c)
			}
		}
		walk(d.root)
	})
	return d.order[n]
}

type textKey struct{}
type rootKey struct{}

type rootResult struct {
	sel  *Selector
	err  error
	used atomic.Bool // Root was called, not only Preparse
}

type decoded struct{ text, enc string }

func decodedBody(resp *crawl.Response) decoded {
	return resp.Memo(textKey{}, func() any {
		s, enc := decodeBodyFast(resp.Body, resp.Headers.Get("Content-Type"))
		return decoded{s, enc}
	}).(decoded)
}

// decodeBodyFast is DecodeBody with a shortcut for the common case, a
// UTF-8 page (declared so in the header or the body) that is valid UTF-8:
// DecodeBody would return the same string after a slower validating copy
// (strings.ToValidUTF8). Anything else goes to DecodeBody.
func decodeBodyFast(body []byte, contentType string) (string, string) {
	if enc, _, _ := bomEncoding(body); enc != nil {
		return DecodeBody(body, contentType)
	}
	label := contentTypeCharset(contentType)
	if label != "" {
		if enc, _ := lookupEncoding(label); enc == nil {
			// An unknown header charset: DecodeBody reads the body's own
			// declaration next.
			label = ""
		}
	}
	if label == "" {
		label = declaredCharset(body)
		if label == "" && utf8.Valid(body) {
			return string(body), "utf-8" // DecodeBody's detection
		}
	}
	if label != "" {
		if enc, name := lookupEncoding(label); enc == unicode.UTF8 && utf8.Valid(body) {
			return string(body), name
		}
	}
	return DecodeBody(body, contentType)
}

// Text returns the response body decoded to a string (see DecodeBody);
// memoized on the response.
func Text(resp *crawl.Response) string { return decodedBody(resp).text }

// Encoding returns the name of the encoding Text decoded the body with
// (WHATWG names: "utf-8", "windows-1252", "gbk", "shift_jis", ...).
func Encoding(resp *crawl.Response) string { return decodedBody(resp).enc }

// ResponseType returns TypeXML for XML content types (text/xml,
// application/xml, anything+xml except XHTML) and TypeHTML otherwise, the
// split Scrapy makes between XmlResponse and HtmlResponse.
func ResponseType(resp *crawl.Response) string {
	ct := strings.ToLower(resp.Headers.Get("Content-Type"))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	switch {
	case ct == "application/xhtml+xml":
		return TypeHTML
	case ct == "text/xml", ct == "application/xml", strings.HasSuffix(ct, "+xml"):
		return TypeXML
	}
	return TypeHTML
}

// Root returns the selector of the whole response document, parsed once and
// memoized on the response. It fails only when the page cannot be parsed at
// all (ErrTooDeep); the error names the URL.
func Root(resp *crawl.Response) (*Selector, error) {
	r := root(resp)
	r.used.Store(true)
	return r.sel, r.err
}

func root(resp *crawl.Response) *rootResult {
	return resp.Memo(rootKey{}, func() any {
		s, err := NewSelector(Text(resp), ResponseType(resp))
		if err != nil {
			err = fmt.Errorf("%s: %w", resp.URL, err)
		}
		return &rootResult{sel: s, err: err}
	}).(*rootResult)
}

// Preparse parses resp and builds what CSS queries from its root use
// (Selector.Prepare), without counting as a use (see Used): the JS bridge
// calls it on the engine's goroutines so that the callback finds the page
// ready.
func Preparse(resp *crawl.Response) {
	if r := root(resp); r.err == nil {
		r.sel.Prepare()
	}
}

// Parsed tells whether resp's document was parsed (by Root or Preparse,
// successfully or not), without parsing it.
func Parsed(resp *crawl.Response) bool {
	_, ok := resp.Cached(rootKey{})
	return ok
}

// Used tells whether anything asked for resp's document through Root
// (selectors, link extraction, forms, <base href>), as opposed to only
// Preparse.
func Used(resp *crawl.Response) bool {
	v, ok := resp.Cached(rootKey{})
	return ok && v.(*rootResult).used.Load()
}

// NewSelector parses text as typ ("html", the default when empty, or "xml").
func NewSelector(text string, typ string) (*Selector, error) {
	var (
		root *html.Node
		err  error
	)
	if typ == "" {
		// parsel: only an XML declaration is a strong enough hint.
		typ = TypeHTML
		if xmlDeclStart.MatchString(text) {
			typ = TypeXML
		}
	}
	if blankDocument(text) {
		if typ != TypeHTML && typ != TypeXML {
			return nil, fmt.Errorf("selector type %q: want %q or %q", typ, TypeHTML, TypeXML)
		}
		// parsel parses "<html/>" instead: one element, no <head> or <body>.
		root = &html.Node{Type: html.DocumentNode}
		root.AppendChild(&html.Node{Type: html.ElementNode, Data: "html", DataAtom: atom.Html})
		return newRootSelector(&document{root: root, typ: typ}), nil
	}
	flat := false
	switch typ {
	case TypeHTML:
		root, flat, err = parseHTML(text)
	case TypeXML:
		var d *document
		d, err = parseXML(text)
		if err == nil {
			return newRootSelector(d), nil
		}
	default:
		return nil, fmt.Errorf("selector type %q: want %q or %q", typ, TypeHTML, TypeXML)
	}
	if err != nil {
		return nil, err
	}
	return newRootSelector(&document{root: root, typ: typ, flattened: flat}), nil
}

// blankDocument reports whether parsel 1.7 replaces text with "<html/>":
// nothing but NULs once stripped of white space (Python's str.strip).
func blankDocument(text string) bool {
	s := strings.TrimFunc(text, func(r rune) bool { return stdunicode.IsSpace(r) || '\x1c' <= r && r <= '\x1f' })
	return strings.Trim(s, "\x00") == ""
}

func newRootSelector(d *document) *Selector {
	root := d.root
	// Like lxml's, the root selector is the document element: "./body"
	// works from an HTML root and get() serializes <html>...</html>.
	node := root
	for c := root.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode {
			node = c
			break
		}
	}
	return &Selector{doc: d, node: node, kind: kindNode}
}

// elemName is the element's real name.
func (d *document) elemName(n *html.Node) string {
	if d.elemNames != nil {
		if v, ok := d.elemNames[n]; ok {
			return v
		}
	}
	return n.Data
}

// attrKey is the real (local) name of n's i-th attribute.
func (d *document) attrKey(n *html.Node, i int) string {
	if d.attrNames != nil {
		if v, ok := d.attrNames[n]; ok && v[i] != "" {
			return v[i]
		}
	}
	return n.Attr[i].Key
}

func parseHTML(text string) (*html.Node, bool, error) {
	// Scripting off: <noscript> content is parsed as markup (lxml does the
	// same, and lazy-loading pages keep their real <img> there).
	// html5 is x/net/html's parser forked for in-memory text; it builds the
	// same trees, several times faster (specs/selectors.md, Performance).
	root, err := html5.Parse(text, html5.ParseOptionEnableScripting(false))
	flat := false
	if err != nil && strings.Contains(err.Error(), "512") {
		// Too deep: parse a flattened copy rather than lose the page.
		flat = true
		root, err = html5.Parse(flattenHTML(text), html5.ParseOptionEnableScripting(false))
		if err != nil && strings.Contains(err.Error(), "512") {
			return nil, false, ErrTooDeep
		}
	}
	if err != nil || root == nil {
		return nil, false, fmt.Errorf("parse html: %w", err)
	}
	// lxml exposes no doctype node; dropping it keeps /node() and
	// position() answers the same.
	for c := root.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.DoctypeNode {
			root.RemoveChild(c)
		}
		c = next
	}
	undoImplied(root, text)
	return root, flat, nil
}

// undoImplied makes the HTML5 tree look like lxml's where Scrapy code
// depends on it: lower-case names inside <svg>/<math>, value-less boolean
// attributes with their libxml2 value, and none of the elements the HTML5
// parser adds that libxml2 does not when the page did not write them:
// <tbody> around table rows (so the very common //table/tr of Scrapy
// spiders keeps working) and an empty <head>. A page that writes some
// <tbody> keeps them all, since the parsed tree cannot tell which ones were
// implied.
func undoImplied(root *html.Node, text string) {
	has := func(tag string) bool { return containsTagFold(text, tag) }
	var tbodies []*html.Node
	var head *html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type != html.ElementNode {
				continue
			}
			lxmlNames(c)
			switch {
			case c.Data == "tbody" && c.Namespace == "":
				tbodies = append(tbodies, c)
			case c.Data == "head" && c.Namespace == "" && head == nil:
				head = c
			}
			walk(c)
		}
	}
	walk(root)
	if len(tbodies) > 0 && !has("<tbody") {
		for _, tb := range tbodies {
			for c := tb.FirstChild; c != nil; {
				next := c.NextSibling
				tb.RemoveChild(c)
				tb.Parent.InsertBefore(c, tb)
				c = next
			}
			tb.Parent.RemoveChild(tb)
		}
	}
	if head != nil && head.FirstChild == nil && len(head.Attr) == 0 && !has("<head") {
		head.Parent.RemoveChild(head)
	}
}

// lxmlNames gives element c the names and values lxml would: inside
// <svg> and <math> the HTML5 parser restores camel case (viewBox,
// linearGradient) where lxml's HTML parser does not, and ported XPath/CSS
// is written against lxml; and libxml2 gives a value-less boolean
// attribute its own name as value (<input checked> has checked="checked").
func lxmlNames(c *html.Node) {
	if c.Namespace != "" {
		c.Data = strings.ToLower(c.Data)
		for i := range c.Attr {
			c.Attr[i].Key = strings.ToLower(c.Attr[i].Key)
		}
	}
	for i, a := range c.Attr {
		if a.Val == "" && a.Namespace == "" && booleanAttrs[a.Key] {
			c.Attr[i].Val = a.Key
		}
	}
}

// containsTagFold reports whether text contains tag ("<tbody"), ASCII
// case-insensitively, without lower-casing the whole page.
func containsTagFold(text, tag string) bool {
	for i := 0; ; {
		j := strings.IndexByte(text[i:], '<')
		if j < 0 {
			return false
		}
		i += j
		if len(text)-i >= len(tag) && strings.EqualFold(text[i:i+len(tag)], tag) {
			return true
		}
		i++
	}
}

// xmlnsSpace marks a namespace declaration kept on an element for
// serialization; the XPath navigator hides it from the attribute axis.
const xmlnsSpace = "\x00xmlns"

// parseXML builds an html.Node tree from XML, with Data the local name and
// Namespace the namespace URI. Like parsel (lxml with recover=True) it keeps
// what it could read when the document is broken, failing only when nothing
// was read. Entities other than the XML ones are not resolved (no XXE).
func parseXML(text string) (*document, error) {
	d := &document{typ: TypeXML}
	dec := xml.NewDecoder(strings.NewReader(text))
	dec.Strict = false
	dec.Entity = xmlEntities(text)
	// The text is already decoded; the declared encoding is only a label.
	dec.CharsetReader = func(_ string, r io.Reader) (io.Reader, error) { return r, nil }
	root := &html.Node{Type: html.DocumentNode}
	cur := root
	sawElement := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !sawElement {
				return nil, fmt.Errorf("parse xml: %w", err)
			}
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			sawElement = true
			n := &html.Node{Type: html.ElementNode, Data: t.Name.Local, Namespace: t.Name.Space}
			if low := strings.ToLower(n.Data); low != n.Data {
				if d.elemNames == nil {
					d.elemNames = map[*html.Node]string{}
				}
				d.elemNames[n], n.Data = n.Data, low
			}
			for i, a := range t.Attr {
				if low := strings.ToLower(a.Name.Local); low != a.Name.Local && a.Name.Space != "xmlns" {
					if d.attrNames == nil {
						d.attrNames = map[*html.Node][]string{}
					}
					if d.attrNames[n] == nil {
						d.attrNames[n] = make([]string, len(t.Attr))
					}
					d.attrNames[n][i] = a.Name.Local
					a.Name.Local = low
				}
				switch {
				case a.Name.Space == "xmlns":
					n.Attr = append(n.Attr, html.Attribute{Namespace: xmlnsSpace, Key: a.Name.Local, Val: a.Value})
				case a.Name.Space == "" && a.Name.Local == "xmlns":
					n.Attr = append(n.Attr, html.Attribute{Namespace: xmlnsSpace, Key: "", Val: a.Value})
				default:
					n.Attr = append(n.Attr, html.Attribute{Namespace: a.Name.Space, Key: a.Name.Local, Val: a.Value})
				}
			}
			cur.AppendChild(n)
			cur = n
		case xml.EndElement:
			if cur.Parent != nil {
				cur = cur.Parent
			}
		case xml.CharData:
			if cur == root {
				continue // whitespace around the root element is not a node
			}
			appendXMLText(cur, string(t))
		case xml.Comment:
			cur.AppendChild(&html.Node{Type: html.CommentNode, Data: string(t)})
		case xml.ProcInst:
			if t.Target == "xml" || cur == root {
				continue // the declaration, and PIs outside the root element
			}
			pi := "<?" + t.Target
			if len(t.Inst) > 0 {
				pi += " " + string(t.Inst)
			}
			cur.AppendChild(&html.Node{Type: html.RawNode, Data: pi + "?>"})
		}
	}
	if !sawElement {
		return nil, errors.New("parse xml: no root element")
	}
	d.root = root
	return d, nil
}
