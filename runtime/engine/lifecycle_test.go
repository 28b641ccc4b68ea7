package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// TestStreaming: a request emitted early in a callback is downloaded while
// the callback is still running. The callback waits until the server has
// seen the request it emitted; an engine that scheduled only after the
// callback returned would never get there.
func TestStreaming(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	var seenWhileRunning atomic.Bool
	sp := &goSpider{
		start: func(context.Context) engine.StartIterator { return startURLs(srv.URL + "/ok?first") },
		callback: func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
			if resp.URL != srv.URL+"/ok?first" {
				return nil
			}
			out.Request(&crawl.Request{URL: srv.URL + "/ok?second"})
			deadline := time.After(20 * time.Second)
			for hitCount(srv, "/ok?second") == 0 {
				select {
				case <-deadline:
					return errors.New("second request not downloaded while the callback ran")
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(time.Millisecond):
				}
			}
			seenWhileRunning.Store(true)
			return nil
		},
	}
	res := mustRun(t, engine.Options{Spider: sp, Fetcher: newFetcher(t)})
	if !seenWhileRunning.Load() || res.Errors != 0 {
		t.Fatalf("streaming failed: seen=%v errors=%d", seenWhileRunning.Load(), res.Errors)
	}
}

// idleSpider adds requests from its spider_idle hook: the first idle adds
// the second batch, the next two keep the spider open, then it lets it close.
type idleSpider struct {
	*goSpider
	base  string
	calls atomic.Int32
}

func (s *idleSpider) Idle(ctx context.Context, out engine.Output) (bool, error) {
	switch s.calls.Add(1) {
	case 1:
		for i := range 3 {
			out.Request(&crawl.Request{URL: fmt.Sprintf("%s/ok?idle=%d", s.base, i)})
		}
		return false, nil
	case 2, 3:
		return true, nil // DontCloseSpider
	}
	return false, nil
}

func TestIdleHook(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	sp := &idleSpider{goSpider: &goSpider{start: func(context.Context) engine.StartIterator {
		return startURLs(srv.URL + "/ok?start")
	}}, base: srv.URL}
	rec := &recorder{}
	sig := engine.NewSignals()
	sig.Connect(rec.add)
	res := mustRun(t, engine.Options{Spider: sp, Fetcher: newFetcher(t), Signals: sig, IdleInterval: 5 * time.Millisecond})
	if res.Reason != engine.ReasonFinished {
		t.Fatalf("reason = %q", res.Reason)
	}
	for i := range 3 {
		if n := hitCount(srv, fmt.Sprintf("/ok?idle=%d", i)); n != 1 {
			t.Fatalf("idle request %d fetched %d times", i, n)
		}
	}
	if n := sp.calls.Load(); n != 4 {
		t.Fatalf("idle hook called %d times, want 4", n)
	}
	if n := rec.count(engine.SpiderIdle); n != 4 {
		t.Fatalf("spider_idle emitted %d times, want 4", n)
	}
}

// TestMaxIdle keeps an idle crawl open for an externally fed scheduler: a
// request scheduled from outside during the idle time is crawled.
func TestMaxIdle(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	sp := &goSpider{start: func(context.Context) engine.StartIterator { return startURLs() }}
	e, err := engine.New(engine.Options{Spider: sp, Fetcher: newFetcher(t), MaxIdle: time.Hour, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	sig := e.Signals()
	var once sync.Once
	sig.Connect(func(ev engine.Event) {
		switch ev.Signal {
		case engine.SpiderIdle:
			once.Do(func() { e.Crawl().Schedule(&crawl.Request{URL: srv.URL + "/ok?late"}) })
		case engine.ResponseReceived:
			e.Crawl().Close("done_by_test")
		}
	})
	res, err := e.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != "done_by_test" || hitCount(srv, "/ok?late") != 1 {
		t.Fatalf("reason %q, late fetched %d times", res.Reason, hitCount(srv, "/ok?late"))
	}
}

// stallSpider's callback waits for something nothing will deliver, as a JS
// callback awaiting an unresolvable promise does.
type stallSpider struct {
	*goSpider
	waiting atomic.Bool
}

func (s *stallSpider) Stalled() []string {
	if s.waiting.Load() {
		return []string{"parse (spider.js:12:5)"}
	}
	return nil
}

func TestCloseReasons(t *testing.T) {
	cases := []struct {
		name    string
		opts    func(o *engine.Options)
		spider  func(srv *fixture.Server) engine.Spider
		during  func(e *engine.Engine, cancel context.CancelFunc, st stats.Collector)
		want    string
		check   func(t *testing.T, res engine.Result, srv *fixture.Server)
		latency time.Duration
	}{
		{name: "finished", want: engine.ReasonFinished},
		{name: "itemcount", want: engine.ReasonItemCount,
			opts: func(o *engine.Options) { o.CloseSpiderItemCount = 10; o.ConcurrentRequests = 2 },
			check: func(t *testing.T, res engine.Result, srv *fixture.Server) {
				if n := res.Stats[stats.ItemScrapedCount].(int64); n < 10 || n >= 200 {
					t.Fatalf("%d items", n)
				}
			}},
		{name: "pagecount", want: engine.ReasonPageCount,
			opts: func(o *engine.Options) { o.CloseSpiderPageCount = 5; o.ConcurrentRequests = 1 },
			check: func(t *testing.T, res engine.Result, srv *fixture.Server) {
				// The request already in flight when the limit hit still
				// finishes (ConcurrentRequests 1), nothing more is pulled.
				if n := len(srv.CountByPath("/site/")); n < 5 || n > 6 {
					t.Fatalf("%d pages fetched", n)
				}
			}},
		{name: "timeout", want: engine.ReasonTimeout, latency: 50 * time.Millisecond,
			opts: func(o *engine.Options) { o.CloseSpiderTimeout = 100 * time.Millisecond; o.ConcurrentRequests = 1 }},
		{name: "timeout_no_item", want: engine.ReasonNoItem, latency: 20 * time.Millisecond,
			opts: func(o *engine.Options) { o.CloseSpiderTimeoutNoItem = 100 * time.Millisecond; o.ConcurrentRequests = 1 },
			spider: func(srv *fixture.Server) engine.Spider {
				sp := siteSpider(srv.URL + "/site/0")
				sp.callback = func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
					return parseSite(ctx, resp, &noItems{out})
				}
				return sp
			}},
		{name: "memusage limit", want: engine.ReasonMemUsage, latency: 20 * time.Millisecond,
			// Every process uses more than one byte: the first check closes.
			opts: func(o *engine.Options) {
				o.MemUsage = engine.MemUsage{Limit: 1, CheckInterval: 30 * time.Millisecond}
				o.ConcurrentRequests = 1
			},
			check: func(t *testing.T, res engine.Result, srv *fixture.Server) {
				if fmt.Sprint(res.Stats["memusage/limit_reached"]) != "1" {
					t.Fatalf("memusage/limit_reached = %v", res.Stats["memusage/limit_reached"])
				}
			}},
		{name: "memusage warning", want: engine.ReasonFinished, latency: 5 * time.Millisecond,
			opts: func(o *engine.Options) {
				o.MemUsage = engine.MemUsage{Warning: 1, CheckInterval: time.Millisecond}
				o.ConcurrentRequests = 1
			},
			check: func(t *testing.T, res engine.Result, srv *fixture.Server) {
				if fmt.Sprint(res.Stats["memusage/warning_reached"]) != "1" {
					t.Fatalf("memusage/warning_reached = %v", res.Stats["memusage/warning_reached"])
				}
			}},
		{name: "memusage off", want: engine.ReasonFinished,
			opts: func(o *engine.Options) { *o = o.WithMemUsage(engine.MemUsage{Off: true, Limit: 1}) },
			check: func(t *testing.T, res engine.Result, srv *fixture.Server) {
				if _, ok := res.Stats["memusage/max"]; ok {
					t.Fatalf("memusage/max sampled with MEMUSAGE_ENABLED off")
				}
			}},
		{name: "idle reason", want: "idle",
			opts: func(o *engine.Options) { o.IdleReason = "idle" }},
		{name: "errorcount", want: engine.ReasonErrorCount,
			opts: func(o *engine.Options) { o.CloseSpiderErrorCount = 3; o.ConcurrentRequests = 1 },
			spider: func(srv *fixture.Server) engine.Spider {
				sp := siteSpider(srv.URL + "/site/0")
				sp.callback = func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
					if err := parseSite(ctx, resp, out); err != nil {
						return err
					}
					return errors.New("broken selector")
				}
				return sp
			},
			check: func(t *testing.T, res engine.Result, srv *fixture.Server) {
				if res.Errors < 3 {
					t.Fatalf("errors = %d", res.Errors)
				}
			}},
		{name: "shutdown", want: engine.ReasonShutdown, latency: 10 * time.Millisecond,
			during: func(e *engine.Engine, cancel context.CancelFunc, st stats.Collector) {
				proctest.Poll(20*time.Second, func() bool { return stats.Int(st, stats.ItemScrapedCount) >= 5 })
				e.Stop()
			}},
		{name: "cancelled", want: engine.ReasonCancelled, latency: 10 * time.Millisecond,
			during: func(e *engine.Engine, cancel context.CancelFunc, st stats.Collector) {
				proctest.Poll(20*time.Second, func() bool { return stats.Int(st, stats.ItemScrapedCount) >= 5 })
				cancel()
			}},
		{name: "custom", want: "banned",
			spider: func(srv *fixture.Server) engine.Spider {
				var c *engine.Crawl
				sp := &openSpider{goSpider: siteSpider(srv.URL + "/site/0"), open: func(h *engine.Crawl) { c = h }}
				sp.callback = func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
					c.Close("banned")
					return parseSite(ctx, resp, out)
				}
				return sp
			}},
		{name: "stalled", want: engine.ReasonStalled,
			spider: func(srv *fixture.Server) engine.Spider {
				sp := &stallSpider{goSpider: siteSpider(srv.URL + "/site/0")}
				sp.callback = func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
					out.Item(crawl.NewItem("url", resp.URL))
					sp.waiting.Store(true)
					<-ctx.Done() // released only by the engine's cancellation
					return ctx.Err()
				}
				return sp
			},
			check: func(t *testing.T, res engine.Result, srv *fixture.Server) {
				if !slices.Equal(res.Stalled, []string{"parse (spider.js:12:5)"}) {
					t.Fatalf("stalled = %v", res.Stalled)
				}
				if res.Stats[stats.ItemScrapedCount] != int64(1) {
					t.Fatalf("item emitted before the stall was not written: %v", res.Stats[stats.ItemScrapedCount])
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := fixture.New(t, fixture.Options{Pages: 200, Links: 5, Latency: c.latency})
			st := stats.NewMemory()
			var sp engine.Spider = siteSpider(srv.URL + "/site/0")
			if c.spider != nil {
				sp = c.spider(srv)
			}
			opts := engine.Options{Spider: sp, Fetcher: newFetcher(t), Stats: st, PollInterval: 5 * time.Millisecond,
				AbortWait: 5 * time.Second}
			if c.opts != nil {
				c.opts(&opts)
			}
			e, err := engine.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if c.during != nil {
				go c.during(e, cancel, st)
			}
			res, err := e.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != c.want {
				t.Fatalf("reason = %q, want %q", res.Reason, c.want)
			}
			if got := res.Stats[stats.FinishReason]; got != c.want {
				t.Fatalf("finish_reason stat = %v", got)
			}
			if c.check != nil {
				c.check(t, res, srv)
			}
		})
	}
}

// openSpider hands the Crawl handle to the test.
type openSpider struct {
	*goSpider
	open   func(*engine.Crawl)
	closed string
}

func (s *openSpider) Open(ctx context.Context, c *engine.Crawl) error { s.open(c); return nil }

func (s *openSpider) Close(ctx context.Context, reason string) error { s.closed = reason; return nil }

// TestStopAndAbortFeedsValid stops a crawl of slow pages once (graceful) or
// twice (abort) and checks that every feed is a valid document holding
// exactly the scraped items.
func TestStopAndAbortFeedsValid(t *testing.T) {
	for _, abort := range []bool{false, true} {
		t.Run(fmt.Sprintf("abort=%v", abort), func(t *testing.T) {
			srv := fixture.New(t, fixture.Options{Pages: 500, Links: 5, Latency: 20 * time.Millisecond})
			dir := t.TempDir()
			var feeds []engine.Exporter
			for _, f := range feed.Formats {
				fd, err := feed.Open(feed.Config{URI: filepath.Join(dir, "items."+string(f)), Format: f, Overwrite: true}, nil)
				if err != nil {
					t.Fatal(err)
				}
				feeds = append(feeds, fd)
			}
			st := stats.NewMemory()
			e, err := engine.New(engine.Options{Spider: siteSpider(srv.URL + "/site/0"), Fetcher: newFetcher(t),
				Feeds: feeds, Stats: st, ConcurrentRequests: 8})
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				proctest.Poll(20*time.Second, func() bool { return stats.Int(st, stats.ItemScrapedCount) >= 20 })
				e.Stop()
				if abort {
					e.Abort()
				}
			}()
			res, err := e.Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != engine.ReasonShutdown {
				t.Fatalf("reason = %q", res.Reason)
			}
			scraped := int(stats.Int(st, stats.ItemScrapedCount))
			if scraped < 20 || scraped >= 500 {
				t.Fatalf("scraped %d", scraped)
			}
			raw, err := os.ReadFile(filepath.Join(dir, "items.json"))
			if err != nil {
				t.Fatal(err)
			}
			var arr []map[string]any
			if err := json.Unmarshal(raw, &arr); err != nil {
				t.Fatalf("items.json is not valid JSON after stop: %v", err)
			}
			if len(arr) != scraped {
				t.Fatalf("items.json has %d items, item_scraped_count %d", len(arr), scraped)
			}
			for _, fd := range feeds {
				if n := fd.(*feed.Feed).Count(); n != scraped {
					t.Fatalf("%s: %d items, want %d", fd.(*feed.Feed).Name(), n, scraped)
				}
			}
			if !abort {
				// Graceful: every response received had its callback run.
				if r := stats.Int(st, stats.ResponseReceivedCount); int(r) != scraped {
					t.Fatalf("responses %d, items %d", r, scraped)
				}
			}
		})
	}
}

// TestSignalsOrder checks the lifecycle order and, per request, that
// request_scheduled comes before response_received, which comes before the
// page's item_scraped; every duplicate is scheduled then dropped (Scrapy's
// order).
func TestSignalsOrder(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 20, Links: 3})
	rec := &recorder{}
	sig := engine.NewSignals()
	sig.Connect(rec.add)
	drop := pipelineDropSKU("SKU-000003")
	res := mustRun(t, engine.Options{Spider: siteSpider(srv.URL + "/site/0"), Fetcher: newFetcher(t), Signals: sig,
		Pipelines: drop})
	if res.Reason != engine.ReasonFinished {
		t.Fatal(res.Reason)
	}
	evs := rec.list()
	if evs[0].Signal != engine.EngineStarted || evs[1].Signal != engine.SpiderOpened {
		t.Fatalf("first signals %s, %s", evs[0].Signal, evs[1].Signal)
	}
	last := evs[len(evs)-1]
	if last.Signal != engine.SpiderClosed || last.Reason != engine.ReasonFinished {
		t.Fatalf("last signal %s %q", last.Signal, last.Reason)
	}
	if evs[len(evs)-2].Signal != engine.SpiderIdle {
		t.Fatalf("signal before spider_closed is %s", evs[len(evs)-2].Signal)
	}
	pos := map[string]int{}
	for i, ev := range evs {
		var key string
		switch ev.Signal {
		case engine.RequestScheduled:
			key = "sched " + ev.Request.URL
		case engine.ResponseReceived:
			key = "resp " + ev.Response.URL
		case engine.ItemScraped, engine.ItemDropped:
			v, _ := ev.Item.Get("url")
			key = "item " + v.(string)
		default:
			continue
		}
		if _, dup := pos[key]; dup {
			if ev.Signal == engine.RequestScheduled {
				continue // a duplicate link: scheduled, then dropped
			}
			t.Fatalf("signal %q twice", key)
		}
		pos[key] = i
	}
	for i := range 20 {
		u := fmt.Sprintf("%s/site/%d", srv.URL, i)
		s, ok1 := pos["sched "+u]
		r, ok2 := pos["resp "+u]
		it, ok3 := pos["item "+u]
		if !ok1 || !ok2 || !ok3 || !(s < r && r < it) {
			t.Fatalf("page %d: scheduled@%d(%v) response@%d(%v) item@%d(%v)", i, s, ok1, r, ok2, it, ok3)
		}
	}
	if rec.count(engine.ItemDropped) != 1 || rec.count(engine.ItemScraped) != 19 {
		t.Fatalf("dropped %d scraped %d", rec.count(engine.ItemDropped), rec.count(engine.ItemScraped))
	}
	if rec.count(engine.RequestScheduled) != rec.count(engine.RequestDropped)+20 {
		t.Fatalf("request_scheduled %d, request_dropped %d, pages 20", rec.count(engine.RequestScheduled), rec.count(engine.RequestDropped))
	}
	if rec.count(engine.RequestDropped) != int(res.Stats[stats.DupefilterFiltered].(int64)) {
		t.Fatalf("request_dropped %d, dupefilter/filtered %v", rec.count(engine.RequestDropped), res.Stats[stats.DupefilterFiltered])
	}
}

// TestErrbacks: an HttpError without errback is counted and logged; with an
// errback the failure is handled and its output is used; a request returned
// by the fetcher (retry) is scheduled and fetched.
func TestErrbacks(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	var retried atomic.Bool
	fetch := newFetcher(t)
	fetcher := engine.FetcherFunc(func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
		if r.URL == srv.URL+"/ok?retry" && retried.CompareAndSwap(false, true) {
			c := r.Copy()
			c.DontFilter = true
			c.RetryTimes++
			return nil, c, nil
		}
		return fetch.Fetch(ctx, r)
	})
	var handled atomic.Int32
	sp := &goSpider{
		start: func(context.Context) engine.StartIterator {
			return &listStart{reqs: []*crawl.Request{
				{URL: srv.URL + "/status?code=404"},
				{URL: srv.URL + "/status?code=500", Errback: "on_error"},
				{URL: srv.URL + "/ok?retry"},
			}}
		},
		callback: func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
			out.Item(crawl.NewItem("url", resp.URL, "retries", int64(resp.Request.RetryTimes)))
			return nil
		},
		errback: func(ctx context.Context, f *crawl.Failure, out engine.Output) (bool, error) {
			if f.Request.Errback != "on_error" {
				return false, nil
			}
			handled.Add(1)
			out.Item(crawl.NewItem("error", string(f.Type), "status", int64(f.Response.Status)))
			return true, nil
		},
	}
	st := stats.NewMemory()
	res := mustRun(t, engine.Options{Spider: sp, Fetcher: fetcher, Stats: st})
	want := map[string]int64{
		"httperror/response_ignored_count":            1,
		"httperror/response_ignored_status_count/404": 1,
		stats.ItemScrapedCount:                        2,
	}
	for k, v := range want {
		if g := stats.Int(st, k); g != v {
			t.Errorf("%s = %d, want %d", k, g, v)
		}
	}
	if handled.Load() != 1 || res.Errors != 0 || hitCount(srv, "/ok?retry") != 1 {
		t.Fatalf("handled %d, errors %d, retry fetched %d", handled.Load(), res.Errors, hitCount(srv, "/ok?retry"))
	}
}

// TestSpiderErrorsDoNotStopTheCrawl: a callback that panics or returns an
// error costs its page only; the run reports the errors.
func TestSpiderErrorsDoNotStopTheCrawl(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 30, Links: 3})
	sp := siteSpider(srv.URL + "/site/0")
	sp.callback = func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
		if err := parseSite(ctx, resp, out); err != nil {
			return err
		}
		switch resp.URL {
		case srv.URL + "/site/3":
			panic("nil map")
		case srv.URL + "/site/4":
			out.Error(errors.New("emitted error"))
		}
		return nil
	}
	rec := &recorder{}
	sig := engine.NewSignals()
	sig.Connect(rec.add)
	res := mustRun(t, engine.Options{Spider: sp, Fetcher: newFetcher(t), Signals: sig})
	if res.Reason != engine.ReasonFinished || res.Errors != 2 || rec.count(engine.SpiderError) != 2 {
		t.Fatalf("reason %q errors %d spider_error %d", res.Reason, res.Errors, rec.count(engine.SpiderError))
	}
	if n := len(srv.CountByPath("/site/")); n != 30 {
		t.Fatalf("fetched %d pages", n)
	}
	if res.Stats[stats.SpiderExceptionsCount] != int64(2) {
		t.Fatalf("spider_exceptions/count = %v", res.Stats[stats.SpiderExceptionsCount])
	}
}

// ackScheduler records, for each Ack, how many items of that page had been
// written: Ack must come after the callback's output is committed.
type ackScheduler struct {
	*scheduler.Memory
	st    stats.Collector
	mu    sync.Mutex
	acked map[string]int64
}

func (s *ackScheduler) Ack(ctx context.Context, r *crawl.Request) error {
	s.mu.Lock()
	s.acked[r.URL] = stats.Int(s.st, stats.ItemScrapedCount)
	s.mu.Unlock()
	return nil
}

func TestAckAfterItems(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	st := stats.NewMemory()
	sch := &ackScheduler{Memory: scheduler.NewMemory(scheduler.MemoryOptions{}), st: st, acked: map[string]int64{}}
	slow := pipelineSlow()
	sp := &goSpider{
		start: func(context.Context) engine.StartIterator { return startURLs(srv.URL + "/ok") },
		callback: func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
			for i := range 5 {
				out.Item(crawl.NewItem("i", int64(i)))
			}
			return nil
		},
	}
	mustRun(t, engine.Options{Spider: sp, Fetcher: newFetcher(t), Stats: st, Scheduler: sch, Pipelines: slow})
	if got := sch.acked[srv.URL+"/ok"]; got != 5 {
		t.Fatalf("ack came after %d of 5 items", got)
	}
}

// TestInlineDownload: Crawl.Download follows returned requests and returns
// the response without calling a callback.
func TestInlineDownload(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	fetch := newFetcher(t)
	fetcher := engine.FetcherFunc(func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
		if r.URL == srv.URL+"/redirect-me" {
			return nil, &crawl.Request{URL: srv.URL + "/ok?final"}, nil
		}
		return fetch.Fetch(ctx, r)
	})
	var got *crawl.Response
	var gotErr error
	var called atomic.Int32
	sp := &openSpider{goSpider: &goSpider{
		start: func(context.Context) engine.StartIterator { return startURLs() },
		callback: func(context.Context, *crawl.Response, engine.Output) error {
			called.Add(1)
			return nil
		},
	}}
	sp.open = func(c *engine.Crawl) {
		got, gotErr = c.Download(context.Background(), &crawl.Request{URL: srv.URL + "/redirect-me"})
		if _, err := c.Download(context.Background(), &crawl.Request{URL: srv.URL + "/status?code=503"}); err == nil {
			gotErr = errors.New("503 did not fail")
		} else if f := (*crawl.Failure)(nil); !errors.As(err, &f) || f.Type != crawl.HttpError {
			gotErr = fmt.Errorf("503 failed with %v", err)
		}
	}
	mustRun(t, engine.Options{Spider: sp, Fetcher: fetcher})
	if gotErr != nil || got == nil || got.Status != http.StatusOK || got.Request.URL != srv.URL+"/ok?final" {
		t.Fatalf("download = %+v, %v", got, gotErr)
	}
	if called.Load() != 0 || sp.closed != engine.ReasonFinished {
		t.Fatalf("callback called %d times; closed %q", called.Load(), sp.closed)
	}
}

// noItems drops items, for a spider that scrapes nothing.
type noItems struct{ engine.Output }

func (noItems) Item(*crawl.Item) {}

// TestStopOnSignals: one signal stops gracefully (every fetched page's
// callback runs), two abort; Progress reports a running crawl.
func TestStopOnSignals(t *testing.T) {
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			srv := fixture.New(t, fixture.Options{Pages: 300, Links: 5, Latency: 10 * time.Millisecond})
			st := stats.NewMemory()
			e, err := engine.New(engine.Options{Spider: siteSpider(srv.URL + "/site/0"), Fetcher: newFetcher(t), Stats: st})
			if err != nil {
				t.Fatal(err)
			}
			ch := make(chan os.Signal, 2)
			go e.StopOnSignals(ch)
			var progress engine.Progress
			go func() {
				proctest.Poll(20*time.Second, func() bool { return stats.Int(st, stats.ItemScrapedCount) >= 10 })
				progress = e.Progress()
				for range n {
					ch <- os.Interrupt
				}
			}()
			res, err := e.Run(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if res.Reason != engine.ReasonShutdown {
				t.Fatalf("reason = %q", res.Reason)
			}
			if progress.Items < 10 || progress.Pages < 10 || progress.Queued < 0 {
				t.Fatalf("progress = %+v", progress)
			}
		})
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return string(s.b)
}

// TestStuckCrawlWatchdog: requests to a server that never answers. The
// watchdog names the oldest in-flight request, and a Stop ends the crawl
// after the grace period by cancelling the hung downloads (D13).
func TestStuckCrawlWatchdog(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	sp := &goSpider{start: func(context.Context) engine.StartIterator {
		return startURLs(srv.URL+"/hang?a", srv.URL+"/hang?b", srv.URL+"/hang?c")
	}}
	e, err := engine.New(engine.Options{Spider: sp, Fetcher: newFetcher(t), Logger: logger, ConcurrentRequests: 2,
		WatchdogInterval: 10 * time.Millisecond, PollInterval: 5 * time.Millisecond, ShutdownGrace: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var progress engine.Progress
	go func() {
		proctest.Poll(20*time.Second, func() bool { return strings.Contains(logs.String(), "crawl in progress") })
		progress = e.Progress()
		e.Stop()
	}()
	res, err := e.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != engine.ReasonShutdown {
		t.Fatalf("reason = %q", res.Reason)
	}
	if progress.Fetching != 2 || !strings.Contains(progress.OldestURL, "/hang?") || progress.OldestInFlight <= 0 {
		t.Fatalf("progress = %+v", progress)
	}
	if !strings.Contains(logs.String(), "oldest_url="+srv.URL+"/hang?") {
		t.Fatalf("watchdog line does not name the request:\n%s", logs.String())
	}
	if hitCount(srv, "/hang?c") != 0 {
		t.Fatal("a third request was sent beyond CONCURRENT_REQUESTS 2")
	}
}

// TestAbortKeepsEmittedItems: a callback emits 50 items, then hangs; the
// pipeline is slow, so most items are still queued when the crawl is
// aborted. Every emitted item still reaches the feed, which is a valid
// JSON array.
func TestAbortKeepsEmittedItems(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	emitted := make(chan struct{})
	sp := &goSpider{
		start: func(context.Context) engine.StartIterator { return startURLs(srv.URL + "/ok") },
		callback: func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
			for i := range 50 {
				out.Item(crawl.NewItem("i", int64(i)))
			}
			close(emitted)
			<-ctx.Done() // hangs until the abort cancels it
			return ctx.Err()
		},
	}
	path := filepath.Join(t.TempDir(), "items.json")
	fd, err := feed.Open(feed.Config{URI: path, Format: feed.JSON, Overwrite: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(engine.Options{Spider: sp, Fetcher: newFetcher(t), Feeds: []engine.Exporter{fd},
		Pipelines: pipelineSlow()})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		<-emitted
		e.Stop()
		e.Abort()
	}()
	res, err := e.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var arr []map[string]any
	if err := json.Unmarshal(raw, &arr); err != nil {
		t.Fatalf("invalid JSON after abort: %v", err)
	}
	if res.Errors != 0 {
		t.Fatalf("the cancelled callback counted as %d errors", res.Errors)
	}
	if len(arr) != 50 || res.Stats[stats.ItemScrapedCount] != int64(50) {
		t.Fatalf("%d items written (item_scraped_count %v), want 50", len(arr), res.Stats[stats.ItemScrapedCount])
	}
}
