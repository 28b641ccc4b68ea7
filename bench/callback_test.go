package bench

import (
	"context"
	"github.com/spiderrun/spiderrun/internal/cputime"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/bench/internal/product"
	"github.com/spiderrun/spiderrun/bench/internal/site"
	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract"
)

// benchPage is page 7 of the crawl benchmark's site: ~20 KB, 4 fields, 10
// links.
func benchPage(tb testing.TB) []byte {
	tb.Helper()
	s := site.New(10, 10, 20<<10)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/p/7", nil))
	if rec.Code != http.StatusOK {
		tb.Fatalf("page: %d", rec.Code)
	}
	return rec.Body.Bytes()
}

// countOut counts the callback's output.
type countOut struct{ reqs, items, errs int }

func (c *countOut) Request(*crawl.Request) { c.reqs++ }
func (c *countOut) Item(*crawl.Item)       { c.items++ }
func (c *countOut) Error(error)            { c.errs++ }

// BenchmarkPageCallback is the per-page work of the crawl benchmark's
// crawlers without the crawl: the floor's Go extraction, and the JS
// spider's parse callback through the bridge, with the HTML parsed inside
// the callback (as in the crawl) or before it, and the parse alone
// (extract.Root). CPU time per page is the figure to read on a shared
// machine; it is the whole process's, so js_preparsed also carries part of
// the GC work of the parse done outside its timed section.
func BenchmarkPageCallback(b *testing.B) {
	body := benchPage(b)
	const pageURL = "http://bench.test/p/7"
	b.Run("go_floor_extract", func(b *testing.B) {
		cpu0 := cputime.Process()
		for i := 0; i < b.N; i++ {
			p, links, err := product.Extract(body, pageURL)
			if err != nil || p.SKU == "" || len(links) != 10 {
				b.Fatalf("%+v %d %v", p, len(links), err)
			}
		}
		b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/page")
	})
	b.Run("go_extract_root", func(b *testing.B) {
		// The parse a JS callback's first response.css() does.
		cpu0 := cputime.Process()
		for i := 0; i < b.N; i++ {
			resp := &crawl.Response{URL: pageURL, Status: 200, Body: body,
				Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}}
			if _, err := extract.Root(resp); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/page")
	})
	for _, pre := range []bool{false, true} {
		name := "js_parse_in_callback"
		if pre {
			name = "js_preparsed"
		}
		b.Run(name, func(b *testing.B) {
			s := newJSSpider(b)
			out := &countOut{}
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				req := &crawl.Request{URL: pageURL, Callback: "parse"}
				resp := &crawl.Response{URL: pageURL, Status: 200, Body: body, Request: req,
					Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}}
				if pre {
					if _, err := extract.Root(resp); err != nil {
						b.Fatal(err)
					}
				}
				cpu0 := cputime.Process()
				if err := s.Callback(context.Background(), resp, out); err != nil {
					b.Fatal(err)
				}
				cpu += cputime.Process() - cpu0
			}
			if out.errs != 0 || out.items != b.N || out.reqs != 10*b.N {
				b.Fatalf("%d items, %d requests, %d errors for %d pages", out.items, out.reqs, out.errs, b.N)
			}
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/page")
		})
	}
}

// newJSSpider loads bench/jsspider/spider.js into a bridge spider.
func newJSSpider(tb testing.TB) *jsbridge.Spider {
	tb.Helper()
	const path = "jsspider/spider.js"
	p, err := compile.Compile(compile.Source{Filename: path, Path: path})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jsbridge.New(jsbridge.Options{Program: p, Name: "bench_js", DefaultCallback: "parse"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}
