package extract

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract/internal/html5"
)

// benchPage builds a ~20 KB product listing: head with meta and scripts, a
// nav of 20 links, 50 product cards (link, image, price, rating), a pager
// and a footer: about 130 links, 1100 nodes.
func benchPage() string {
	var b strings.Builder
	b.WriteString(`<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Lamps | Shop</title>
<meta name="description" content="All our lamps"><link rel="stylesheet" href="/static/site.css">
<script>window.dataLayer = window.dataLayer || []; function gtag(){dataLayer.push(arguments);}</script></head>
<body><header><nav class="main">`)
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&b, `<a href="/category/%d/" class="nav-link">Category %d</a>`, i, i)
	}
	b.WriteString(`</nav></header><main><h1 class="title">Lamps</h1><ul class="products">`)
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, `<li class="product" data-id="%d"><a href="/product/%d.html" class="product-link"><img src="/img/%d.jpg" alt="Lamp %d"></a>
<h2 class="name"><a href="/product/%d.html">Lamp model %d</a></h2><p class="price"><span class="currency">EUR</span> %d.99</p>
<div class="rating" title="4.5 stars">★★★★☆</div><a href="/cart?add=%d" rel="nofollow">Add</a></li>`, i, i, i, i, i, i, 10+i, i)
	}
	b.WriteString(`</ul><div class="pager">`)
	for i := 1; i <= 10; i++ {
		fmt.Fprintf(&b, `<a href="?page=%d">%d</a>`, i, i)
	}
	b.WriteString(`<a class="next" href="?page=2">next</a></div></main><footer><p>&copy; 2026 Shop &amp; Co.</p>
<a href="/about">About</a><a href="/terms">Terms</a><a href="mailto:help@shop.test">Mail</a></footer></body></html>`)
	return b.String()
}

func benchResponse(body string) *crawl.Response {
	return &crawl.Response{URL: "https://shop.test/lamps/", Status: 200, Body: []byte(body),
		Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}}
}

var benchRules = []LinkExtractorOptions{
	{Allow: []string{`/category/\d+/`}},
	{Allow: []string{`/product/\d+\.html`}, Deny: []string{`cart`}},
}

// BenchmarkParse: decode and parse a 20 KB page.
func BenchmarkParse(b *testing.B) {
	body := benchPage()
	b.SetBytes(int64(len(body)))
	cpu := processCPU()
	defer reportCPU(b, cpu)
	for b.Loop() {
		if _, err := Root(benchResponse(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCSSGet10: ten CSS get()s on an already parsed page.
func BenchmarkCSSGet10(b *testing.B) {
	root, err := Root(benchResponse(benchPage()))
	if err != nil {
		b.Fatal(err)
	}
	queries := []string{"h1.title::text", "title::text", "li.product a::attr(href)", "p.price::text", "div.rating::attr(title)",
		"a.next::attr(href)", "meta[name=description]::attr(content)", "footer p::text", "h2.name a::text", "nav a::attr(href)"}
	cpu := processCPU()
	defer reportCPU(b, cpu)
	for b.Loop() {
		for _, q := range queries {
			l, err := root.CSS(q)
			if err != nil {
				b.Fatal(err)
			}
			_ = l.Get()
		}
	}
}

// BenchmarkLinkExtraction2Rules: both rules' extractors on a parsed page
// (what a CrawlSpider does per page after the callback parsed it).
func BenchmarkLinkExtraction2Rules(b *testing.B) {
	les := make([]*LinkExtractor, len(benchRules))
	for i, o := range benchRules {
		le, err := NewLinkExtractor(o)
		if err != nil {
			b.Fatal(err)
		}
		les[i] = le
	}
	resp := benchResponse(benchPage())
	if _, err := Root(resp); err != nil {
		b.Fatal(err)
	}
	cpu := processCPU()
	defer reportCPU(b, cpu)
	for b.Loop() {
		for _, le := range les {
			if _, err := le.ExtractLinks(resp); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkParseAndLinks2Rules: the target figure, a fresh response each
// time: decode + parse + two rules' link extraction.
func BenchmarkParseAndLinks2Rules(b *testing.B) {
	les := make([]*LinkExtractor, len(benchRules))
	for i, o := range benchRules {
		les[i], _ = NewLinkExtractor(o)
	}
	body := benchPage()
	b.SetBytes(int64(len(body)))
	cpu := processCPU()
	defer reportCPU(b, cpu)
	for b.Loop() {
		resp := benchResponse(body)
		n := 0
		for _, le := range les {
			l, err := le.ExtractLinks(resp)
			if err != nil {
				b.Fatal(err)
			}
			n += len(l)
		}
		if n != 70 {
			b.Fatalf("%d links", n)
		}
	}
}

func TestBenchPageShape(t *testing.T) {
	if n := len(benchPage()); n < 18000 || n > 24000 {
		t.Fatalf("bench page is %d bytes, want about 20 KB", n)
	}
}

// BenchmarkXNetHTMLParseBaseline is golang.org/x/net/html.Parse alone on
// the same page: the floor under BenchmarkParse.
func BenchmarkXNetHTMLParseBaseline(b *testing.B) {
	body := benchPage()
	b.SetBytes(int64(len(body)))
	cpu := processCPU()
	defer reportCPU(b, cpu)
	for b.Loop() {
		if _, err := html.Parse(strings.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTML5Parse is the forked parser alone (internal/html5) on the
// same page: what parseHTML spends before its lxml fix-ups.
func BenchmarkHTML5Parse(b *testing.B) {
	body := benchPage()
	b.SetBytes(int64(len(body)))
	cpu := processCPU()
	defer reportCPU(b, cpu)
	for b.Loop() {
		if _, err := html5.Parse(body, html5.ParseOptionEnableScripting(false)); err != nil {
			b.Fatal(err)
		}
	}
}
