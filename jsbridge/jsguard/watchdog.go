package jsguard

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
)

// Limits bound each turn of one runtime.
type Limits struct {
	// Timeout is JS_TIMEOUT: the longest a turn may run; ≤ 0 means none.
	Timeout time.Duration
	// Memory is JS_MEMORY_LIMIT: how much the live heap may grow during a
	// turn, in bytes; ≤ 0 means no bound. goja has no per-runtime
	// accounting, so this is the process's heap as a GC finds it live
	// (runtime/metrics /gc/heap/live:bytes): garbage — short-lived strings
	// of the turn itself, response bodies of other goroutines — never
	// counts. That figure only changes at a GC, and the GC runs when the
	// heap has doubled, which would let a turn retain several times the
	// limit before it shows; so once the heap has grown by the limit since
	// the turn began (allocated objects, garbage included), the watchdog
	// runs a GC to get the live figure now. A turn that churns garbage costs
	// at most one such GC per Memory bytes allocated.
	Memory int64
	// Grace is how long an interrupted turn may take to stop before it is
	// reported stuck; 0 means Grace(Timeout).
	Grace time.Duration
}

// heapMetric is the one heap figure the limit applies to; see
// Limits.Memory. allocMetric only says when to refresh it.
const (
	heapMetric  = "/gc/heap/live:bytes"
	allocMetric = "/memory/classes/heap/objects:bytes"
)

// maxTick is the longest interval between two checks of a running turn.
const maxTick = 50 * time.Millisecond

// Watchdog enforces Limits on the turns of one goja runtime. The goroutine
// that runs JavaScript brackets each turn with Begin and End; a watchdog
// goroutine, parked while no turn runs, checks the running turn every
// tick and calls vm.Interrupt with a *LimitError when it passed a limit.
// goja stops JavaScript code within milliseconds of an interrupt
// (RELIABILITY.md M1); a turn still running a grace period later is stuck
// in a built-in: onStuck is called once with a *StuckError,
// the watchdog stops, and the host must abandon the runtime (never run it
// again, drop every reference to it).
type Watchdog struct {
	vm      *goja.Runtime
	lim     Limits
	tick    time.Duration
	onStuck func(*StuckError)

	turnStart atomic.Int64 // unix nanos of the running turn's start; 0 = idle
	turnSeq   atomic.Uint64
	sleeping  atomic.Bool
	wake      chan struct{}
	quit      chan struct{}
	closeOnce sync.Once

	// mu orders End against the watchdog's Interrupt, so that no interrupt
	// lands after End cleared it.
	mu          sync.Mutex
	interrupted *LimitError
}

// StuckError reports a turn that did not stop within the grace period
// after its interrupt. It matches ErrStuck with errors.Is.
type StuckError struct {
	Limit *LimitError // the limit the turn hit
	Grace time.Duration
}

func (e *StuckError) Error() string {
	return fmt.Sprintf("%s and did not stop within %s of the interrupt (stuck in a built-in)", e.Limit.Error(), e.Grace)
}

// Is matches ErrStuck.
func (e *StuckError) Is(target error) bool { return target == ErrStuck }

// NewWatchdog starts a watchdog for vm. onStuck runs on the watchdog's
// goroutine; it may be nil. Close it when the runtime is dropped.
func NewWatchdog(vm *goja.Runtime, lim Limits, onStuck func(*StuckError)) *Watchdog {
	if lim.Grace <= 0 {
		lim.Grace = Grace(lim.Timeout)
	}
	w := &Watchdog{vm: vm, lim: lim, onStuck: onStuck, wake: make(chan struct{}, 1), quit: make(chan struct{})}
	w.tick = maxTick
	if lim.Timeout > 0 {
		w.tick = min(maxTick, max(lim.Timeout/8, time.Millisecond))
	}
	if lim.Timeout > 0 || lim.Memory > 0 {
		go w.run()
	}
	return w
}

// Begin marks the start of a turn; call it on the goroutine that runs
// JavaScript.
func (w *Watchdog) Begin() {
	w.turnSeq.Add(1)
	w.turnStart.Store(time.Now().UnixNano())
	if w.sleeping.Load() {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// End marks the end of the turn, outside JavaScript. After an interrupt it
// clears the interrupt (which may have landed after the turn's JavaScript
// returned) and lets goja drop the interrupted frames: goja keeps their
// values on its stack until a call returns normally, so the memory a turn
// stopped at JS_MEMORY_LIMIT retained would otherwise stay live. After a
// memory interrupt it also runs a GC, so that the next turn's baseline
// does not count that garbage as live.
func (w *Watchdog) End() {
	w.mu.Lock()
	w.turnStart.Store(0)
	lim := w.interrupted
	if lim != nil {
		w.vm.ClearInterrupt()
		w.interrupted = nil
	}
	w.mu.Unlock()
	if lim != nil {
		_, _ = w.vm.RunProgram(emptyProgram)
		if lim.Kind == Memory {
			runtime.GC()
		}
	}
}

// emptyProgram returns at once; running it resets goja's value stack.
var emptyProgram = goja.MustCompile("jsguard-reset.js", "", false)

// Pause stops the clock of the running turn while it waits in Go for work
// that has its own watchdog (a use_execjs call): that work's time is not
// charged to the turn, and its heap growth is not either. The returned
// function resumes the turn with the time it had used; call it on the
// same goroutine before JavaScript runs again. An interrupt already
// raised stays pending and lands when JavaScript resumes.
func (w *Watchdog) Pause() (resume func()) {
	start := w.turnStart.Swap(0)
	if start == 0 {
		return func() {}
	}
	used := time.Now().UnixNano() - start
	return func() {
		// A new sequence number: the watchdog takes a fresh heap baseline
		// and a fresh grace period for an interrupt that is still due.
		w.turnSeq.Add(1)
		w.turnStart.Store(time.Now().UnixNano() - used)
		if w.sleeping.Load() {
			select {
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Close stops the watchdog goroutine. It is idempotent.
func (w *Watchdog) Close() {
	w.closeOnce.Do(func() { close(w.quit) })
}

func (w *Watchdog) run() {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	var (
		seq           uint64
		base          uint64 // live heap at the turn's first check
		allocBase     uint64 // allocated heap at the last baseline or GC
		sampled       bool
		interruptedAt time.Time
		lim           *LimitError
	)
	for {
		if w.turnStart.Load() == 0 {
			// Park until the next turn: an idle runtime costs no wake-ups.
			t.Stop()
			w.sleeping.Store(true)
			if w.turnStart.Load() == 0 {
				select {
				case <-w.wake:
				case <-w.quit:
					return
				}
			}
			w.sleeping.Store(false)
			t.Reset(w.tick)
		}
		select {
		case <-t.C:
		case <-w.quit:
			return
		}
		start := w.turnStart.Load()
		if start == 0 {
			continue
		}
		if cur := w.turnSeq.Load(); cur != seq {
			seq, sampled, interruptedAt = cur, false, time.Time{}
		}
		if !interruptedAt.IsZero() {
			if time.Since(interruptedAt) <= w.lim.Grace || !w.running(seq) {
				continue
			}
			w.Close()
			if w.onStuck != nil {
				w.onStuck(&StuckError{Limit: lim, Grace: w.lim.Grace})
			}
			return
		}
		switch {
		case w.lim.Timeout > 0 && time.Since(time.Unix(0, start)) > w.lim.Timeout:
			lim = TimeoutError(w.lim.Timeout)
		case w.lim.Memory > 0:
			if !sampled {
				base, allocBase, sampled = readMetric(heapMetric), readMetric(allocMetric), true
				continue
			}
			// A GC that finds less live than the baseline freed garbage
			// made before the turn (an earlier turn's interrupted
			// allocations): the baseline follows it down.
			live := readMetric(heapMetric)
			base = min(base, live)
			if int64(live-base) <= w.lim.Memory {
				// The live figure is from the last GC: when the heap has
				// grown by the limit since, see what is live now.
				if a := readMetric(allocMetric); a <= allocBase || int64(a-allocBase) <= w.lim.Memory {
					continue
				}
				runtime.GC()
				allocBase = readMetric(allocMetric)
				live = readMetric(heapMetric)
				base = min(base, live)
				if int64(live-base) <= w.lim.Memory {
					continue
				}
			}
			lim = MemoryError(w.lim.Memory)
		default:
			continue
		}
		if w.interrupt(seq, lim) {
			interruptedAt = time.Now()
		}
	}
}

// Interrupt interrupts the running turn now, as the watchdog does when the
// turn passes lim: JavaScript stops with an InterruptedError wrapping lim,
// and End clears the interrupt should the turn's JavaScript have returned
// already, so it never reaches the next turn. It reports false when no turn
// is running, or the running one is paused (nothing is interrupted, and
// nothing is left pending).
func (w *Watchdog) Interrupt(lim *LimitError) bool {
	return w.interrupt(w.turnSeq.Load(), lim)
}

// running reports whether turn seq is still running.
func (w *Watchdog) running(seq uint64) bool {
	return w.turnSeq.Load() == seq && w.turnStart.Load() != 0
}

// interrupt interrupts turn seq if it is still running.
func (w *Watchdog) interrupt(seq uint64, lim *LimitError) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.running(seq) {
		return false
	}
	w.interrupted = lim
	w.vm.Interrupt(lim)
	return true
}

func readMetric(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
