package engine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// TestCrawlGeneratedSite crawls a 5 000-page site through the real
// downloader middleware chain: every page is fetched exactly once
// (server-side count), every item is written, and the server never sees
// more than CONCURRENT_REQUESTS at once, nor more than
// CONCURRENT_REQUESTS_PER_DOMAIN for the host.
func TestCrawlGeneratedSite(t *testing.T) {
	const pages, conc, perDomain = 5000, 16, 8
	srv := fixture.New(t, fixture.Options{Pages: pages, Links: 10})
	out := filepath.Join(t.TempDir(), "items.jsonl")
	f, err := feed.Open(feed.Config{URI: out, Format: feed.JSONLines, Overwrite: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := stats.NewMemory()
	res := mustRun(t, engine.Options{
		Spider:             siteSpider(srv.URL + "/site/0"),
		Fetcher:            newChain(t, st, perDomain, nil),
		Feeds:              []engine.Exporter{f},
		Stats:              st,
		ConcurrentRequests: conc,
	})
	if res.Reason != engine.ReasonFinished {
		t.Fatalf("reason = %q", res.Reason)
	}
	counts := srv.CountByPath("/site/")
	if len(counts) != pages {
		t.Fatalf("%d distinct pages fetched, want %d", len(counts), pages)
	}
	for p, n := range counts {
		if n != 1 {
			t.Fatalf("%s fetched %d times", p, n)
		}
	}
	if m := srv.MaxInFlight(); m > conc {
		t.Fatalf("server saw %d requests in flight, limit %d", m, conc)
	}
	if m := srv.MaxInFlightHost(hostOf(t, srv.URL)); m > perDomain || m < 2 {
		t.Fatalf("server saw %d requests in flight for the host, limit %d", m, perDomain)
	}
	seen := map[string]bool{}
	file, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		var it struct{ URL, Name, Price, Sku, Description string }
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			t.Fatalf("bad line %q: %v", sc.Text(), err)
		}
		if it.Name == "" || it.Sku == "" || it.Price == "" || it.Description == "" {
			t.Fatalf("incomplete item %+v", it)
		}
		seen[it.URL] = true
	}
	if len(seen) != pages {
		t.Fatalf("%d distinct items written, want %d", len(seen), pages)
	}
	want := map[string]int64{
		stats.ItemScrapedCount: pages, stats.ResponseReceivedCount: pages,
		stats.SchedulerEnqueued: pages, stats.SchedulerDequeued: pages,
		stats.DupefilterFiltered:               pages*10 - (pages - 1),
		"downloader/response_status_count/200": pages,
	}
	for k, v := range want {
		if g := stats.Int(st, k); g != v {
			t.Errorf("%s = %d, want %d", k, g, v)
		}
	}
}

// TestBackpressure checks the global limit from the server side with slow
// pages, so that requests pile up if the engine does not hold them back.
func TestBackpressure(t *testing.T) {
	for _, conc := range []int{1, 4} {
		t.Run(fmt.Sprint(conc), func(t *testing.T) {
			srv := fixture.New(t, fixture.Options{Pages: 60, Links: 5, Latency: 20_000_000})
			res := mustRun(t, engine.Options{
				Spider: siteSpider(srv.URL + "/site/0"), Fetcher: newFetcher(t), ConcurrentRequests: conc,
			})
			if res.Reason != engine.ReasonFinished {
				t.Fatalf("reason = %q", res.Reason)
			}
			if n := len(srv.CountByPath("/site/")); n != 60 {
				t.Fatalf("fetched %d pages", n)
			}
			if m := srv.MaxInFlight(); m > conc {
				t.Fatalf("server saw %d in flight, limit %d", m, conc)
			}
			if conc > 1 && srv.MaxInFlight() < 2 {
				t.Fatalf("server never saw concurrent requests (max %d)", srv.MaxInFlight())
			}
		})
	}
}

// TestItemBackpressure: while the pipelines are slow, the engine stops
// pulling requests once MaxPendingItems items wait.
func TestItemBackpressure(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 40, Links: 3})
	release := make(chan struct{})
	st := stats.NewMemory()
	block := pipeline.Func(func(ctx context.Context, it *crawl.Item) (*crawl.Item, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return it, nil
	})
	done := make(chan engine.Result)
	e, err := engine.New(engine.Options{
		Spider: siteSpider(srv.URL + "/site/0"), Fetcher: newFetcher(t), Stats: st,
		Pipelines: []pipeline.Pipeline{block}, MaxPendingItems: 2, ConcurrentRequests: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		res, _ := e.Run(t.Context())
		done <- res
	}()
	// The first item blocks the pipeline; at most MaxPendingItems items can
	// be pending, so at most that many responses (plus one in flight when
	// the limit was reached) are fetched.
	waitFor(t, func() bool { return stats.Int(st, stats.ResponseReceivedCount) >= 2 })
	settle()
	fetchedWhileBlocked := len(srv.CountByPath("/site/"))
	const maxPending = 2
	close(release)
	res := <-done
	if fetchedWhileBlocked > maxPending+1 {
		t.Fatalf("%d pages fetched while the pipeline was blocked, want <= %d", fetchedWhileBlocked, maxPending+1)
	}
	if res.Reason != engine.ReasonFinished || stats.Int(st, stats.ItemScrapedCount) != 40 {
		t.Fatalf("reason %q, %d items", res.Reason, stats.Int(st, stats.ItemScrapedCount))
	}
}

// TestMaxActiveRequests bounds requests being fetched or processed
// together, as a worker pool would: with ConcurrentRequests 8 and
// MaxActiveRequests 2, never more than 2 callbacks run and never more than 2
// requests reach the server at once.
func TestMaxActiveRequests(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 60, Links: 4})
	var running, maxRunning atomic.Int32
	sp := siteSpider(srv.URL + "/site/0")
	sp.callback = func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			m := maxRunning.Load()
			if n <= m || maxRunning.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(time.Millisecond) // keep the callback busy so overlaps would show
		return parseSite(ctx, resp, out)
	}
	res := mustRun(t, engine.Options{Spider: sp, Fetcher: newFetcher(t), ConcurrentRequests: 8, MaxActiveRequests: 2})
	if res.Reason != engine.ReasonFinished || len(srv.CountByPath("/site/")) != 60 {
		t.Fatalf("reason %q, %d pages", res.Reason, len(srv.CountByPath("/site/")))
	}
	if m := maxRunning.Load(); m > 2 {
		t.Fatalf("%d callbacks ran at once, limit 2", m)
	}
	if m := srv.MaxInFlight(); m > 2 {
		t.Fatalf("server saw %d in flight, limit 2", m)
	}
}

// TestConcurrentItemsKeepOrder: with 8 pipeline workers and pipelines that
// take longer for earlier items, items still reach the feed in emission
// order.
func TestConcurrentItemsKeepOrder(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	sp := &goSpider{
		start: func(context.Context) engine.StartIterator { return startURLs(srv.URL + "/ok") },
		callback: func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
			for i := range 40 {
				out.Item(crawl.NewItem("i", int64(i)))
			}
			return nil
		},
	}
	var inPipeline, maxInPipeline atomic.Int32
	slowFirst := pipeline.Func(func(ctx context.Context, it *crawl.Item) (*crawl.Item, error) {
		n := inPipeline.Add(1)
		defer inPipeline.Add(-1)
		for m := maxInPipeline.Load(); n > m && !maxInPipeline.CompareAndSwap(m, n); m = maxInPipeline.Load() {
		}
		v, _ := it.Get("i")
		// Earlier items take longer: the timing is the behaviour under test.
		time.Sleep(time.Duration(40-v.(int64)) * 100 * time.Microsecond)
		return it, nil
	})
	var out bytes.Buffer
	fd, err := feed.Open(feed.Config{URI: "-", Format: feed.JSONLines}, &out)
	if err != nil {
		t.Fatal(err)
	}
	mustRun(t, engine.Options{Spider: sp, Fetcher: newFetcher(t), Pipelines: []pipeline.Pipeline{slowFirst},
		ConcurrentItems: 8, Feeds: []engine.Exporter{fd}})
	var want strings.Builder
	for i := range 40 {
		fmt.Fprintf(&want, "{\"i\":%d}\n", i)
	}
	if out.String() != want.String() {
		t.Fatalf("feed order:\n%s", out.String())
	}
	if maxInPipeline.Load() < 2 {
		t.Fatalf("pipelines never ran in parallel (max %d)", maxInPipeline.Load())
	}
}
