package jsbridge

import (
	"time"

	"github.com/dop251/goja"
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

func (s *Spider) installTimers() {
	add := func(repeat bool) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			fn, ok := goja.AssertFunction(call.Argument(0))
			if !ok {
				panic(s.vm.NewTypeError("setTimeout: callback must be a function"))
			}
			d := time.Duration(call.Argument(1).ToFloat() * float64(time.Millisecond))
			if d < 0 || d != d {
				d = 0
			}
			if repeat && d < time.Millisecond {
				d = time.Millisecond
			}
			s.timerSeq++
			id := s.timerSeq
			if s.cur != nil && s.cur.killed.Load() {
				// Code of a callback ended by CALLBACK_TIMEOUT schedules
				// nothing more.
				return s.vm.ToValue(id)
			}
			t := &jsTimer{fn: fn, interval: d, repeat: repeat, inv: s.cur}
			if len(call.Arguments) > 2 {
				t.args = append([]goja.Value(nil), call.Arguments[2:]...)
			}
			s.timers[id] = t
			s.arm(id, t)
			return s.vm.ToValue(id)
		}
	}
	clearFn := func(call goja.FunctionCall) goja.Value {
		id := call.Argument(0).ToInteger()
		if t, ok := s.timers[id]; ok {
			t.stopped = true
			delete(s.timers, id)
			if t.t.Stop() {
				t.release(nil)
			}
		}
		return goja.Undefined()
	}
	_ = s.vm.Set("setTimeout", add(false))
	_ = s.vm.Set("setInterval", add(true))
	_ = s.vm.Set("clearTimeout", clearFn)
	_ = s.vm.Set("clearInterval", clearFn)
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
