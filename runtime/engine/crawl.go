package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// maxInlineHops bounds the retries and redirects Download follows for one
// inline request, whatever the middlewares allow.
const maxInlineHops = 50

// Crawl is the handle a spider gets in Open: what JS exposes as
// spider.download, spider.crawl, spider.close and spider.stats. Its methods
// are safe for concurrent use.
type Crawl struct {
	eng *Engine
}

// Download fetches r inline through the downloader middlewares, sessions,
// retries and politeness, without calling a callback: a returned request
// (retry, redirect) is fetched in turn. Errors are *crawl.Failure. Inline
// downloads do not count against ConcurrentRequests (like Scrapy's
// engine.download); per-domain limits apply inside the fetcher.
func (c *Crawl) Download(ctx context.Context, r *crawl.Request) (*crawl.Response, error) {
	if r == nil {
		return nil, errors.New("download: nil request")
	}
	cur := r
	for hop := 0; ; hop++ {
		resp, next, err := c.eng.fetchCtx(ctx, cur)
		switch {
		case err != nil:
			return nil, asFailure(err, cur)
		case resp != nil:
			if resp.Request == nil {
				resp.Request = cur
			}
			return resp, nil
		case next == nil:
			return nil, crawl.NewFailure(crawl.UnknownError, cur, errors.New("fetcher returned neither a response nor a request"))
		case hop >= maxInlineHops:
			return nil, crawl.NewFailure(crawl.TooManyRedirects, cur, fmt.Errorf("inline download followed %d retries/redirects", maxInlineHops))
		}
		cur = next
	}
}

// Schedule adds a request from outside a callback (spider.crawl). It goes
// to the scheduler directly (dupefilter included, spider middlewares not).
func (c *Crawl) Schedule(r *crawl.Request) {
	if r != nil {
		c.eng.schedule(r, nil)
	}
}

// Close asks the crawl to close with reason (spider.close); in-flight work
// finishes as for Stop.
func (c *Crawl) Close(reason string) {
	if reason == "" {
		reason = "cancelled"
	}
	c.eng.requestClose(reason)
}

// Stats returns the crawl's stats collector.
func (c *Crawl) Stats() stats.Collector { return c.eng.stats }
