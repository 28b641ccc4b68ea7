package scheduler_test

import (
	"testing"

	"github.com/spiderrun/spiderrun/internal/reftest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// pqCase is one case of testdata/reference/pqueues/cases.json (gen.py
// documents the fields).
type pqCase struct {
	Name     string `json:"name"`
	Requests []struct {
		URL      string `json:"url"`
		Priority int    `json:"priority"`
		Slot     string `json:"slot"`
	} `json:"requests"`
}

type pqStep struct {
	Active map[string]int `json:"active"`
	URL    string         `json:"url"`
}

// TestPerSlotQueueReference compares the per-slot memory queue, keyed by
// the downloader's slot key, with Scrapy 2.8's DownloaderAwarePriorityQueue
// (over FIFO memory queues, slots keyed by Scrapy's downloader) on
// testdata/reference/pqueues: the same active download counts before each
// take, the same request out, to the end. The counts are chosen (gen.py)
// where both rules pick the same slot: Scrapy's does not look at
// priorities across slots and breaks ties by slot name, ours takes the
// highest priority first and breaks ties round-robin (specs/engine.md).
func TestPerSlotQueueReference(t *testing.T) {
	t.Parallel()
	var cases []pqCase
	var want map[string][]pqStep
	reftest.Load(t, "pqueues", "cases.json", &cases)
	reftest.Load(t, "pqueues", "expected.json", &want)
	if len(cases) != len(want) || len(cases) < 4 {
		t.Fatalf("%d cases, %d results: regenerate with testdata/reference/regen", len(cases), len(want))
	}
	for _, c := range cases {
		steps := want[c.Name]
		if len(steps) != len(c.Requests) {
			t.Fatalf("%s: %d requests, Scrapy popped %d: regenerate", c.Name, len(c.Requests), len(steps))
		}
		s := scheduler.NewMemory(scheduler.MemoryOptions{SlotKey: downloader.SlotKey})
		for _, r := range c.Requests {
			req := &crawl.Request{URL: r.URL, Priority: r.Priority, DontFilter: true}
			if r.Slot != "" {
				req.Meta = map[string]any{"download_slot": r.Slot}
			}
			enqueueAll(t, s, req)
		}
		for i, st := range steps {
			got := takeHost(t, s, view{active: st.Active})
			// Scrapy's Request lowercases the host of its URL; ours keeps
			// the URL as given. Compare them canonicalized alike.
			if weburl.Canonicalize(got, false) != weburl.Canonicalize(st.URL, false) {
				t.Fatalf("%s: take %d with active %v: got %s, Scrapy %s", c.Name, i, st.Active, got, st.URL)
			}
		}
		if r, err := s.Next(t.Context()); r != nil || err != nil {
			t.Fatalf("%s: left over %v, %v", c.Name, r, err)
		}
	}
}
