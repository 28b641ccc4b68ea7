package spiderrun

import (
	"bufio"
	"bytes"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// The garbage collector policy of a crawl (issue 20). A crawl's live heap
// is small (5-20 MB on the benchmark: the pages in callbacks, the queue,
// the dupefilter) while it allocates a lot (every page parsed, every
// Request built), so Go's default (GOGC=100: collect when the heap is
// twice the live data) collects every few dozen pages: 27 % of the
// crawl's CPU was the GC. The policy lets the heap grow to GC_HEAP_TARGET
// before collecting, however little of it is live, and becomes Go's
// default again once half of that is live: the heap never exceeds
// max(GC_HEAP_TARGET, twice the live data), so a crawl with a large live
// heap (a long queue, large bodies within DOWNLOAD_MEMORY_BUDGET) holds no
// more memory than without the policy. A soft memory limit (GC_MEMORY_LIMIT,
// Go's GOMEMLIMIT) makes the collector work harder near the memory the
// process may use.
//
// Go has no "minimum heap" setting, so the policy sets the GC percent
// after every collection: percent = (target - live) / (live + roots),
// roots being the goroutine stacks and globals the collector scans too
// (GOGC=300 at 14 MB live, 2 MB of roots and a 64 MiB target), never
// below 100. GOGC or GOMEMLIMIT in
// the environment win over the settings: the user chose them.

// gcPolicy is the GC policy of a crawl, from its settings.
type gcPolicy struct {
	// HeapTarget is GC_HEAP_TARGET: 0 leaves the GC percent alone.
	HeapTarget int64
	// MemoryLimit is the soft memory limit; 0 sets none.
	MemoryLimit int64
	// LimitFrom says where MemoryLimit comes from, for the log.
	LimitFrom string
}

// minDerivedLimit is the smallest soft memory limit derived from
// MEMUSAGE_LIMIT_MB.
const minDerivedLimit = 64 << 20

// gcPolicyFromSettings reads GC_HEAP_TARGET and GC_MEMORY_LIMIT; a
// GC_MEMORY_LIMIT of 0 is derived from MEMUSAGE_LIMIT_MB (90 % of it, if
// that is at least 64 MiB) or,
// without one, from the memory available to the process (memTotal: three
// quarters of the smaller of the cgroup's limit and the physical memory).
func gcPolicyFromSettings(v *settings.Values, memTotal func() int64) gcPolicy {
	p := gcPolicy{HeapTarget: v.GcHeapTarget, MemoryLimit: v.GcMemoryLimit, LimitFrom: "GC_MEMORY_LIMIT"}
	if p.MemoryLimit > 0 {
		return p
	}
	// Below minDerivedLimit a soft limit would only burn CPU (a crawl's
	// process holds some 50 MB whatever its heap): a MEMUSAGE_LIMIT_MB that
	// small is left to close the spider.
	if l := int64(v.MemUsageLimitMB) << 20 / 10 * 9; v.MemUsageEnabled && l >= minDerivedLimit {
		p.MemoryLimit = l
		p.LimitFrom = "MEMUSAGE_LIMIT_MB"
		return p
	}
	if m := memTotal(); m > 0 {
		p.MemoryLimit = m / 4 * 3
		p.LimitFrom = "available memory"
	}
	return p
}

// gcOnce applies the first crawl's policy: the GC settings are the
// process's, and a process runs one crawl (tests build many crawlers in
// one process; they keep the first one's policy). gcStop stops its tuner
// (tests of the policy itself).
var (
	gcOnce sync.Once
	gcStop atomic.Pointer[func()]
)

// applyGCPolicy applies the policy of v once per process.
func applyGCPolicy(v *settings.Values, logger *slog.Logger) {
	gcOnce.Do(func() {
		stop := setGCPolicy(gcPolicyFromSettings(v, availableMemory), os.Getenv, logger)
		gcStop.Store(&stop)
	})
}

// setGCPolicy applies p, unless the environment (getenv) sets GOGC or
// GOMEMLIMIT: each of those wins over its part of the policy. It returns a
// function that stops adjusting the GC percent (tests; a crawl never stops
// it) and restores neither setting.
func setGCPolicy(p gcPolicy, getenv func(string) string, logger *slog.Logger) (stop func()) {
	stop = func() {}
	if env := getenv("GOMEMLIMIT"); env != "" {
		logger.Debug("gc policy: GOMEMLIMIT is set in the environment and wins over the soft memory limit", "GOMEMLIMIT", env, "limit_from", p.LimitFrom)
	} else if p.MemoryLimit > 0 {
		debug.SetMemoryLimit(p.MemoryLimit)
		logger.Debug("gc policy: soft memory limit", "bytes", p.MemoryLimit, "from", p.LimitFrom)
	}
	if env := getenv("GOGC"); env != "" {
		logger.Debug("gc policy: GOGC is set in the environment and wins over GC_HEAP_TARGET", "GOGC", env)
	} else if p.HeapTarget > 0 {
		t := &gcTuner{target: uint64(p.HeapTarget)}
		t.tune()
		t.arm()
		stop = func() { t.stopped.Store(true) }
		logger.Debug("gc policy: heap target", "GC_HEAP_TARGET", p.HeapTarget)
	}
	return stop
}

// gcTuner sets the GC percent after every collection so that the next one
// starts when the heap reaches target, or at Go's default if that is
// later.
type gcTuner struct {
	target  uint64
	stopped atomic.Bool
	samples [3]metrics.Sample
}

// gcPercentFor is the GC percent that starts the next collection at a
// heap of target, given the live heap and the GC roots (goroutine stacks
// and globals) of the last collection: Go's heap goal is live + (live +
// roots) × percent / 100. At least 100 (Go's default). Before the first
// collection (live 0) the goal is the minimum heap, 4 MiB × percent/100.
func gcPercentFor(target, live, roots uint64) int {
	if live == 0 {
		return int(max(min(target*100/(4<<20), math.MaxInt32), 100))
	}
	if target <= 2*live+roots {
		return 100
	}
	return int(min((target-live)*100/(live+roots), math.MaxInt32))
}

// tune sets the GC percent from the last collection's live heap and
// roots. It runs on the finalizer goroutine (one at a time).
func (t *gcTuner) tune() {
	t.samples[0].Name = "/gc/heap/live:bytes"
	t.samples[1].Name = "/gc/scan/stack:bytes"
	t.samples[2].Name = "/gc/scan/globals:bytes"
	metrics.Read(t.samples[:])
	var v [3]uint64
	for i, s := range t.samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	debug.SetGCPercent(gcPercentFor(t.target, v[0], v[1]+v[2]))
}

// gcSentinel becomes garbage at every collection: its finalizer tunes the
// GC percent and re-arms itself (the sentinel lives on while it has a
// finalizer).
type gcSentinel struct{ t *gcTuner }

func (t *gcTuner) arm() { runtime.SetFinalizer(&gcSentinel{t: t}, gcSentinelFinalizer) }

func gcSentinelFinalizer(s *gcSentinel) {
	if s.t.stopped.Load() {
		return
	}
	s.t.tune()
	runtime.SetFinalizer(s, gcSentinelFinalizer)
}

// availableMemory is the memory the process may use: the smaller of its
// cgroup's limit (v2 memory.max, v1 memory.limit_in_bytes) and the
// physical memory (/proc/meminfo MemTotal); 0 when neither can be read
// (not Linux).
func availableMemory() int64 {
	total := memInfoTotal("/proc/meminfo")
	if c := cgroupLimit("/proc/self/cgroup", "/sys/fs/cgroup"); c > 0 && (total == 0 || c < total) {
		return c
	}
	return total
}

// memInfoTotal reads MemTotal (kB) from a /proc/meminfo file, in bytes.
func memInfoTotal(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// cgroupLimit is the memory limit of the process's cgroup, read from its
// /proc/self/cgroup (procCgroup) under the cgroup mount (root): 0 when
// there is none ("max", or v1's huge "unlimited" value is larger than
// any memory and left to the caller's min).
func cgroupLimit(procCgroup, root string) int64 {
	data, err := os.ReadFile(procCgroup)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		var files []string
		switch {
		case parts[0] == "0" && parts[1] == "": // v2
			files = []string{filepath.Join(root, parts[2], "memory.max")}
		case slices.Contains(strings.Split(parts[1], ","), "memory"): // v1
			files = []string{filepath.Join(root, "memory", parts[2], "memory.limit_in_bytes"),
				filepath.Join(root, "memory", "memory.limit_in_bytes")}
		default:
			continue
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				continue
			}
			s := strings.TrimSpace(string(b))
			if s == "max" {
				break
			}
			if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
				return n
			}
		}
	}
	return 0
}
