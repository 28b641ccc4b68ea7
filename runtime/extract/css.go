package extract

import (
	"fmt"
	"strings"
	"sync"

	"github.com/andybalholm/cascadia"
	"golang.org/x/net/html"
)

// CSS follows parsel, whose cssselect translation prefixes every selector
// with descendant-or-self::, so the context element itself can match
// (sel.css("div") on a div includes that div). The element part is matched
// with cascadia; parsel's pseudo-elements are handled here:
//
//	p::text          text children of each p
//	p *::text, p ::text   text children of elements under p
//	::text            every text node under the context
//	a::attr(href)     the href value of each a
//
// Results of a selector group ("a, b::text") come back as one node-set in
// document order, as parsel's XPath union does.

type pseudo uint8

const (
	pseudoNone pseudo = iota
	pseudoText
	pseudoAttr
)

type cssPart struct {
	sel    cascadia.SelectorGroup
	pseudo pseudo
	attr   string
	// deep is set for "E ::text" and "E ::attr(x)": cssselect turns the
	// descendant combinator before a bare pseudo-element into
	// descendant-or-self::, so E's own text and attributes count too.
	deep bool
	// bare is a pseudo-element with no element part ("::text"): it
	// applies to the context node itself.
	bare bool
}

type compiledCSS []cssPart

var cssCache = struct {
	sync.Mutex
	m map[string]compiledCSS
}{m: map[string]compiledCSS{}}

// CompileCSS reports whether query is a valid selector (for spec
// validation).
func CompileCSS(query string) error {
	_, err := compileCSS(query)
	return err
}

func compileCSS(query string) (compiledCSS, error) {
	cssCache.Lock()
	c, ok := cssCache.m[query]
	cssCache.Unlock()
	if ok {
		return c, nil
	}
	groups, err := splitGroups(query)
	if err != nil {
		return nil, fmt.Errorf("css %q: %w", query, err)
	}
	for _, g := range groups {
		part, err := compilePart(g)
		if err != nil {
			return nil, fmt.Errorf("css %q: %w", query, err)
		}
		c = append(c, part)
	}
	cssCache.Lock()
	if len(cssCache.m) >= xpathCacheMax {
		clear(cssCache.m)
	}
	cssCache.m[query] = c
	cssCache.Unlock()
	return c, nil
}

// splitGroups splits at top-level commas (outside strings, brackets and
// parentheses).
func splitGroups(q string) ([]string, error) {
	var out []string
	depth, last := 0, 0
	for i := 0; i < len(q); i++ {
		switch c := q[i]; c {
		case '\\':
			i++
		case '"', '\'':
			j := strings.IndexByte(q[i+1:], c)
			if j < 0 {
				return nil, fmt.Errorf("unterminated string")
			}
			i += j + 1
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, q[last:i])
				last = i + 1
			}
		}
	}
	out = append(out, q[last:])
	for _, g := range out {
		if strings.TrimSpace(g) == "" {
			return nil, fmt.Errorf("empty selector in group")
		}
	}
	return out, nil
}

func compilePart(g string) (cssPart, error) {
	var p cssPart
	g = strings.TrimSpace(g)
	if i := strings.LastIndex(g, "::"); i >= 0 {
		pe := strings.TrimSpace(g[i+2:])
		switch {
		case pe == "text":
			p.pseudo = pseudoText
		case strings.HasPrefix(pe, "attr(") && strings.HasSuffix(pe, ")"):
			p.pseudo = pseudoAttr
			p.attr = strings.TrimSpace(pe[len("attr(") : len(pe)-1])
			if a, ok := unquote(p.attr); ok {
				p.attr = a
			}
			if p.attr == "" {
				return p, fmt.Errorf("::attr() needs an attribute name")
			}
		default:
			return p, fmt.Errorf("unsupported pseudo-element ::%s (parsel has ::text and ::attr(name))", pe)
		}
		rest := g[:i]
		trimmed := strings.TrimRight(rest, " \t\n\r\f")
		switch {
		case trimmed == "":
			// "::text" is descendant-or-self::text(): every text node
			// under the context, its own included.
			rest, p.deep, p.bare = "*", true, true
		case strings.ContainsAny(trimmed[len(trimmed)-1:], ">+~"):
			rest = trimmed + " *"
		case trimmed != rest:
			rest, p.deep = trimmed, true
		}
		g = rest
	}
	sel, err := cascadia.ParseGroup(g)
	if err != nil {
		return p, err
	}
	p.sel = sel
	return p, nil
}

// CSS evaluates a CSS selector (with parsel's ::text and ::attr(name)) with
// s as the context.
func (s *Selector) CSS(query string) (SelectorList, error) {
	if s.kind != kindNode {
		return SelectorList{}, nil
	}
	c, err := compileCSS(query)
	if err != nil {
		return nil, err
	}
	out := SelectorList{}
	for _, part := range c {
		out = append(out, s.cssPart(part)...)
	}
	if len(c) > 1 || c[0].pseudo != pseudoNone {
		out = sortDocOrder(s.doc, out)
	}
	return out, nil
}

func (s *Selector) cssPart(p cssPart) SelectorList {
	var els []*html.Node
	switch {
	case p.bare:
		els = []*html.Node{s.node}
	default:
		if s.node.Type == html.ElementNode && p.sel.Match(s.node) {
			els = append(els, s.node)
		}
		els = append(els, cascadia.QueryAll(s.node, p.sel)...)
	}
	out := make(SelectorList, 0, len(els))
	attr := p.attr
	if s.doc.typ == TypeHTML {
		attr = strings.ToLower(attr)
	}
	if p.deep && p.pseudo != pseudoNone {
		var all []*html.Node
		for _, n := range els {
			all = appendSubtree(all, n, p.pseudo == pseudoText)
		}
		els = all
	}
	for _, n := range els {
		switch p.pseudo {
		case pseudoNone:
			out = append(out, &Selector{doc: s.doc, node: n, kind: kindNode})
		case pseudoText:
			if n.Type == html.TextNode {
				out = append(out, &Selector{doc: s.doc, node: n, kind: kindText, value: n.Data})
				continue
			}
			for c := n.FirstChild; c != nil; c = c.NextSibling {
				if c.Type == html.TextNode {
					out = append(out, &Selector{doc: s.doc, node: c, kind: kindText, value: c.Data})
				}
			}
		case pseudoAttr:
			if n.Type != html.ElementNode {
				continue
			}
			for i, a := range n.Attr {
				a.Key = s.doc.attrKey(n, i)
				if a.Namespace != xmlnsSpace && attrName(s.doc, a) == attr {
					out = append(out, &Selector{doc: s.doc, node: n, kind: kindAttr, attr: i, value: a.Val})
					break
				}
			}
		}
	}
	return out
}

// appendSubtree appends n and its descendant elements (and text nodes when
// text is set) in document order.
func appendSubtree(out []*html.Node, n *html.Node, text bool) []*html.Node {
	switch n.Type {
	case html.ElementNode:
		if !text {
			out = append(out, n)
		}
	case html.TextNode:
		if text {
			out = append(out, n)
		}
		return out
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		out = appendSubtree(out, c, text)
	}
	return out
}
