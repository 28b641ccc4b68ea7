package engine

import (
	"context"
	"errors"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Engine runs one crawl. (Being built: see issue "The crawl engine".)
type Engine struct{}

// Crawl is the handle a spider gets in Open: what JS exposes as
// spider.download, spider.crawl, spider.close and spider.stats.
type Crawl struct {
	eng *Engine
}

// errUnbuilt is returned until the engine lands; it must not survive.
var errUnbuilt = errors.New("engine: not built yet")

// Download fetches r inline through the downloader middlewares, sessions,
// retries and politeness, without calling a callback. Errors are
// *crawl.Failure.
func (c *Crawl) Download(ctx context.Context, r *crawl.Request) (*crawl.Response, error) {
	return nil, errUnbuilt
}

// Schedule adds a request from outside a callback (spider.crawl).
func (c *Crawl) Schedule(r *crawl.Request) {}

// Close asks the crawl to close with reason (spider.close).
func (c *Crawl) Close(reason string) {}

// Stats returns the crawl's stats collector.
func (c *Crawl) Stats() stats.Collector { return nil }
