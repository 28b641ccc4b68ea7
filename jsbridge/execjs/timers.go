package execjs

import (
	"fmt"
	"sort"
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jstimers"
)

// maxTimerFires bounds timer callbacks run for one call (a setInterval
// polling a promise that never settles must end with an error, not spin
// until the timeout).
const maxTimerFires = 10000

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

// Add implements jstimers.Scheduler: the timer is due after its delay.
func (q *timerQueue) Add(t jstimers.Timer) int64 {
	q.seq++
	tm := &timer{id: q.seq, fn: t.Fn, src: t.Code, args: t.Args, due: time.Now().Add(t.Delay)}
	if t.Repeat {
		tm.interval = t.Delay
	}
	q.pending[tm.id] = tm
	return tm.id
}

// Clear implements jstimers.Scheduler.
func (q *timerQueue) Clear(id int64) { delete(q.pending, id) }

func (q *timerQueue) install(vm *goja.Runtime) error {
	return jstimers.Install(vm, q, jstimers.Options{Code: true})
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
