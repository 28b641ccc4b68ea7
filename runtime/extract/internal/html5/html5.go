// Package html5 is a fork of golang.org/x/net/html v0.62.0 (tokenizer and
// HTML5 tree construction; BSD-3-Clause, see LICENSE in this directory)
// tuned for spiderrun's one case: a whole page already in memory as a
// string, parsed once into a tree that lives as long as the response.
//
// Why a fork: x/net/html reads through an io.Reader into a growing buffer,
// copies every tag name, attribute and text into a fresh string and
// allocates every node and attribute slice on its own; on a 20 KB page that
// is most of the parse time (issue #5 wants parse + link extraction under
// 300 µs). Here the tokenizer indexes the input string directly, names,
// attribute values and texts are substrings of the input whenever no
// unescaping, lower-casing or newline/NUL conversion changes them, and nodes
// and attribute slices come from chunks.
//
// The trees are golang.org/x/net/html's own *html.Node values, identical to
// what html.ParseWithOptions builds for the same input (differential tests
// over the html5lib tree-construction suite and FuzzSameTree prove it), so
// cascadia, antchfx/htmlquery and html.Render work on them unchanged. The
// tree-construction code (parse.go, foreign.go, const.go, doctype.go,
// entity.go, escape.go) is x/net's with node allocation routed through the
// parser; token.go is rewritten over a string.
//
// Patches that change the tree (the differential tests allow for exactly
// these, and test them on their own):
//
//   - Formatting elements (a, b, big, code, em, font, i, nobr, s, small,
//     strike, strong, tt, u) keep their attributes in source order; x/net
//     sorts them by name in place (addFormattingElement), so an <a>'s
//     attributes, its serialization and the order of the links it yields
//     differed from browsers and lxml. TestFormattingAttrOrder.
//
// Nodes share their chunk: one node kept alive keeps its chunk's siblings
// alive too, which is fine for a page's tree (it lives and dies whole).
package html5

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/html"
	a "golang.org/x/net/html/atom"
)

// The x/net/html types the tree is made of; aliases so the forked code
// reads as upstream's does.
type (
	Node      = html.Node
	Attribute = html.Attribute
	NodeType  = html.NodeType
	Token     = html.Token
	TokenType = html.TokenType
)

const (
	ErrorNode    = html.ErrorNode
	TextNode     = html.TextNode
	DocumentNode = html.DocumentNode
	ElementNode  = html.ElementNode
	CommentNode  = html.CommentNode
	DoctypeNode  = html.DoctypeNode
	RawNode      = html.RawNode
	// scopeMarkerNode is x/net's unexported value (the one after RawNode);
	// markers live only in the active formatting list, never in a tree.
	scopeMarkerNode = html.RawNode + 1

	ErrorToken          = html.ErrorToken
	TextToken           = html.TextToken
	StartTagToken       = html.StartTagToken
	EndTagToken         = html.EndTagToken
	SelfClosingTagToken = html.SelfClosingTagToken
	CommentToken        = html.CommentToken
	DoctypeToken        = html.DoctypeToken
)

// Section 12.2.4.3 says "The markers are inserted when entering applet,
// object, marquee, template, td, th, and caption elements, and are used
// to prevent formatting from "leaking" into applet, object, marquee,
// template, td, th, and caption elements".
var scopeMarker = Node{Type: scopeMarkerNode}

// newNode returns a copy of v allocated from the parser's node chunk.
func (p *parser) newNode(v Node) *Node {
	if p.nodeNext == len(p.nodes) {
		p.nodes, p.nodeNext = make([]Node, p.chunk), 0
		if p.nextChunk > 0 {
			p.chunk = p.nextChunk
		}
	}
	// An index, not re-slicing: that would store a pointer (and run the
	// GC write barrier) per node.
	n := &p.nodes[p.nodeNext]
	p.nodeNext++
	if p.stream != nil {
		p.stream.created = append(p.stream.created, n)
	}
	// Field by field, and only the set ones: the chunk is zeroed already,
	// and a whole-struct copy would run the GC write barrier over all
	// eight pointer words while a collection is marking.
	n.Type, n.DataAtom = v.Type, v.DataAtom
	if v.Data != "" {
		n.Data = v.Data
	}
	if v.Namespace != "" {
		n.Namespace = v.Namespace
	}
	if v.Attr != nil {
		n.Attr = v.Attr
	}
	return n
}

// clone returns a new node with the same type, data and attributes.
// The clone has no parent, no siblings and no children (upstream's
// Node.clone: the namespace is not copied there either).
func (p *parser) clone(n *Node) *Node {
	m := p.newNode(Node{
		Type:     n.Type,
		DataAtom: n.DataAtom,
		Data:     n.Data,
	})
	// Upstream's clone has a non-nil Attr even when empty
	// (make([]Attribute, 0) does not allocate).
	m.Attr = make([]Attribute, 0)
	if len(n.Attr) > 0 {
		m.Attr = p.tokenizer.attrs(len(n.Attr))
		copy(m.Attr, n.Attr)
	}
	return m
}

// reparentChildren reparents all of src's child nodes to dst.
func reparentChildren(dst, src *Node) {
	for {
		child := src.FirstChild
		if child == nil {
			break
		}
		src.RemoveChild(child)
		dst.AppendChild(child)
	}
}

// nodeStack is a stack of nodes.
type nodeStack []*Node

// pop pops the stack. It will panic if s is empty.
func (s *nodeStack) pop() *Node {
	i := len(*s)
	n := (*s)[i-1]
	*s = (*s)[:i-1]
	return n
}

// top returns the most recently pushed node, or nil if s is empty.
func (s *nodeStack) top() *Node {
	if i := len(*s); i > 0 {
		return (*s)[i-1]
	}
	return nil
}

// index returns the index of the top-most occurrence of n in the stack, or -1
// if n is not present.
func (s *nodeStack) index(n *Node) int {
	for i := len(*s) - 1; i >= 0; i-- {
		if (*s)[i] == n {
			return i
		}
	}
	return -1
}

// contains returns whether a is within s.
func (s *nodeStack) contains(at a.Atom) bool {
	for _, n := range *s {
		if n.DataAtom == at && n.Namespace == "" {
			return true
		}
	}
	return false
}

// insert inserts a node at the given index.
func (s *nodeStack) insert(i int, n *Node) {
	(*s) = append(*s, nil)
	copy((*s)[i+1:], (*s)[i:])
	(*s)[i] = n
}

// remove removes a node from the stack. It is a no-op if n is not present.
func (s *nodeStack) remove(n *Node) {
	i := s.index(n)
	if i == -1 {
		return
	}
	copy((*s)[i:], (*s)[i+1:])
	j := len(*s) - 1
	(*s)[j] = nil
	*s = (*s)[:j]
}

type insertionModeStack []insertionMode

func (s *insertionModeStack) pop() (im insertionMode) {
	i := len(*s)
	im = (*s)[i-1]
	*s = (*s)[:i-1]
	return im
}

func (s *insertionModeStack) top() insertionMode {
	if i := len(*s); i > 0 {
		return (*s)[i-1]
	}
	return nil
}

// ParseOption configures a parser.
type ParseOption func(p *parser)

// ParseOptionEnableScripting configures the scripting flag.
// https://html.spec.whatwg.org/multipage/webappapis.html#enabling-and-disabling-scripting
//
// By default, scripting is enabled (as in x/net/html).
func ParseOptionEnableScripting(enable bool) ParseOption {
	return func(p *parser) {
		p.scripting = enable
	}
}

// chunkSize picks how many nodes to allocate at once for text: the first
// chunk is sized from the markup's '<' count (a node per tag and at most one
// text node between two tags: 1.5 per '<' on typical pages, 804 nodes for
// 553 on the crawl benchmark's), capped at 1024 so that a big page is cut in
// chunks; a page that needs more gets chunks of a quarter of that. The
// former size, one node per 20 bytes, allocated 1 024 nodes (106 KB) for
// the benchmark's 20 KB pages, 27 % of them unused (issue 20).
func chunkSize(text string) (first, next int) {
	lt := strings.Count(text, "<")
	first = min(max(lt+lt/2+8, 16), 1024)
	if first == 1024 {
		return first, first
	}
	return first, max(first/4, 16)
}

// Parse returns the parse tree for the HTML document text, exactly as
// html.Parse(strings.NewReader(text)) would.
//
// Like x/net/html it rejects HTML nested deeper than 512 elements with the
// error "html: open stack of elements exceeds 512 nodes".
func Parse(text string, opts ...ParseOption) (*Node, error) {
	p := &parser{
		tokenizer:  newTokenizer(text, ""),
		scripting:  true,
		framesetOK: true,
		im:         initialIM,
	}
	p.chunk, p.nextChunk = chunkSize(text)
	p.doc = p.newNode(Node{Type: DocumentNode})
	for _, f := range opts {
		f(p)
	}
	if err := p.parse(); err != nil {
		return nil, err
	}
	return p.doc, nil
}

// ParseFragment parses a fragment of HTML and returns the nodes that were
// found, exactly as html.ParseFragmentWithOptions would. If the fragment is
// the InnerHTML for an existing element, pass that element in context.
func ParseFragment(text string, context *Node, opts ...ParseOption) ([]*Node, error) {
	contextTag := ""
	if context != nil {
		if context.Type != ElementNode {
			return nil, errors.New("html: ParseFragment of non-element Node")
		}
		// The next check isn't just context.DataAtom.String() == context.Data because
		// it is valid to pass an element whose tag isn't a known atom. For example,
		// DataAtom == 0 and Data = "tagfromthefuture" is perfectly consistent.
		if context.DataAtom != a.Lookup([]byte(context.Data)) {
			return nil, fmt.Errorf("html: inconsistent Node: DataAtom=%q, Data=%q", context.DataAtom, context.Data)
		}
		contextTag = context.DataAtom.String()
	}
	p := &parser{
		scripting: true,
		fragment:  true,
		context:   context,
	}
	p.chunk, p.nextChunk = chunkSize(text)
	p.doc = p.newNode(Node{Type: DocumentNode})
	if context != nil && context.Namespace != "" {
		p.tokenizer = newTokenizer(text, "")
	} else {
		p.tokenizer = newTokenizer(text, contextTag)
	}

	for _, f := range opts {
		f(p)
	}

	root := p.newNode(Node{
		Type:     ElementNode,
		DataAtom: a.Html,
		Data:     a.Html.String(),
	})
	p.doc.AppendChild(root)
	p.oe = nodeStack{root}
	if context != nil && context.DataAtom == a.Template {
		p.templateStack = append(p.templateStack, inTemplateIM)
	}
	p.resetInsertionMode()

	for n := context; n != nil; n = n.Parent {
		if n.Type == ElementNode && n.DataAtom == a.Form {
			p.form = n
			break
		}
	}

	if err := p.parse(); err != nil {
		return nil, err
	}

	parent := p.doc
	if context != nil {
		parent = root
	}

	var result []*Node
	for c := parent.FirstChild; c != nil; {
		next := c.NextSibling
		parent.RemoveChild(c)
		result = append(result, c)
		c = next
	}
	return result, nil
}
