package execjs

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"regexp"
	"strings"
	"sync"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
)

// jsContext is one file's isolated runtime. mu serializes every use of vm:
// goja runtimes are not goroutine-safe.
type jsContext struct {
	owner *Contexts
	key   string
	path  string // as given (for messages)
	dir   string // importScripts and require resolve relative to it
	name  string // script name in positions: the file's base name
	prog  *goja.Program

	mu     sync.Mutex
	st     *vmState // nil after a fault: reloaded on next use
	closed bool
	// zombie is closed when the call whose runtime was abandoned (stuck in
	// a built-in) ends; until then the context is not reloaded, so that
	// abandoned runtimes never pile up.
	zombie chan struct{}
}

// vmState is everything tied to one goja runtime. After a timeout or a
// memory-limit interrupt the whole state is dropped and the file is loaded
// again: a half-run script can leave globals inconsistent, and a runtime
// stuck in a built-in that ignores Interrupt must never be reused.
type vmState struct {
	vm     *goja.Runtime
	timers *timerQueue
	lookup map[string]*goja.Program // lexical top-level names (let/const/class)
	// wd enforces JS_TIMEOUT and JS_MEMORY_LIMIT on each call; stuck
	// receives its report of a call that ignored the interrupt.
	wd    *jsguard.Watchdog
	stuck chan *jsguard.StuckError
}

// watch starts the state's watchdog with the limits of opts.
func (st *vmState) watch(opts Options) {
	st.stuck = make(chan *jsguard.StuckError, 1)
	st.wd = jsguard.NewWatchdog(st.vm, jsguard.Limits{Timeout: opts.timeout(), Memory: opts.MemoryLimit}, func(e *jsguard.StuckError) {
		st.stuck <- e
	})
}

// close stops the state's watchdog; the runtime is garbage once the call
// running in it (if any) ends.
func (st *vmState) close() { st.wd.Close() }

func newContext(owner *Contexts, key, path string) (*jsContext, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{Key: key, Op: "load", Message: err.Error(), Err: err}
	}
	ctx := &jsContext{owner: owner, key: key, path: path, dir: dirOf(path), name: baseName(path)}
	prog, err := compileScript(ctx.name, src)
	if err != nil {
		return nil, ctx.wrapJSError("load", err)
	}
	ctx.prog = prog
	ctx.mu.Lock()
	defer ctx.mu.Unlock()
	if err := ctx.ensureLoaded("load"); err != nil {
		return nil, err
	}
	return ctx, nil
}

// ensureLoaded builds the runtime and runs the file if needed (at start,
// and again after a fault dropped it); mu is held. op names the caller's
// operation for ErrClosed.
func (ctx *jsContext) ensureLoaded(op string) error {
	if ctx.closed {
		return &Error{Key: ctx.key, Op: op, Err: ErrClosed}
	}
	if ctx.st != nil {
		return nil
	}
	if ctx.zombie != nil {
		select {
		case <-ctx.zombie:
			ctx.zombie = nil
		default:
			return &Error{Key: ctx.key, Op: op, Err: ErrStuck,
				Message: "the previous call is still running in a built-in that ignores interrupts (its runtime was abandoned); the context reloads once it ends"}
		}
	}
	st, err := ctx.newState()
	if err != nil {
		return &Error{Key: ctx.key, Op: "load", Message: err.Error(), Err: err}
	}
	ctx.st = st
	_, err = ctx.run(st, "load", func() (goja.Value, error) {
		if _, err := st.vm.RunProgram(ctx.prog); err != nil {
			return nil, err
		}
		return goja.Undefined(), nil
	})
	if err != nil {
		ctx.drop()
		return err
	}
	return nil
}

// drop forgets the current runtime (after a fault, or on close); mu is
// held.
func (ctx *jsContext) drop() {
	if ctx.st != nil {
		ctx.st.close()
		ctx.st = nil
	}
}

func (ctx *jsContext) call(fn string, args []any) (any, error) {
	op := fmt.Sprintf("call %q", fn)
	ctx.mu.Lock()
	defer ctx.mu.Unlock()
	if err := ctx.ensureLoaded(op); err != nil {
		return nil, err
	}
	st := ctx.st
	return ctx.run(st, op, func() (goja.Value, error) {
		callee, this, err := ctx.resolve(st, fn)
		if err != nil {
			return nil, err
		}
		jargs := make([]goja.Value, len(args))
		for i, a := range args {
			v, err := toJS(st.vm, a, fmt.Sprintf("args[%d]", i))
			if err != nil {
				return nil, err
			}
			jargs[i] = v
		}
		return callee(this, jargs...)
	})
}

func (ctx *jsContext) eval(src string) (any, error) {
	ctx.mu.Lock()
	defer ctx.mu.Unlock()
	if err := ctx.ensureLoaded("eval"); err != nil {
		return nil, err
	}
	prog, err := compileScript("<eval>", []byte(src))
	if err != nil {
		return nil, ctx.wrapJSError("eval", err)
	}
	st := ctx.st
	return ctx.run(st, "eval", func() (goja.Value, error) {
		return st.vm.RunProgram(prog)
	})
}

func (ctx *jsContext) close() {
	ctx.mu.Lock()
	defer ctx.mu.Unlock()
	ctx.closed = true
	ctx.drop()
}

var dottedName = regexp.MustCompile(`^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$`)

// resolve finds fn: a global function, a top-level let/const/class binding
// (not on the global object, so looked up by evaluating the name), or a
// dotted path whose last object becomes `this`.
func (ctx *jsContext) resolve(st *vmState, fn string) (goja.Callable, goja.Value, error) {
	if !dottedName.MatchString(fn) {
		return nil, nil, fmt.Errorf("%w: %q is not a function name or dotted path", ErrNotFunction, fn)
	}
	parts := strings.Split(fn, ".")
	head := parts[0]
	v := st.vm.GlobalObject().Get(head)
	if v == nil {
		prog, ok := st.lookup[head]
		if !ok {
			var err error
			prog, err = goja.Compile("<lookup>", "typeof "+head+" === 'undefined' ? undefined : "+head, false)
			if err != nil {
				return nil, nil, err
			}
			st.lookup[head] = prog
		}
		var err error
		if v, err = st.vm.RunProgram(prog); err != nil {
			return nil, nil, err
		}
	}
	this := goja.Undefined()
	for i := 1; i < len(parts); i++ {
		if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
			break
		}
		this = v
		v = v.ToObject(st.vm).Get(parts[i])
	}
	if v == nil || goja.IsUndefined(v) {
		return nil, nil, fmt.Errorf("%w: %s is not defined in %s", ErrNotFunction, fn, ctx.name)
	}
	f, ok := goja.AssertFunction(v)
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s is a %s in %s", ErrNotFunction, fn, jsvalue.TypeName(v), ctx.name)
	}
	return f, this, nil
}

// run executes body on a fresh goroutine under the watchdog, then drives
// timers and promises and copies the result out. mu is held by the caller.
//
// The goroutine is what lets us give up on a runtime stuck in a built-in
// that ignores Interrupt and that no jsguard cap covers: when the watchdog
// reports the call stuck (the timeout plus jsguard.Grace after its start),
// the call returns ErrTimeout (or ErrMemoryLimit), the runtime is dropped
// and left to finish on its own, and the next call loads the file into a
// new one once it has.
func (ctx *jsContext) run(st *vmState, op string, body func() (goja.Value, error)) (any, error) {
	type outcome struct {
		v   any
		err error
	}
	done := make(chan outcome, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		var v any
		var err error
		defer func() {
			// A Go panic below JS (a bug of ours, not the script's) must
			// reach the caller as an error, never crash the crawl.
			if r := recover(); r != nil {
				err = fmt.Errorf("internal error: %v", r)
			}
			st.wd.End()
			done <- outcome{v, err}
		}()
		st.wd.Begin()
		v, err = ctx.runBody(st, body)
	}()
	var out outcome
	select {
	case out = <-done:
	case stuck := <-st.stuck:
		ctx.drop()
		ctx.zombie = exited
		return nil, &Error{Key: ctx.key, Op: op, Err: stuck.Limit,
			Message: fmt.Sprintf("%s inside a built-in that ignores interrupts (still running %s after the interrupt); the context is abandoned and reloaded on next use", ctx.limitMessage(stuck.Limit), stuck.Grace)}
	}
	if out.err != nil {
		var e *Error
		if !errors.As(out.err, &e) {
			e = ctx.wrapJSError(op, out.err)
		}
		if errors.Is(e, ErrTimeout) || errors.Is(e, ErrMemoryLimit) {
			// A half-run script can leave its globals inconsistent.
			ctx.drop()
		}
		return nil, e
	}
	return out.v, nil
}

// runBody runs on the call goroutine: the JS body, then due timers, then
// settles a returned promise, then copies the result.
func (ctx *jsContext) runBody(st *vmState, body func() (goja.Value, error)) (any, error) {
	st.timers.fires = 0
	v, err := body()
	if err != nil {
		return nil, err
	}
	if err := st.timers.runDue(st.vm); err != nil {
		return nil, err
	}
	// Check the type first: Export() of an ordinary object would build a
	// throwaway map of the whole value.
	if o, ok := v.(*goja.Object); ok && o.ExportType() == promiseType {
		p := o.Export().(*goja.Promise)
		for p.State() == goja.PromiseStatePending {
			fired, err := st.timers.runNext(st.vm)
			if err != nil {
				return nil, err
			}
			if !fired {
				return nil, fmt.Errorf("%w: the call returned a promise that no job or timer settles", ErrPromisePending)
			}
		}
		if p.State() == goja.PromiseStateRejected {
			return nil, rejection(st.vm, p.Result())
		}
		v = p.Result()
	}
	return fromJS(st.vm, v, "result")
}

var promiseType = reflect.TypeOf((*goja.Promise)(nil))

// rejection turns a rejected promise's reason into an error keeping its stack.
func rejection(vm *goja.Runtime, reason goja.Value) error {
	msg := "uncaught (in promise) "
	if reason == nil {
		return errors.New(msg + "undefined")
	}
	if obj, ok := reason.(*goja.Object); ok && obj.ClassName() == "Error" {
		pos, stack := "", ""
		if s := obj.Get("stack"); s != nil && !goja.IsUndefined(s) {
			pos, stack = stackFromString(s.String())
		}
		return &rejectedError{msg: "uncaught (in promise) " + reason.String(), pos: pos, stack: stack}
	}
	return errors.New(msg + reason.String())
}

type rejectedError struct{ msg, pos, stack string }

func (e *rejectedError) Error() string { return e.msg }
