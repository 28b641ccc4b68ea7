package jsbridge

import (
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
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

	// wd enforces JS_TIMEOUT and JS_MEMORY_LIMIT on each job (a turn); a
	// turn stuck in a built-in abandons the runtime (onAbandon).
	wd        *jsguard.Watchdog
	onAbandon func(error)

	// afterJob, when set (tests only), runs after each job returned and
	// before its turn ends (wd.End): the window in which a watchdog
	// interrupt that missed the job's JavaScript still lands, and which
	// End must close so that the interrupt never hits the next job.
	afterJob func()
}

// errLoopClosed is returned for work posted after the spider closed.
var errLoopClosed = errors.New("javascript runtime is closed")

func newLoop(vm *goja.Runtime, lim jsguard.Limits) *loop {
	l := &loop{
		vm:   vm,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		dead: make(chan struct{}),
	}
	l.wd = jsguard.NewWatchdog(vm, lim, func(stuck *jsguard.StuckError) {
		l.abandon(fmt.Errorf("%w: a callback %w", ErrAbandoned, stuck))
	})
	return l
}

// abandon gives up on the runtime: it is never used again.
func (l *loop) abandon(err error) {
	l.close(err)
	if l.onAbandon != nil {
		l.onAbandon(err)
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
	l.wd.Begin()
	defer func() {
		// A Go panic inside a job (a bug in a native function) must not
		// take the process down: the runtime's state is unknown afterwards,
		// so it is abandoned like a runtime that would not stop.
		if r := recover(); r != nil {
			l.wd.End()
			l.abandon(fmt.Errorf("%w: internal error in the javascript bridge: %v\n%s", ErrAbandoned, r, debug.Stack()))
		}
	}()
	job()
	if l.afterJob != nil {
		l.afterJob()
	}
	l.wd.End()
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
	l.wd.Close()
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
