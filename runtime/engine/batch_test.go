package engine_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// batchScheduler is the memory scheduler with scheduler.BatchEnqueuer: it
// records each batch and each ack, in the order they happen.
type batchScheduler struct {
	*scheduler.Memory
	mu      sync.Mutex
	log     []string // "batch N" or "ack URL"
	batches int
	single  int
	batchOf map[*crawl.Request]int // request -> index of the log entry of its batch
	ackAt   map[string]int         // request URL -> index of its ack
}

func newBatchScheduler() *batchScheduler {
	return &batchScheduler{Memory: scheduler.NewMemory(scheduler.MemoryOptions{}),
		batchOf: map[*crawl.Request]int{}, ackAt: map[string]int{}}
}

func (s *batchScheduler) Enqueue(ctx context.Context, r *crawl.Request) (bool, error) {
	s.mu.Lock()
	s.single++
	s.mu.Unlock()
	return s.Memory.Enqueue(ctx, r)
}

func (s *batchScheduler) EnqueueBatch(ctx context.Context, reqs []*crawl.Request) []scheduler.Enqueued {
	s.mu.Lock()
	s.batches++
	s.log = append(s.log, fmt.Sprintf("batch %d", len(reqs)))
	for _, r := range reqs {
		s.batchOf[r] = len(s.log) - 1
	}
	s.mu.Unlock()
	out := make([]scheduler.Enqueued, len(reqs))
	for i, r := range reqs {
		out[i].Added, out[i].Err = s.Memory.Enqueue(ctx, r)
	}
	return out
}

func (s *batchScheduler) Ack(ctx context.Context, r *crawl.Request) error {
	s.mu.Lock()
	s.log = append(s.log, "ack "+r.URL)
	s.ackAt[r.URL] = len(s.log) - 1
	s.mu.Unlock()
	return s.Memory.Ack(ctx, r)
}

// With a scheduler that enqueues in batches, the engine hands it each
// callback's requests in one call, before that request's ack (so a kill
// between the two never loses a page's links), and the crawl is the same as
// one request at a time: every page once, the signals of every request.
func TestCallbackRequestsEnqueuedInOneBatchBeforeAck(t *testing.T) {
	// A callback slowed past the batch delay by a loaded machine would send
	// its requests in two batches: not what is counted here.
	engine.SetBatchDelay(t, time.Minute)
	const pages = 300
	srv := fixture.New(t, fixture.Options{Pages: pages, Links: 10})
	s := newBatchScheduler()
	rec := &recorder{}
	var mu sync.Mutex
	emitted := map[string][]*crawl.Request{} // page -> links its callback emitted
	sp := siteSpider(srv.URL + "/site/0")
	sp.callback = func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
		return parseSite(ctx, resp, &spyOutput{Output: out, emit: func(r *crawl.Request) {
			mu.Lock()
			emitted[resp.URL] = append(emitted[resp.URL], r)
			mu.Unlock()
		}})
	}
	sig := engine.NewSignals()
	sig.Connect(rec.add)
	res := mustRun(t, engine.Options{Spider: sp, Fetcher: newFetcher(t), Scheduler: s, ConcurrentRequests: 8, Signals: sig})
	if res.Reason != engine.ReasonFinished {
		t.Fatalf("reason %q", res.Reason)
	}
	counts := srv.CountByPath("/site/")
	if len(counts) != pages {
		t.Fatalf("%d pages fetched, want %d", len(counts), pages)
	}
	for p, n := range counts {
		if n != 1 {
			t.Fatalf("%s fetched %d times", p, n)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.single != 1 {
		t.Errorf("%d requests enqueued one by one, want only the start request", s.single)
	}
	if s.batches != pages {
		t.Errorf("%d batches for %d callbacks, want one each", s.batches, pages)
	}
	total := 0
	for page, links := range emitted {
		total += len(links)
		ack, ok := s.ackAt[page]
		if !ok {
			t.Fatalf("%s never acknowledged", page)
		}
		for _, l := range links {
			if b, ok := s.batchOf[l]; !ok || b > ack {
				t.Fatalf("a link of %s went to the scheduler after the page's ack (log %d > ack %d)", page, b, ack)
			}
		}
	}
	if n := rec.count(engine.RequestScheduled); n != total+1 {
		t.Errorf("%d request_scheduled, want %d", n, total+1)
	}
	if n := rec.count(engine.RequestDropped); n != total+1-pages {
		t.Errorf("%d request_dropped, want %d (duplicates)", n, total+1-pages)
	}
}

// A callback that keeps running does not hold back the requests it
// emitted: they are sent within the batch delay.
func TestLongCallbackRequestsSentBeforeItReturns(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 3, Links: 0})
	s := newBatchScheduler()
	release := make(chan struct{})
	sp := siteSpider(srv.URL + "/site/0")
	sp.callback = func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
		if resp.URL != srv.URL+"/site/0" {
			return nil
		}
		out.Request(&crawl.Request{URL: srv.URL + "/site/1"})
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		mustRun(t, engine.Options{Spider: sp, Fetcher: newFetcher(t), Scheduler: s, ConcurrentRequests: 2})
	}()
	waitFor(t, func() bool { return srv.CountByPath("/site/")["/site/1"] == 1 })
	close(release)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("crawl did not end")
	}
}

type spyOutput struct {
	engine.Output
	emit func(*crawl.Request)
}

func (o *spyOutput) Request(r *crawl.Request) {
	o.emit(r)
	o.Output.Request(r)
}
