package scheduler_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// The memory scheduler drops duplicates, counts each one, and logs only the
// first unless DUPEFILTER_DEBUG (Scrapy's RFPDupeFilter).
func TestDuplicatesCountedAndLogged(t *testing.T) {
	for _, debug := range []bool{false, true} {
		var logs bytes.Buffer
		st := stats.NewMemory()
		m := scheduler.NewMemory(scheduler.MemoryOptions{Stats: st, Debug: debug,
			Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		for range 4 {
			if _, err := m.Enqueue(t.Context(), &crawl.Request{URL: "http://a.test/x"}); err != nil {
				t.Fatal(err)
			}
		}
		if n := stats.Int(st, stats.DupefilterFiltered); n != 3 {
			t.Fatalf("debug=%v: %s = %d, want 3", debug, stats.DupefilterFiltered, n)
		}
		lines := strings.Count(logs.String(), "Filtered duplicate request")
		hint := strings.Count(logs.String(), "no more duplicates will be shown")
		if want := map[bool]int{false: 1, true: 3}[debug]; lines != want || hint != map[bool]int{false: 1, true: 0}[debug] {
			t.Fatalf("debug=%v: %d log lines (%d with the hint)\n%s", debug, lines, hint, logs.String())
		}
	}
}
