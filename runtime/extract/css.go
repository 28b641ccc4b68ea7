package extract

import (
	"fmt"
	"sort"
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
	// steps is the selector split at its combinators, for contexts below
	// the document element (see scopedMatch).
	steps []step
	// tag is the type selector of the rightmost compound ("a" in
	// "ul.links a"), lower-cased as cascadia stores it, or "" when there
	// is none: every match is then an element of that name, so a query
	// from the document root only tries those (document.elementsByTag).
	tag string
}

// step is one compound selector and the combinator before it (0 for the
// first).
type step struct {
	comb byte
	sel  cascadia.Sel
	// tag is the compound's type selector as written ("" for none or
	// "*"). cascadia compares names lower-cased; on XML, where cssselect's
	// bare name is case-sensitive and matches only elements in no
	// namespace, xmlMatch checks it too.
	tag string
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
			j := stringEnd(q, i)
			if j < 0 {
				return nil, fmt.Errorf("unterminated string")
			}
			i = j
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
	if i := pseudoElementStart(g); i >= 0 {
		pe := strings.TrimSpace(g[i+2:])
		switch {
		case pe == "text":
			p.pseudo = pseudoText
		case strings.HasPrefix(pe, "attr(") && strings.HasSuffix(pe, ")"):
			p.pseudo = pseudoAttr
			p.attr = strings.TrimSpace(pe[len("attr(") : len(pe)-1])
			if a, ok := unquote(p.attr); ok {
				p.attr = a
			} else if p.attr != "" && !isCSSIdent(p.attr) {
				return p, fmt.Errorf("::attr(%s): the name must be an identifier or a quoted string", p.attr)
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
		case isDescendantStar(trimmed):
			// parsel rewrites ".../descendant-or-self::*/*/text()" to
			// ".../descendant-or-self::text()": "p *::text" is "p ::text".
			rest, p.deep = strings.TrimRight(trimmed[:len(trimmed)-1], " \t\n\r\f"), true
		}
		g = rest
	}
	g = rewriteEmpty(g)
	sel, err := cascadia.ParseGroup(g)
	if err != nil {
		return p, err
	}
	p.sel = sel
	if p.steps, err = splitSteps(g); err != nil {
		return p, err
	}
	p.tag = rightmostTag(g)
	return p, nil
}

// rightmostTag returns the type selector of g's last compound selector,
// lower-cased, or "" when it has none or when it is not a plain name (a
// namespace prefix, an escape): then the query walks the whole tree.
func rightmostTag(g string) string { return strings.ToLower(rightmostTagRaw(g)) }

// rightmostTagRaw is rightmostTag as written in the query.
func rightmostTagRaw(g string) string {
	start, depth := 0, 0
	var quote byte
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '\\':
			i++
		case c == '(' || c == '[':
			depth++
		case c == ')' || c == ']':
			depth--
		case depth == 0 && (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '>' || c == '+' || c == '~'):
			start = i + 1
		}
	}
	last := g[start:]
	n := 0
	for n < len(last) && (isNameByte(last[n]) || n > 0 && last[n] >= '0' && last[n] <= '9') {
		n++
	}
	if n == 0 || last[0] == '-' || n < len(last) && (last[n] == '|' || last[n] == '\\' || last[n] >= 0x80) {
		return ""
	}
	return last[:n]
}

// stringEnd returns the index of the quote closing the CSS string that
// starts at s[i], skipping backslash escapes ('it\'s'), or -1.
func stringEnd(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j
		}
	}
	return -1
}

// rewriteEmpty replaces each :empty pseudo-class outside strings with its
// cssselect meaning, no child element and no text (cascadia's :empty
// allows whitespace; cssselect's "not(*) and not(string-length())" does
// not). Comments do not count in either.
func rewriteEmpty(g string) string {
	const empty, cssselectEmpty = ":empty", `:not(:has(*)):not(:matchesOwn([\s\S]))`
	if !strings.Contains(g, empty) {
		return g
	}
	var b strings.Builder
	for i := 0; i < len(g); i++ {
		c := g[i]
		switch {
		case c == '\\' && i+1 < len(g):
			b.WriteString(g[i : i+2])
			i++
			continue
		case c == '"' || c == '\'':
			if j := stringEnd(g, i); j >= 0 {
				b.WriteString(g[i : j+1])
				i = j
				continue
			}
		case strings.HasPrefix(g[i:], empty) && (i+len(empty) == len(g) || !isNameByte(g[i+len(empty)]) && !(g[i+len(empty)] >= '0' && g[i+len(empty)] <= '9')):
			b.WriteString(cssselectEmpty)
			i += len(empty) - 1
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// isCSSIdent reports whether s is a CSS identifier as cssselect reads the
// argument of ::attr(): letters, digits, '-', '_', non-ASCII and escapes,
// not starting with a digit. "xml:lang" is not one (parsel raises
// SelectorSyntaxError); the quoted form ::attr("xml:lang") is a string.
func isCSSIdent(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isNameByte(c) || c >= 0x80:
		case c >= '0' && c <= '9':
			if i == 0 || i == 1 && s[0] == '-' {
				return false
			}
		case c == '\\' && i+1 < len(s):
			i++
		default:
			return false
		}
	}
	return s != "" && s != "-"
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-'
}

// pseudoElementStart finds a top-level "::" (outside strings, brackets
// and parentheses), or -1.
func pseudoElementStart(g string) int {
	depth := 0
	for i := 0; i < len(g); i++ {
		switch c := g[i]; c {
		case '\\':
			i++
		case '"', '\'':
			if j := stringEnd(g, i); j >= 0 {
				i = j
			}
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		case ':':
			if depth == 0 && i+1 < len(g) && g[i+1] == ':' {
				return i
			}
		}
	}
	return -1
}

// splitSteps splits a selector at its top-level combinators.
func splitSteps(g string) ([]step, error) {
	var (
		steps   []step
		cur     strings.Builder
		pending byte
		depth   int
	)
	flush := func() error {
		if cur.Len() == 0 {
			return nil
		}
		sel, err := cascadia.Parse(cur.String())
		if err != nil {
			return err
		}
		comb := pending
		if len(steps) == 0 {
			comb = 0
		}
		steps = append(steps, step{comb, sel, rightmostTagRaw(cur.String())})
		cur.Reset()
		pending = 0
		return nil
	}
	for i := 0; i < len(g); i++ {
		c := g[i]
		if depth == 0 {
			switch c {
			case ' ', '\t', '\n', '\r', '\f':
				if err := flush(); err != nil {
					return nil, err
				}
				if pending == 0 && len(steps) > 0 {
					pending = ' '
				}
				continue
			case '>', '+', '~':
				if err := flush(); err != nil {
					return nil, err
				}
				pending = c
				continue
			}
		}
		switch c {
		case '\\':
			cur.WriteByte(c)
			if i+1 < len(g) {
				i++
				c = g[i]
			}
		case '"', '\'':
			if j := stringEnd(g, i); j >= 0 {
				cur.WriteString(g[i:j])
				i = j
				c = g[i]
			}
		case '(', '[':
			depth++
		case ')', ']':
			depth--
		}
		cur.WriteByte(c)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return steps, nil
}

// scopedMatch evaluates the steps as cssselect's XPath does: the first
// compound must match the context or one of its descendants, and each
// combinator walks from there (a "+" or "~" step may leave the subtree, an
// ancestor never counts). cascadia alone would let "div span" match a span
// whose div is an ancestor of the context.
func scopedMatch(d *document, ctx *html.Node, steps []step) []*html.Node {
	var cur []*html.Node
	if ctx.Type == html.ElementNode && d.stepMatch(steps[0], ctx) {
		cur = append(cur, ctx)
	}
	for _, n := range cascadia.QueryAll(ctx, steps[0].sel) {
		if d.typ != TypeXML || d.xmlNameIs(n, steps[0].tag) {
			cur = append(cur, n)
		}
	}
	for _, st := range steps[1:] {
		var next []*html.Node
		seen := map[*html.Node]bool{}
		add := func(n *html.Node) {
			if !seen[n] && d.stepMatch(st, n) {
				seen[n] = true
				next = append(next, n)
			}
		}
		switch st.comb {
		case ' ':
			covered := map[*html.Node]bool{}
			var walk func(*html.Node)
			walk = func(n *html.Node) {
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode {
						covered[c] = true
						add(c)
						walk(c)
					}
				}
			}
			for _, n := range cur {
				if !covered[n] {
					walk(n)
				}
			}
		case '>':
			for _, n := range cur {
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode {
						add(c)
					}
				}
			}
		case '+':
			for _, n := range cur {
				for c := n.NextSibling; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode {
						add(c)
						break
					}
				}
			}
		case '~':
			for _, n := range cur {
				for c := n.NextSibling; c != nil; c = c.NextSibling {
					if c.Type == html.ElementNode {
						add(c)
					}
				}
			}
		}
		if st.comb != ' ' && len(next) > 1 {
			sortNodes(d, next)
		}
		cur = next
	}
	return cur
}

// stepMatch reports whether n matches the compound st, with cssselect's
// case-sensitive, namespace-aware names on XML.
func (d *document) stepMatch(st step, n *html.Node) bool {
	return st.sel.Match(n) && (d.typ != TypeXML || d.xmlNameIs(n, st.tag))
}

// xmlNameIs reports whether the XML element n is named tag exactly (as
// written in the document, see document.elemNames) and in no namespace,
// which is what cssselect's GenericTranslator turns a bare type selector
// into. An empty tag (none, or "*") matches every element.
func (d *document) xmlNameIs(n *html.Node, tag string) bool {
	if tag == "" {
		return true
	}
	name := n.Data
	if real, ok := d.elemNames[n]; ok {
		name = real
	}
	return n.Namespace == "" && name == tag
}

func sortNodes(d *document, ns []*html.Node) {
	sort.SliceStable(ns, func(i, j int) bool { return d.position(ns[i]) < d.position(ns[j]) })
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
	// One part's matches usually come out in document order already
	// (cascadia walks the tree in order): check that in linear time before
	// sorting, because sorting needs the document's position map, built
	// over every node of the page (measured: 6 % of a JS crawl's CPU, all
	// of it on the spider's event loop).
	if len(c) > 1 || c[0].pseudo != pseudoNone && !inDocOrder(out) {
		out = sortDocOrder(s.doc, out)
	}
	return out, nil
}

// inDocOrder reports whether l is strictly increasing in document order
// (so also free of duplicates), without the document's position map. The
// walk between two neighbours only covers the nodes between them, so a
// sorted list costs about its extent in the tree.
func inDocOrder(l SelectorList) bool {
	for i := 1; i < len(l); i++ {
		a, b := l[i-1], l[i]
		if a.node == b.node {
			if a.kind != kindAttr || b.kind != kindAttr || a.attr >= b.attr {
				return false
			}
			continue
		}
		if !nodeBefore(a.node, b.node) {
			return false
		}
	}
	return true
}

// nodeBefore reports whether a precedes b (a != b) in document order: a is
// an ancestor of b, or a's branch comes before b's under their lowest
// common ancestor.
func nodeBefore(a, b *html.Node) bool {
	depth := func(n *html.Node) int {
		d := 0
		for ; n != nil; n = n.Parent {
			d++
		}
		return d
	}
	da, db := depth(a), depth(b)
	x, y := a, b
	for ; db > da; db-- {
		if y.Parent == x {
			return true // a is b's ancestor
		}
		y = y.Parent
	}
	for ; da > db; da-- {
		if x.Parent == y {
			return false // b is a's ancestor
		}
		x = x.Parent
	}
	for x.Parent != y.Parent {
		x, y = x.Parent, y.Parent
	}
	if x == nil || y == nil {
		return false
	}
	for n := x.NextSibling; n != nil; n = n.NextSibling {
		if n == y {
			return true
		}
	}
	return false
}

func (s *Selector) cssPart(p cssPart) SelectorList {
	var els []*html.Node
	switch {
	case p.bare:
		els = []*html.Node{s.node}
	case len(p.steps) > 1 && s.node.Parent != nil && s.node.Parent.Type != html.DocumentNode,
		s.doc.typ == TypeXML:
		// XML: scopedMatch checks the names as cssselect does (stepMatch)
		els = scopedMatch(s.doc, s.node, p.steps)
	case p.tag != "" && s.node.Parent == s.doc.root:
		// From the document element (the root selector) every element is
		// a candidate, itself included: only those named p.tag can match,
		// already listed in document order.
		for _, n := range s.doc.elementsByTag(p.tag) {
			if p.sel.Match(n) {
				els = append(els, n)
			}
		}
	default:
		if s.node.Type == html.ElementNode && p.sel.Match(s.node) {
			els = append(els, s.node)
		}
		els = append(els, cascadia.QueryAll(s.node, p.sel)...)
	}
	out := make(SelectorList, 0, len(els))
	// Not lower-cased: cssselect passes ::attr()'s argument through, and
	// lxml has lower-cased HTML attribute names, so ::attr(HREF) finds
	// nothing in parsel either.
	attr := p.attr
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

// isDescendantStar reports whether g ends with a descendant combinator and
// a bare "*" ("p *", not "p > *" or "*").
func isDescendantStar(g string) bool {
	if len(g) < 3 || g[len(g)-1] != '*' {
		return false
	}
	head := g[:len(g)-1]
	trimmed := strings.TrimRight(head, " \t\n\r\f")
	return trimmed != head && trimmed != "" && !strings.ContainsAny(trimmed[len(trimmed)-1:], ">+~")
}
