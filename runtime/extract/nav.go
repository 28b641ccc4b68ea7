package extract

import (
	"strings"

	"github.com/antchfx/xpath"
	"golang.org/x/net/html"
)

// navigator is an xpath.NodeNavigator over the shared html.Node model. It
// differs from htmlquery's in what makes lxml's answers come out: HTML
// elements have no namespace (lxml's HTML parser puts none, even on <svg>),
// XML elements report their namespace URI, an unprefixed name test does not
// match a namespaced XML element (the sitemap gotcha that remove_namespaces
// exists for), and namespace declarations are not attributes.
type navigator struct {
	root, curr *html.Node
	attr       int
	xml        bool
	doc        *document
}

var _ xpath.NodeNavigator = (*navigator)(nil)

func newNavigator(d *document, n *html.Node) *navigator {
	return &navigator{root: d.root, curr: n, attr: -1, xml: d.typ == TypeXML, doc: d}
}

func (h *navigator) NodeType() xpath.NodeType {
	switch h.curr.Type {
	case html.CommentNode:
		return xpath.CommentNode
	case html.TextNode:
		return xpath.TextNode
	case html.DocumentNode:
		return xpath.RootNode
	case html.ElementNode:
		if h.attr != -1 {
			return xpath.AttributeNode
		}
		return xpath.ElementNode
	}
	// Doctype nodes are removed at parse time; raw nodes (unexpanded XML
	// entity references) and anything unknown look like comments, so
	// text() and string values skip them as lxml skips entity references.
	return xpath.CommentNode
}

func (h *navigator) LocalName() string {
	if h.attr != -1 {
		a := h.curr.Attr[h.attr]
		if !h.xml && a.Namespace != "" {
			// lxml's HTML parser keeps "xlink:href" as the attribute name.
			return a.Namespace + ":" + a.Key
		}
		if h.xml {
			return h.doc.attrKey(h.curr, h.attr)
		}
		return a.Key
	}
	if h.xml {
		return h.doc.elemName(h.curr)
	}
	return h.curr.Data
}

// Prefix is the prefix the node's name is written with in an XML
// document (the one serialization uses), so name() gives "b:Operation"
// as lxml does. A name in a default namespace has no prefix but reports
// unprefixedNS: a non-empty prefix keeps the unprefixed name test "item"
// from matching {uri}item (registered prefixes compare by URI instead),
// and rewriteXPath's name() drops it again.
func (h *navigator) Prefix() string {
	if !h.xml {
		return ""
	}
	ns := h.curr.Namespace
	if h.attr != -1 {
		ns = h.curr.Attr[h.attr].Namespace
	}
	switch ns {
	case "":
		return ""
	case xmlSpace:
		return "xml"
	}
	if p := prefixFor(h.curr, ns); p != "" {
		return p
	}
	return unprefixedNS
}

// unprefixedNS is the prefix of a name in a default namespace: no name
// test can write it (it is not an NCName).
const unprefixedNS = "#"

func (h *navigator) NamespaceURL() string {
	if !h.xml {
		return ""
	}
	if h.attr != -1 {
		return h.curr.Attr[h.attr].Namespace
	}
	return h.curr.Namespace
}

func (h *navigator) Value() string {
	switch h.curr.Type {
	case html.CommentNode, html.TextNode:
		return h.curr.Data
	case html.RawNode:
		return ""
	case html.ElementNode:
		if h.attr != -1 {
			return h.curr.Attr[h.attr].Val
		}
		return stringValue(h.curr)
	case html.DocumentNode:
		return stringValue(h.curr)
	}
	return ""
}

// stringValue is the XPath string-value: the text of all descendant text
// nodes, comments excluded.
func stringValue(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch c.Type {
			case html.TextNode:
				b.WriteString(c.Data)
			case html.ElementNode:
				walk(c)
			}
		}
	}
	walk(n)
	return b.String()
}

func (h *navigator) Copy() xpath.NodeNavigator {
	n := *h
	return &n
}

func (h *navigator) MoveToRoot() { h.curr, h.attr = h.root, -1 }

func (h *navigator) MoveToParent() bool {
	if h.attr != -1 {
		h.attr = -1
		return true
	}
	if p := h.curr.Parent; p != nil {
		h.curr = p
		return true
	}
	return false
}

func (h *navigator) MoveToNextAttribute() bool {
	if h.curr.Type != html.ElementNode {
		return false
	}
	for i := h.attr + 1; i < len(h.curr.Attr); i++ {
		if h.curr.Attr[i].Namespace != xmlnsSpace {
			h.attr = i
			return true
		}
	}
	return false
}

func (h *navigator) MoveToChild() bool {
	if h.attr != -1 {
		return false
	}
	if c := h.curr.FirstChild; c != nil {
		h.curr = c
		return true
	}
	return false
}

func (h *navigator) MoveToFirst() bool {
	if h.attr != -1 || h.curr.PrevSibling == nil {
		return false
	}
	for h.curr.PrevSibling != nil {
		h.curr = h.curr.PrevSibling
	}
	return true
}

func (h *navigator) MoveToNext() bool {
	if h.attr != -1 {
		return false
	}
	if n := h.curr.NextSibling; n != nil {
		h.curr = n
		return true
	}
	return false
}

func (h *navigator) MoveToPrevious() bool {
	if h.attr != -1 {
		return false
	}
	if n := h.curr.PrevSibling; n != nil {
		h.curr = n
		return true
	}
	return false
}

func (h *navigator) MoveTo(other xpath.NodeNavigator) bool {
	o, ok := other.(*navigator)
	if !ok || o.root != h.root {
		return false
	}
	h.curr, h.attr = o.curr, o.attr
	return true
}

func (h *navigator) String() string { return h.Value() }
