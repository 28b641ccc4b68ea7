// Package schedulertest is the conformance suite every scheduler.Scheduler
// backend must pass (memory, disk, Redis). A backend's test calls Run with a
// constructor that returns a fresh, empty, unopened scheduler:
//
//	func TestConformance(t *testing.T) {
//		schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler {
//			return redisq.New(redisq.Options{URL: srv.URL(t), Key: t.Name()})
//		})
//	}
//
// Backends that persist their queue across Close/Open also run RunPersistent.
package schedulertest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// Run runs the conformance suite. newScheduler must return a new, empty
// scheduler each time; Run opens and closes it.
func Run(t *testing.T, newScheduler func(t *testing.T) scheduler.Scheduler) {
	t.Helper()
	open := func(t *testing.T) scheduler.Scheduler {
		t.Helper()
		s := newScheduler(t)
		if err := s.Open(ctx(t)); err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background(), "finished") })
		return s
	}
	runBatch(t, open)
	t.Run("EmptyNext", func(t *testing.T) {
		s := open(t)
		r, err := s.Next(ctx(t))
		if err != nil || r != nil {
			t.Fatalf("Next on empty = %v, %v; want nil, nil", r, err)
		}
		if n := mustLen(t, s); n != 0 {
			t.Fatalf("Len on empty = %d", n)
		}
	})
	t.Run("FIFOWithinPriority", func(t *testing.T) {
		s := open(t)
		var want []string
		for i := range 20 {
			u := fmt.Sprintf("http://a.test/p/%d", i)
			want = append(want, u)
			mustEnqueue(t, s, &crawl.Request{URL: u}, true)
		}
		if got := drain(t, s); !slices.Equal(got, want) {
			t.Fatalf("order = %v\nwant %v", got, want)
		}
	})
	t.Run("Priorities", func(t *testing.T) {
		s := open(t)
		in := []struct {
			url  string
			prio int
		}{
			{"http://a.test/low1", -5}, {"http://a.test/mid1", 0}, {"http://a.test/high1", 10},
			{"http://a.test/mid2", 0}, {"http://a.test/low2", -5}, {"http://a.test/high2", 10},
			{"http://a.test/top", 100},
		}
		for _, r := range in {
			mustEnqueue(t, s, &crawl.Request{URL: r.url, Priority: r.prio}, true)
		}
		want := []string{"http://a.test/top", "http://a.test/high1", "http://a.test/high2",
			"http://a.test/mid1", "http://a.test/mid2", "http://a.test/low1", "http://a.test/low2"}
		if got := drain(t, s); !slices.Equal(got, want) {
			t.Fatalf("order = %v\nwant %v", got, want)
		}
	})
	t.Run("InterleavedEnqueueNext", func(t *testing.T) {
		s := open(t)
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/1"}, true)
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/2"}, true)
		if got := mustNext(t, s); got.URL != "http://a.test/1" {
			t.Fatalf("first = %s", got.URL)
		}
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/3", Priority: 1}, true)
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/4"}, true)
		want := []string{"http://a.test/3", "http://a.test/2", "http://a.test/4"}
		if got := drain(t, s); !slices.Equal(got, want) {
			t.Fatalf("order = %v, want %v", got, want)
		}
	})
	t.Run("Dupefilter", func(t *testing.T) {
		cases := []struct {
			name      string
			first     *crawl.Request
			second    *crawl.Request
			duplicate bool
		}{
			{"same url", &crawl.Request{URL: "http://a.test/x"}, &crawl.Request{URL: "http://a.test/x"}, true},
			{"fragment dropped", &crawl.Request{URL: "http://a.test/x#a"}, &crawl.Request{URL: "http://a.test/x#b"}, true},
			{"query sorted", &crawl.Request{URL: "http://a.test/x?b=2&a=1"}, &crawl.Request{URL: "http://a.test/x?a=1&b=2"}, true},
			{"host case", &crawl.Request{URL: "http://A.TEST/x"}, &crawl.Request{URL: "http://a.test/x"}, true},
			{"explicit GET", &crawl.Request{URL: "http://a.test/x"}, &crawl.Request{URL: "http://a.test/x", Method: "GET"}, true},
			{"headers ignored", &crawl.Request{URL: "http://a.test/x"}, &crawl.Request{URL: "http://a.test/x", Headers: crawl.Headers{{Name: "X", Value: "1"}}}, true},
			{"different path", &crawl.Request{URL: "http://a.test/x"}, &crawl.Request{URL: "http://a.test/y"}, false},
			{"different method", &crawl.Request{URL: "http://a.test/x"}, &crawl.Request{URL: "http://a.test/x", Method: "POST"}, false},
			{"different body", &crawl.Request{URL: "http://a.test/x", Method: "POST", Body: []byte("a=1")}, &crawl.Request{URL: "http://a.test/x", Method: "POST", Body: []byte("a=2")}, false},
			{"path case matters", &crawl.Request{URL: "http://a.test/X"}, &crawl.Request{URL: "http://a.test/x"}, false},
			{"dont_filter", &crawl.Request{URL: "http://a.test/x"}, &crawl.Request{URL: "http://a.test/x", DontFilter: true}, false},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				s := open(t)
				mustEnqueue(t, s, c.first, true)
				mustEnqueue(t, s, c.second, !c.duplicate)
				want := 2
				if c.duplicate {
					want = 1
				}
				if n := mustLen(t, s); n != want {
					t.Fatalf("Len = %d, want %d", n, want)
				}
			})
		}
	})
	t.Run("SeenAfterDequeue", func(t *testing.T) {
		// The dupefilter remembers fetched requests, not only pending ones.
		s := open(t)
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/x"}, true)
		mustNext(t, s)
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/x"}, false)
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/x", DontFilter: true}, true)
		if n := mustLen(t, s); n != 1 {
			t.Fatalf("Len = %d, want 1", n)
		}
	})
	t.Run("DontFilterTwice", func(t *testing.T) {
		s := open(t)
		for range 3 {
			mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/x", DontFilter: true}, true)
		}
		if got := drain(t, s); len(got) != 3 {
			t.Fatalf("got %d requests, want 3", len(got))
		}
	})
	t.Run("RoundTripFields", func(t *testing.T) {
		s := open(t)
		retries := 3
		in := &crawl.Request{
			URL: "http://a.test/form?q=1", Method: "POST",
			Headers:  crawl.Headers{{Name: "X-B", Value: "2"}, {Name: "X-A", Value: "1"}},
			Body:     []byte("a=1&b=2"),
			Cookies:  []crawl.Cookie{{Name: "c", Value: "v"}},
			Meta:     map[string]any{"k": "v"},
			CbKwargs: map[string]any{"kind": "quote"},
			Priority: 7, Callback: "parse_item", Errback: "on_error", SessionID: "s1",
			MaxRetryTimes: &retries, Depth: 4, Start: true, DescText: "d",
		}
		mustEnqueue(t, s, in, true)
		got := mustNext(t, s)
		checks := []struct {
			name      string
			got, want any
		}{
			{"url", got.URL, in.URL}, {"method", got.Method, in.Method},
			{"headers", fmt.Sprint(got.Headers), fmt.Sprint(in.Headers)},
			{"body", string(got.Body), string(in.Body)},
			{"cookies", fmt.Sprint(got.Cookies), fmt.Sprint(in.Cookies)},
			{"meta", fmt.Sprint(got.Meta), fmt.Sprint(in.Meta)},
			{"cb_kwargs", fmt.Sprint(got.CbKwargs), fmt.Sprint(in.CbKwargs)},
			{"priority", got.Priority, in.Priority}, {"callback", got.Callback, in.Callback},
			{"errback", got.Errback, in.Errback}, {"session_id", got.SessionID, in.SessionID},
			{"depth", got.Depth, in.Depth}, {"start", got.Start, in.Start},
			{"desc_text", got.DescText, in.DescText},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		if got.MaxRetryTimes == nil || *got.MaxRetryTimes != 3 {
			t.Errorf("max_retry_times = %v, want 3", got.MaxRetryTimes)
		}
		if err := s.Ack(ctx(t), got); err != nil {
			t.Fatalf("Ack: %v", err)
		}
	})
	t.Run("AckAndLen", func(t *testing.T) {
		s := open(t)
		for i := range 5 {
			mustEnqueue(t, s, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", i)}, true)
		}
		var got []*crawl.Request
		for range 3 {
			got = append(got, mustNext(t, s))
		}
		// Len counts pending requests only, leased ones are not pending.
		if n := mustLen(t, s); n != 2 {
			t.Fatalf("Len after 3 Next = %d, want 2", n)
		}
		for _, r := range got {
			if err := s.Ack(ctx(t), r); err != nil {
				t.Fatalf("Ack(%s): %v", r.URL, err)
			}
		}
		if n := mustLen(t, s); n != 2 {
			t.Fatalf("Len after Ack = %d, want 2", n)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		// 8 producers enqueue overlapping URL sets while 4 consumers pull:
		// every unique URL comes out exactly once.
		s := open(t)
		const producers, unique = 8, 300
		var wg sync.WaitGroup
		for p := range producers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range unique {
					u := fmt.Sprintf("http://a.test/%d", (i+p*37)%unique)
					if _, err := s.Enqueue(context.Background(), &crawl.Request{URL: u, Priority: i % 3}); err != nil {
						t.Errorf("Enqueue: %v", err)
						return
					}
				}
			}()
		}
		var mu sync.Mutex
		seen := map[string]int{}
		done := make(chan struct{})
		var cwg sync.WaitGroup
		for range 4 {
			cwg.Add(1)
			go func() {
				defer cwg.Done()
				for {
					r, err := s.Next(context.Background())
					if err != nil {
						t.Errorf("Next: %v", err)
						return
					}
					if r == nil {
						select {
						case <-done:
							return
						default:
							time.Sleep(time.Millisecond)
							continue
						}
					}
					if err := s.Ack(context.Background(), r); err != nil {
						t.Errorf("Ack: %v", err)
					}
					mu.Lock()
					seen[r.URL]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(done)
		cwg.Wait()
		for _, r := range drain(t, s) {
			seen[r]++
		}
		if len(seen) != unique {
			t.Fatalf("got %d unique URLs, want %d", len(seen), unique)
		}
		for u, n := range seen {
			if n != 1 {
				t.Fatalf("%s dequeued %d times", u, n)
			}
		}
	})
}

// RunPersistent checks the persistence semantics of a backend that keeps its
// queue and dupefilter across Close and a new Open (SCHEDULER_PERSIST, a
// JOBDIR, Redis). reopen returns a new scheduler on the same storage each
// time it is called within one subtest.
func RunPersistent(t *testing.T, newStorage func(t *testing.T) (reopen func() scheduler.Scheduler)) {
	t.Helper()
	t.Run("QueueAndDupefilterSurviveClose", func(t *testing.T) {
		reopen := newStorage(t)
		s := reopen()
		if err := s.Open(ctx(t)); err != nil {
			t.Fatalf("Open: %v", err)
		}
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/1"}, true)
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/2", Priority: 5}, true)
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/3"}, true)
		first := mustNext(t, s)
		if err := s.Ack(ctx(t), first); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		if err := s.Close(ctx(t), "shutdown"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		s = reopen()
		if err := s.Open(ctx(t)); err != nil {
			t.Fatalf("reopen: %v", err)
		}
		t.Cleanup(func() { _ = s.Close(context.Background(), "finished") })
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/2"}, false)
		want := []string{"http://a.test/1", "http://a.test/3"}
		if got := drain(t, s); !slices.Equal(got, want) {
			t.Fatalf("after reopen = %v, want %v", got, want)
		}
	})
}

func ctx(t *testing.T) context.Context { return t.Context() }

func mustEnqueue(t *testing.T, s scheduler.Scheduler, r *crawl.Request, want bool) {
	t.Helper()
	ok, err := s.Enqueue(ctx(t), r)
	if err != nil {
		t.Fatalf("Enqueue(%s): %v", r.URL, err)
	}
	if ok != want {
		t.Fatalf("Enqueue(%s %s dont_filter=%v) = %v, want %v", r.GetMethod(), r.URL, r.DontFilter, ok, want)
	}
}

func mustNext(t *testing.T, s scheduler.Scheduler) *crawl.Request {
	t.Helper()
	r, err := s.Next(ctx(t))
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if r == nil {
		t.Fatal("Next: queue unexpectedly empty")
	}
	return r
}

func mustLen(t *testing.T, s scheduler.Scheduler) int {
	t.Helper()
	n, err := s.Len(ctx(t))
	if err != nil {
		t.Fatalf("Len: %v", err)
	}
	return n
}

// drain pulls (and acks) every pending request and returns their URLs.
func drain(t *testing.T, s scheduler.Scheduler) []string {
	t.Helper()
	var out []string
	for {
		r, err := s.Next(ctx(t))
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if r == nil {
			return out
		}
		if err := s.Ack(ctx(t), r); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		out = append(out, r.URL)
	}
}
