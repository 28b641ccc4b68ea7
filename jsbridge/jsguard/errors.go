package jsguard

import (
	"errors"
	"fmt"
	"regexp"

	"github.com/dop251/goja"
)

// FailureKind says what a goja call failed with.
type FailureKind int

const (
	// GoFailure is any other error: a Go error the host returned or
	// wrapped (a value conversion error, a compile error, ...).
	GoFailure FailureKind = iota
	// Exception is a thrown JS value (Value).
	Exception
	// Limit is JS_TIMEOUT or JS_MEMORY_LIMIT: the watchdog's interrupt
	// (Limit).
	Limit
	// Interrupt is any other interrupt (Interrupt: its value, such as a
	// cancelled context's error).
	Interrupt
	// StackOverflow is goja's call-stack limit.
	StackOverflow
)

// Failure is an error returned by goja, classified one way for both hosts.
// How it is rendered is each host's own: jsbridge builds an *Error that
// names the callback and the URL ("callback parse exceeded JS_TIMEOUT 1s at
// a.js:3:5 — infinite loop?"), execjs an *Error that names the context and
// the operation ("timed out after 1s (JS_TIMEOUT)"), as PyExecJS users
// expect.
type Failure struct {
	Kind      FailureKind
	Value     goja.Value        // Exception: the thrown value
	Limit     *LimitError       // Limit
	Interrupt any               // Interrupt: the value given to Runtime.Interrupt
	Frames    []goja.StackFrame // goja's frames (all kinds but GoFailure)
	Err       error             // the error classified
}

// Classify classifies an error returned by goja (RunProgram, a Callable,
// a promise's rejection turned into an error). Interrupts come first: an
// interrupt's error is never an exception.
func Classify(err error) Failure {
	f := Failure{Err: err}
	if lim, intr := Interrupted(err); intr != nil {
		f.Frames = intr.Stack()
		if lim != nil {
			f.Kind, f.Limit = Limit, lim
		} else {
			f.Kind, f.Interrupt = Interrupt, intr.Value()
		}
		return f
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		f.Kind, f.Frames = StackOverflow, so.Stack()
		return f
	}
	var ex *goja.Exception
	if errors.As(err, &ex) {
		f.Kind, f.Value, f.Frames = Exception, ex.Value(), ex.Stack()
		return f
	}
	return f
}

// FramePos is a frame's "file:line:col" (source-mapped by goja when the
// program was compiled with its source map).
func FramePos(f *goja.StackFrame) string {
	p := f.Position()
	return fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
}

// stackLine matches the frames of goja's Error.stack text:
// "at fn (file:line:col(pc))", "at file:line:col(pc)".
var stackLine = regexp.MustCompile(`^\s*at (?:(.*?) \()?(.*?):(\d+):(\d+)(?:\(\d+\))?\)?$`)

// ParseStackLine parses one line of a goja Error.stack property into the
// function name ("" for an anonymous or top-level frame), the file, and the
// line and column (goja's "(pc)" suffix dropped). ok is false for lines that
// are not a positioned frame ("TypeError: x", "at native").
func ParseStackLine(line string) (fn, file, lineNo, col string, ok bool) {
	m := stackLine.FindStringSubmatch(line)
	if m == nil {
		return "", "", "", "", false
	}
	return m[1], m[2], m[3], m[4], true
}
