package extract

import (
	"strings"

	"golang.org/x/net/html"
)

// serialize writes n as lxml's etree.tostring(n, method="html"|"xml",
// encoding="unicode", with_tail=False) does, because that is what parsel's
// get() returns and what ported spiders compare against. HTML rules
// (libxml2's HTML serializer): void elements have no end tag, boolean
// attributes (checked, selected, ...) are written bare, an attribute value
// with a double quote and no single quote is single-quoted, text escapes
// only & < >, script and style contents are raw, non-ASCII stays as is.
func serialize(d *document, n *html.Node) string {
	var b strings.Builder
	if d.typ == TypeXML {
		writeXML(d, &b, n, inheritedNS(n))
	} else {
		writeHTML(&b, n)
	}
	return b.String()
}

var voidElements = map[string]bool{
	"area": true, "base": true, "basefont": true, "br": true, "col": true, "embed": true,
	"frame": true, "hr": true, "img": true, "input": true, "isindex": true, "keygen": true,
	"link": true, "meta": true, "param": true, "source": true, "track": true, "wbr": true,
}

var booleanAttrs = map[string]bool{
	"checked": true, "compact": true, "declare": true, "defer": true, "disabled": true,
	"ismap": true, "multiple": true, "nohref": true, "noresize": true, "noshade": true,
	"nowrap": true, "readonly": true, "selected": true,
}

var rawTextElements = map[string]bool{"script": true, "style": true}

var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func writeHTML(b *strings.Builder, n *html.Node) {
	switch n.Type {
	case html.DocumentNode:
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			writeHTML(b, c)
		}
	case html.TextNode:
		if p := n.Parent; p != nil && p.Type == html.ElementNode && rawTextElements[p.Data] {
			b.WriteString(n.Data)
		} else {
			textEscaper.WriteString(b, n.Data)
		}
	case html.CommentNode:
		b.WriteString("<!--")
		b.WriteString(n.Data)
		b.WriteString("-->")
	case html.ElementNode:
		b.WriteByte('<')
		b.WriteString(n.Data)
		for _, a := range n.Attr {
			b.WriteByte(' ')
			if a.Namespace != "" {
				b.WriteString(a.Namespace)
				b.WriteByte(':')
			}
			b.WriteString(a.Key)
			if booleanAttrs[a.Key] {
				continue
			}
			b.WriteByte('=')
			writeQuoted(b, textEscaper.Replace(a.Val))
		}
		b.WriteByte('>')
		if voidElements[n.Data] && n.FirstChild == nil {
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			writeHTML(b, c)
		}
		b.WriteString("</")
		b.WriteString(n.Data)
		b.WriteByte('>')
	}
}

// writeQuoted is libxml2's xmlBufWriteQuotedString.
func writeQuoted(b *strings.Builder, v string) {
	switch {
	case !strings.Contains(v, `"`):
		b.WriteByte('"')
		b.WriteString(v)
		b.WriteByte('"')
	case !strings.Contains(v, "'"):
		b.WriteByte('\'')
		b.WriteString(v)
		b.WriteByte('\'')
	default:
		b.WriteByte('"')
		b.WriteString(strings.ReplaceAll(v, `"`, "&quot;"))
		b.WriteByte('"')
	}
}

var xmlAttrEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;",
	"\n", "&#10;", "\r", "&#13;", "\t", "&#9;")

var xmlTextEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "\r", "&#13;")

// nsDecl is one in-scope namespace declaration.
type nsDecl struct{ prefix, uri string }

// inheritedNS lists the declarations of n's ancestors that lxml copies
// onto a serialized subtree so it stands alone, in lxml's order: the one the
// element's own name uses first, then the others nearest ancestor first, in
// declaration order.
func inheritedNS(n *html.Node) []nsDecl {
	var all []nsDecl
	seen := map[string]bool{}
	for _, a := range n.Attr {
		if a.Namespace == xmlnsSpace {
			seen[a.Key] = true
		}
	}
	for p := n.Parent; p != nil; p = p.Parent {
		for _, a := range p.Attr {
			if a.Namespace == xmlnsSpace && !seen[a.Key] {
				seen[a.Key] = true
				all = append(all, nsDecl{a.Key, a.Val})
			}
		}
	}
	if n.Namespace == "" {
		return all
	}
	for i, d := range all {
		if d.uri == n.Namespace {
			out := append([]nsDecl{d}, all[:i]...)
			return append(out, all[i+1:]...)
		}
	}
	return all
}

// prefixFor finds the prefix bound to uri at n ("" for the default).
func prefixFor(n *html.Node, uri string) string {
	for p := n; p != nil; p = p.Parent {
		for _, a := range p.Attr {
			if a.Namespace == xmlnsSpace && a.Val == uri {
				return a.Key
			}
		}
	}
	return ""
}

// xmlSpace is the namespace of the xml: prefix (xml:lang, xml:space).
const xmlSpace = "http://www.w3.org/XML/1998/namespace"

func xmlName(n *html.Node, space, local string, isAttr bool) string {
	if space == "" {
		return local
	}
	if space == xmlSpace {
		return "xml:" + local
	}
	p := prefixFor(n, space)
	if p == "" {
		if isAttr {
			return local
		}
		return local
	}
	return p + ":" + local
}

func writeXML(d *document, b *strings.Builder, n *html.Node, extra []nsDecl) {
	switch n.Type {
	case html.DocumentNode:
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			writeXML(d, b, c, nil)
		}
	case html.TextNode:
		xmlTextEscaper.WriteString(b, n.Data)
	case html.CommentNode:
		b.WriteString("<!--")
		b.WriteString(n.Data)
		b.WriteString("-->")
	case html.RawNode:
		// an entity reference kept unresolved (see parseXML)
		b.WriteString(n.Data)
	case html.ElementNode:
		name := xmlName(n, n.Namespace, d.elemName(n), false)
		b.WriteByte('<')
		b.WriteString(name)
		for _, a := range n.Attr {
			if a.Namespace == xmlnsSpace {
				writeNSDecl(b, nsDecl{a.Key, a.Val})
			}
		}
		for _, d := range extra {
			writeNSDecl(b, d)
		}
		for i, a := range n.Attr {
			if a.Namespace == xmlnsSpace {
				continue
			}
			b.WriteByte(' ')
			b.WriteString(xmlName(n, a.Namespace, d.attrKey(n, i), true))
			b.WriteString(`="`)
			xmlAttrEscaper.WriteString(b, a.Val)
			b.WriteByte('"')
		}
		if n.FirstChild == nil {
			b.WriteString("/>")
			return
		}
		b.WriteByte('>')
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			writeXML(d, b, c, nil)
		}
		b.WriteString("</")
		b.WriteString(name)
		b.WriteByte('>')
	}
}

func writeNSDecl(b *strings.Builder, d nsDecl) {
	if d.prefix == "" {
		b.WriteString(` xmlns="`)
	} else {
		b.WriteString(" xmlns:" + d.prefix + `="`)
	}
	xmlAttrEscaper.WriteString(b, d.uri)
	b.WriteByte('"')
}
