package stats_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func sample() *stats.Memory {
	s := stats.NewMemory()
	s.Set(stats.StartTime, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	s.Set(stats.FinishReason, "finished")
	s.Set(stats.ElapsedTimeSeconds, 1.5)
	s.Inc("downloader/response_status_count/200", 3)
	s.Inc(stats.ItemScrapedCount, 2)
	s.Max(stats.MemUsageMax, 10)
	s.Max(stats.MemUsageMax, 7)
	return s
}

func TestFormatAndJSONGolden(t *testing.T) {
	snap := sample().Snapshot()
	var js bytes.Buffer
	if err := stats.WriteJSON(&js, snap); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string][]byte{"block.txt": []byte(stats.Format(snap)), "stats.json": js.Bytes()} {
		golden.Check(t, filepath.Join("testdata", name), got)
	}
}

func TestWriteJSONFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stats.json")
	if err := stats.WriteJSONFile(path, sample().Snapshot()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	if m[stats.ItemScrapedCount] != float64(2) || m[stats.StartTime] != "2026-01-02T03:04:05Z" || m[stats.MemUsageMax] != float64(10) {
		t.Fatalf("got %v", m)
	}
	if err := stats.WriteJSONFile(filepath.Join(t.TempDir(), "missing", "x.json"), nil); err == nil {
		t.Fatal("writing into a missing directory succeeded")
	}
}

func TestCountingHandler(t *testing.T) {
	st := stats.NewMemory()
	var buf bytes.Buffer
	h := stats.NewCountingHandler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}), st)
	log := slog.New(h).With("spider", "x").WithGroup("g")
	log.Debug("not enabled")
	log.Info("a")
	log.Warn("b")
	log.Error("c")
	log.Error("d")
	want := map[string]int64{"log_count/DEBUG": 0, "log_count/INFO": 1, "log_count/WARNING": 1, "log_count/ERROR": 2}
	for k, v := range want {
		if g := stats.Int(st, k); g != v {
			t.Errorf("%s = %d, want %d", k, g, v)
		}
	}
	if !bytes.Contains(buf.Bytes(), []byte("spider=x")) {
		t.Fatalf("attrs lost: %s", buf.String())
	}
}

func TestSampleMemory(t *testing.T) {
	st := stats.NewMemory()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); stats.SampleMemory(ctx, st, time.Millisecond) }()
	cancel()
	wg.Wait()
	if stats.Int(st, stats.MemUsageMax) <= 0 || stats.Int(st, stats.MemUsageStartup) <= 0 {
		t.Fatalf("memusage not recorded: %v", st.Snapshot())
	}
}

func TestConcurrentInc(t *testing.T) {
	st := stats.NewMemory()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				st.Inc("n", 1)
				st.Max("m", 5)
			}
		}()
	}
	wg.Wait()
	if stats.Int(st, "n") != 8000 || stats.Int(st, "m") != 5 {
		t.Fatalf("n=%d m=%d", stats.Int(st, "n"), stats.Int(st, "m"))
	}
}

func TestMemorySemantics(t *testing.T) {
	s := stats.NewMemory()
	s.Max("neg", -5)
	s.Max("neg", -7)
	s.Set("n", int64(10))
	s.Inc("n", 2)
	s.Inc("c", 3)
	s.Set("c", int64(1))
	s.Inc("c", 1)
	s.Set("str", "x")
	s.Set("f", 1.5)
	s.Max("f", 3)
	want := map[string]any{"neg": int64(-5), "n": int64(12), "c": int64(2), "str": "x", "f": int64(3)}
	got := s.Snapshot()
	if len(got) != len(want) {
		t.Fatalf("snapshot %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v (%T), want %v", k, got[k], got[k], v)
		}
		if g, ok := s.Get(k); !ok || g != v {
			t.Errorf("Get(%s) = %v, %v", k, g, ok)
		}
	}
	if _, ok := s.Get("missing"); ok {
		t.Error("Get(missing) found a value")
	}
}

func TestPeakRSS(t *testing.T) {
	dir := t.TempDir()
	status := filepath.Join(dir, "status")
	if err := os.WriteFile(status, []byte("Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t  1234 kB\nVmRSS:\t  1000 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := stats.PeakRSS(status); got != 1234<<10 {
		t.Fatalf("PeakRSS = %d, want %d", got, 1234<<10)
	}
	if got := stats.PeakRSS(filepath.Join(dir, "gone")); got != 0 {
		t.Fatalf("missing file: %d", got)
	}
	if _, err := os.Stat("/proc/self/status"); err == nil && stats.PeakRSS("/proc/self/status") <= 0 {
		t.Fatal("no VmHWM for this process")
	}
}
