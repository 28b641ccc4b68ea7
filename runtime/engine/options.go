package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Fetcher downloads requests for the engine. The downloader middleware chain
// (runtime/middleware) implements it; per-domain concurrency and delays are
// enforced inside Fetch, which blocks while it waits for a slot.
type Fetcher interface {
	// Fetch downloads r through the downloader middlewares. It returns a
	// response, or a request to schedule instead (retry, redirect), or an
	// error (*crawl.Failure).
	Fetch(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error)
}

// FetcherFunc adapts a function to Fetcher.
type FetcherFunc func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error)

// Fetch implements Fetcher.
func (f FetcherFunc) Fetch(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
	return f(ctx, r)
}

// SpiderMiddleware wraps the output of a callback (Scrapy's
// process_spider_output as an output filter). WrapOutput is called once per
// response (or per failed request for errback output, with a response of
// Status 0 whose Request is the failed request) and returns the Output the
// callback writes to; it forwards what it keeps to next. Middlewares are
// listed engine-first: callback output passes through them in reverse list
// order, like Scrapy's SPIDER_MIDDLEWARES with the first one closest to the
// engine.
type SpiderMiddleware interface {
	WrapOutput(resp *crawl.Response, next Output) Output
}

// StartWrapper is implemented by spider middlewares that also filter the
// start requests (Scrapy's process_start).
type StartWrapper interface {
	WrapStart(start StartIterator) StartIterator
}

// Exporter receives every scraped item (a feed). *feed.Feed and *feed.Set
// implement it. The engine flushes exporters periodically and closes them
// when the crawl ends, whatever the close reason.
type Exporter interface {
	Export(it *crawl.Item) error
	Flush() error
	Close() error
}

// Options configures an Engine. Spider and Fetcher are required; zero
// values elsewhere take the defaults in brackets (Scrapy's defaults where
// Scrapy has the setting).
type Options struct {
	Spider  Spider
	Fetcher Fetcher
	// Scheduler [an in-memory scheduler.Memory].
	Scheduler         scheduler.Scheduler
	Pipelines         []pipeline.Pipeline
	SpiderMiddlewares []SpiderMiddleware
	// Feeds receive scraped items after the pipelines; the engine closes them.
	Feeds []Exporter
	// Stats [a new stats.Memory].
	Stats stats.Collector
	// Logger [discard]. Wrap its handler with stats.NewCountingHandler to
	// get log_count/<LEVEL>.
	Logger *slog.Logger
	// Signals [a new bus]; Connect subscribers before Run.
	Signals *Signals

	// ConcurrentRequests bounds the requests handed to Fetch at once
	// (CONCURRENT_REQUESTS) [16].
	ConcurrentRequests int
	// ConcurrentItems is the number of items the pipelines process in
	// parallel (CONCURRENT_ITEMS; it helps pipelines that wait on I/O) [1].
	// Whatever the value, items reach the feeds, signals and Acks in the
	// order they were emitted.
	ConcurrentItems int
	// MaxPendingItems makes the engine stop pulling requests while this many
	// items wait for or are in the pipelines [1000].
	MaxPendingItems int
	// MaxActiveSize makes the engine stop pulling requests while the
	// responses held by running callbacks total more than this many bytes
	// (SCRAPER_SLOT_MAX_ACTIVE_SIZE) [5 000 000].
	MaxActiveSize int64

	// MaxActiveRequests makes the engine stop pulling requests while this
	// many are active: being fetched, or in their callback or errback
	// [0: no limit beyond ConcurrentRequests and MaxActiveSize]. Leave it 0 for spiders whose
	// callbacks wait on other requests' results (a JS callback awaiting
	// ResultHolders: a limit could leave every slot to waiting callbacks
	// and deadlock). For a Go spider whose callbacks only compute, set it
	// to ConcurrentRequests: fewer parses in progress at once use less
	// memory and, measured on the benchmark, less CPU per page.
	MaxActiveRequests int

	// CloseSpider* close the crawl after that many items, pages, spider
	// errors or that much time (CLOSESPIDER_ITEMCOUNT, _PAGECOUNT,
	// _ERRORCOUNT, _TIMEOUT) [0: off].
	CloseSpiderItemCount  int64
	CloseSpiderPageCount  int64
	CloseSpiderErrorCount int64
	CloseSpiderTimeout    time.Duration
	// CloseSpiderTimeoutNoItem closes the crawl (closespider_timeout_no_item)
	// when no item was scraped for this long (CLOSESPIDER_TIMEOUT_NO_ITEM)
	// [0: off].
	CloseSpiderTimeoutNoItem time.Duration

	// MaxIdle keeps an idle crawl open this long before closing it
	// "finished", polling the scheduler meanwhile
	// (MAX_IDLE_TIME_BEFORE_CLOSE, for schedulers fed from outside) [0].
	MaxIdle time.Duration
	// IdleReason is the close reason when the crawl closes for being idle
	// ["finished"; a RedisSpider uses "idle"].
	IdleReason string
	// ShutdownGrace bounds how long a graceful close waits for in-flight
	// requests and running callbacks before cancelling them [10s].
	ShutdownGrace time.Duration
	// AbortWait bounds how long the engine waits for cancelled work to
	// return before closing anyway [2s].
	AbortWait time.Duration
	// PollInterval is how often the engine re-checks idleness, stalls and
	// an externally fed scheduler [100ms].
	PollInterval time.Duration
	// IdleInterval is how often spider_idle fires again while the idle hook
	// keeps the crawl open (DontCloseSpider) [1s].
	IdleInterval time.Duration
	// DurableAcks acknowledges a request to the scheduler only after every
	// item it produced is flushed and fsynced to every feed, by a group
	// commit every CommitInterval (set with a scheduler that persists:
	// JOBDIR, Redis). Without it requests are acknowledged as soon as their
	// items are handed to the feeds, which are flushed (not fsynced) every
	// CommitInterval. Either way item_scraped_count counts an item once it
	// reached the file, and a write error closes the crawl (feed_error).
	DurableAcks bool
	// CommitInterval is the period of the feeds' flush and of the group
	// commit [100ms]. A group commit also runs at once when MaxLeased holds
	// pulling back.
	CommitInterval time.Duration
	// MaxLeased bounds the requests taken from the scheduler and not yet
	// acknowledged — what a killed crawl fetches again [0: no bound]. Set it
	// to ConcurrentRequests with a persistent scheduler. While every active
	// callback waits on other requests' results, the bound is raised like
	// MaxActiveRequests (see unblockWaiters).
	MaxLeased int
	// WatchdogInterval is how often a "crawl in progress" line with the
	// in-flight count and the oldest in-flight request is logged while
	// requests are in flight, so a stuck crawl says what it waits for
	// [60s; <0 off].
	WatchdogInterval time.Duration
	// LogStatsInterval is how often Scrapy's "Crawled N pages (at N
	// pages/min), scraped N items (at N items/min)" INFO line is logged
	// (LOGSTATS_INTERVAL) [60s; <0 off].
	LogStatsInterval time.Duration
	// MemUsageInterval is how often memusage/max is sampled [1s; <0 off].
	MemUsageInterval time.Duration
	// MemUsage closes the crawl when the process's memory passes a limit
	// (MEMUSAGE_* settings) [off].
	MemUsage MemUsage
	// Slots answers when a request's download slot could start a download
	// (*downloader.Downloader). With MaxWaiting, it turns the ready-host
	// layer on (ready.go).
	Slots SlotReadiness
	// MaxWaiting bounds the requests taken from the scheduler that wait in
	// the engine for their slot instead of holding a fetch place
	// (SCHEDULER_WAITING_MAX) [0: off — a request waits for its slot inside
	// Fetch, holding one of ConcurrentRequests, and a slow or polite host
	// at the head of the queue can hold them all]. Requests waiting count
	// as leased but not against MaxLeased: a kill makes the crawl fetch
	// again up to MaxLeased + MaxWaiting requests, of which MaxWaiting
	// were never fetched.
	MaxWaiting int
	// DontFilter schedules every request as if it had dont_filter set:
	// no request is dropped as a duplicate (DONT_FILTER). Offsite and
	// depth filtering, which run before scheduling, are not affected.
	DontFilter bool
}

// MemUsage is Scrapy's MemoryUsage extension: the process's resident set
// size is checked every CheckInterval; above Warning a warning is logged
// once (stat memusage/warning_reached), above Limit the crawl closes with
// reason memusage_exceeded (stat memusage/limit_reached). Zero limits are
// off; Off also stops the memusage/* sampling.
type MemUsage struct {
	Off            bool
	Limit, Warning int64 // bytes
	CheckInterval  time.Duration
}

// WithMemUsage returns o with MemUsage set, and memusage/* sampling turned
// off when m.Off.
func (o Options) WithMemUsage(m MemUsage) Options {
	o.MemUsage = m
	if m.Off {
		o.MemUsageInterval = -1
	}
	return o
}

func (o *Options) setDefaults() {
	def := func(p *time.Duration, d time.Duration) {
		if *p == 0 {
			*p = d
		}
	}
	if o.ConcurrentRequests <= 0 {
		o.ConcurrentRequests = 16
	}
	if o.IdleReason == "" {
		o.IdleReason = "finished"
	}
	if o.ConcurrentItems <= 0 {
		o.ConcurrentItems = 1
	}
	if o.MaxPendingItems <= 0 {
		o.MaxPendingItems = 1000
	}
	if o.MaxActiveSize <= 0 {
		o.MaxActiveSize = 5_000_000
	}
	def(&o.ShutdownGrace, 10*time.Second)
	def(&o.AbortWait, 2*time.Second)
	def(&o.PollInterval, 100*time.Millisecond)
	def(&o.IdleInterval, time.Second)
	def(&o.CommitInterval, 100*time.Millisecond)
	def(&o.MemUsageInterval, time.Second)
	def(&o.WatchdogInterval, time.Minute)
	def(&o.LogStatsInterval, time.Minute)
	if o.Stats == nil {
		o.Stats = stats.NewMemory()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Signals == nil {
		o.Signals = NewSignals()
	}
	if o.Scheduler == nil {
		o.Scheduler = scheduler.NewMemory(scheduler.MemoryOptions{Stats: o.Stats, Logger: o.Logger})
	}
}
