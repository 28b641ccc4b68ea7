package jsbridge

import (
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/weburl"
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
		if e.Type == "GoError" {
			// A GoError of another runtime (installGoErrors renames this
			// one's): named as ours are.
			var gerr error
			if gv := o.Get("value"); gv != nil {
				gerr, _ = gv.Export().(error)
			}
			e.Type = goErrorName(gerr)
			if t := o.Get("type"); gerr == nil && present(t) && t.String() != "" {
				e.Type = t.String()
			}
			e.Stack = strings.ReplaceAll(e.Stack, "GoError", e.Type)
		}
		if strings.Contains(e.Message, "weburl: ") {
			e.Message = strings.ReplaceAll(e.Message, "weburl: ", "")
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

// ---- Go errors thrown into JavaScript ---------------------------------------------

// goErrorName is the JavaScript name of an error a Go function of the
// bridge returned into JS, as Scrapy names an exception by its class:
// TypeError for an argument Go could not use (a CSS, XPath, regex or
// JMESPath query that does not compile, a URL that is none), a download
// failure's type (HttpError, TimeoutError, ... as errbacks see it), Error
// for everything else. Never goja's "GoError".
func goErrorName(err error) string {
	var f *crawl.Failure
	if errors.As(err, &f) && f.Type != "" {
		return string(f.Type)
	}
	if err == nil {
		return "Error"
	}
	if errors.Is(err, weburl.ErrInvalidURL) {
		return "TypeError"
	}
	if errors.Is(err, extract.ErrRegexTimeout) || errors.Is(err, extract.ErrNoJSON) || errors.Is(err, extract.ErrTooDeep) {
		return "Error"
	}
	// The queries extract compiles name themselves: `css "q": why`.
	msg := err.Error()
	for _, p := range []string{`css "`, `xpath "`, `regex "`, `jmespath "`} {
		if strings.HasPrefix(msg, p) && !strings.Contains(msg, "evaluation failed") {
			return "TypeError"
		}
	}
	return "Error"
}

// goErrorMessage is the text of a Go error for a script: Go package
// prefixes ("weburl: ") removed, prefixed with the JS method ("css",
// "response.extract_json") unless it already starts with its name.
func goErrorMessage(method string, err error) string {
	msg := strings.ReplaceAll(err.Error(), "weburl: ", "")
	if method == "" {
		return msg
	}
	short := method[strings.LastIndexByte(method, '.')+1:]
	if strings.HasPrefix(msg, method) || strings.HasPrefix(msg, short+" ") || strings.HasPrefix(msg, short+":") {
		return msg
	}
	return method + ": " + msg
}

// goThrowable is the JavaScript error for err returned by the Go side of
// the JS method (as in goErrorMessage): a TypeError or an Error named by
// goErrorName, whose `cause` is not exposed. Throw it with panic. Loop only.
func (s *Spider) goThrowable(method string, err error) *goja.Object {
	vm := s.vm
	msg := goErrorMessage(method, err)
	name := goErrorName(err)
	var e *goja.Object
	if name == "TypeError" {
		e = vm.NewTypeError("%s", msg)
	} else {
		ctor, _ := goja.AssertConstructor(vm.Get("Error"))
		e, _ = ctor(nil, vm.ToValue(msg))
		if name != "Error" {
			_ = e.DefineDataProperty("name", vm.ToValue(name), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		}
	}
	var f *crawl.Failure
	if errors.As(err, &f) {
		_ = e.Set("type", string(f.Type))
	}
	return e
}

// installGoErrors hides goja's GoError class, which the bridge's Go
// functions (and goja, for a Go function returning an error) throw: its
// instances are named by goErrorName (`e.name`, their stack's first line
// and Error.prototype.toString read it), their constructor is Error, and
// the GoError global is removed. Native functions named after their Go
// implementation ("github.com/…/jsbridge.(*Spider).installResponse.func3",
// which a stack shows) are renamed after the property that holds them.
// Runs once, after install. Loop only (before the loop starts).
func (s *Spider) installGoErrors() error {
	vm := s.vm
	ge, ok := vm.Get("GoError").(*goja.Object)
	if !ok {
		return errors.New("jsbridge: goja has no GoError class")
	}
	proto, ok := ge.Get("prototype").(*goja.Object)
	if !ok {
		return errors.New("jsbridge: GoError has no prototype")
	}
	getName := vm.ToValue(func(call goja.FunctionCall) goja.Value {
		o, ok := call.This.(*goja.Object)
		if !ok {
			return vm.ToValue("Error")
		}
		var err error
		if v := o.Get("value"); v != nil {
			err, _ = v.Export().(error)
		}
		if err == nil {
			// spider.download's rejection carries its failure's type
			// (HttpError, ...) and a plain value object.
			if t := o.Get("type"); t != nil && t.ExportType() != nil && t.ExportType().Kind() == reflect.String && t.String() != "" {
				return t
			}
			return vm.ToValue("Error")
		}
		return vm.ToValue(goErrorName(err))
	}).(*goja.Object)
	_ = getName.DefineDataProperty("name", vm.ToValue("get name"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	if err := proto.DefineAccessorProperty("name", getName, nil, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return fmt.Errorf("jsbridge: GoError.prototype.name: %w", err)
	}
	if err := proto.DefineDataProperty("constructor", vm.Get("Error"), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return fmt.Errorf("jsbridge: GoError.prototype.constructor: %w", err)
	}
	_ = vm.GlobalObject().Delete("GoError")
	// The bridge's method tables, then what the spider object holds
	// (spider.download, spider.hooks.session.register_sessions, ...); the
	// other globals are named functions (the prelude's classes, goja's
	// and goja_nodejs's built-ins).
	for _, m := range []map[string]goja.Value{s.protos.responseMethods, s.protos.selectorMethods, s.protos.headersMethods} {
		for k, f := range m {
			nameNative(vm, f, k)
		}
	}
	seen := map[*goja.Object]bool{}
	for _, o := range []*goja.Object{s.protos.selectorList, s.protos.selector, s.protos.response, s.protos.headers} {
		seen[o] = true // Go-backed tables, named above
	}
	nameNatives(vm, vm.GlobalObject(), 0, seen)
	freeze := mustCallable(vm.Get("Object").ToObject(vm).Get("freeze"))
	if _, err := freeze(goja.Undefined(), proto); err != nil {
		return fmt.Errorf("jsbridge: GoError.prototype: %w", err)
	}
	return nil
}

// ecmaGlobals are the global names of the ECMAScript built-ins.
var ecmaGlobals = map[string]bool{"Object": true, "Function": true, "Array": true, "String": true, "Number": true,
	"Boolean": true, "Symbol": true, "RegExp": true, "Date": true, "Promise": true, "Map": true, "Set": true,
	"WeakMap": true, "WeakSet": true, "WeakRef": true, "FinalizationRegistry": true, "Error": true,
	"TypeError": true, "RangeError": true, "SyntaxError": true, "ReferenceError": true, "EvalError": true,
	"URIError": true, "AggregateError": true, "ArrayBuffer": true, "SharedArrayBuffer": true, "DataView": true,
	"Uint8Array": true, "Int8Array": true, "Uint16Array": true, "Int16Array": true, "Uint32Array": true,
	"Int32Array": true, "Float32Array": true, "Float64Array": true, "Uint8ClampedArray": true,
	"BigInt64Array": true, "BigUint64Array": true, "BigInt": true, "Proxy": true, "Reflect": true, "JSON": true,
	"Math": true, "Atomics": true, "globalThis": true}

// nameNative renames f after key when its name is a Go symbol: goja names
// a Go function it wraps after the Go function
// ("github.com/…/jsbridge.(*Spider).installResponse.func3"), and a stack
// shows that name.
func nameNative(vm *goja.Runtime, f goja.Value, key string) {
	fo, ok := f.(*goja.Object)
	if !ok {
		return
	}
	if n := fo.Get("name"); n != nil && strings.Contains(n.String(), "github.com/") {
		_ = fo.DefineDataProperty("name", vm.ToValue(key), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
}

// nameNatives does what nameNative does to the functions o holds, to
// the depth of spider.hooks.session.register_sessions, skipping the
// ECMAScript built-ins (they hold no Go function, and they are most of
// what there is) and the spider's data (settings, args, state, ...).
func nameNatives(vm *goja.Runtime, o *goja.Object, depth int, seen map[*goja.Object]bool) {
	seen[o] = true
	for _, k := range o.GetOwnPropertyNames() {
		if depth == 0 && ecmaGlobals[k] {
			continue
		}
		switch k {
		case "settings", "args", "state", "start_urls", "allowed_domains", "constructor", "__proto__", "prototype":
			// A class's prototype may hold accessors that throw (or panic)
			// when read on the prototype itself (URL.prototype.href).
			continue
		}
		v := o.Get(k)
		nameNative(vm, v, k)
		if vo, ok := v.(*goja.Object); ok && depth < 3 && !seen[vo] {
			nameNatives(vm, vo, depth+1, seen)
		}
	}
}
