package execjs

import (
	"runtime/metrics"
	"sync"
	"time"

	"github.com/dop251/goja"
)

// memTick is how often the heap is sampled during a call when a memory
// limit is set; the first sample is the baseline, so calls shorter than
// one tick cost nothing beyond one timer.
const memTick = 50 * time.Millisecond

// graceAfterTimeout is how long a call may overrun its timeout (a built-in
// that ignores Interrupt) before its runtime is abandoned.
const graceAfterTimeout = time.Second

// heapMetric is the heap marked live by the last GC. Unlike the total heap
// it ignores garbage, so a crawl allocating and dropping response bodies
// in other goroutines does not look like the script's growth; a script
// that retains memory raises it at every GC cycle.
const heapMetric = "/gc/heap/live:bytes"

// watchdog interrupts one call at its deadline or when the heap grows past
// the limit. mu orders stop() against the interrupting callback so that no
// Interrupt lands after the call's goroutine cleared it.
type watchdog struct {
	vm       *goja.Runtime
	timeout  time.Duration
	limit    int64
	start    time.Time
	mu       sync.Mutex
	timer    *time.Timer
	stopped  bool
	baseline uint64
	sampled  bool
}

func startWatchdog(vm *goja.Runtime, opts Options) *watchdog {
	w := &watchdog{vm: vm, timeout: opts.timeout(), limit: opts.MemoryLimit, start: time.Now()}
	if d := w.next(); d > 0 {
		w.mu.Lock()
		w.timer = time.AfterFunc(d, w.fire)
		w.mu.Unlock()
	}
	return w
}

// next is the delay to the next check, or 0 when nothing is to be checked.
func (w *watchdog) next() time.Duration {
	var d time.Duration
	if w.timeout > 0 {
		d = w.timeout - time.Since(w.start)
		if d <= 0 {
			d = time.Nanosecond
		}
	}
	if w.limit > 0 && (d == 0 || d > memTick) {
		d = memTick
	}
	return d
}

func (w *watchdog) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	if w.timeout > 0 && time.Since(w.start) >= w.timeout {
		w.vm.Interrupt(ErrTimeout)
		return
	}
	if w.limit > 0 {
		heap := readHeap()
		if !w.sampled {
			w.baseline, w.sampled = heap, true
		} else if heap > w.baseline && int64(heap-w.baseline) > w.limit {
			w.vm.Interrupt(ErrMemoryLimit)
			return
		}
	}
	if d := w.next(); d > 0 {
		w.timer = time.AfterFunc(d, w.fire)
	}
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.timer != nil {
		w.timer.Stop()
	}
}

// hardDeadline is when the caller stops waiting for the call's goroutine.
func (w *watchdog) hardDeadline() time.Duration {
	if w.timeout <= 0 {
		return 0
	}
	return w.timeout + graceAfterTimeout
}

func readHeap() uint64 {
	s := []metrics.Sample{{Name: heapMetric}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
