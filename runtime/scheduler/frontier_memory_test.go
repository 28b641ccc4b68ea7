package scheduler_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// frontierPending is how many requests TestFrontierMemory keeps pending:
// enough that the per-request cost dominates the heap's fixed overheads
// (so the ceiling below can fail), small enough for CI under -race.
const frontierPending = 300_000

// heapPerPendingCeiling is the frontier's budget in live heap per pending
// request, queue and dupefilter together. Issue #21's target is 400 B of
// RSS per pending request in memory mode; the Go heap reaches about twice
// its live size between collections at GOGC=100 (RSS ≈ 2 × live heap,
// measured in the issue), so 400 B of RSS is 200 B of live heap. A request
// kept whole costs over 600 B (a 416-byte Request, its headers slice, its
// URL and Referer strings), so this fails as soon as the packing is lost.
const heapPerPendingCeiling = 200

// crawlLikeRequest is a request as a callback's response.follow makes it
// on a broad crawl (page/N links to ten new pages), after the Referer
// spider middleware: Parent is the page URL, shared by its ten links, and
// the Referer header an equal string of its own (referer.go builds it with
// url.URL.String).
func crawlLikeRequest(i int, parent string) *crawl.Request {
	return &crawl.Request{
		URL:      fmt.Sprintf("http://127.0.0.1:38211/page/%d", i),
		Headers:  crawl.Headers{{Name: "Referer", Value: strings.Clone(parent)}},
		Callback: "parse",
		Depth:    1 + i/100_000,
		Parent:   parent,
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC() // the second cycle frees what the first one's finalizers released
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestFrontierMemory fills the memory scheduler with a broad crawl's
// pending requests and checks the live heap they cost (queue and
// dupefilter, after a GC) against heapPerPendingCeiling, then that every
// request comes back equal to what was enqueued, in order.
func TestFrontierMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a frontier of 300 000 requests")
	}
	s := scheduler.NewMemory(scheduler.MemoryOptions{})
	before := liveHeap()
	parent := ""
	for i := range frontierPending {
		if i%10 == 0 {
			parent = fmt.Sprintf("http://127.0.0.1:38211/page/%d", i/10)
		}
		if ok, err := s.Enqueue(t.Context(), crawlLikeRequest(i, parent)); err != nil || !ok {
			t.Fatalf("Enqueue %d = %v, %v", i, ok, err)
		}
	}
	after := liveHeap()
	per := float64(int64(after)-int64(before)) / frontierPending
	t.Logf("%d pending requests: %.1f MiB of live heap, %.0f B per pending request (ceiling %d B)",
		frontierPending, float64(after-before)/(1<<20), per, heapPerPendingCeiling)
	if per > heapPerPendingCeiling {
		t.Errorf("the frontier costs %.0f B of live heap per pending request, over the %d B ceiling (400 B of RSS)", per, heapPerPendingCeiling)
	}
	for i := range frontierPending {
		r, err := s.Next(t.Context())
		if err != nil || r == nil {
			t.Fatalf("Next %d = %v, %v", i, r, err)
		}
		want := crawlLikeRequest(i, fmt.Sprintf("http://127.0.0.1:38211/page/%d", i/10))
		if r.URL != want.URL || r.Parent != want.Parent || r.Callback != want.Callback ||
			r.Depth != want.Depth || len(r.Headers) != 1 || r.Headers[0] != want.Headers[0] {
			t.Fatalf("request %d came back as %#v, want %#v", i, r, want)
		}
	}
	runtime.KeepAlive(s)
}

// TestFrontierMemoryPerSlot is TestFrontierMemory with per-slot queues
// (SCHEDULER_PRIORITY_QUEUE's default) over 10 000 hosts, 30 requests
// each: the slots' own cost (their queues, rings, map entries) stays
// within the same ceiling, and every request comes back once.
func TestFrontierMemoryPerSlot(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a frontier of 300 000 requests")
	}
	const hosts = 10_000
	url := func(i int) string { return fmt.Sprintf("http://h%d.test:38211/page/%d", i%hosts, i) }
	s := scheduler.NewMemory(scheduler.MemoryOptions{SlotKey: hostKey})
	before := liveHeap()
	parent := ""
	for i := range frontierPending {
		if i%10 == 0 {
			parent = url(i / 10)
		}
		r := crawlLikeRequest(i, parent)
		r.URL = url(i)
		if ok, err := s.Enqueue(t.Context(), r); err != nil || !ok {
			t.Fatalf("Enqueue %d = %v, %v", i, ok, err)
		}
	}
	after := liveHeap()
	per := float64(int64(after)-int64(before)) / frontierPending
	t.Logf("%d pending requests over %d slots: %.1f MiB of live heap, %.0f B per pending request (ceiling %d B)",
		frontierPending, hosts, float64(after-before)/(1<<20), per, heapPerPendingCeiling)
	if per > heapPerPendingCeiling {
		t.Errorf("the per-slot frontier costs %.0f B of live heap per pending request, over the %d B ceiling (400 B of RSS)", per, heapPerPendingCeiling)
	}
	seen := make([]bool, frontierPending)
	for range frontierPending {
		r, err := s.Next(t.Context())
		if err != nil || r == nil {
			t.Fatalf("Next = %v, %v", r, err)
		}
		var i int
		if _, err := fmt.Sscanf(r.URL[strings.Index(r.URL, "/page/"):], "/page/%d", &i); err != nil || seen[i] || r.URL != url(i) {
			t.Fatalf("request %s came back twice or altered", r.URL)
		}
		seen[i] = true
	}
	runtime.KeepAlive(s)
}
