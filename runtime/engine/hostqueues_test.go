package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/diskq"
)

// backlogCase is a frontier whose first 5 000 requests are one polite
// host's, then 500 other hosts' pages.
type backlogCase struct {
	name      string
	scheduler func(t *testing.T) scheduler.Scheduler
	// safety is when the polite host's responses are let go even though
	// the other hosts' pages are not all fetched; cancel ends the crawl
	// then (a starving crawl need not be drained).
	safety time.Duration
	cancel bool
	// politePrio is the priority of the polite host's requests (the
	// others' is 0): above them, only its slot being blocked lets the
	// others through.
	politePrio int
	// asStart gives the frontier as start requests (read lazily) instead
	// of a seed page's output.
	asStart bool
}

type backlogResult struct {
	timedOut          bool
	others, nOthers   int
	politeAtOthers    int
	maxWaiting        int
	politeFetched     int
	perDomain, waitMx int
}

const (
	backlogPolite = 5000
	backlogHosts  = 500
	backlogPages  = 2 // per other host
	backlogWait   = 16
)

func memoryPerSlot(*testing.T) scheduler.Scheduler {
	return scheduler.NewMemory(scheduler.MemoryOptions{SlotKey: downloader.SlotKey})
}

func jobdirPerSlot(t *testing.T) scheduler.Scheduler {
	s, err := diskq.Open(filepath.Join(t.TempDir(), "job"), diskq.Options{Spider: "test", SlotKey: downloader.SlotKey})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestHostQueuesPoliteBacklogDoesNotStarve: with per-slot queues
// (SCHEDULER_PRIORITY_QUEUE's default), a backlog of 5 000 requests of one
// polite host (CONCURRENT_REQUESTS_PER_DOMAIN 1, its responses held by the
// server until every other page has arrived) queued before 500 other
// hosts' 1 000 pages, SCHEDULER_WAITING_MAX 16, memory and JOBDIR
// backends: every other page reaches
// the server while the polite host has had no more than its one request
// (counted server-side, not timed), no host ever serves more requests at
// once than its concurrency, at most 16 requests wait in the engine, and
// every page is fetched exactly once. Also with the polite host's
// requests at a higher priority than the others': its slot is passed
// over while blocked; and with the frontier as start requests, which the
// engine reads lazily (more of them while every queued request is of a
// blocked slot). TestHostQueuesGlobalQueueStarves
// is the same crawl with the one global queue.
func TestHostQueuesPoliteBacklogDoesNotStarve(t *testing.T) {
	if testing.Short() {
		t.Skip("crawls 6 000 pages, 5 000 of them one at a time")
	}
	for _, c := range []backlogCase{
		{name: "memory", scheduler: memoryPerSlot, safety: time.Minute},
		{name: "memory/polite-first", scheduler: memoryPerSlot, safety: time.Minute, politePrio: 1},
		{name: "memory/start-requests", scheduler: memoryPerSlot, safety: time.Minute, asStart: true},
		{name: "jobdir", scheduler: jobdirPerSlot, safety: time.Minute},
		{name: "jobdir/polite-first", scheduler: jobdirPerSlot, safety: time.Minute, politePrio: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runBacklogCrawl(t, c)
			if r.timedOut {
				t.Fatalf("only %d of the %d other pages were fetched while the polite host's backlog waited: its backlog starved them", r.others, r.nOthers)
			}
			if r.politeAtOthers > r.perDomain {
				t.Errorf("the polite host had received %d requests when the last other page arrived; its concurrency is %d", r.politeAtOthers, r.perDomain)
			}
			if r.maxWaiting > r.waitMx {
				t.Errorf("%d requests waited at once, more than SCHEDULER_WAITING_MAX %d", r.maxWaiting, r.waitMx)
			}
		})
	}
}

// TestHostQueuesGlobalQueueStarves is the crawl above with one global
// queue (ScrapyPriorityQueue): the polite host's backlog fills the waiting
// layer, the engine stops taking requests, and no other page is fetched
// until the polite host's responses are let go. It shows what the per-slot
// queues are for, and that the test above would see their absence.
func TestHostQueuesGlobalQueueStarves(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 3 s for each starving crawl")
	}
	// Starving, the crawl fetches no other page however long it waits:
	// 3 s is only how long the test looks.
	for _, c := range []backlogCase{
		{name: "memory", scheduler: func(*testing.T) scheduler.Scheduler { return scheduler.NewMemory(scheduler.MemoryOptions{}) }},
		{name: "jobdir", scheduler: func(t *testing.T) scheduler.Scheduler {
			s, err := diskq.Open(filepath.Join(t.TempDir(), "job"), diskq.Options{Spider: "test"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.safety, c.cancel = 3*time.Second, true
			r := runBacklogCrawl(t, c)
			if !r.timedOut || r.others != 0 {
				t.Fatalf("with one global queue %d of %d other pages were fetched behind the polite host's backlog", r.others, r.nOthers)
			}
			t.Logf("one global queue: %d of %d other pages before the polite host's responses were let go", r.others, r.nOthers)
		})
	}
}

func runBacklogCrawl(t *testing.T, c backlogCase) backlogResult {
	const perDomain = 1
	nOthers := backlogHosts * backlogPages
	srv, port := newHostsServer(t, "polite.test", nOthers, c.safety, 0)
	dl, err := downloader.New(downloader.Options{
		ConcurrentPerDomain: perDomain,
		HTTP:                downloader.HTTPOptions{Resolver: loopbackResolver{}, MaxIdleConnsPerHost: perDomain},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dl.Close() })

	u := func(host, path string) string { return fmt.Sprintf("http://%s:%d%s", host, port, path) }
	var frontier []*crawl.Request
	for i := range backlogPolite {
		frontier = append(frontier, &crawl.Request{URL: u("polite.test", fmt.Sprintf("/a/%d", i)), Priority: c.politePrio})
	}
	for p := range backlogPages {
		for h := range backlogHosts {
			frontier = append(frontier, &crawl.Request{URL: u(fmt.Sprintf("h%d.test", h), fmt.Sprintf("/p/%d", p))})
		}
	}
	var mu sync.Mutex
	got := map[string]int{}
	seed := u("seed.test", "/")
	sp := &goSpider{
		start: func(context.Context) engine.StartIterator {
			if c.asStart {
				urls := []string{seed}
				for _, r := range frontier {
					urls = append(urls, r.URL)
				}
				return startURLs(urls...)
			}
			return startURLs(seed)
		},
		callback: func(_ context.Context, resp *crawl.Response, out engine.Output) error {
			mu.Lock()
			got[resp.URL]++
			mu.Unlock()
			if resp.URL == seed && !c.asStart {
				for _, r := range frontier {
					out.Request(r)
				}
			}
			return nil
		},
	}
	e, err := engine.New(engine.Options{
		Spider: sp,
		Fetcher: engine.FetcherFunc(func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
			resp, err := dl.Download(ctx, r)
			return resp, nil, err
		}),
		Scheduler:          c.scheduler(t),
		ConcurrentRequests: 16,
		Slots:              dl,
		MaxWaiting:         backlogWait,
		ShutdownGrace:      time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if c.cancel {
		stopAt := time.AfterFunc(c.safety, cancel)
		defer stopAt.Stop()
	}
	stop := make(chan struct{})
	sampled := make(chan int)
	go func() {
		m := 0
		for {
			m = max(m, e.Progress().Waiting)
			select {
			case <-stop:
				sampled <- m
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	res, err := e.Run(ctx)
	close(stop)
	maxWaiting := <-sampled
	if err != nil && !c.cancel {
		t.Fatal(err)
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	r := backlogResult{timedOut: srv.timedOut, others: srv.fastAtTimeout, nOthers: nOthers, politeAtOthers: srv.slowAtFast,
		maxWaiting: maxWaiting, politeFetched: len(srv.arrivals["polite.test"]), perDomain: perDomain, waitMx: backlogWait}
	if c.cancel {
		return r
	}
	if res.Reason != engine.ReasonFinished {
		t.Fatalf("reason %q", res.Reason)
	}
	for _, q := range append(frontier, &crawl.Request{URL: seed}) {
		pu, _ := q.ParsedURL()
		if n := srv.hits[pu.Hostname()+pu.Path]; n != 1 {
			t.Errorf("%s reached the server %d times", q.URL, n)
		}
		if got[q.URL] != 1 {
			t.Errorf("%s reached its callback %d times", q.URL, got[q.URL])
		}
	}
	for host, n := range srv.maxInflight {
		if n > perDomain {
			t.Errorf("%s served %d requests at once, more than CONCURRENT_REQUESTS_PER_DOMAIN %d", host, n, perDomain)
		}
	}
	t.Logf("%s: the polite host had %d requests when the %d other pages were done; at most %d waiting in the engine",
		c.name, srv.slowAtFast, nOthers, maxWaiting)
	return r
}
