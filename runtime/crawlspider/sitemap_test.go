package crawlspider

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
)

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.Bytes()
}

// logBuffer is a goroutine-safe log sink.
type logBuffer = proctest.Buffer

func TestSitemapSpiderEndToEnd(t *testing.T) {
	hits := &hitLog{}
	var base string
	mux := http.NewServeMux()
	serve := func(path, ct string, body func() []byte) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			hits.add(r.URL.RequestURI())
			w.Header().Set("Content-Type", ct)
			w.Write(body())
		})
	}
	serve("/robots.txt", "text/plain", func() []byte {
		return []byte("User-agent: *\nDisallow:\nSitemap: /sitemap_index.xml\n")
	})
	serve("/sitemap_index.xml", "application/xml", func() []byte {
		return []byte(fmt.Sprintf(`<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>%[1]s/sitemap-products.xml.gz</loc></sitemap>
<sitemap><loc>%[1]s/sitemap-pages.xml</loc></sitemap>
<sitemap><loc>%[1]s/archive/sitemap-old.xml</loc></sitemap>
<sitemap><loc>%[1]s/sitemap-bomb.xml.gz</loc></sitemap>
<sitemap><loc>%[1]s/sitemap-html</loc></sitemap>
</sitemapindex>`, base))
	})
	serve("/sitemap-products.xml.gz", "application/octet-stream", func() []byte {
		var b strings.Builder
		b.WriteString(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" xmlns:xhtml="http://www.w3.org/1999/xhtml">`)
		for i := 1; i <= 3; i++ {
			fmt.Fprintf(&b, `<url><loc>%s/product/%d.html</loc><xhtml:link rel="alternate" hreflang="de" href="%s/de/product/%d.html"/></url>`, base, i, base, i)
		}
		b.WriteString(`</urlset>`)
		return gz(t, b.String())
	})
	serve("/sitemap-pages.xml", "text/xml", func() []byte {
		return []byte(fmt.Sprintf(`<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>%[1]s/about.html</loc></url><url><loc>%[1]s/blog/no-rule</loc></url></urlset>`, base))
	})
	serve("/sitemap-bomb.xml.gz", "application/octet-stream", func() []byte {
		return gz(t, "<urlset>"+strings.Repeat("<url><loc>x</loc></url>", 50000)+"</urlset>")
	})
	serve("/sitemap-html", "text/html", func() []byte { return []byte("<html>not a sitemap</html>") })
	page := func(w http.ResponseWriter, r *http.Request) {
		hits.add(r.URL.RequestURI())
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<h1>%s</h1>", r.URL.Path)
	}
	mux.HandleFunc("/product/", page)
	mux.HandleFunc("/de/product/", page)
	mux.HandleFunc("/about.html", page)
	mux.HandleFunc("/blog/", page)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	base = srv.URL

	var mu sync.Mutex
	var parsed []string
	record := func(kind string) func(*crawl.Response, engine.Output) error {
		return func(resp *crawl.Response, out engine.Output) error {
			mu.Lock()
			parsed = append(parsed, kind+" "+strings.TrimPrefix(resp.URL, base)+" "+text(t, resp, "h1::text"))
			mu.Unlock()
			return nil
		}
	}
	inner := &goSpider{name: "sm", callbacks: map[string]func(*crawl.Response, engine.Output) error{
		"parse_product": record("product"), "": record("default"),
	}}
	logs := &logBuffer{}
	sm, err := NewSitemap(inner, SitemapOptions{
		URLs:           []string{srv.URL + "/robots.txt"},
		Rules:          []SitemapRule{{Pattern: `/product/`, Callback: "parse_product"}, {Pattern: `about`}},
		Follow:         []string{`/sitemap-`},
		AlternateLinks: true,
		MaxSize:        64 << 10,
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Spider: sm, Fetcher: newFetcher(t), MemUsageInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eng.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	sort.Strings(parsed)
	want := []string{
		"default /about.html /about.html",
		"product /de/product/1.html /de/product/1.html",
		"product /de/product/2.html /de/product/2.html",
		"product /de/product/3.html /de/product/3.html",
		"product /product/1.html /product/1.html",
		"product /product/2.html /product/2.html",
		"product /product/3.html /product/3.html",
	}
	if strings.Join(parsed, "\n") != strings.Join(want, "\n") {
		t.Errorf("parsed:\n%s\nwant:\n%s", strings.Join(parsed, "\n"), strings.Join(want, "\n"))
	}
	got := strings.Join(hits.sorted(), " ")
	for _, p := range []string{"/robots.txt", "/sitemap_index.xml", "/sitemap-products.xml.gz", "/sitemap-pages.xml", "/sitemap-bomb.xml.gz", "/sitemap-html"} {
		if !strings.Contains(got, p) {
			t.Errorf("%s not fetched: %s", p, got)
		}
	}
	for _, p := range []string{"/archive/", "/blog/"} {
		if strings.Contains(got, p) {
			t.Errorf("%s fetched but no rule/follow pattern matches: %s", p, got)
		}
	}
	l := logs.String()
	if !strings.Contains(l, "sitemap-bomb.xml.gz") || !strings.Contains(l, "larger than the size limit") {
		t.Errorf("bomb not reported: %s", l)
	}
	if !strings.Contains(l, "ignoring invalid sitemap") || !strings.Contains(l, "/sitemap-html") {
		t.Errorf("html not reported: %s", l)
	}
}

func TestSitemapOptionsErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewSitemap(itemSpider(), SitemapOptions{Rules: []SitemapRule{{Pattern: "("}}}); err == nil {
		t.Error("bad rule accepted")
	}
	if _, err := NewSitemap(itemSpider(), SitemapOptions{Follow: []string{"["}}); err == nil {
		t.Error("bad follow accepted")
	}
}

// A failing Filter fails the sitemap's callback; a <loc> Scrapy's Request
// rejects is skipped with a warning, the entries around it are kept.
func TestSitemapFilterErrorAndBadLoc(t *testing.T) {
	t.Parallel()
	body := `<urlset><url><loc>https://a.test/1</loc></url><url><loc>/2</loc></url><url><loc>https://a.test/3</loc></url></urlset>`
	resp := func() *crawl.Response {
		return &crawl.Response{URL: "https://a.test/s.xml", Status: 200, Body: []byte(body),
			Headers: crawl.Headers{{Name: "Content-Type", Value: "application/xml"}},
			Request: &crawl.Request{URL: "https://a.test/s.xml", Callback: SitemapCallback}}
	}
	logs := &logBuffer{}
	sm, err := NewSitemap(itemSpider(), SitemapOptions{Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	out := &recorder{}
	if err := sm.Callback(context.Background(), resp(), out); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(out.urls(), " "); got != "https://a.test/1 https://a.test/3" {
		t.Errorf("requests %s", got)
	}
	if l := logs.String(); !strings.Contains(l, "ignoring sitemap URL") || !strings.Contains(l, "url=/2") {
		t.Errorf("bad <loc> not reported: %s", l)
	}
	sm, err = NewSitemap(itemSpider(), SitemapOptions{Filter: func(context.Context, *crawl.Response, []extract.SitemapEntry) ([]extract.SitemapEntry, error) {
		return nil, errTest
	}})
	if err != nil {
		t.Fatal(err)
	}
	out = &recorder{}
	if err := sm.Callback(context.Background(), resp(), out); !errors.Is(err, errTest) || len(out.requests) != 0 {
		t.Errorf("filter error: %v, %d requests", err, len(out.requests))
	}
}
