package jsbridge

import (
	"errors"
	"fmt"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"
)

// loop is the event loop of one spider: the only goroutine that touches its
// goja runtime. Other goroutines post jobs. Work that goes async (a
// download, a timer) first reserves a slot on the loop and later enqueues
// its completion exactly once through it; a loop with no queued job, no
// reservation and no running job can make no progress by itself — which is
// how stalls are detected (k6's eventloop is the model).
type loop struct {
	vm *goja.Runtime

	mu       sync.Mutex
	queue    []func()
	reserved int
	running  bool
	closed   bool
	wake     chan struct{}
	done     chan struct{} // closed when the loop goroutine exits
	dead     chan struct{} // closed when the runtime is abandoned or closed
	deadErr  error

	// Turn watchdog state, read by the watchdog goroutine.
	turnStart atomic.Int64 // unix nanos of the running job's start; 0 = idle
	turnSeq   atomic.Uint64
	timeout   time.Duration
	memLimit  int64
	grace     time.Duration
	onAbandon func(error)

	// describe names what the running turn is doing, for limit messages; set
	// and read on the loop only, except by the watchdog through interruptMsg.
	interrupted atomic.Pointer[limitError]
}

// limitError is the value passed to vm.Interrupt when a limit is hit.
type limitError struct {
	kind  string // "timeout" or "memory"
	limit string
}

func (e *limitError) Error() string {
	if e.kind == "memory" {
		return "exceeded JS_MEMORY_LIMIT " + e.limit
	}
	return "exceeded JS_TIMEOUT " + e.limit
}

// errLoopClosed is returned for work posted after the spider closed.
var errLoopClosed = errors.New("javascript runtime is closed")

func newLoop(vm *goja.Runtime, timeout time.Duration, memLimit int64) *loop {
	return &loop{
		vm:       vm,
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		dead:     make(chan struct{}),
		timeout:  timeout,
		memLimit: memLimit,
		grace:    max(2*time.Second, timeout),
	}
}

// post queues a job from any goroutine. It reports false when the loop is
// closed (the job will never run).
func (l *loop) post(job func()) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.queue = append(l.queue, job)
	l.mu.Unlock()
	select {
	case l.wake <- struct{}{}:
	default:
	}
	return true
}

// reserve registers pending async work and returns the function that
// completes it: call it exactly once, from any goroutine, with the job to
// run on the loop (nil just releases the slot). Extra calls are ignored.
func (l *loop) reserve() func(job func()) {
	l.mu.Lock()
	l.reserved++
	l.mu.Unlock()
	var once atomic.Bool
	return func(job func()) {
		if !once.CompareAndSwap(false, true) {
			return
		}
		l.mu.Lock()
		l.reserved--
		if l.closed {
			l.mu.Unlock()
			return
		}
		if job != nil {
			l.queue = append(l.queue, job)
		}
		l.mu.Unlock()
		select {
		case l.wake <- struct{}{}:
		default:
		}
	}
}

// quiescent reports whether nothing can run any more: no queued job, no
// reservation (timer, download) and no running job.
func (l *loop) quiescent() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.closed && len(l.queue) == 0 && l.reserved == 0 && !l.running
}

// run is the loop goroutine.
func (l *loop) run() {
	defer close(l.done)
	for {
		l.mu.Lock()
		for len(l.queue) == 0 && !l.closed {
			l.mu.Unlock()
			<-l.wake
			l.mu.Lock()
		}
		if l.closed {
			l.queue = nil
			l.mu.Unlock()
			return
		}
		jobs := l.queue
		l.queue = nil
		l.running = true
		l.mu.Unlock()
		for i, job := range jobs {
			l.runJob(job)
			if l.isDead() {
				clear(jobs[i:])
				return
			}
		}
		l.mu.Lock()
		l.running = false
		l.mu.Unlock()
	}
}

func (l *loop) runJob(job func()) {
	l.turnSeq.Add(1)
	l.turnStart.Store(time.Now().UnixNano())
	defer func() {
		// A Go panic inside a job (a bug in a native function) must not
		// take the process down: the runtime's state is unknown afterwards,
		// so it is abandoned like a runtime that would not stop.
		if r := recover(); r != nil {
			l.turnStart.Store(0)
			err := fmt.Errorf("%w: internal error in the javascript bridge: %v\n%s", ErrAbandoned, r, debug.Stack())
			l.close(err)
			if l.onAbandon != nil {
				l.onAbandon(err)
			}
		}
	}()
	job()
	l.turnStart.Store(0)
	if l.interrupted.Load() != nil {
		// The interrupt may land after the job already returned (a race the
		// watchdog cannot avoid); clear it so it does not hit the next turn.
		l.vm.ClearInterrupt()
		l.interrupted.Store(nil)
	}
}

// wakeSoon returns a channel that fires after a short pause; tests poll
// with it instead of sleeping.
func (l *loop) wakeSoon() <-chan time.Time { return time.After(5 * time.Millisecond) }

func (l *loop) isDead() bool {
	select {
	case <-l.dead:
		return true
	default:
		return false
	}
}

// close stops the loop: queued jobs are dropped and post fails from now on.
func (l *loop) close(err error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	l.deadErr = err
	l.mu.Unlock()
	close(l.dead)
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

func (l *loop) err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deadErr != nil {
		return l.deadErr
	}
	return errLoopClosed
}

// heapBytes reads the live heap from runtime/metrics (cheap, no stop the
// world, unlike runtime.ReadMemStats).
func heapBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// watchdog enforces JS_TIMEOUT and JS_MEMORY_LIMIT on each turn: goja's
// Interrupt stops JS code within milliseconds (RELIABILITY.md M1). A turn
// that does not come back within grace after the interrupt is stuck in a
// built-in: the runtime is abandoned (onAbandon) and never used again.
func (l *loop) watchdog(tick time.Duration) {
	t := time.NewTicker(tick)
	defer t.Stop()
	var seq uint64
	var base int64
	var interruptedAt time.Time
	for {
		select {
		case <-l.done:
			return
		case <-l.dead:
			return
		case <-t.C:
		}
		start := l.turnStart.Load()
		if start == 0 {
			seq, interruptedAt = 0, time.Time{}
			continue
		}
		cur := l.turnSeq.Load()
		if cur != seq {
			seq, interruptedAt = cur, time.Time{}
			if l.memLimit > 0 {
				base = heapBytes()
			}
		}
		if !interruptedAt.IsZero() {
			if time.Since(interruptedAt) > l.grace && l.turnSeq.Load() == seq && l.turnStart.Load() != 0 {
				lim := l.interrupted.Load()
				what := "a limit"
				if lim != nil {
					what = lim.Error()
				}
				err := fmt.Errorf("%w: a callback %s and did not stop within %s of the interrupt (stuck in a built-in)", ErrAbandoned, what, l.grace)
				l.close(err)
				if l.onAbandon != nil {
					l.onAbandon(err)
				}
				return
			}
			continue
		}
		elapsed := time.Since(time.Unix(0, start))
		if l.timeout > 0 && elapsed > l.timeout {
			lim := &limitError{kind: "timeout", limit: l.timeout.String()}
			l.interrupted.Store(lim)
			l.vm.Interrupt(lim)
			interruptedAt = time.Now()
			continue
		}
		if l.memLimit > 0 && base > 0 {
			if grown := heapBytes() - base; grown > l.memLimit {
				lim := &limitError{kind: "memory", limit: formatBytes(l.memLimit)}
				l.interrupted.Store(lim)
				l.vm.Interrupt(lim)
				interruptedAt = time.Now()
			}
		}
	}
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%dMiB", n>>20)
	case n >= 1<<10:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return fmt.Sprintf("%dB", n)
}
