package engine

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestReadyHostsMemory measures what a waiting request costs, the figure
// SCHEDULER_WAITING_MAX's documentation gives: 10 000 requests as the
// scheduler rebuilds them (a 70-byte URL, a Referer, depth and priority),
// over 1 000 delayed slots, waiting in the layer. The ceiling is the
// documented 1 KB per request.
func TestReadyHostsMemory(t *testing.T) {
	const n, hosts = 10_000, 1_000
	later := time.Now().Add(time.Hour)
	slots := slotTable{}
	for h := range hosts {
		slots[fmt.Sprintf("host-%04d.example.com", h)] = struct {
			at   time.Time
			free int
		}{at: later, free: 1}
	}
	r := newReadyHosts(slots, n, func() {})
	defer r.withdraw()
	// The requests are built before the measurement: the scheduler's Next
	// makes them whatever the engine does with them; what is measured is
	// what holding them waiting adds, and the requests themselves.
	reqs := make([]*crawl.Request, 0, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		h := fmt.Sprintf("host-%04d.example.com", i%hosts)
		req := &crawl.Request{URL: fmt.Sprintf("https://%s/catalogue/page-%06d/item.html", h, i),
			Priority: -2, Depth: 2, Headers: crawl.Headers{}}
		req.Headers.Set("Referer", "https://"+h+"/catalogue/index.html")
		reqs = append(reqs, req)
	}
	now := time.Now()
	for _, req := range reqs {
		if r.admit(req, now) != nil {
			t.Fatal("started a request of a delayed slot")
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%d waiting requests over %d slots: %.0f B of heap each (request, URL, header and the layer's entry)", n, hosts, per)
	if per > 1024 {
		t.Errorf("a waiting request costs %.0f B of heap, more than 1 KB", per)
	}
	runtime.KeepAlive(reqs)
}
