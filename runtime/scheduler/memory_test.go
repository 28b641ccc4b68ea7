package scheduler_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/schedulertest"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func TestMemoryConformance(t *testing.T) {
	schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler {
		return scheduler.NewMemory(scheduler.MemoryOptions{})
	})
}

func TestMemoryStatsAndDuplicateLog(t *testing.T) {
	for _, debug := range []bool{false, true} {
		t.Run(fmt.Sprintf("debug=%v", debug), func(t *testing.T) {
			st := stats.NewMemory()
			var logs bytes.Buffer
			s := scheduler.NewMemory(scheduler.MemoryOptions{
				Stats:  st,
				Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
				Debug:  debug,
			})
			for range 3 {
				if _, err := s.Enqueue(t.Context(), &crawl.Request{URL: "http://a.test/"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.Next(t.Context()); err != nil {
				t.Fatal(err)
			}
			want := map[string]int64{
				stats.SchedulerEnqueued: 1, stats.SchedulerEnqueuedMemory: 1,
				stats.SchedulerDequeued: 1, stats.SchedulerDequeuedMemory: 1,
				stats.DupefilterFiltered: 2,
			}
			for k, v := range want {
				if got := stats.Int(st, k); got != v {
					t.Errorf("%s = %d, want %d", k, got, v)
				}
			}
			lines := strings.Count(logs.String(), "Filtered duplicate request")
			wantLines := 1
			if debug {
				wantLines = 2
			}
			if lines != wantLines {
				t.Errorf("logged %d duplicate lines, want %d:\n%s", lines, wantLines, logs.String())
			}
		})
	}
}

func TestMemoryClosed(t *testing.T) {
	s := scheduler.NewMemory(scheduler.MemoryOptions{})
	if err := s.Close(t.Context(), "finished"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enqueue(t.Context(), &crawl.Request{URL: "http://a.test/"}); err == nil {
		t.Fatal("Enqueue after Close succeeded")
	}
}

// TestDupefilterMemoryPerRequest checks the dupefilter stores fingerprints,
// not URLs: long URLs cost the same as short ones.
func TestDupefilterMemoryPerRequest(t *testing.T) {
	d := scheduler.NewMemoryDupeFilter()
	long := strings.Repeat("x", 2000)
	for i := range 1000 {
		if d.Seen(scheduler.Fingerprint(&crawl.Request{URL: fmt.Sprintf("http://a.test/%s/%d", long, i)})) {
			t.Fatalf("request %d seen before", i)
		}
	}
	if d.Len() != 1000 {
		t.Fatalf("Len = %d", d.Len())
	}
}
