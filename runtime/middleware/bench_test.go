package middleware_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/middleware"
)

// BenchmarkChain measures the full default stack over the downloader on
// 20 KB pages (compare with runtime/downloader's BenchmarkDownload to see
// the middlewares' share).
func BenchmarkChain(b *testing.B) {
	srv := fixture.New(b, fixture.Options{Pages: 1000, PageSize: 20 << 10})
	o := downloader.DefaultOptions()
	o.ConcurrentPerDomain = 64
	dl, err := downloader.New(o)
	if err != nil {
		b.Fatal(err)
	}
	defer dl.Close()
	st := newBenchStats()
	chain, err := middleware.NewChain(dl, middleware.DefaultBuiltins(st, nil).Stack()...)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			resp, _, err := chain.Fetch(context.Background(), &crawl.Request{URL: fmt.Sprintf("%s/site/%d", srv.URL, i%1000)})
			if err != nil || resp == nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMiddlewaresOnly runs the stack over a handler that returns a
// fixed 20 KB page: the middlewares' own CPU and allocations per page.
func BenchmarkMiddlewaresOnly(b *testing.B) {
	page := make([]byte, 20<<10)
	copy(page, "<html><head><title>x</title></head><body>")
	h := middleware.HandlerFunc(func(_ context.Context, r *crawl.Request) (*crawl.Response, error) {
		return &crawl.Response{URL: r.URL, Status: 200, Body: page, Request: r,
			Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}}, nil
	})
	chain, _ := middleware.NewChain(h, middleware.DefaultBuiltins(newBenchStats(), nil).Stack()...)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, _, err := chain.Fetch(context.Background(), &crawl.Request{URL: fmt.Sprintf("http://a.example/site/%d", i%1000)}); err != nil {
			b.Fatal(err)
		}
	}
}
