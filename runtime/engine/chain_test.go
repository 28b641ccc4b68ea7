package engine_test

import (
	"context"
	"crypto/x509"
	"net/url"
	"sync"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// newChain builds the real downloader middleware chain (built-ins in
// Scrapy's order, ending in the default net/http downloader) with
// CONCURRENT_REQUESTS_PER_DOMAIN perDomain.
func newChain(t *testing.T, st stats.Collector, perDomain int, roots *x509.CertPool) *middleware.Chain {
	t.Helper()
	tr := downloader.NewHTTPTransport(downloader.HTTPOptions{RootCAs: roots})
	t.Cleanup(tr.CloseIdleConnections)
	opts := downloader.DefaultOptions()
	opts.Transport = tr
	opts.ConcurrentPerDomain = perDomain
	dl, err := downloader.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	c, err := middleware.NewChain(dl, middleware.DefaultBuiltins(st, nil).Stack()...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname()
}

// TestCrawlTLSHTTP2 crawls a TLS + HTTP/2 site through the real chain with
// certificate verification on (the test trusts the server's CA): every
// page once, every response over HTTP/2.
func TestCrawlTLSHTTP2(t *testing.T) {
	srv := fixture.New(t, fixture.Options{HTTP2: true, Pages: 200, Links: 5})
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	st := stats.NewMemory()
	var mu sync.Mutex
	protos := map[string]int{}
	sp := siteSpider(srv.URL + "/site/0")
	sp.callback = func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
		mu.Lock()
		protos[resp.Protocol]++
		mu.Unlock()
		return parseSite(ctx, resp, out)
	}
	res := mustRun(t, engine.Options{Spider: sp, Fetcher: newChain(t, st, 8, roots), Stats: st})
	if res.Reason != engine.ReasonFinished || res.Errors != 0 {
		t.Fatalf("reason %q errors %d", res.Reason, res.Errors)
	}
	counts := srv.CountByPath("/site/")
	if len(counts) != 200 {
		t.Fatalf("%d pages fetched", len(counts))
	}
	for p, n := range counts {
		if n != 1 {
			t.Fatalf("%s fetched %d times", p, n)
		}
	}
	if len(protos) != 1 || protos["HTTP/2.0"] != 200 {
		t.Fatalf("protocols = %v", protos)
	}
}
