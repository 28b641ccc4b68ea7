package extract

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/antchfx/xpath"
	"golang.org/x/net/html"
)

type selKind uint8

const (
	kindNode  selKind = iota // element, comment or document node
	kindText                 // a text node
	kindAttr                 // an attribute value
	kindValue                // a string, number or boolean XPath result
)

// Selector is parsel's Selector: a node of a parsed document, or a text,
// attribute or scalar value a query produced. Selectors are immutable apart
// from RegisterNamespace/RemoveNamespaces and safe for concurrent reads.
type Selector struct {
	doc   *document
	node  *html.Node // the node; for kindAttr the owner element
	kind  selKind
	value string // kindText, kindAttr, kindValue
	attr  int    // attribute index for kindAttr
}

// SelectorList is parsel's SelectorList: query results in document order.
type SelectorList []*Selector

// Attr is one attribute of an element, in document order. Namespaced XML
// attributes are named "{uri}local" as lxml names them.
type Attr struct {
	Name  string
	Value string
}

// Type is "html" or "xml": the type of the document the selector belongs to.
func (s *Selector) Type() string { return s.doc.typ }

// Flattened reports whether the document was nested deeper than the HTML
// parser accepts (512 open elements) and was parsed with its structure below
// depth 400 flattened: texts and links are all there, but paths through
// the deep part do not match. Callers should warn about such pages.
func (s *Selector) Flattened() bool { return s.doc.flattened }

// IsNode reports whether the selector is a document node (element, comment
// or document) rather than a text, attribute or scalar value.
func (s *Selector) IsNode() bool { return s.kind == kindNode }

// Get is parsel's get(): a node serialized as lxml would serialize it
// (outer HTML or XML, no tail), a text or attribute node's value, a number
// as Python's str(float) ("3.0"), a boolean as "1" or "0".
func (s *Selector) Get() string {
	if s.kind == kindNode {
		return serialize(s.doc, s.node)
	}
	// The HTML parser's texts and attribute values are substrings of the
	// page (internal/html5); a copy keeps a value the spider stores from
	// pinning the whole page in memory.
	return strings.Clone(s.value)
}

// Attrib returns the element's attributes in order (empty for non-elements).
func (s *Selector) Attrib() []Attr {
	if s.kind != kindNode || s.node.Type != html.ElementNode {
		return nil
	}
	out := make([]Attr, 0, len(s.node.Attr))
	for i, a := range s.node.Attr {
		if a.Namespace == xmlnsSpace {
			continue
		}
		a.Key = s.doc.attrKey(s.node, i)
		// Copies: see Get.
		out = append(out, Attr{strings.Clone(attrName(s.doc, a)), strings.Clone(a.Val)})
	}
	return out
}

// attrName is the attribute's name as lxml reports it.
func attrName(d *document, a html.Attribute) string {
	name := a.Key
	if a.Namespace != "" {
		if d.typ == TypeXML {
			name = "{" + a.Namespace + "}" + a.Key
		} else {
			name = a.Namespace + ":" + a.Key
		}
	}
	return name
}

// AttribValue returns one attribute and whether it is present.
func (s *Selector) AttribValue(name string) (string, bool) {
	for _, a := range s.Attrib() {
		if a.Name == name {
			return a.Value, true
		}
	}
	return "", false
}

// Node returns the underlying node (nil for attribute and scalar values).
// For use by Go code in this module (link extraction, forms).
func (s *Selector) Node() *html.Node {
	if s.kind == kindAttr || s.kind == kindValue {
		return nil
	}
	return s.node
}

// XPath evaluates an XPath 1.0 query with s as the context node. A relative
// query (".//a") stays under s; an absolute one ("//a") searches the whole
// document, as in parsel. vars binds $name variables (strings, numbers,
// booleans); the EXSLT regular-expression function re:test(string, pattern
// [, flags]) and parsel's has-class(name...) are available.
func (s *Selector) XPath(query string, vars ...map[string]any) (SelectorList, error) {
	var vm map[string]any
	if len(vars) > 0 {
		vm = vars[0]
	}
	return s.XPathWith(query, XPathOptions{Vars: vm})
}

// XPathOptions are the optional arguments of parsel's xpath(): variables
// and ad-hoc namespaces (used for this query only, on top of the
// registered ones).
type XPathOptions struct {
	Vars       map[string]any
	Namespaces map[string]string
}

// XPathWith is XPath with ad-hoc namespaces.
func (s *Selector) XPathWith(query string, opts XPathOptions) (SelectorList, error) {
	if s.kind != kindNode {
		// parsel: text and attribute results have no children to query.
		return SelectorList{}, nil
	}
	ns := s.doc.namespaces()
	if len(opts.Namespaces) > 0 {
		if ns == nil {
			ns = map[string]string{}
		}
		for k, v := range opts.Namespaces {
			ns[k] = v
		}
	}
	expr, err := compileXPath(query, opts.Vars, ns)
	if err != nil {
		return nil, err
	}
	return s.evalXPath(query, expr)
}

func (s *Selector) evalXPath(query string, expr *compiledXPath) (out SelectorList, err error) {
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("xpath %q: evaluation failed: %v", query, r)
		}
	}()
	nav := newNavigator(s.doc, s.node)
	switch r := expr.evaluate(nav).(type) {
	case *xpath.NodeIterator:
		out = SelectorList{}
		for r.MoveNext() {
			n, ok := r.Current().(*navigator)
			if !ok {
				continue
			}
			out = append(out, s.fromNav(n))
		}
		if len(out) > 1 && (strings.Contains(query, "|") || strings.Contains(query, "preceding") || strings.Contains(query, "ancestor")) {
			// lxml returns node-sets in document order; antchfx returns a
			// union operand by operand and reverse axes in reverse.
			out = sortDocOrder(s.doc, out)
		}
		return out, nil
	case string:
		return SelectorList{{doc: s.doc, node: s.node, kind: kindValue, value: r}}, nil
	case float64:
		return SelectorList{{doc: s.doc, node: s.node, kind: kindValue, value: pyFloat(r)}}, nil
	case bool:
		v := "0"
		if r {
			v = "1"
		}
		return SelectorList{{doc: s.doc, node: s.node, kind: kindValue, value: v}}, nil
	case nil:
		return SelectorList{}, nil
	default:
		return SelectorList{{doc: s.doc, node: s.node, kind: kindValue, value: fmt.Sprint(r)}}, nil
	}
}

func (s *Selector) fromNav(n *navigator) *Selector {
	if n.attr != -1 {
		return &Selector{doc: s.doc, node: n.curr, kind: kindAttr, attr: n.attr, value: n.curr.Attr[n.attr].Val}
	}
	if n.curr.Type == html.TextNode {
		return &Selector{doc: s.doc, node: n.curr, kind: kindText, value: n.curr.Data}
	}
	return &Selector{doc: s.doc, node: n.curr, kind: kindNode}
}

// pyFloat formats f as Python's str(float) does, which is what parsel
// returns for numeric XPath results (count(//a) is "3.0").
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	a := math.Abs(f)
	if a != 0 && (a < 1e-4 || a >= 1e16) {
		s := strconv.FormatFloat(f, 'e', -1, 64)
		// Python writes at least two exponent digits, as Go does.
		return s
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsAny(s, ".") {
		s += ".0"
	}
	return s
}

// Re applies a regular expression to Get() with parsel's rules (see
// ReExtract).
func (s *Selector) Re(pattern string) ([]string, error) {
	return ReExtract(pattern, s.Get())
}

// ReFirst returns the first Re result, or def when there is none.
func (s *Selector) ReFirst(pattern, def string) (string, error) {
	r, err := s.Re(pattern)
	if err != nil || len(r) == 0 {
		return def, err
	}
	return r[0], nil
}

// RegisterNamespace binds prefix to uri for XPath queries on this
// selector's document (parsel's register_namespace; the binding is shared by
// every selector of the document, as parsel shares its namespaces dict with
// the selectors it derives).
func (s *Selector) RegisterNamespace(prefix, uri string) {
	s.doc.nsMu.Lock()
	defer s.doc.nsMu.Unlock()
	if s.doc.ns == nil {
		s.doc.ns = map[string]string{}
	}
	s.doc.ns[prefix] = uri
}

// RemoveNamespaces strips namespaces from every element and attribute of the
// document, so unprefixed queries match (parsel's remove_namespaces, which
// also changes the whole document, not just this selector). It writes to the
// shared tree: do not run it while other goroutines query the same
// document (a JS spider's callbacks all run on one loop, so they cannot).
func (s *Selector) RemoveNamespaces() {
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			n.Namespace = ""
			attrs := n.Attr[:0]
			for _, a := range n.Attr {
				if a.Namespace == xmlnsSpace {
					continue
				}
				a.Namespace = ""
				attrs = append(attrs, a)
			}
			n.Attr = attrs
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(s.doc.root)
}

// CSS, XPath, Get, GetAll, Re, ReFirst and Attrib on a SelectorList follow
// parsel: queries run on every member and concatenate, Get is the first
// member's value.

// CSS runs the query on every member and concatenates the results.
func (l SelectorList) CSS(query string) (SelectorList, error) {
	out := SelectorList{}
	for _, s := range l {
		r, err := s.CSS(query)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}

// XPath runs the query on every member and concatenates the results.
func (l SelectorList) XPath(query string, vars ...map[string]any) (SelectorList, error) {
	var vm map[string]any
	if len(vars) > 0 {
		vm = vars[0]
	}
	return l.XPathWith(query, XPathOptions{Vars: vm})
}

// XPathWith runs XPathWith on every member and concatenates the results.
func (l SelectorList) XPathWith(query string, opts XPathOptions) (SelectorList, error) {
	out := SelectorList{}
	for _, s := range l {
		r, err := s.XPathWith(query, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}

// Get returns the first member's Get(), or def (default "") when empty.
func (l SelectorList) Get(def ...string) string {
	v, ok := l.First()
	if !ok && len(def) > 0 {
		return def[0]
	}
	return v
}

// First returns the first member's Get() and whether there was one; it lets
// a caller tell an empty result from an empty string (JS get() returns
// undefined then, as parsel returns None).
func (l SelectorList) First() (string, bool) {
	if len(l) == 0 {
		return "", false
	}
	return l[0].Get(), true
}

// GetAll returns every member's Get().
func (l SelectorList) GetAll() []string {
	out := make([]string, len(l))
	for i, s := range l {
		out[i] = s.Get()
	}
	return out
}

// Re concatenates Re over the members.
func (l SelectorList) Re(pattern string) ([]string, error) {
	out := []string{}
	for _, s := range l {
		r, err := s.Re(pattern)
		if err != nil {
			return nil, err
		}
		out = append(out, r...)
	}
	return out, nil
}

// ReFirst returns the first Re result over the members, or def.
func (l SelectorList) ReFirst(pattern, def string) (string, error) {
	for _, s := range l {
		r, err := s.Re(pattern)
		if err != nil {
			return def, err
		}
		if len(r) > 0 {
			return r[0], nil
		}
	}
	return def, nil
}

// Attrib returns the first member's attributes.
func (l SelectorList) Attrib() []Attr {
	if len(l) == 0 {
		return nil
	}
	return l[0].Attrib()
}

// sortDocOrder orders selectors as an XPath node-set (document order,
// attributes after their element in attribute order) and drops duplicates.
func sortDocOrder(d *document, l SelectorList) SelectorList {
	type keyed struct {
		pos, sub int
		s        *Selector
	}
	ks := make([]keyed, len(l))
	for i, s := range l {
		sub := 0
		if s.kind == kindAttr {
			sub = s.attr + 1
		}
		ks[i] = keyed{d.position(s.node), sub, s}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		if a.pos != b.pos {
			return a.pos - b.pos
		}
		return a.sub - b.sub
	})
	out := make(SelectorList, 0, len(ks))
	for i, k := range ks {
		if i > 0 && k.pos == ks[i-1].pos && k.sub == ks[i-1].sub {
			continue
		}
		out = append(out, k.s)
	}
	return out
}

// nsState is embedded in document.
type nsState struct {
	nsMu sync.Mutex
	ns   map[string]string
}

// namespaces returns a copy of the registered prefixes plus parsel's
// defaults (re: for EXSLT regular expressions, set: for EXSLT sets).
func (d *document) namespaces() map[string]string {
	d.nsMu.Lock()
	defer d.nsMu.Unlock()
	if len(d.ns) == 0 {
		return nil
	}
	return copyMap(d.ns)
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
