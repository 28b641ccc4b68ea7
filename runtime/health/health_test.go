package health

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestDegradeAndRecover: a domain is reported degraded once, when half of
// its latest Window attempts are blocks or failures, and recovered once,
// when at most a fifth are; another domain is not affected.
func TestDegradeAndRecover(t *testing.T) {
	var logs bytes.Buffer
	b := New(slog.New(slog.NewTextHandler(&logs, nil)))
	b.Alive = func() int { return 3 }
	var degraded []string
	b.OnDegrade = func(d string) { degraded = append(degraded, d) }
	for range 20 {
		b.Record("ok.test", OK, 10*time.Millisecond, 0)
	}
	for i := range 9 {
		b.Record("shop.test", OK, time.Millisecond, 0)
		b.Record("shop.test", Blocked, time.Millisecond, 0)
		if i < 8 && len(degraded) > 0 {
			t.Fatalf("degraded after %d of %d bad", i+1, 2*(i+1))
		}
	}
	b.Record("shop.test", OK, 0, 0)
	b.Record("shop.test", Failed, 0, 0) // 10 of the latest 20 are bad
	if fmt.Sprint(degraded) != "[shop.test]" {
		t.Fatalf("degraded: %v", degraded)
	}
	for range 10 {
		b.Record("shop.test", Blocked, 0, 0) // stays degraded: no second report
	}
	if len(degraded) != 1 {
		t.Fatalf("reported again: %v", degraded)
	}
	for range 16 {
		b.Record("shop.test", OK, 0, 0)
	}
	out := logs.String()
	if strings.Count(out, "domain degraded") != 1 || !strings.Contains(out, "domain=shop.test") || !strings.Contains(out, "identities_alive=3") {
		t.Errorf("degrade log:\n%s", out)
	}
	if strings.Count(out, "domain recovered") != 1 {
		t.Errorf("recover log:\n%s", out)
	}
	rows := b.Rows(0)
	if len(rows) != 2 || rows[0].Domain != "shop.test" || rows[0].Requests != 46 || rows[0].Blocked != 19 || rows[0].Failed != 1 || rows[0].Degraded {
		t.Errorf("rows: %+v", rows)
	}
	if rows[1].Domain != "ok.test" || rows[1].LatencyMS != 10 {
		t.Errorf("ok.test row: %+v", rows[1])
	}
	if got := b.Rows(1); len(got) != 1 || got[0].Domain != "shop.test" {
		t.Errorf("Rows(1): %+v", got)
	}
}

// TestBounded: a broad crawl's scoreboard keeps at most maxDomains rows,
// dropping the least used.
func TestBounded(t *testing.T) {
	b := New(nil)
	b.Record("busy.test", OK, 0, 0)
	b.Record("busy.test", OK, 0, 0)
	for i := range maxDomains + 100 {
		b.Record(fmt.Sprintf("d%d.test", i), OK, 0, 0)
	}
	rows := b.Rows(0)
	if len(rows) != maxDomains || rows[0].Domain != "busy.test" {
		t.Fatalf("%d rows, first %+v", len(rows), rows[0])
	}
}

// TestConcurrentRecord: the board is used from every download at once
// (run with -race).
func TestConcurrentRecord(t *testing.T) {
	b := New(slog.New(slog.DiscardHandler))
	done := make(chan struct{})
	for g := range 8 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range 500 {
				b.Record("shop.test", Outcome((g+i)%3), time.Millisecond, 10)
				if i%50 == 0 {
					b.Rows(1)
				}
			}
		}()
	}
	for range 8 {
		<-done
	}
	if r := b.Rows(0); len(r) != 1 || r[0].Requests != 4000 {
		t.Fatalf("rows %+v", r)
	}
}
