// Package jstimers is the JavaScript side of timers, shared by both goja
// hosts (spider callbacks in jsbridge, use_execjs contexts in execjs):
// the globals setTimeout, setInterval, setImmediate and their clear*
// functions, with one set of rules for their arguments and ids.
//
// When a timer runs is the host's business, and differs on purpose: a
// callback's timers fire on the spider's event loop in real time (a spider
// may wait), while an execjs call is synchronous (PyExecJS's contract) and
// fast-forwards the timers it waits on. A host implements Scheduler.
package jstimers

import (
	"fmt"
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
)

// MaxDelay is the largest delay honoured. Like Node.js, a larger one (it
// would not fit a 32-bit signed integer of milliseconds) becomes 1 ms.
const MaxDelay = (1<<31 - 1) * time.Millisecond

// Timer is one timer as its creator asked for it.
type Timer struct {
	// Fn is the callback; nil when Code is set (setTimeout("code"), only
	// where the host allows it).
	Fn   goja.Callable
	Code string
	Args []goja.Value
	// Delay is the normalised delay: 0 for undefined, NaN or negative,
	// 1 ms past MaxDelay, at least 1 ms for an interval (as browsers
	// clamp, or a 0 ms interval would be due again at once).
	Delay  time.Duration
	Repeat bool
}

// Scheduler runs timers for a host. Add returns the timer's id (> 0);
// Clear of an unknown or finished id does nothing.
type Scheduler interface {
	Add(t Timer) int64
	Clear(id int64)
}

// Options say what a host accepts.
type Options struct {
	// Code allows a string as the callback (evaluated as a script when
	// the timer fires), as browsers and execjs do; otherwise it is a
	// TypeError.
	Code bool
}

// Install defines the six globals on vm, backed by s.
func Install(vm *goja.Runtime, s Scheduler, o Options) error {
	add := func(name string, repeat, immediate bool) func(goja.FunctionCall) goja.Value {
		return func(call goja.FunctionCall) goja.Value {
			t, err := parse(call, repeat, immediate, o)
			if err != nil {
				panic(vm.NewTypeError("%s: %v", name, err))
			}
			return vm.ToValue(s.Add(t))
		}
	}
	clear := func(call goja.FunctionCall) goja.Value {
		if id := call.Argument(0).ToInteger(); id > 0 {
			s.Clear(id)
		}
		return goja.Undefined()
	}
	for name, v := range map[string]func(goja.FunctionCall) goja.Value{
		"setTimeout":     add("setTimeout", false, false),
		"setInterval":    add("setInterval", true, false),
		"setImmediate":   add("setImmediate", false, true),
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

// parse reads (callback, delay, ...args), or (callback, ...args) for
// setImmediate.
func parse(call goja.FunctionCall, repeat, immediate bool, o Options) (Timer, error) {
	t := Timer{Repeat: repeat}
	cb := call.Argument(0)
	if f, ok := goja.AssertFunction(cb); ok {
		t.Fn = f
	} else if o.Code && cb != nil && !goja.IsUndefined(cb) && !goja.IsNull(cb) {
		t.Code = cb.String()
	} else {
		return t, fmt.Errorf("callback must be a function, got %s", jsvalue.TypeName(cb))
	}
	argsFrom := 2
	if immediate {
		argsFrom = 1
	} else {
		t.Delay = Delay(call.Argument(1), repeat)
	}
	if len(call.Arguments) > argsFrom {
		t.Args = append([]goja.Value(nil), call.Arguments[argsFrom:]...)
	}
	return t, nil
}

// Delay normalises a delay argument (milliseconds) by the rules of Timer.
func Delay(v goja.Value, repeat bool) time.Duration {
	ms := 0.0
	if v != nil && !goja.IsUndefined(v) {
		ms = v.ToFloat()
	}
	var d time.Duration
	switch {
	case !(ms > 0): // NaN, negative, 0
		d = 0
	case ms > float64(MaxDelay/time.Millisecond):
		d = time.Millisecond
	default:
		d = time.Duration(ms * float64(time.Millisecond))
	}
	if repeat && d < time.Millisecond {
		d = time.Millisecond
	}
	return d
}
