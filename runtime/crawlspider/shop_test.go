package crawlspider

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/spidermw"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// The fixture shop: a home page, 5 categories of 4 pages each (pagination
// through <base href> and relative links), 10 products a page: 200
// products. A CrawlSpider fetches 226 pages: the home page, per category
// /cat/c/ and /cat/c/page/1..4/ (page 1 is reached again through page 2's
// "prev" link under another URL), and the 200 products. Every page also carries
// links no rule may follow (cart, about, images, mailto, another host) and
// duplicates (a fragment link to the same product, a ?ref= variant).
const (
	shopCategories = 5
	shopPages      = 4
	shopPerPage    = 10
)

func newShop(t *testing.T, hits *hitLog) *httptest.Server {
	mux := http.NewServeMux()
	html := func(w http.ResponseWriter, body string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, body)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		hits.add(r.URL.RequestURI())
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		var b strings.Builder
		b.WriteString(`<html><head><title>Shop</title></head><body><nav>`)
		for c := 1; c <= shopCategories; c++ {
			fmt.Fprintf(&b, `<a href="cat/%d/">Category %d</a>`, c, c)
		}
		b.WriteString(`</nav><a href="/about.html">About</a> <a href="/cart?add=0">Cart</a>
<a href="mailto:shop@shop.test">Mail</a> <a href="http://elsewhere.test/cat/9/">Partner</a></body></html>`)
		html(w, b.String())
	})
	mux.HandleFunc("/about.html", func(w http.ResponseWriter, r *http.Request) {
		hits.add(r.URL.RequestURI())
		html(w, `<p>about</p>`)
	})
	mux.HandleFunc("/cat/", func(w http.ResponseWriter, r *http.Request) {
		hits.add(r.URL.RequestURI())
		// /cat/{c}/ or /cat/{c}/page/{p}/
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		c, err := strconv.Atoi(parts[1])
		p := 1
		if len(parts) == 4 && parts[2] == "page" {
			p, _ = strconv.Atoi(parts[3])
		}
		if err != nil || c < 1 || c > shopCategories || p < 1 || p > shopPages || (len(parts) != 2 && len(parts) != 4) {
			http.NotFound(w, r)
			return
		}
		var b strings.Builder
		fmt.Fprintf(&b, `<html><head><base href="/cat/%d/"><title>Category %d page %d</title></head><body><ul class="products">`, c, c, p)
		for k := 1; k <= shopPerPage; k++ {
			id := (c-1)*shopPages*shopPerPage + (p-1)*shopPerPage + k
			fmt.Fprintf(&b, `<li><a class="product" href="/product/%d.html">Product %d</a> <a href="/product/%d.html#reviews">reviews</a> <a href="/product/%d.html?ref=list">again</a> <img src="/static/p%d.jpg"><a href="/static/p%d.jpg">zoom</a></li>`, id, id, id, id, id, id)
		}
		b.WriteString(`</ul><div class="pager">`)
		if p > 1 {
			fmt.Fprintf(&b, `<a href="page/%d/">prev</a>`, p-1)
		}
		if p < shopPages {
			fmt.Fprintf(&b, `<a class="next" href="page/%d/">next</a>`, p+1)
		}
		fmt.Fprintf(&b, `</div><a href="/cart?add=%d">cart</a></body></html>`, c)
		html(w, b.String())
	})
	mux.HandleFunc("/product/", func(w http.ResponseWriter, r *http.Request) {
		hits.add(r.URL.RequestURI())
		id, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/product/"), ".html"))
		total := shopCategories * shopPages * shopPerPage
		if err != nil || id < 1 || id > total {
			http.NotFound(w, r)
			return
		}
		c := (id-1)/(shopPages*shopPerPage) + 1
		html(w, fmt.Sprintf(`<html><body><h1>Product %d</h1><span class="price">%.2f</span>
<a href="/product/%d.html">related</a> <a href="/cat/%d/">back</a></body></html>`, id, float64(id)*1.25, id%total+1, c))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func shopRules() []Rule {
	return []Rule{
		{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{`/cat/\d+/`}, Deny: []string{`cart`}}},
		{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{`/product/\d+\.html`}, Deny: []string{`ref=`}},
			Callback: "parse_item", CbKwargs: map[string]any{"kind": "product"}},
	}
}

func shopSpider(start string) *goSpider {
	return &goSpider{name: "shop", start: []string{start}, callbacks: map[string]func(*crawl.Response, engine.Output) error{
		"parse_item": func(resp *crawl.Response, out engine.Output) error {
			root, err := extract.Root(resp)
			if err != nil {
				return err
			}
			name, _ := root.CSS("h1::text")
			price, _ := root.XPath(`//span[@class="price"]/text()`)
			out.Item(crawl.NewItem(
				"url", resp.URL,
				"name", name.Get(),
				"price", price.Get(),
				"kind", resp.Request.CbKwargs["kind"],
				"link_text", resp.Request.Meta[MetaLinkText],
			))
			return nil
		},
	}}
}

// TestCrawlSpiderShopEndToEnd runs the engine over the fixture shop with
// two rules (categories followed without a callback, products parsed by
// parse_item) and compares the items and the pages the server served with
// golden files.
func TestCrawlSpiderShopEndToEnd(t *testing.T) {
	hits := &hitLog{}
	srv := newShop(t, hits)
	cs, err := New(shopSpider(srv.URL+"/"), Options{Rules: shopRules()})
	if err != nil {
		t.Fatal(err)
	}
	sink := &itemSink{}
	st := stats.NewMemory()
	eng, err := engine.New(engine.Options{Spider: cs, Fetcher: newFetcher(t), Feeds: []engine.Exporter{sink},
		// allowed_domains: the partner link on the home page matches the
		// category rule and must be dropped by the offsite filter.
		SpiderMiddlewares: []engine.SpiderMiddleware{spidermw.NewOffsite([]string{"127.0.0.1"}, st, nil)},
		Stats:             st, ConcurrentRequests: 8, MemUsageInterval: -1, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := eng.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != engine.ReasonFinished || res.Errors != 0 {
		t.Fatalf("run: %+v", res)
	}
	if v, _ := st.Get(stats.OffsiteFiltered); v != int64(1) {
		t.Errorf("offsite/filtered = %v (%T), want 1 (the partner category link)", v, v)
	}
	got := sink.jsonl(t, srv.URL)
	if n := strings.Count(got, "\n"); n != 200 {
		t.Errorf("%d items, want 200", n)
	}
	golden.CheckString(t, filepath.Join("testdata", "shop_items.jsonl"), got)
	followed := hits.sorted()
	if len(followed) != 226 {
		t.Errorf("%d pages fetched, want 226 (home, 25 category pages, 200 products)", len(followed))
	}
	golden.CheckString(t, filepath.Join("testdata", "shop_followed.txt"), strings.Join(followed, "\n")+"\n")
}

// DEPTH_LIMIT applies to links followed by rules: with a limit of 2 the
// crawl gets the home page (0), the 5 categories (1), and from them their
// page 2 and the 50 products of their page 1 (2); nothing deeper.
func TestCrawlSpiderDepthLimit(t *testing.T) {
	hits := &hitLog{}
	srv := newShop(t, hits)
	cs, err := New(shopSpider(srv.URL+"/"), Options{Rules: shopRules()})
	if err != nil {
		t.Fatal(err)
	}
	sink := &itemSink{}
	eng, err := engine.New(engine.Options{Spider: cs, Fetcher: newFetcher(t), Feeds: []engine.Exporter{sink},
		SpiderMiddlewares: []engine.SpiderMiddleware{spidermw.NewOffsite([]string{"127.0.0.1"}, nil, nil), spidermw.NewDepth(2, 0, false, nil, nil)},
		MemUsageInterval:  -1, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var cats, pages, products int
	for _, h := range hits.sorted() {
		switch {
		case strings.Contains(h, "/page/"):
			pages++
		case strings.HasPrefix(h, "/cat/"):
			cats++
		case strings.HasPrefix(h, "/product/"):
			products++
		}
	}
	if cats != 5 || pages != 5 || products != 50 || len(sink.items) != 50 {
		t.Errorf("categories %d (want 5), pages %d (want 5), products %d (want 50), items %d", cats, pages, products, len(sink.items))
	}
}

// With CRAWLSPIDER_FOLLOW_LINKS off, only the start page is fetched.
func TestCrawlSpiderFollowLinksOff(t *testing.T) {
	hits := &hitLog{}
	srv := newShop(t, hits)
	off := false
	cs, err := New(shopSpider(srv.URL+"/"), Options{Rules: shopRules(), FollowLinks: &off})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Spider: cs, Fetcher: newFetcher(t), MemUsageInterval: -1, PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := hits.sorted(); len(got) != 1 || got[0] != "/" {
		t.Errorf("fetched %q", got)
	}
}
