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
)

// waitingSpider's parent callbacks emit child requests and then wait for
// the children's results, like a JS generator awaiting ResultHolders.
// Stalled reports a waiting parent while no child callback runs (the view a
// JS event loop has when it is idle).
type waitingSpider struct {
	goSpider
	mu       sync.Mutex
	waiting  int // parents waiting
	expected int // child results not yet read by their parent
	children int // child callbacks running
	results  map[string]chan string
}

func (s *waitingSpider) Stalled() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A result delivered but not yet read by its parent is progress, not a
	// stall (the parent's goroutine is about to run).
	for _, ch := range s.results {
		if len(ch) > 0 {
			return nil
		}
	}
	if s.waiting > 0 && s.expected > 0 && s.children == 0 {
		return []string{fmt.Sprintf("%d parent callbacks waiting on child results (expected %d, children %d)", s.waiting, s.expected, s.children)}
	}
	return nil
}

// TestMaxActiveRequestsDoesNotDeadlockWaiters: with MaxActiveRequests 2,
// two parents each waiting on 4 children fill every active place; the
// engine must raise the bound for the children instead of hanging (or
// closing as stalled, since the children can still run).
func TestMaxActiveRequestsDoesNotDeadlockWaiters(t *testing.T) {
	srv := runWaiters(t, engine.Options{ConcurrentRequests: 2, MaxActiveRequests: 2})
	if n := srv.Count("/site/2"); n != 2 {
		t.Errorf("/site/2 fetched %d times, want once per parent", n)
	}
}

// runWaiters crawls two waiting parents with the given bounds and fails
// unless the crawl finishes with both parents' items.
func runWaiters(t *testing.T, opts engine.Options) *fixture.Server {
	t.Helper()
	srv := fixture.New(t, fixture.Options{Pages: 20})
	sp := &waitingSpider{results: map[string]chan string{}}
	sp.start = func(ctx context.Context) engine.StartIterator {
		return startURLs(srv.URL+"/site/0", srv.URL+"/site/1")
	}
	sp.callback = waitingCallback(sp, srv.URL)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	opts.Spider, opts.Fetcher, opts.PollInterval = sp, newFetcher(t), 20*time.Millisecond
	e, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != engine.ReasonFinished || res.Stats["item_scraped_count"] != int64(2) {
		t.Fatalf("reason %q (waiting: %v), items %v; want finished with 2 items (the bounds must not deadlock waiting callbacks)",
			res.Reason, res.Stalled, res.Stats["item_scraped_count"])
	}
	return srv
}

// TestMaxActiveSizeDoesNotDeadlockWaiters: the same waiting parents with a
// byte bound smaller than one page instead of a request bound.
func TestMaxActiveSizeDoesNotDeadlockWaiters(t *testing.T) {
	runWaiters(t, engine.Options{ConcurrentRequests: 2, MaxActiveSize: 100})
}

// waitingCallback: a parent page emits 4 child requests and waits for their
// callbacks to report; a child reports to its parent.
func waitingCallback(sp *waitingSpider, base string) func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	return func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
		if parent, ok := resp.Request.Meta["parent"].(string); ok {
			sp.mu.Lock()
			sp.children++
			ch := sp.results[parent]
			sp.mu.Unlock()
			ch <- resp.URL
			sp.mu.Lock()
			sp.children--
			sp.mu.Unlock()
			return nil
		}
		ch := make(chan string, 4)
		sp.mu.Lock()
		sp.results[resp.URL] = ch
		sp.expected += 4
		sp.mu.Unlock()
		for i := 0; i < 4; i++ {
			child := &crawl.Request{URL: fmt.Sprintf("%s/site/%d?from=%s", base, 2+i, resp.URL[len(resp.URL)-1:])}
			child.SetMeta("parent", resp.URL)
			out.Request(child)
		}
		sp.mu.Lock()
		sp.waiting++
		sp.mu.Unlock()
		got := 0
		for got < 4 {
			select {
			case <-ch:
				got++
				sp.mu.Lock()
				sp.expected--
				sp.mu.Unlock()
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		sp.mu.Lock()
		sp.waiting--
		sp.mu.Unlock()
		out.Item(crawl.NewItem("parent", resp.URL, "children", int64(got)))
		return nil
	}
}
