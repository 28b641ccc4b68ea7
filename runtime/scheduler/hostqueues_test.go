package scheduler_test

import (
	"fmt"
	"net/url"
	"slices"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/schedulertest"
)

// hostKey is the downloader's default slot key (its host name) without
// importing the downloader.
func hostKey(r *crawl.Request) string {
	u, err := url.Parse(r.URL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func newPerSlot() *scheduler.Memory {
	return scheduler.NewMemory(scheduler.MemoryOptions{SlotKey: hostKey})
}

// TestMemoryPerSlotConformance: per-slot queues keep every guarantee of
// the one queue (the suite's requests are of one host, where both orders
// are the same).
func TestMemoryPerSlotConformance(t *testing.T) {
	schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler { return newPerSlot() })
}

// view is a SlotView of fixed answers.
type view struct {
	blocked map[string]bool
	active  map[string]int
}

func (v view) Blocked(key string) bool { return v.blocked[key] }
func (v view) Active(key string) int   { return v.active[key] }

func enqueueAll(t *testing.T, s scheduler.Scheduler, reqs ...*crawl.Request) {
	t.Helper()
	for _, r := range reqs {
		if ok, err := s.Enqueue(t.Context(), r); err != nil || !ok {
			t.Fatalf("Enqueue %s = %v, %v", r.URL, ok, err)
		}
	}
}

func takeHost(t *testing.T, s scheduler.HostNexter, v scheduler.SlotView) string {
	t.Helper()
	r, err := s.NextHost(t.Context(), v)
	if err != nil {
		t.Fatal(err)
	}
	if r == nil {
		return ""
	}
	return r.URL
}

// TestMemoryPerSlotOrder pins HostNexter's rule: the highest priority
// among unblocked slots' heads, then the fewest active downloads, then
// round-robin; within a slot priority then FIFO; a blocked slot is
// skipped, even with the highest priority, and nothing comes out when
// every slot with requests is blocked.
func TestMemoryPerSlotOrder(t *testing.T) {
	s := newPerSlot()
	// a.test: a backlog queued first; b.test and c.test after it.
	for i := range 4 {
		enqueueAll(t, s, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", i)})
	}
	enqueueAll(t, s,
		&crawl.Request{URL: "http://b.test/0"}, &crawl.Request{URL: "http://b.test/1"},
		&crawl.Request{URL: "http://c.test/0"}, &crawl.Request{URL: "http://c.test/hi", Priority: 5},
	)
	none := view{}
	steps := []struct {
		v    scheduler.SlotView
		want string
	}{
		// c's head is c/hi (priority 5): it goes first, whatever the order.
		{none, "http://c.test/hi"},
		// Priority 0 everywhere: round-robin from the first slot queued.
		{none, "http://a.test/0"},
		{none, "http://b.test/0"},
		{none, "http://c.test/0"},
		{none, "http://a.test/1"},
		// a is blocked: b, though b was served after a.
		{view{blocked: map[string]bool{"a.test": true}}, "http://b.test/1"},
		// Only a is left; blocked, nothing comes out.
		{view{blocked: map[string]bool{"a.test": true}}, ""},
		{view{active: map[string]int{"a.test": 3}}, "http://a.test/2"},
	}
	for i, st := range steps {
		if got := takeHost(t, s, st.v); got != st.want {
			t.Fatalf("step %d: got %q, want %q", i, got, st.want)
		}
	}
	if n, _ := s.Len(t.Context()); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}

	// Fewest active downloads decide among equal priorities; round-robin
	// among equal counts.
	s = newPerSlot()
	for _, h := range []string{"a", "b", "c", "d"} {
		for i := range 3 {
			enqueueAll(t, s, &crawl.Request{URL: fmt.Sprintf("http://%s.test/%d", h, i)})
		}
	}
	busy := view{active: map[string]int{"a.test": 2, "b.test": 1, "c.test": 1, "d.test": 3}}
	var got []string
	for range 3 {
		got = append(got, takeHost(t, s, busy))
	}
	want := []string{"http://b.test/0", "http://c.test/0", "http://b.test/1"}
	if !slices.Equal(got, want) {
		t.Fatalf("with active counts %v: %v, want %v", busy.active, got, want)
	}
	// A slot whose head priority rises joins the higher level.
	enqueueAll(t, s, &crawl.Request{URL: "http://d.test/urgent", Priority: 1})
	if got := takeHost(t, s, busy); got != "http://d.test/urgent" {
		t.Fatalf("after d's priority 1 request: %q", got)
	}
}

// TestMemoryPerSlotNoStarvation: 5 000 requests of one slot queued before
// 500 others' come out interleaved (plain Next, nothing blocked): each
// other slot's request within the first 1 000 taken, where the global
// queue gives all 5 000 first.
func TestMemoryPerSlotNoStarvation(t *testing.T) {
	for _, perSlot := range []bool{true, false} {
		var s *scheduler.Memory
		if perSlot {
			s = newPerSlot()
		} else {
			s = scheduler.NewMemory(scheduler.MemoryOptions{})
		}
		for i := range 5000 {
			enqueueAll(t, s, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", i)})
		}
		for h := range 500 {
			enqueueAll(t, s, &crawl.Request{URL: fmt.Sprintf("http://h%d.test/", h)})
		}
		others := 0
		for range 1000 {
			r, err := s.Next(t.Context())
			if err != nil || r == nil {
				t.Fatal(r, err)
			}
			if hostKey(r) != "a.test" {
				others++
			}
		}
		switch {
		case perSlot && others != 500:
			t.Errorf("per slot: %d of the 500 other slots' requests in the first 1 000, want all", others)
		case !perSlot && others != 0:
			t.Errorf("one queue: %d other slots' requests in the first 1 000, want none (FIFO)", others)
		}
	}
}
