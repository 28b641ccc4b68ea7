package extract

import (
	"testing"
)

// FuzzSelectors feeds arbitrary documents and queries through parsing,
// CSS, XPath, regexes, link extraction and forms: none may panic. The seeds
// run with every go test; go test -fuzz=FuzzSelectors explores further.
func FuzzSelectors(f *testing.F) {
	f.Add(`<div><p class="a">x<b>y</b></p><a href="/u?a=1">l</a></div>`, "p.a::text", "//p/text()", `(\w)`, "html")
	f.Add(`<?xml version="1.0"?><r xmlns:a="urn:a"><a:e x="1">t</a:e></r>`, "e::attr(x)", "//a:e", `(?P<extract>t)`, "xml")
	f.Add(`<form><input name=q value=1><select name=s><option>o</select></form>`, "form ::attr(name)", "count(//input)", `[`, "html")
	f.Add(`<a href="javascript:x">`, "::text", "re:test(., 'a', 'i')", `(a+)+$`, "")
	f.Add("<p>\x00\xff</p>", "p:nth-child(2n+1)", "$x", `\k<n>`, "xml")
	le, _ := NewLinkExtractor(LinkExtractorOptions{Allow: []string{`.`}, RestrictCSS: []string{"div"}})
	f.Fuzz(func(t *testing.T, doc, css, xp, re, typ string) {
		if typ != "html" && typ != "xml" {
			typ = ""
		}
		s, err := NewSelector(doc, typ)
		if err != nil {
			return
		}
		if l, err := s.CSS(css); err == nil {
			l.GetAll()
			l.Attrib()
			if _, err := l.Re(re); err == nil {
				l.ReFirst(re, "")
			}
			l.XPath(xp, map[string]any{"x": "v"})
		}
		if l, err := s.XPath(xp); err == nil {
			l.GetAll()
			l.CSS(css)
		}
		resp := htmlResponse("http://f.test/a/b", doc)
		if typ == "xml" {
			resp.Headers.Set("Content-Type", "text/xml")
		}
		le.ExtractLinks(resp)
		FormRequest(resp, FormOptions{FormCSS: css, ClickData: map[string]any{"name": "x"}})
		ExtractJSON(resp, css)
		URLJoin(resp, css)
		ParseSitemap([]byte(doc))
	})
}
