package redisq

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// TestMaxLeasesBoundsNext: a worker at its lease bound gets nothing from
// Next although the queue is not empty, and the queue is left to the
// others; each Ack frees one place. Concurrent Next calls never overshoot
// the bound (places are reserved before the lease script runs).
func TestMaxLeasesBoundsNext(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	st := stats.NewMemory()
	s, _ := openSched(t, srv, Options{Name: "bound", MaxLeases: 4, Stats: st})
	for i := range 10 {
		mustEnq(t, s, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", i)})
	}
	var (
		mu  sync.Mutex
		got []*crawl.Request
		wg  sync.WaitGroup
	)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := s.Next(ctx)
			if err != nil {
				t.Error(err)
			}
			if r != nil {
				mu.Lock()
				got = append(got, r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(got) != 4 || s.HeldLeases() != 4 {
		t.Fatalf("8 concurrent Next at MaxLeases 4: %d requests, %d leases held; want 4 and 4", len(got), s.HeldLeases())
	}
	if r, err := s.Next(ctx); r != nil || err != nil {
		t.Fatalf("Next at the bound = %v, %v; want nil, nil", r, err)
	}
	if n := s.Client().HLen(ctx, "bound:leases").Val(); n != 4 {
		t.Fatalf("leases in redis = %d, want 4", n)
	}
	if n, _ := s.Len(ctx); n != 6 {
		t.Fatalf("queue = %d, want the other 6 left for other workers", n)
	}
	if err := s.Ack(ctx, got[0]); err != nil {
		t.Fatal(err)
	}
	r, err := s.Next(ctx)
	if err != nil || r == nil {
		t.Fatalf("Next after an ack = %v, %v; want a request", r, err)
	}
	if r, _ := s.Next(ctx); r != nil {
		t.Fatal("Next past the bound after one ack")
	}
	if v, _ := st.Get("redis/max_leases"); v != int64(4) {
		t.Errorf("stat redis/max_leases = %v, want 4", v)
	}
	if v, _ := st.Get("redis/leases_held_max"); v != int64(4) {
		t.Errorf("stat redis/leases_held_max = %v, want 4", v)
	}
	if v, _ := st.Get("redis/lease_bound_reached"); v == nil {
		t.Error("stat redis/lease_bound_reached not counted")
	}
}

// TestMaxLeasesBoundsTaskReadAhead: task entries read ahead are leases
// too. With 3 of 4 places taken by requests, a batch of 10 leases one
// entry; the source then waits (the worker holds leases: it is not idle)
// until a place frees, and goes on at once when one does.
func TestMaxLeasesBoundsTaskReadAhead(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, _ := openSched(t, srv, Options{Name: "ahead", MaxLeases: 4})
	c := s.Client()
	for i := range 3 {
		mustEnq(t, s, &crawl.Request{URL: fmt.Sprintf("http://a.test/q%d", i)})
	}
	var held []*crawl.Request
	for range 3 {
		r, err := s.Next(ctx)
		if err != nil || r == nil {
			t.Fatalf("Next = %v, %v", r, err)
		}
		held = append(held, r)
	}
	for i := range 20 {
		c.RPush(ctx, "ahead:start_urls", fmt.Sprintf("http://a.test/t%d", i))
	}
	ts := s.Tasks(TaskOptions{Keys: []string{"ahead:start_urls"}, BatchSize: 10, MaxIdle: 100 * time.Millisecond, PollInterval: time.Minute})
	first, err := ts.Next(ctx)
	if err != nil || first == nil {
		t.Fatalf("task Next = %v, %v", first, err)
	}
	if n := c.LLen(ctx, "ahead:start_urls").Val(); n != 19 {
		t.Fatalf("%d entries left in the start list, want 19 (one free place, one entry leased)", n)
	}
	if s.HeldLeases() != 4 {
		t.Fatalf("%d leases held, want 4", s.HeldLeases())
	}
	next := make(chan *crawl.Request, 1)
	go func() {
		r, err := ts.Next(ctx)
		if err != nil {
			t.Error(err)
		}
		next <- r
	}()
	select {
	case r := <-next:
		t.Fatalf("the task source read %v past the lease bound", r)
	case <-time.After(300 * time.Millisecond):
	}
	// The first task is queued: its lease ends, and the waiting source
	// reads ahead again at once (not after its minute-long poll).
	mustEnq(t, s, first)
	select {
	case r := <-next:
		if r == nil {
			t.Fatal("task source ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the task source did not go on when a lease place freed")
	}
	if s.HeldLeases() > 4 {
		t.Fatalf("%d leases held, more than MaxLeases 4", s.HeldLeases())
	}
	for _, r := range held {
		if err := s.Ack(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStuckAtBoundIsLogged: a worker at its lease bound whose leases do not
// end (callbacks waiting on queued requests) says so once, and again only
// after a lease ended and it got stuck anew.
func TestStuckAtBoundIsLogged(t *testing.T) {
	defer func(d time.Duration) { boundWarnAfter = d }(boundWarnAfter)
	boundWarnAfter = 50 * time.Millisecond
	srv := redistest.Start(t)
	ctx := context.Background()
	s, logs := openSched(t, srv, Options{Name: "stuck", MaxLeases: 1})
	for i := range 3 {
		mustEnq(t, s, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", i)})
	}
	r, err := s.Next(ctx)
	if err != nil || r == nil {
		t.Fatalf("Next = %v, %v", r, err)
	}
	const msg = "this worker holds its maximum of leases and none has ended for a while"
	waitFor(t, "the warning", 5*time.Second, func() bool {
		if r, _ := s.Next(ctx); r != nil {
			t.Fatal("Next past the bound")
		}
		return strings.Contains(logs.String(), msg)
	})
	for range 5 {
		s.Next(ctx)
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(logs.String(), msg); n != 1 {
		t.Fatalf("warned %d times while stuck once", n)
	}
	if err := s.Ack(ctx, r); err != nil {
		t.Fatal(err)
	}
	if r, _ = s.Next(ctx); r == nil {
		t.Fatal("no request after the ack")
	}
	waitFor(t, "the second warning", 5*time.Second, func() bool {
		s.Next(ctx)
		return strings.Count(logs.String(), msg) == 2
	})
}
