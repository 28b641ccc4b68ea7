package execjs

import (
	"fmt"
	"sort"
	"time"

	"github.com/dop251/goja"
)

// maxTimerFires bounds timer callbacks run for one call (a setInterval
// polling a promise that never settles must end with an error, not spin
// until the timeout).
const maxTimerFires = 10000

// maxDelayMillis is the largest delay browsers honour (2^31-1 ms); it also
// keeps the conversion to time.Duration from overflowing.
const maxDelayMillis = 1<<31 - 1

// timerQueue implements setTimeout/setInterval for a synchronous context.
// Nothing ever waits for a timer: after the file loads and after every
// call, timers whose delay has elapsed run in due order (microtasks run
// after each). Timers not yet due stay queued for a later call. Only when a
// call returns a pending Promise are future timers fast-forwarded (run
// without waiting, earliest first) until the promise settles, so
// `await new Promise(r => setTimeout(r, 100))` completes at once.
type timerQueue struct {
	seq     int64
	pending map[int64]*timer
	fires   int // callbacks run since the current call started
}

type timer struct {
	id       int64
	fn       goja.Callable
	src      string // setTimeout("code") form
	args     []goja.Value
	due      time.Time
	interval time.Duration // > 0 for setInterval
}

func newTimerQueue() *timerQueue { return &timerQueue{pending: map[int64]*timer{}} }

func (q *timerQueue) install(vm *goja.Runtime) error {
	add := func(repeat bool) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			t := &timer{}
			cb := call.Argument(0)
			if f, ok := goja.AssertFunction(cb); ok {
				t.fn = f
			} else {
				t.src = cb.String()
			}
			ms := call.Argument(1).ToFloat()
			if !(ms > 0) { // undefined, NaN and negative mean 0, as in browsers
				ms = 0
			}
			ms = min(ms, maxDelayMillis)
			delay := time.Duration(ms * float64(time.Millisecond))
			if len(call.Arguments) > 2 {
				t.args = append([]goja.Value(nil), call.Arguments[2:]...)
			}
			if repeat {
				// Browsers clamp repeating timers; without it a 0ms
				// interval would be due again immediately.
				t.interval = max(delay, time.Millisecond)
			}
			t.due = time.Now().Add(delay)
			q.seq++
			t.id = q.seq
			q.pending[t.id] = t
			return vm.ToValue(t.id)
		}
	}
	clear := func(call goja.FunctionCall) goja.Value {
		delete(q.pending, call.Argument(0).ToInteger())
		return goja.Undefined()
	}
	for name, v := range map[string]any{
		"setTimeout":     add(false),
		"setInterval":    add(true),
		"setImmediate":   add(false),
		"clearTimeout":   clear,
		"clearInterval":  clear,
		"clearImmediate": clear,
	} {
		if err := vm.GlobalObject().DefineDataProperty(name, vm.ToValue(v), goja.FLAG_TRUE, goja.FLAG_FALSE, goja.FLAG_TRUE); err != nil {
			return fmt.Errorf("install %s: %w", name, err)
		}
	}
	return nil
}

// ordered returns the pending timers sorted by (due, id).
func (q *timerQueue) ordered() []*timer {
	ts := make([]*timer, 0, len(q.pending))
	for _, t := range q.pending {
		ts = append(ts, t)
	}
	sort.Slice(ts, func(i, j int) bool {
		if !ts[i].due.Equal(ts[j].due) {
			return ts[i].due.Before(ts[j].due)
		}
		return ts[i].id < ts[j].id
	})
	return ts
}

// runDue runs the timers due now. An interval is re-armed relative to now,
// so it runs at most once per drain.
func (q *timerQueue) runDue(vm *goja.Runtime) error {
	now := time.Now()
	for len(q.pending) > 0 {
		t := q.ordered()[0]
		if t.due.After(now) {
			return nil
		}
		if err := q.fire(vm, t, now); err != nil {
			return err
		}
	}
	return nil
}

// runNext runs the earliest timer whether due or not; false when none.
func (q *timerQueue) runNext(vm *goja.Runtime) (bool, error) {
	ts := q.ordered()
	if len(ts) == 0 {
		return false, nil
	}
	t := ts[0]
	now := time.Now()
	if t.due.After(now) {
		now = t.due
	}
	return true, q.fire(vm, t, now)
}

func (q *timerQueue) fire(vm *goja.Runtime, t *timer, now time.Time) error {
	q.fires++
	if q.fires > maxTimerFires {
		return fmt.Errorf("more than %d timer callbacks in one call (a setInterval that never stops?)", maxTimerFires)
	}
	if t.interval > 0 {
		t.due = now.Add(t.interval)
	} else {
		delete(q.pending, t.id)
	}
	var err error
	if t.fn != nil {
		_, err = t.fn(goja.Undefined(), t.args...)
	} else {
		_, err = vm.RunString(t.src)
	}
	return err
}
