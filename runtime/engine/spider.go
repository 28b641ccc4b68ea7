// Package engine runs a crawl: it pulls requests from the scheduler under
// backpressure, downloads them through the downloader middlewares, hands
// responses to the spider's callbacks, and sends what they emit to the
// scheduler and the item pipelines (Scrapy's data flow). It knows nothing of
// JavaScript: a spider is anything that implements Spider.
package engine

import (
	"context"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Output receives what a callback produces, as it produces it: each request
// is scheduled when emitted, not when the callback ends. Implementations are
// safe for concurrent use and never block on item pipelines (a JS pipeline
// runs on the same event loop as the emitting callback; blocking would
// deadlock). Backpressure is applied by the engine pulling fewer requests.
type Output interface {
	// Request schedules a request (through spider middlewares, offsite and
	// depth filters).
	Request(r *crawl.Request)
	// Item sends an item to the pipelines.
	Item(it *crawl.Item)
	// Error records a callback error (spider_error): logged, counted in
	// stats, the run's exit status reports it; earlier output is kept.
	Error(err error)
}

// StartIterator yields start requests lazily: the engine calls Next only
// when it has room, so a start generator of millions of requests is never
// materialised. Next returns (nil, io.EOF) when exhausted.
type StartIterator interface {
	Next(ctx context.Context) (*crawl.Request, error)
}

// Spider is what the engine drives. jsbridge implements it for JavaScript
// spiders; tests implement it in Go.
type Spider interface {
	// Name is the spider's name (stats, logs, Redis keys).
	Name() string
	// Start returns the start requests.
	Start(ctx context.Context) StartIterator
	// Callback runs the callback named by resp.Request.Callback ("" = the
	// default) and streams its output into out. It returns when the output is
	// exhausted; an error is a callback failure (already-emitted output stays).
	Callback(ctx context.Context, resp *crawl.Response, out Output) error
	// Errback runs the request's errback (or the spider's default) for f.
	// handled is false when there is no errback to run.
	Errback(ctx context.Context, f *crawl.Failure, out Output) (handled bool, err error)
}

// Opener is implemented by spiders that need to act when the crawl opens
// (spider_opened).
type Opener interface {
	Open(ctx context.Context, c *Crawl) error
}

// Closer is implemented by spiders that need to act when the crawl closes
// (spider_closed). reason is the close reason.
type Closer interface {
	Close(ctx context.Context, reason string) error
}

// IdleHandler is implemented by spiders with a spider_idle hook. It may emit
// new requests into out; keepOpen (DontCloseSpider) keeps the crawl open even
// when it emitted nothing.
type IdleHandler interface {
	Idle(ctx context.Context, out Output) (keepOpen bool, err error)
}

// StallReporter is implemented by spiders whose callbacks can wait on events
// (JS promises). When the engine is otherwise idle but callbacks are still
// running, it asks: a non-empty result means nothing can wake them any more,
// and the crawl closes with reason "stalled"; each string names one waiting
// callback with its source position.
type StallReporter interface {
	Stalled() []string
}

// Wrapper is embedded by a spider that wraps another one (a CrawlSpider, a
// SitemapSpider): it forwards every method of Spider and of the optional
// interfaces (Opener, Closer, IdleHandler, StallReporter) to Inner, so the
// wrapping spider overrides only what it changes. An optional method Inner
// does not implement is a no-op. A new optional interface gets its
// forwarding method here, once, for every wrapper.
//
//	type Rules struct {
//		engine.Wrapper
//		rules []Rule
//	}
//
//	func (s *Rules) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
//		// follow the rules, then
//		return s.Inner.Callback(ctx, resp, out)
//	}
type Wrapper struct {
	// Inner is the wrapped spider.
	Inner Spider
}

var (
	_ Spider        = Wrapper{}
	_ Opener        = Wrapper{}
	_ Closer        = Wrapper{}
	_ IdleHandler   = Wrapper{}
	_ StallReporter = Wrapper{}
)

// Name is the inner spider's name.
func (w Wrapper) Name() string { return w.Inner.Name() }

// Start is the inner spider's start requests.
func (w Wrapper) Start(ctx context.Context) StartIterator { return w.Inner.Start(ctx) }

// Callback runs the inner spider's callback.
func (w Wrapper) Callback(ctx context.Context, resp *crawl.Response, out Output) error {
	return w.Inner.Callback(ctx, resp, out)
}

// Errback runs the inner spider's errback.
func (w Wrapper) Errback(ctx context.Context, f *crawl.Failure, out Output) (bool, error) {
	return w.Inner.Errback(ctx, f, out)
}

// Open forwards to the inner spider when it is an Opener.
func (w Wrapper) Open(ctx context.Context, c *Crawl) error {
	if o, ok := w.Inner.(Opener); ok {
		return o.Open(ctx, c)
	}
	return nil
}

// Close forwards to the inner spider when it is a Closer.
func (w Wrapper) Close(ctx context.Context, reason string) error {
	if c, ok := w.Inner.(Closer); ok {
		return c.Close(ctx, reason)
	}
	return nil
}

// Idle forwards to the inner spider when it is an IdleHandler.
func (w Wrapper) Idle(ctx context.Context, out Output) (bool, error) {
	if h, ok := w.Inner.(IdleHandler); ok {
		return h.Idle(ctx, out)
	}
	return false, nil
}

// Stalled forwards to the inner spider when it is a StallReporter.
func (w Wrapper) Stalled() []string {
	if r, ok := w.Inner.(StallReporter); ok {
		return r.Stalled()
	}
	return nil
}
