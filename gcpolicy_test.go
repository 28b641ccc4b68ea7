package spiderrun

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// quietGC keeps this process's own GC policy (applied by the first crawl
// any test built) out of these tests, which set the process's GC percent
// and memory limit themselves and put back the values they found.
func quietGC(t *testing.T) {
	t.Helper()
	gcOnce.Do(func() {})
	if stop := gcStop.Load(); stop != nil {
		(*stop)()
	}
	percent := debug.SetGCPercent(100)
	limit := debug.SetMemoryLimit(-1)
	t.Cleanup(func() {
		debug.SetGCPercent(percent)
		debug.SetMemoryLimit(limit)
	})
}

// gcPercent reads the GC percent (SetGCPercent returns the previous one).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

func noEnv(string) string { return "" }

func TestGCPercentFor(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for _, tc := range []struct {
		target, live, roots uint64
		want                int
	}{
		{64 * mib, 16 * mib, 0, 300},
		{64 * mib, 14 * mib, 2 * mib, 312},
		{64 * mib, 8 * mib, 0, 700},
		{64 * mib, 8 * mib, 8 * mib, 350},
		{64 * mib, 32 * mib, 0, 100}, // half live: Go's default from here on
		{64 * mib, 30 * mib, 4 * mib, 100},
		{64 * mib, 200 * mib, 0, 100},
		{64 * mib, 0, 0, 1600}, // before the first collection: 4 MiB × 16
		{4 * mib, 0, 0, 100},
		{1 << 40, 1, 0, 2147483647},
	} {
		if got := gcPercentFor(tc.target, tc.live, tc.roots); got != tc.want {
			t.Errorf("gcPercentFor(%d, %d, %d) = %d, want %d", tc.target, tc.live, tc.roots, got, tc.want)
		}
	}
}

func TestGCPolicyFromSettings(t *testing.T) {
	t.Parallel()
	mem := func() int64 { return 2 << 30 } // a 2 GiB VM
	none := func() int64 { return 0 }
	cases := []struct {
		name string
		set  func(v *settings.Values)
		mem  func() int64
		want gcPolicy
	}{
		{"defaults on 2 GiB", func(*settings.Values) {}, mem, gcPolicy{HeapTarget: 40 << 20, MemoryLimit: 1536 << 20, LimitFrom: "available memory"}},
		{"memory unknown", func(*settings.Values) {}, none, gcPolicy{HeapTarget: 40 << 20, LimitFrom: "GC_MEMORY_LIMIT"}},
		{"MEMUSAGE_LIMIT_MB", func(v *settings.Values) { v.MemUsageLimitMB = 1000 }, mem, gcPolicy{HeapTarget: 40 << 20, MemoryLimit: (1000 << 20) / 10 * 9, LimitFrom: "MEMUSAGE_LIMIT_MB"}},
		{"MEMUSAGE_LIMIT_MB tiny", func(v *settings.Values) { v.MemUsageLimitMB = 1 }, mem, gcPolicy{HeapTarget: 40 << 20, MemoryLimit: 1536 << 20, LimitFrom: "available memory"}},
		{"MEMUSAGE off", func(v *settings.Values) { v.MemUsageLimitMB = 1000; v.MemUsageEnabled = false }, mem, gcPolicy{HeapTarget: 40 << 20, MemoryLimit: 1536 << 20, LimitFrom: "available memory"}},
		{"GC_MEMORY_LIMIT wins", func(v *settings.Values) { v.MemUsageLimitMB = 1000; v.GcMemoryLimit = 300 << 20 }, mem, gcPolicy{HeapTarget: 40 << 20, MemoryLimit: 300 << 20, LimitFrom: "GC_MEMORY_LIMIT"}},
		{"GC_HEAP_TARGET 0", func(v *settings.Values) { v.GcHeapTarget = 0 }, mem, gcPolicy{MemoryLimit: 1536 << 20, LimitFrom: "available memory"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := settings.Defaults()
			tc.set(&v)
			if got := gcPolicyFromSettings(&v, tc.mem); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestGCPolicyApplied: the policy sets the soft memory limit, raises the
// GC percent while the live heap is under half the target, and sets it
// again after every collection.
func TestGCPolicyApplied(t *testing.T) {
	quietGC(t)
	var log bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	const limit = 3 << 30
	// A target far above this test binary's live heap (a few MB).
	stop := setGCPolicy(gcPolicy{HeapTarget: 1 << 30, MemoryLimit: limit, LimitFrom: "test"}, noEnv, logger)
	defer stop()
	if got := debug.SetMemoryLimit(-1); got != limit {
		t.Errorf("memory limit %d, want %d", got, limit)
	}
	if p := gcPercent(); p <= 100 {
		t.Errorf("GC percent %d, want > 100 with a 1 GiB target", p)
	}
	// After a collection the tuner (a finalizer) sets it again.
	debug.SetGCPercent(100)
	deadline := time.Now().Add(10 * time.Second)
	for gcPercent() == 100 {
		if time.Now().After(deadline) {
			t.Fatal("GC percent not set again after collections")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	for _, want := range []string{"soft memory limit", "heap target"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("debug log lacks %q:\n%s", want, log.String())
		}
	}
	// Stopped, it no longer does.
	stop()
	runtime.GC()
	debug.SetGCPercent(100)
	for range 3 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if p := gcPercent(); p != 100 {
		t.Errorf("GC percent %d after stop, want 100 (left alone)", p)
	}
}

// TestGCPolicyEnvironmentWins: GOGC and GOMEMLIMIT in the environment
// keep their part of the policy from being applied, and the debug log says
// so.
func TestGCPolicyEnvironmentWins(t *testing.T) {
	quietGC(t)
	for _, tc := range []struct {
		name        string
		env         map[string]string
		wantPercent bool // the policy's percent applied
		wantLimit   bool
		log         []string
	}{
		{"GOGC", map[string]string{"GOGC": "150"}, false, true, []string{"GOGC is set in the environment"}},
		{"GOMEMLIMIT", map[string]string{"GOMEMLIMIT": "off"}, true, false, []string{"GOMEMLIMIT is set in the environment"}},
		{"both", map[string]string{"GOGC": "off", "GOMEMLIMIT": "1GiB"}, false, false, []string{"GOGC is set in the environment", "GOMEMLIMIT is set in the environment"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const before, beforeLimit = 123, 777 << 20
			debug.SetGCPercent(before)
			debug.SetMemoryLimit(beforeLimit)
			var log bytes.Buffer
			logger := slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
			stop := setGCPolicy(gcPolicy{HeapTarget: 1 << 30, MemoryLimit: 2 << 30, LimitFrom: "test"}, func(k string) string { return tc.env[k] }, logger)
			stop()
			if p := gcPercent(); (p != before) != tc.wantPercent {
				t.Errorf("GC percent %d (was %d), policy applied: want %v", p, before, tc.wantPercent)
			}
			if l := debug.SetMemoryLimit(-1); (l != beforeLimit) != tc.wantLimit {
				t.Errorf("memory limit %d (was %d), policy applied: want %v", l, int64(beforeLimit), tc.wantLimit)
			}
			for _, want := range tc.log {
				if !strings.Contains(log.String(), "level=DEBUG") || !strings.Contains(log.String(), want) {
					t.Errorf("debug log lacks %q:\n%s", want, log.String())
				}
			}
		})
	}
}

func TestAvailableMemoryFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if got := memInfoTotal(write("meminfo", "MemTotal:        2031616 kB\nMemFree:  1 kB\n")); got != 2031616<<10 {
		t.Errorf("MemTotal %d", got)
	}
	// cgroup v2, with and without a limit.
	v2 := write("v2/cgroup", "0::/crawl.slice\n")
	write("v2/root/crawl.slice/memory.max", "1073741824\n")
	if got := cgroupLimit(v2, filepath.Join(dir, "v2/root")); got != 1<<30 {
		t.Errorf("cgroup v2 limit %d", got)
	}
	write("v2/root/crawl.slice/memory.max", "max\n")
	if got := cgroupLimit(v2, filepath.Join(dir, "v2/root")); got != 0 {
		t.Errorf("cgroup v2 max: %d, want 0", got)
	}
	// cgroup v1.
	v1 := write("v1/cgroup", "5:cpu,cpuacct:/x\n4:memory:/job\n0::/\n")
	write("v1/root/memory/job/memory.limit_in_bytes", "536870912\n")
	if got := cgroupLimit(v1, filepath.Join(dir, "v1/root")); got != 512<<20 {
		t.Errorf("cgroup v1 limit %d", got)
	}
	if got := cgroupLimit(filepath.Join(dir, "missing"), dir); got != 0 {
		t.Errorf("no cgroup file: %d", got)
	}
}
