package execjs

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
)

// Error is every error of this package. Its text is
//
//	execjs sign: call "get_sign": sign.js:12:9: TypeError: Cannot read property 'x' of undefined
//		at get_sign (sign.js:12:9(14))
//
// i.e. the context, the operation, the JS position (file:line:col, file
// named relative to the context file) and message, then the JS stack.
type Error struct {
	Key     string // context key
	Op      string // `load`, `call "fn"`, `eval`, `lookup`
	Pos     string // file:line:col of the innermost JS frame; may be empty
	Message string // the JS error's toString(), or a description
	Stack   string // JS stack, one "\tat ..." line per frame; may be empty
	Err     error  // cause: a sentinel (ErrTimeout...), a *CopyError, or nil
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("execjs ")
	b.WriteString(e.Key)
	b.WriteString(": ")
	b.WriteString(e.Op)
	b.WriteString(": ")
	if e.Pos != "" {
		b.WriteString(e.Pos)
		b.WriteString(": ")
	}
	switch {
	case e.Message != "":
		b.WriteString(e.Message)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	}
	if e.Stack != "" {
		b.WriteString("\n")
		b.WriteString(strings.TrimRight(e.Stack, "\n"))
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// CopyError reports a value that cannot cross between runtimes: Path is
// e.g. "result.a[2]" or "args[0].key", Reason e.g. "cyclic reference" or
// "function is not copyable". It is jsvalue's PathError, shared with
// jsbridge.ValueError.
type CopyError = jsvalue.PathError

// stackPos finds "file:line:col" in a goja stack line such as
// "at f (sign.js:3:9(12))" or "at sign.js:3:9(12)".
var stackPos = regexp.MustCompile(`([^\s()]+:\d+:\d+)\(\d+\)`)

// wrapJSError turns what goja returned into an *Error.
func (ctx *jsContext) wrapJSError(op string, err error) *Error {
	e := &Error{Key: ctx.key, Op: op}
	var parse *syntaxError
	if errors.As(err, &parse) {
		e.Pos, e.Message = parse.pos, "SyntaxError: "+parse.msg
		return e
	}
	// Interrupts, limits, stack overflows and exceptions are classified as
	// in jsbridge (jsguard.Classify); the messages are this package's own.
	f := jsguard.Classify(err)
	var syntax *goja.CompilerSyntaxError
	switch {
	case f.Kind == jsguard.StackOverflow:
		e.Message = fmt.Sprintf("RangeError: Maximum call stack size exceeded (%d frames)", maxCallStack)
		e.Pos, e.Stack = frames(f.Frames)
	case f.Kind == jsguard.Limit:
		e.Err, e.Message = f.Limit, ctx.limitMessage(f.Limit)
		e.Pos, e.Stack = frames(f.Frames)
	case f.Kind == jsguard.Interrupt:
		e.Err = fmt.Errorf("%v", f.Interrupt)
		e.Message = e.Err.Error()
		e.Pos, e.Stack = frames(f.Frames)
	case f.Kind == jsguard.Exception:
		e.Message = exceptionMessage(f.Value)
		e.Pos, e.Stack = frames(f.Frames)
		if e.Pos == "" {
			// Errors rethrown from a promise lose goja's frames; the Error
			// object's own stack property still has them.
			if obj, ok := f.Value.(*goja.Object); ok {
				if s := obj.Get("stack"); s != nil && !goja.IsUndefined(s) {
					e.Pos, e.Stack = stackFromString(s.String())
				}
			}
		}
		var exc *goja.Exception
		if errors.As(err, &exc) {
			e.Err = errors.Unwrap(exc)
		}
	case errors.As(err, &syntax):
		e.Message = "SyntaxError: " + syntax.Message
		if syntax.File != nil {
			p := syntax.File.Position(syntax.Offset)
			e.Pos = fmt.Sprintf("%s:%d:%d", p.Filename, p.Line, p.Column)
		}
	default:
		var rej *rejectedError
		if errors.As(err, &rej) {
			e.Message, e.Pos, e.Stack = rej.msg, rej.pos, rej.stack
			return e
		}
		var ce *CopyError
		if errors.As(err, &ce) {
			e.Err = ce
		}
		e.Message = err.Error()
		if e.Err == nil {
			e.Err = err
		}
	}
	return e
}

// limitMessage renders a limit the way this package always has: "timed
// out after 1s (JS_TIMEOUT)", "exceeded memory limit of 64 MiB
// (JS_MEMORY_LIMIT)".
func (ctx *jsContext) limitMessage(lim *jsguard.LimitError) string {
	if lim.Kind == jsguard.Memory {
		return fmt.Sprintf("exceeded memory limit of %d MiB (JS_MEMORY_LIMIT)", ctx.owner.opts.MemoryLimit>>20)
	}
	return fmt.Sprintf("timed out after %s (JS_TIMEOUT)", ctx.owner.opts.timeout())
}

// exceptionMessage renders a thrown value: Error objects by toString()
// ("TypeError: x"), other values as JS would print them.
func exceptionMessage(v goja.Value) string {
	if v == nil {
		return "exception"
	}
	if obj, ok := v.(*goja.Object); ok && obj.ClassName() == "Error" {
		return v.String()
	}
	return "uncaught " + v.String()
}

// maxStackLines bounds the stack text; deep stacks are mostly repetition.
const maxStackLines = 30

// frames returns the innermost JS (non-native) position and the stack
// text, with runs of identical frames (recursion) folded into one line.
func frames(st []goja.StackFrame) (pos, stack string) {
	var b strings.Builder
	prev, repeat, lines := "", 0, 0
	flush := func() {
		if repeat > 0 {
			fmt.Fprintf(&b, "\t... repeated %d more times\n", repeat)
			lines++
		}
		repeat = 0
	}
	for i := range st {
		f := &st[i]
		if pos == "" && f.SrcName() != "<native>" {
			pos = jsguard.FramePos(f)
		}
		var fb strings.Builder
		writeFrame(&fb, f)
		line := fb.String()
		if line == prev {
			repeat++
			continue
		}
		flush()
		if lines >= maxStackLines {
			fmt.Fprintf(&b, "\t... %d more frames\n", len(st)-i)
			break
		}
		b.WriteString("\tat " + line + "\n")
		prev = line
		lines++
	}
	flush()
	return pos, b.String()
}

func writeFrame(b *strings.Builder, f *goja.StackFrame) {
	if f.SrcName() == "<native>" {
		b.WriteString(nativeName(f.FuncName()) + " (native)")
		return
	}
	loc := jsguard.FramePos(f)
	if n := f.FuncName(); n != "<anonymous>" && n != "" {
		b.WriteString(n + " (" + loc + ")")
		return
	}
	b.WriteString(loc)
}

var goClosure = regexp.MustCompile(`(\.func\d+)+$`)

// nativeName shortens the Go symbol goja uses as a native function's name
// ("github.com/.../execjs.(*jsContext).importScripts.func4") to the part a
// script author recognizes ("importScripts").
func nativeName(n string) string {
	if !strings.ContainsAny(n, "/(") {
		return n
	}
	n = goClosure.ReplaceAllString(n, "")
	if i := strings.LastIndexByte(n, '.'); i >= 0 {
		n = n[i+1:]
	}
	return n
}

// stackFromString parses an Error.stack property ("Error: x\n\tat f (a.js:1:2(3))").
func stackFromString(s string) (pos, stack string) {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "at ") {
			continue
		}
		if _, file, ln, col, ok := jsguard.ParseStackLine(line); ok && pos == "" {
			pos = file + ":" + ln + ":" + col
		}
		b.WriteString("\t" + stackPos.ReplaceAllString(line, "$1") + "\n")
	}
	return pos, b.String()
}
