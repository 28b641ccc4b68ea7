package extract

import (
	"errors"
	"reflect"
	"regexp"
	"testing"
)

func bp(b bool) *bool { return &b }

// Expected lists follow Scrapy's LxmlLinkExtractor rules
// (tests/test_linkextractors.py) applied to testdata/links.html.
func TestLinkExtractorFixture(t *testing.T) {
	t.Parallel()
	body := fixture(t, "links.html")
	L := func(url, text string) Link { return Link{URL: url, Text: text} }
	NF := func(url, text string) Link { return Link{URL: url, Text: text, NoFollow: true} }
	var (
		cat1     = L("http://shop.test/cat1.html", "")
		cat2     = L("http://shop.test/cat2.html", "category 2")
		cat3     = L("http://shop.test/cat3.html", "category 3 text")
		cat3a    = L("http://shop.test/cat3.html", "category 3 again")
		cat3f    = L("http://shop.test/cat3.html#reviews", "category 3 with fragment")
		partner  = L("http://partner.example/deal", "")
		nested   = L("http://shop.test/nested.html", "nested text")
		item4    = L("http://shop.test/item%204.html", "spaces around and inside")
		pdf      = L("http://shop.test/manual.pdf", "manual")
		query    = L("http://shop.test/list?b=2&a=1", "query")
		promo    = NF("http://shop.test/promo.html", "promo")
		partner2 = NF("http://sub.partner.example/x", "partner sub")
		img      = L("http://shop.test/cat2.png", "")
	)
	cases := []struct {
		name string
		opts LinkExtractorOptions
		want []Link
	}{
		{"all links (base href, area, dedupe, fragment kept, schemes dropped, pdf denied)", LinkExtractorOptions{},
			[]Link{cat1, cat2, cat3, cat3f, partner, nested, item4, query, promo, partner2}},
		{"allow", LinkExtractorOptions{Allow: []string{"cat"}}, []Link{cat1, cat2, cat3, cat3f}},
		{"allow with duplicates", LinkExtractorOptions{Allow: []string{"cat"}, Unique: bp(false)},
			[]Link{cat1, cat2, cat3, cat3a, cat3a, cat3f}},
		{"allow with duplicates canonicalized", LinkExtractorOptions{Allow: []string{"cat"}, Unique: bp(false), Canonicalize: true},
			[]Link{cat1, cat2, cat3, cat3a, cat3a, L("http://shop.test/cat3.html", "category 3 with fragment")}},
		{"allow unique canonicalized", LinkExtractorOptions{Allow: []string{"cat"}, Canonicalize: true}, []Link{cat1, cat2, cat3}},
		{"allow and deny", LinkExtractorOptions{Allow: []string{"cat"}, Deny: []string{"3"}}, []Link{cat1, cat2}},
		{"allow_domains includes subdomains", LinkExtractorOptions{AllowDomains: []string{"partner.example"}}, []Link{partner, partner2}},
		{"deny_domains", LinkExtractorOptions{DenyDomains: []string{"shop.test"}}, []Link{partner, partner2}},
		{"restrict_xpaths", LinkExtractorOptions{RestrictXPaths: []string{`//div[@id="menu"]`}}, []Link{cat1, cat2}},
		{"restrict_css", LinkExtractorOptions{RestrictCSS: []string{"#menu a"}}, []Link{cat2}},
		{"restrict_xpaths and restrict_css together", LinkExtractorOptions{
			RestrictXPaths: []string{`//div[@id="menu"]`}, RestrictCSS: []string{"#menu + a"}}, []Link{cat1, cat2, cat3}},
		// Scrapy deduplicates before filtering: cat3.html is first seen
		// as "category 3 text", which restrict_text then drops.
		{"restrict_text filters after dedupe", LinkExtractorOptions{RestrictText: []string{`categ.*again`}}, []Link{}},
		{"restrict_text without unique", LinkExtractorOptions{RestrictText: []string{`categ.*again`}, Unique: bp(false)}, []Link{cat3a, cat3a}},
		{"restrict_text several", LinkExtractorOptions{RestrictText: []string{`^nested`, `^promo$`}}, []Link{nested, promo}},
		{"tags a only, no extension filter", LinkExtractorOptions{Tags: []string{"a"}, DenyExtensions: []string{}},
			[]Link{cat2, cat3, cat3f, partner, nested, item4, pdf, query, promo, partner2}},
		{"img src too", LinkExtractorOptions{Tags: []string{"a", "img"}, Attrs: []string{"href", "src"}, DenyExtensions: []string{}, Allow: []string{"cat2"}},
			[]Link{cat2, img}},
		{"deny_extensions overridden", LinkExtractorOptions{DenyExtensions: []string{"html"}}, []Link{partner, pdf, query, partner2}},
		{"no tags", LinkExtractorOptions{Tags: []string{}}, []Link{}},
		{"no attrs", LinkExtractorOptions{Attrs: []string{}}, []Link{}},
		// Python's urlsplit drops leading C0/space and w3lib's safe_url_string
		// trailing ones, so strip=False changes nothing for spaces.
		{"strip off: ends are still trimmed by urljoin and safe_url_string", LinkExtractorOptions{Strip: bp(false), Allow: []string{"item"}},
			[]Link{item4}},
		{"process_value drops and rewrites", LinkExtractorOptions{ProcessValue: func(v string) (string, bool) {
			if v == "http://shop.test/cat1.html" {
				return "cat1-rewritten.html", true
			}
			return "", false
		}}, []Link{L("http://shop.test/cat1-rewritten.html", "")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			le, err := NewLinkExtractor(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := le.ExtractLinks(htmlResponse("http://shop.test/index", body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestLinkExtractorPages(t *testing.T) {
	t.Parallel()
	L := func(url, text string) Link { return Link{URL: url, Text: text} }
	jsRe := regexp.MustCompile(`javascript:goToPage\('(.*?)'`)
	cases := []struct {
		name, url, body, ct string
		opts                LinkExtractorOptions
		want                []Link
	}{
		{"process_value extracts from javascript:", "http://example.org/somepage/index.html",
			`<a href="javascript:goToPage('../other/page.html','photo','width=600'); return false">Text</a><a href="/about.html">About us</a>`, "",
			LinkExtractorOptions{ProcessValue: func(v string) (string, bool) {
				m := jsRe.FindStringSubmatch(v)
				if m == nil {
					return "", false
				}
				return m[1], true
			}}, []Link{L("http://example.org/other/page.html", "Text")}},
		{"base href with restrict_xpaths", "http://example.org/somepage/index.html",
			`<html><head><base href="http://otherdomain.com/base/" /></head><body><p><a href="item/12.html">Item 12</a></p></body></html>`, "",
			LinkExtractorOptions{RestrictXPaths: []string{"//p"}}, []Link{L("http://otherdomain.com/base/item/12.html", "Item 12")}},
		{"entities and page encoding in the query", "http://example.org/somepage/index.html",
			`<html><body><p><a href="/&hearts;/you?c=&euro;">text</a></p></body></html>`, "text/html; charset=iso-8859-15",
			LinkExtractorOptions{}, []Link{L("http://example.org/%E2%99%A5/you?c=%A4", "text")}},
		{"encoded slash in the base path", "http://known.fm/AC%2FDC/",
			`<html><body><div><a href="?page=2">BinB</a></div></body></html>`, "",
			LinkExtractorOptions{}, []Link{L("http://known.fm/AC%2FDC/?page=2", "BinB")}},
		{"bogus href skipped", "http://example.org/index.html",
			`<a href="http://example.org/item1.html">Item 1</a><a href="http://[example.org/item2.html">Item 2</a><a href="http://example.org/item3.html">Item 3</a>`, "",
			LinkExtractorOptions{}, []Link{L("http://example.org/item1.html", "Item 1"), L("http://example.org/item3.html", "Item 3")}},
		{"ftp kept", "http://www.example.com/index.html",
			`<div><a href="ftp://www.external.com/">An Item</a></div>`, "",
			LinkExtractorOptions{}, []Link{L("ftp://www.external.com/", "An Item")}},
		{"custom tags and attrs", "http://example.com/index.html",
			`<div id="item1" data-url="get?id=1"><a href="#">Item 1</a></div><div id="item2" data-url="get?id=2"><a href="#">Item 2</a></div>`, "",
			LinkExtractorOptions{Tags: []string{"div"}, Attrs: []string{"data-url"}},
			[]Link{L("http://example.com/get?id=1", "Item 1"), L("http://example.com/get?id=2", "Item 2")}},
		{"gb18030 text with entities", "http://example.org",
			"<html><body><div><a href=\"/foo\">&gt;\xbe\xa9&lt;\xb6\xab</a></div></body></html>", "text/html; charset=gb18030",
			LinkExtractorOptions{RestrictXPaths: []string{"//div"}}, []Link{L("http://example.org/foo", ">\u4eac<\u4e1c")}},
		{"unicode host becomes punycode", "http://example.org/",
			`<a href="http://bücher.example/straße?q=ü">b</a>`, "",
			LinkExtractorOptions{}, []Link{L("http://xn--bcher-kva.example/stra%C3%9Fe?q=%C3%BC", "b")}},
		{"xhtml served as xml", "http://example.com/index.xhtml",
			`<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body><p><a href="/about.html">About us</a></p><p><a href="/no.html" rel="nofollow">No</a></p></body></html>`,
			"application/xml", LinkExtractorOptions{},
			[]Link{L("http://example.com/about.html", "About us"), {URL: "http://example.com/no.html", Text: "No", NoFollow: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			le, err := NewLinkExtractor(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			var ct []string
			if tc.ct != "" {
				ct = []string{tc.ct}
			}
			got, err := le.ExtractLinks(htmlResponse(tc.url, tc.body, ct...))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestLinkExtractorMatches(t *testing.T) {
	t.Parallel()
	url1, url2 := "http://lotsofstuff.com/stuff1/index", "http://evenmorestuff.com/uglystuff/index"
	cases := []struct {
		opts LinkExtractorOptions
		url  string
		want bool
	}{
		{LinkExtractorOptions{Allow: []string{"stuff1"}}, url1, true},
		{LinkExtractorOptions{Allow: []string{"stuff1"}}, url2, false},
		{LinkExtractorOptions{Deny: []string{"uglystuff"}}, url1, true},
		{LinkExtractorOptions{Deny: []string{"uglystuff"}}, url2, false},
		{LinkExtractorOptions{AllowDomains: []string{"evenmorestuff.com"}}, url1, false},
		{LinkExtractorOptions{AllowDomains: []string{"evenmorestuff.com"}}, url2, true},
		{LinkExtractorOptions{DenyDomains: []string{"lotsofstuff.com"}}, url1, false},
		{LinkExtractorOptions{DenyDomains: []string{"lotsofstuff.com"}}, url2, true},
	}
	for _, tc := range cases {
		le, err := NewLinkExtractor(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		got, err := le.Matches(tc.url)
		if err != nil || got != tc.want {
			t.Errorf("%+v matches(%s) = %v, %v; want %v", tc.opts, tc.url, got, err, tc.want)
		}
	}
}

func TestLinkExtractorErrors(t *testing.T) {
	t.Parallel()
	for _, opts := range []LinkExtractorOptions{
		{Allow: []string{"("}},
		{RestrictXPaths: []string{"//["}},
		{RestrictCSS: []string{"a[["}},
	} {
		if _, err := NewLinkExtractor(opts); err == nil {
			t.Errorf("%+v: want an error", opts)
		}
	}
	le, err := NewLinkExtractor(LinkExtractorOptions{ProcessValueErr: func(string) (string, bool, error) {
		return "", false, errors.New("boom")
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := le.ExtractLinks(htmlResponse("http://x.test/", `<a href="/a">a</a>`)); err == nil {
		t.Fatal("process_value error must surface")
	}
}
