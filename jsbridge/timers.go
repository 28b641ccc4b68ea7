package jsbridge

import (
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jstimers"
)

// jsTimer is one setTimeout / setInterval timer.
type jsTimer struct {
	t        *time.Timer
	release  func(func())
	fn       goja.Callable
	args     []goja.Value
	interval time.Duration
	repeat   bool
	stopped  bool
	inv      *invocation
}

// spiderTimers is the spider's jstimers.Scheduler: timers fire on the
// event loop in real time, each holding a loop reservation.
type spiderTimers struct{ s *Spider }

func (s *Spider) installTimers() {
	_ = jstimers.Install(s.vm, spiderTimers{s}, jstimers.Options{})
}

// Add implements jstimers.Scheduler.
func (st spiderTimers) Add(j jstimers.Timer) int64 {
	s := st.s
	s.timerSeq++
	id := s.timerSeq
	if s.cur != nil && s.cur.killed.Load() {
		// Code of a callback ended by CALLBACK_TIMEOUT schedules
		// nothing more.
		return id
	}
	t := &jsTimer{fn: j.Fn, args: j.Args, interval: j.Delay, repeat: j.Repeat, inv: s.cur}
	s.timers[id] = t
	s.arm(id, t)
	return id
}

// Clear implements jstimers.Scheduler.
func (st spiderTimers) Clear(id int64) {
	s := st.s
	if t, ok := s.timers[id]; ok {
		t.stopped = true
		delete(s.timers, id)
		if t.t.Stop() {
			t.release(nil)
		}
	}
}

// arm schedules one firing of t; each firing holds a loop reservation so a
// pending timer keeps the spider from being reported as stalled.
func (s *Spider) arm(id int64, t *jsTimer) {
	release := s.loop.reserve()
	t.release = release
	t.t = time.AfterFunc(t.interval, func() {
		release(func() {
			if t.stopped {
				return
			}
			if !t.repeat {
				delete(s.timers, id)
			}
			s.enter(t.inv, "timer", func() error {
				_, err := t.fn(goja.Undefined(), t.args...)
				return err
			})
			if t.repeat && !t.stopped {
				s.arm(id, t)
			}
		})
	})
}
