package engine_test

import (
	"net/url"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// newChain builds the real downloader middleware chain (built-ins in
// Scrapy's order, ending in the default net/http downloader) with
// CONCURRENT_REQUESTS_PER_DOMAIN perDomain.
func newChain(t *testing.T, st stats.Collector, perDomain int) *middleware.Chain {
	t.Helper()
	tr := downloader.NewHTTPTransport(downloader.HTTPOptions{})
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
