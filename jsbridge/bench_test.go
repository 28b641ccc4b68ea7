package jsbridge

import (
	"context"
	"fmt"
	"github.com/spiderrun/spiderrun/internal/cputime"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// countOutput counts without keeping anything.
type countOutput struct{ reqs, items, errs int }

func (c *countOutput) Request(*crawl.Request) { c.reqs++ }
func (c *countOutput) Item(*crawl.Item)       { c.items++ }
func (c *countOutput) Error(error)            { c.errs++ }

func benchCallback(b *testing.B, callback string, n int, body string) {
	s, _ := newSpider(b, "bench.js", nil)
	req := &crawl.Request{URL: "http://example.test/p", Callback: callback, CbKwargs: map[string]any{"n": int64(n)}}
	out := &countOutput{}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		resp := &crawl.Response{URL: req.URL, Status: 200, Body: []byte(body), Request: req,
			Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html"}}}
		if err := s.Callback(ctx, resp, out); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu := cputime.Process() - cpu0
	if out.errs > 0 {
		b.Fatalf("%d errors", out.errs)
	}
	// CPU time is the figure to read on a shared machine: wall time
	// includes waiting for other processes.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	if n > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/yield")
	}
}

// BenchmarkCallbackOverhead is the cost of one callback round trip: post to
// the loop, build the response object, call, drive, return.
func BenchmarkCallbackOverhead(b *testing.B) {
	b.Run("empty", func(b *testing.B) { benchCallback(b, "empty", 0, "") })
	b.Run("one_item", func(b *testing.B) { benchCallback(b, "one_item", 0, "") })
}

// BenchmarkYield is the per-yield cost of the output driver.
func BenchmarkYield(b *testing.B) {
	b.Run("items", func(b *testing.B) { benchCallback(b, "yield_items", 100, "") })
	b.Run("requests", func(b *testing.B) { benchCallback(b, "yield_requests", 100, "") })
	b.Run("async_items", func(b *testing.B) { benchCallback(b, "async_items", 100, "") })
}

// quotesPage is a page like the crawl benchmark's: 10 quotes, 20 links.
func quotesPage() string {
	var sb strings.Builder
	sb.WriteString("<html><body>")
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&sb, `<div class="quote"><span class="text">Quote %d</span><small class="author">Author %d</small><a class="tag" href="/tag/%d">t%d</a><a class="tag" href="/tag/x">x</a></div>`, i, i, i, i)
	}
	sb.WriteString("</body></html>")
	return sb.String()
}

// BenchmarkQuotesCallback is the crawl benchmark's callback on one page
// (HTML parsing included).
func BenchmarkQuotesCallback(b *testing.B) { benchCallback(b, "quotes", 0, quotesPage()) }
