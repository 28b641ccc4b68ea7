package jsbridge

import (
	"errors"
	"fmt"
	"strings"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
)

// Error is a JavaScript error raised by a callback, errback, pipeline,
// middleware or hook: thrown, yielded, or a limit (JS_TIMEOUT,
// JS_MEMORY_LIMIT). Its position is the user's original file:line:col
// (through the source map; inline scripts name the YAML file).
type Error struct {
	// Where names what ran: `callback parse`, `errback errRet`,
	// `pipeline clean`, `hook spider_opened`, `start`.
	Where string
	// URL is the page the callback ran for, when there is one.
	URL string
	// Type is the JS error name (TypeError, RangeError, DropItem, ...), or
	// JS_TIMEOUT / JS_MEMORY_LIMIT / CALLBACK_TIMEOUT for limits.
	Type string
	// Message is the error message.
	Message string
	// Pos is file:line:col of the innermost frame in the user's code; ""
	// when unknown.
	Pos string
	// Stack is the JS stack, one "at fn (file:line:col)" per line, helper
	// frames removed.
	Stack string
	// Err is the Go cause when the error came from Go (a limit, a value
	// conversion error), else nil.
	Err error
}

// Error formats as "file:line:col: Type: message (callback parse on URL)"
// followed by the JS stack on the next lines.
func (e *Error) Error() string {
	var b strings.Builder
	if errors.Is(e.Err, ErrTimeout) || errors.Is(e.Err, ErrMemoryLimit) || errors.Is(e.Err, ErrCallbackTimeout) {
		// The message already names the callback and the position.
		b.WriteString(e.Message)
		if e.URL != "" {
			b.WriteString(" (on " + e.URL + ")")
		}
		if e.Stack != "" {
			b.WriteString("\n" + e.Stack)
		}
		return b.String()
	}
	if e.Pos != "" {
		b.WriteString(e.Pos)
		b.WriteString(": ")
	}
	if e.Type != "" {
		b.WriteString(e.Type)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	if e.Where != "" || e.URL != "" {
		b.WriteString(" (")
		b.WriteString(e.Where)
		if e.URL != "" {
			if e.Where != "" {
				b.WriteString(" on ")
			}
			b.WriteString(e.URL)
		}
		b.WriteString(")")
	}
	if e.Stack != "" {
		b.WriteString("\n")
		b.WriteString(e.Stack)
	}
	return b.String()
}

// Unwrap returns the Go cause.
func (e *Error) Unwrap() error { return e.Err }

// at renders " at pos", or "" when the position is unknown.
func at(pos string) string {
	if pos == "" {
		return ""
	}
	return " at " + pos
}

// ErrorType is the name stats use: spider_exceptions/<ErrorType>.
func (e *Error) ErrorType() string { return e.Type }

// Limit errors (match with errors.Is). ErrTimeout and ErrMemoryLimit are
// jsguard's, shared with the use_execjs contexts.
var (
	ErrTimeout     = jsguard.ErrTimeout
	ErrMemoryLimit = jsguard.ErrMemoryLimit
	// ErrCallbackTimeout: an invocation did not end within
	// CALLBACK_TIMEOUT (Options.CallbackTimeout).
	ErrCallbackTimeout = errors.New("CALLBACK_TIMEOUT exceeded")
	// ErrAbandoned: the runtime did not stop after an interrupt and was
	// abandoned; the spider cannot run JavaScript any more.
	ErrAbandoned = errors.New("javascript runtime abandoned")
)

// helperFile is the goja name of the bundle; frames still named by it are
// in esbuild's helpers (no source mapping) and are dropped from stacks.
const helperFile = "spiderrun-bundle.js"

// preludeFile is the goja name of the prelude.
const preludeFile = "spiderrun-prelude.js"

// maxStackFrames bounds the frames kept in an error: a stack overflow has
// thousands, and mapping each through the source map costs time.
const maxStackFrames = 20

// cleanStack rewrites a goja stack: drops helper, prelude and native frames
// and goja's "(pc)" suffixes, and keeps at most maxStackFrames. It returns
// the cleaned stack and the first user frame's file:line:col.
func (s *Spider) cleanStack(stack string) (string, string) {
	var out []string
	first := ""
	more := 0
	for len(stack) > 0 {
		line := stack
		if i := strings.IndexByte(stack, '\n'); i >= 0 {
			line, stack = stack[:i], stack[i+1:]
		} else {
			stack = ""
		}
		if len(out) >= maxStackFrames {
			if strings.Contains(line, " at ") || strings.HasPrefix(strings.TrimSpace(line), "at ") {
				more++
			}
			continue
		}
		fn, file, ln, col, ok := jsguard.ParseStackLine(line)
		if !ok {
			continue
		}
		file = s.displayFile(file)
		if file == helperFile || file == preludeFile || file == "native" || strings.HasPrefix(file, "<") {
			continue
		}
		pos := file + ":" + ln + ":" + col
		if first == "" {
			first = pos
		}
		if fn == "" {
			fn = "<anonymous>"
		}
		out = append(out, "\tat "+fn+" ("+pos+")")
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("\t... %d more frames", more))
	}
	return strings.Join(out, "\n"), first
}

// displayFile undoes goja's source-map URL resolution, which drops the
// leading "/" of absolute file names.
func (s *Spider) displayFile(f string) string {
	if s == nil || s.prog == nil || strings.HasPrefix(f, "/") {
		return f
	}
	for _, name := range s.prog.Files {
		if strings.HasPrefix(name, "/") && name[1:] == f {
			return name
		}
	}
	return f
}

// framesStack builds a stack from goja frames (for non-Error throws and
// interrupts).
func (s *Spider) framesStack(frames []goja.StackFrame) (string, string) {
	var b strings.Builder
	n := 0
	for _, f := range frames {
		if n >= 3*maxStackFrames {
			break
		}
		if f.Position().Filename == "" {
			continue
		}
		n++
		fmt.Fprintf(&b, "at %s (%s)\n", f.FuncName(), jsguard.FramePos(&f))
	}
	return s.cleanStack(b.String())
}

// jsError converts a thrown or yielded JS value to *Error. Call on the
// loop only.
func (s *Spider) jsError(v goja.Value, where, url string) *Error {
	e := &Error{Where: where, URL: url}
	if o, ok := v.(*goja.Object); ok {
		name := o.Get("name")
		msg := o.Get("message")
		if present(name) {
			e.Type = name.String()
		}
		if present(msg) {
			e.Message = msg.String()
		} else {
			e.Message = v.String()
		}
		if st := o.Get("stack"); present(st) {
			e.Stack, e.Pos = s.cleanStack(st.String())
		}
		if e.Type == "" {
			e.Type = "Error"
		}
		return e
	}
	e.Type = "Error"
	if v == nil {
		e.Message = "undefined"
	} else {
		e.Message = v.String()
	}
	return e
}

// goError converts an error returned by goja (a *goja.Exception, an
// interrupt, a stack overflow: classified by jsguard.Classify, as in
// execjs) to *Error. Call on the loop only.
func (s *Spider) goError(err error, where, url string) *Error {
	switch f := jsguard.Classify(err); f.Kind {
	case jsguard.Limit, jsguard.Interrupt:
		e := &Error{Where: where, URL: url}
		e.Stack, e.Pos = s.framesStack(f.Frames)
		switch {
		case f.Kind == jsguard.Interrupt:
			e.Type = "Interrupted"
			e.Message = fmt.Sprint(f.Interrupt)
		case f.Limit.Kind == jsguard.Memory:
			e.Type, e.Err = "JS_MEMORY_LIMIT", f.Limit
			e.Message = fmt.Sprintf("%s exceeded JS_MEMORY_LIMIT %s%s", where, f.Limit.Limit, at(e.Pos))
		default:
			e.Type, e.Err = "JS_TIMEOUT", f.Limit
			e.Message = fmt.Sprintf("%s exceeded JS_TIMEOUT %s%s — infinite loop?", where, f.Limit.Limit, at(e.Pos))
		}
		return e
	case jsguard.StackOverflow:
		e := &Error{Where: where, URL: url, Type: "RangeError", Message: "maximum call stack size exceeded", Err: err}
		e.Stack, e.Pos = s.framesStack(f.Frames)
		return e
	case jsguard.Exception:
		e := s.jsError(f.Value, where, url)
		if e.Stack == "" {
			e.Stack, e.Pos = s.framesStack(f.Frames)
		}
		return e
	}
	var je *Error
	if errors.As(err, &je) {
		return je
	}
	return &Error{Where: where, URL: url, Type: "Error", Message: err.Error(), Err: err}
}
