package engine

import (
	"net/url"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// slotTable is a SlotReadiness whose answers the test sets per host.
type slotTable map[string]struct {
	at   time.Time
	free int
}

func (s slotTable) SlotReady(req *crawl.Request) (string, time.Time, int) {
	u, _ := url.Parse(req.URL)
	st, ok := s[u.Hostname()]
	if !ok {
		return u.Hostname(), time.Time{}, 8
	}
	return u.Hostname(), st.at, st.free
}

// TestReadyHostsOrder pins the documented order (specs/engine.md, ready
// hosts): within a slot the scheduler's order, whatever the priorities;
// across slots that can start, the slot whose head has the highest
// priority, then was taken first; a slot that cannot start is passed over, even with
// a higher priority; a request of a slot with others waiting queues
// behind them even when the slot could start.
func TestReadyHostsOrder(t *testing.T) {
	now := time.Now()
	later := now.Add(time.Hour)
	slots := slotTable{
		"a": {at: later, free: 1},
		"b": {at: later, free: 1},
		"c": {at: later, free: 1},
	}
	r := newReadyHosts(slots, 100, func() {})
	defer r.withdraw()
	req := func(u string, prio int) *crawl.Request { return &crawl.Request{URL: u, Priority: prio} }
	for _, q := range []*crawl.Request{
		req("http://a/1", 0), req("http://b/1", 5), req("http://a/2", 9), req("http://c/1", 0), req("http://b/2", 0),
	} {
		if h := r.admit(q, now); h != nil {
			t.Fatalf("%s started though its slot cannot", q.URL)
		}
	}
	if q, _ := r.pop(now); q != nil {
		t.Fatalf("%s started though no slot can", q.URL)
	}
	// a and c become ready; b (priority 5 at its head) stays delayed.
	slots["a"] = struct {
		at   time.Time
		free int
	}{free: 1}
	slots["c"] = slots["a"]
	r.hosts["a"].notBefore, r.hosts["c"].notBefore = time.Time{}, time.Time{}
	var order []string
	for {
		q, h := r.pop(now)
		if q == nil {
			break
		}
		order = append(order, q.URL)
		r.started(h) // it passed the downloader's waits: the slot is free again
	}
	// a/1 and c/1 tie on priority: a/1 was taken first. Then a's head is
	// a/2, whose priority 9 passes c/1.
	want := []string{"http://a/1", "http://a/2", "http://c/1"}
	if len(order) != len(want) {
		t.Fatalf("started %v, want %v", order, want)
	}
	for i := range want {
		if order[i] != want[i] {
			t.Fatalf("started %v, want %v", order, want)
		}
	}
	// b: its head has priority 5 and goes before its priority-0 second.
	slots["b"] = slots["a"]
	r.hosts["b"].notBefore = time.Time{}
	// A new request of b that could start queues behind b's waiting ones.
	if h := r.admit(req("http://b/3", 100), now); h != nil {
		t.Fatal("b/3 started ahead of b's waiting requests")
	}
	order = order[:0]
	for {
		q, h := r.pop(now)
		if q == nil {
			break
		}
		order = append(order, q.URL)
		r.started(h)
	}
	if got := len(order); got != 3 || order[0] != "http://b/1" || order[1] != "http://b/2" || order[2] != "http://b/3" {
		t.Fatalf("b started %v, want b/1 b/2 b/3", order)
	}
	if r.waiting != 0 {
		t.Fatalf("%d still waiting", r.waiting)
	}
}

// TestReadyHostsConcurrency: a slot with free places starts that many
// requests and no more until one passes the downloader's waits.
func TestReadyHostsConcurrency(t *testing.T) {
	now := time.Now()
	slots := slotTable{"a": {free: 2}}
	r := newReadyHosts(slots, 100, func() {})
	defer r.withdraw()
	var hs []*hostQueue
	for i := range 4 {
		if h := r.admit(&crawl.Request{URL: "http://a/" + string(rune('0'+i))}, now); h != nil {
			hs = append(hs, h)
		}
	}
	if len(hs) != 2 || r.waiting != 2 {
		t.Fatalf("started %d, waiting %d; want 2 and 2", len(hs), r.waiting)
	}
	if q, _ := r.pop(now); q != nil {
		t.Fatalf("%s started beyond the slot's 2 places", q.URL)
	}
	r.started(hs[0])
	if q, _ := r.pop(now); q == nil || q.URL != "http://a/2" {
		t.Fatalf("after one passed its waits, started %v; want a/2", q)
	}
	if n := r.withdraw(); n != 1 {
		t.Fatalf("withdrew %d, want 1", n)
	}
}
