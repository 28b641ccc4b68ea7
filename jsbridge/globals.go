package jsbridge

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
	nodeurl "github.com/dop251/goja_nodejs/url"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// protos are the shared prototypes and method tables of Go-backed objects.
type protos struct {
	request, formRequest, wsRequest *goja.Object
	response, selector              *goja.Object
	selectorList, headers           *goja.Object
	uint8Array                      goja.Value
	mapProto, setProto              *goja.Object
	bytesProto, bufferProto         *goja.Object
	responseMethods                 map[string]goja.Value
	selectorMethods                 map[string]goja.Value
	headersMethods                  map[string]goja.Value
}

// install sets up the globals, runs the prelude and freezes the
// intrinsics. Nothing else is global: no require, process, fetch, Deno
// (RELIABILITY.md J10).
func (s *Spider) install() error {
	vm := s.vm
	// The built-ins goja cannot interrupt get their caps first, so that
	// everything below (and the prelude) sees the guarded ones.
	if err := jsguard.Install(vm); err != nil {
		return err
	}
	// URL and URLSearchParams come from goja_nodejs through a throwaway
	// require registry; require itself is removed again.
	require.NewRegistry().Enable(vm)
	nodeurl.Enable(vm)
	_ = vm.GlobalObject().Delete("require")
	if present(vm.Get("require")) {
		_ = vm.Set("require", goja.Undefined())
	}
	s.protos.uint8Array = vm.Get("Uint8Array")
	s.protos.mapProto = vm.Get("Map").ToObject(vm).Get("prototype").(*goja.Object)
	s.protos.setProto = vm.Get("Set").ToObject(vm).Get("prototype").(*goja.Object)
	s.protos.bytesProto = vm.Get("Uint8Array").ToObject(vm).Get("prototype").(*goja.Object).Prototype()
	s.protos.bufferProto = vm.Get("ArrayBuffer").ToObject(vm).Get("prototype").(*goja.Object)
	s.stringify = mustCallable(vm.Get("JSON").ToObject(vm).Get("stringify"))

	s.installConsole()
	s.installTimers()
	s.installEncoding()

	natives := vm.NewObject()
	set := func(o *goja.Object, k string, v any) { _ = o.Set(k, v) }
	reqCtor := vm.ToValue(s.requestCtor(kindHTTP)).(*goja.Object)
	formCtor := vm.ToValue(s.requestCtor(kindForm)).(*goja.Object)
	wsCtor := vm.ToValue(s.requestCtor(kindWS)).(*goja.Object)
	s.protos.request = reqCtor.Get("prototype").(*goja.Object)
	s.protos.formRequest = formCtor.Get("prototype").(*goja.Object)
	s.protos.wsRequest = wsCtor.Get("prototype").(*goja.Object)
	_ = s.protos.formRequest.SetPrototype(s.protos.request)
	_ = s.protos.wsRequest.SetPrototype(s.protos.request)
	_ = formCtor.SetPrototype(reqCtor)
	_ = wsCtor.SetPrototype(reqCtor)
	s.installRequestDefaults(s.protos.request)
	s.installRequestMethods(reqCtor, formCtor)
	set(natives, "Request", reqCtor)
	set(natives, "FormRequest", formCtor)
	set(natives, "WebSocketRequest", wsCtor)
	set(natives, "holderWait", func(h *goja.Object) {
		site := s.callerPos()
		if site == "" {
			site = "an unknown position"
		}
		s.mu.Lock()
		s.waiting[h] = site
		s.mu.Unlock()
	})
	set(natives, "holderSet", func(h *goja.Object) {
		s.mu.Lock()
		delete(s.waiting, h)
		s.mu.Unlock()
	})
	fnv, err := vm.RunProgram(preludeProgram)
	if err != nil {
		return fmt.Errorf("jsbridge prelude: %w", err)
	}
	preludeFn := mustCallable(fnv)
	iv, err := preludeFn(goja.Undefined(), natives)
	if err != nil {
		return fmt.Errorf("jsbridge prelude: %w", err)
	}
	in := iv.ToObject(vm)
	s.in = internals{
		run:             mustCallable(in.Get("run")),
		call:            mustCallable(in.Get("call")),
		wrapStart:       mustCallable(in.Get("wrapStart")),
		lazyStart:       mustCallable(in.Get("lazyStart")),
		startURLs:       mustCallable(in.Get("startURLs")),
		resultHolder:    in.Get("ResultHolder").(*goja.Object),
		dropItem:        in.Get("DropItem").(*goja.Object),
		closeSpider:     in.Get("CloseSpider").(*goja.Object),
		ignoreRequest:   in.Get("IgnoreRequest").(*goja.Object),
		dontCloseSpider: in.Get("DontCloseSpider").(*goja.Object),
	}
	s.makeSinkFns()
	s.installResponse()
	s.spiderObj = s.makeSpiderObject()
	if err := vm.Set("spider", s.spiderObj); err != nil {
		return err
	}
	return s.freeze()
}

func mustCallable(v goja.Value) goja.Callable {
	f, ok := goja.AssertFunction(v)
	if !ok {
		panic(fmt.Sprintf("jsbridge: %v is not a function", v))
	}
	return f
}

// freezeSrc freezes every intrinsic prototype and namespace so one page's
// data cannot pollute the next (RELIABILITY.md M10/J08).
const freezeSrc = `(function () {
  "use strict";
  const f = Object.freeze, gp = Object.getPrototypeOf;
  const ctors = [Object, Function, Array, String, Number, Boolean, Symbol, RegExp, Date,
    Promise, Map, Set, WeakMap, WeakSet, Error, TypeError, RangeError, SyntaxError,
    ReferenceError, EvalError, URIError, ArrayBuffer, DataView, Uint8Array, Int8Array,
    Uint16Array, Int16Array, Uint32Array, Int32Array, Float32Array, Float64Array,
    Uint8ClampedArray, Proxy, URL, URLSearchParams, TextEncoder, TextDecoder,
    Request, FormRequest, WebSocketRequest, WebSocketMsg, ResultHolder, DropItem,
    CloseSpider, IgnoreRequest, DontCloseSpider];
  if (typeof BigInt !== "undefined") ctors.push(BigInt);
  for (const c of ctors) { if (!c) continue; if (c.prototype) f(c.prototype); f(c); }
  f(gp(Uint8Array.prototype)); f(gp(Uint8Array));
  f(gp([][Symbol.iterator]())); f(gp(gp([][Symbol.iterator]())));
  f(gp(new Map()[Symbol.iterator]())); f(gp(new Set()[Symbol.iterator]()));
  f(gp(""[Symbol.iterator]()));
  const genFn = gp(function* () {}); f(genFn); f(genFn.prototype); f(gp(genFn.prototype));
  const asyncFn = gp(async function () {}); f(asyncFn);
  f(JSON); f(Math); f(Reflect); f(console);
  for (const p of [...arguments]) { if (p) { f(p); } }
})`

func (s *Spider) freeze() error {
	fn, err := s.vm.RunString(freezeSrc)
	if err != nil {
		return fmt.Errorf("jsbridge freeze: %w", err)
	}
	p := s.protos
	_, err = mustCallable(fn)(goja.Undefined(), p.response, p.selector, p.selectorList, p.headers, s.vm.Get("LinkExtractor").ToObject(s.vm).Get("prototype"))
	if err != nil {
		return fmt.Errorf("jsbridge freeze: %w", err)
	}
	return nil
}

// ---- console ---------------------------------------------------------------

func (s *Spider) formatArgs(args []goja.Value) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if o, ok := a.(*goja.Object); ok {
			if _, isFn := goja.AssertFunction(o); !isFn && o.ClassName() != "Error" {
				if j, err := s.stringify(goja.Undefined(), o); err == nil && present(j) {
					parts[i] = j.String()
					continue
				}
			}
			if o.ClassName() == "Error" {
				if st := o.Get("stack"); present(st) {
					stack, _ := s.cleanStack(st.String())
					parts[i] = o.String() + "\n" + stack
					continue
				}
			}
		}
		parts[i] = fmt.Sprint(a)
	}
	return strings.Join(parts, " ")
}

func (s *Spider) installConsole() {
	c := s.vm.NewObject()
	logf := s.jsLog
	for _, k := range []string{"log", "info", "debug", "warn", "error"} {
		_ = c.Set(k, logf(k))
	}
	_ = c.Set("trace", logf("debug"))
	_ = s.vm.Set("console", c)
}

// jsLog returns the JS function that logs its arguments at level
// ("debug", "warn", "error"; anything else is info) with the caller's
// source position: console.* and spider.log.* share it.
func (s *Spider) jsLog(level string) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		msg := s.formatArgs(call.Arguments)
		pos := s.callerPos()
		switch level {
		case "debug":
			s.log.Debug(msg, "js", pos)
		case "warn":
			s.log.Warn(msg, "js", pos)
		case "error":
			s.log.Error(msg, "js", pos)
		default:
			s.log.Info(msg, "js", pos)
		}
		return goja.Undefined()
	}
}

// ---- timers ------------------------------------------------------------------

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

// ---- TextEncoder / TextDecoder / atob / btoa ---------------------------------

func (s *Spider) installEncoding() {
	vm := s.vm
	enc := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		_ = call.This.Set("encoding", "utf-8")
		return nil
	}).(*goja.Object)
	_ = enc.Get("prototype").(*goja.Object).Set("encode", func(call goja.FunctionCall) goja.Value {
		str := ""
		if present(call.Argument(0)) {
			str = call.Argument(0).String()
		}
		return s.uint8Array([]byte(str))
	})
	dec := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		label := "utf-8"
		if present(call.Argument(0)) {
			label = strings.ToLower(call.Argument(0).String())
		}
		if label != "utf-8" && label != "utf8" {
			panic(vm.NewTypeError("TextDecoder: only utf-8 is supported, got %q", label))
		}
		_ = call.This.Set("encoding", "utf-8")
		return nil
	}).(*goja.Object)
	_ = dec.Get("prototype").(*goja.Object).Set("decode", func(call goja.FunctionCall) goja.Value {
		if !present(call.Argument(0)) {
			return vm.ToValue("")
		}
		b, err := bytesOf(call.Argument(0))
		if err != nil {
			panic(vm.NewTypeError("TextDecoder.decode: %v", err))
		}
		return vm.ToValue(strings.ToValidUTF8(string(b), "\uFFFD"))
	})
	_ = vm.Set("TextEncoder", enc)
	_ = vm.Set("TextDecoder", dec)
	_ = vm.Set("btoa", func(str string) (string, error) {
		b := make([]byte, 0, len(str))
		for _, r := range str {
			if r > 0xFF {
				return "", errors.New("btoa: the string contains characters outside of the Latin1 range")
			}
			b = append(b, byte(r))
		}
		return base64.StdEncoding.EncodeToString(b), nil
	})
	_ = vm.Set("atob", func(str string) (string, error) {
		str = strings.Map(func(r rune) rune {
			if r == ' ' || r == '\n' || r == '\t' || r == '\r' || r == '\f' {
				return -1
			}
			return r
		}, str)
		if m := len(str) % 4; m != 0 {
			str += strings.Repeat("=", 4-m)
		}
		b, err := base64.StdEncoding.DecodeString(str)
		if err != nil {
			return "", errors.New("atob: the string to be decoded is not correctly encoded")
		}
		var sb strings.Builder
		for _, c := range b {
			sb.WriteRune(rune(c))
		}
		return sb.String(), nil
	})
	msg := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		_ = call.This.Set("data", call.Argument(0))
		binary := false
		if o, ok := call.Argument(1).(*goja.Object); ok {
			binary = o.Get("binary") != nil && o.Get("binary").ToBoolean()
		} else if present(call.Argument(1)) {
			binary = call.Argument(1).ToBoolean()
		}
		if d, ok := call.Argument(0).(*goja.Object); ok && !binary {
			if _, err := bytesOf(d); err == nil {
				binary = true
			}
		}
		_ = call.This.Set("binary", binary)
		return nil
	})
	_ = vm.Set("WebSocketMsg", msg)
}

func (s *Spider) uint8Array(b []byte) goja.Value {
	buf := s.vm.NewArrayBuffer(b)
	v, err := s.vm.New(s.protos.uint8Array, s.vm.ToValue(buf))
	if err != nil {
		panic(err)
	}
	return v
}

func (s *Spider) exporter() *exporter {
	return &exporter{vm: s.vm, mapProto: s.protos.mapProto, setProto: s.protos.setProto,
		bytesProto: s.protos.bytesProto, bufferProto: s.protos.bufferProto}
}
func (s *Spider) importer() importer { return importer{vm: s.vm} }

// ---- Request constructor and methods ---------------------------------------

// requestCtor implements `new Request(opts)` and `new Request(url, opts)`.
func (s *Spider) requestCtor(kind requestKind) func(goja.ConstructorCall) *goja.Object {
	return func(call goja.ConstructorCall) *goja.Object {
		opts := s.requestOptionsArg(call.Arguments, kind)
		keys, err := checkOptions(opts, kind)
		if err != nil {
			panic(s.vm.NewTypeError(err.Error()))
		}
		get := keyedGetter(opts, keys)
		r, local, err := s.buildRequest(get, kind, true)
		if err != nil {
			panic(s.vm.NewTypeError(err.Error()))
		}
		if kind == kindForm {
			if err := s.applyFormdata(r, opts); err != nil {
				panic(s.vm.NewTypeError(err.Error()))
			}
		}
		s.setRequestProps(call.This, r, local, get("meta"), get("cb_kwargs"))
		return nil
	}
}

func (s *Spider) requestOptionsArg(args []goja.Value, kind requestKind) *goja.Object {
	if len(args) == 0 || !present(args[0]) {
		panic(s.vm.NewTypeError("%s: url is required", kind))
	}
	if o, ok := args[0].(*goja.Object); ok && o.ClassName() == "Object" {
		return o
	}
	// new Request(url, opts): copy opts and add url.
	opts := s.vm.NewObject()
	if len(args) > 1 {
		if o, ok := args[1].(*goja.Object); ok {
			for _, k := range o.Keys() {
				_ = opts.Set(k, o.Get(k))
			}
		}
	}
	_ = opts.Set("url", args[0].String())
	return opts
}

// applyFormdata encodes FormRequest's formdata: the body of a POST, the
// query of a GET.
func (s *Spider) applyFormdata(r *crawl.Request, opts *goja.Object) error {
	fd := opts.Get("formdata")
	if !present(fd) {
		if r.Method == "" {
			r.Method = "POST"
		}
		return nil
	}
	o, ok := fd.(*goja.Object)
	if !ok {
		return fmt.Errorf("FormRequest: formdata must be an object")
	}
	q := encodePairs(orderedPairs(o))
	if r.Method == "" {
		r.Method = "POST"
	}
	if r.Method == "GET" {
		sep := "?"
		if strings.Contains(r.URL, "?") {
			sep = "&"
		}
		r.URL += sep + q
		return nil
	}
	r.Body = []byte(q)
	r.Headers.SetDefault("Content-Type", "application/x-www-form-urlencoded")
	return nil
}

func (s *Spider) installRequestMethods(reqCtor, formCtor *goja.Object) {
	// request.replace({...}) returns a copy with some options changed
	// (Scrapy's Request.replace); request.copy() an identical copy.
	replace := func(call goja.FunctionCall) goja.Value {
		this, ok := call.This.(*goja.Object)
		if !ok {
			panic(s.vm.NewTypeError("replace: not a Request"))
		}
		over, _ := call.Argument(0).(*goja.Object)
		get := func(k string) goja.Value {
			if over != nil {
				if v := over.Get(k); v != nil {
					return v
				}
			}
			return this.Get(k)
		}
		kind := kindHTTP
		if this.Get("websocket_id") != nil {
			kind = kindWS
		}
		if over != nil {
			if _, err := checkOptions(over, kind); err != nil {
				panic(s.vm.NewTypeError(err.Error()))
			}
		}
		r, local, err := s.buildRequest(get, kind, over != nil)
		if err != nil {
			panic(s.vm.NewTypeError(err.Error()))
		}
		proto := this.Prototype()
		o := s.vm.NewObject()
		_ = o.SetPrototype(proto)
		s.setRequestProps(o, r, local, get("meta"), get("cb_kwargs"))
		return o
	}
	p := s.protos.request
	_ = p.Set("replace", replace)
	_ = p.Set("copy", func(call goja.FunctionCall) goja.Value {
		return replace(goja.FunctionCall{This: call.This})
	})
	_ = p.Set("toString", func(call goja.FunctionCall) goja.Value {
		this, _ := call.This.(*goja.Object)
		if this == nil {
			return s.vm.ToValue("<Request>")
		}
		return s.vm.ToValue(fmt.Sprintf("<%s %s>", this.Get("method"), this.Get("url")))
	})
	_ = formCtor.Set("from_response", func(call goja.FunctionCall) goja.Value {
		return s.formFromResponse(call)
	})
}

// requestFromObject converts a Request object (yielded, or passed to
// spider.download/crawl) to a *crawl.Request.
func (s *Spider) requestFromObject(v goja.Value) (*crawl.Request, error) {
	o, ok := v.(*goja.Object)
	if !ok || !s.isRequest(o) {
		return nil, fmt.Errorf("want a Request, got a %s", typeName(v))
	}
	kind := kindHTTP
	if s.hasProto(o, s.protos.wsRequest) {
		kind = kindWS
	}
	r, _, err := s.buildRequest(ownGetter(o), kind, false)
	if err != nil {
		return nil, err
	}
	if ev := o.Get("__engine"); ev != nil {
		if ref, ok := ev.Export().(engineRef); ok && ref.r != nil {
			copyEngineState(r, ref.r)
		}
	}
	return r, nil
}

// copyEngineState keeps the engine-owned fields of a request that came
// from Go (response.request, a middleware's request).
func copyEngineState(dst, src *crawl.Request) {
	dst.Depth = src.Depth
	dst.RetryTimes = src.RetryTimes
	dst.RedirectTimes = src.RedirectTimes
	dst.RedirectURLs = src.RedirectURLs
	dst.Start = src.Start
	dst.Lease = src.Lease
	if dst.Local == nil {
		dst.Local = src.Local
	}
}

func (s *Spider) isRequest(o *goja.Object) bool { return s.hasProto(o, s.protos.request) }

func (s *Spider) hasProto(o, proto *goja.Object) bool {
	for p := o.Prototype(); p != nil; p = p.Prototype() {
		if p == proto {
			return true
		}
	}
	return false
}

// requestObject builds a JS Request from Go (response.request, middleware
// arguments). The Go request rides along, hidden, so its engine-owned state
// survives a round trip through JS.
func (s *Spider) requestObject(r *crawl.Request) *goja.Object {
	return s.requestObjectWith(r, nil)
}

// requestObjectWith is requestObject with a given cb_kwargs object (the one
// the callback received), so response.request.cb_kwargs is that object.
func (s *Spider) requestObjectWith(r *crawl.Request, cbKwargs goja.Value) *goja.Object {
	proto := s.protos.request
	if r.WebSocket != nil {
		proto = s.protos.wsRequest
	}
	o := s.vm.NewObject()
	_ = o.SetPrototype(proto)
	local, _ := r.Local.(*jsLocal)
	if local != nil && local.rt != s.vm {
		local = nil
	}
	s.setRequestProps(o, r, local, s.metaObject(r), cbKwargs)
	_ = o.DefineDataProperty("__engine", s.vm.ToValue(engineRef{r}), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	return o
}

// engineRef hides a *crawl.Request from JS: the wrapper has no exported
// fields or methods, so JS sees an empty object.
type engineRef struct{ r *crawl.Request }

// metaObject builds request.meta for a Go request, with Scrapy's
// engine-owned keys (depth, retry_times, redirect_times, redirect_urls).
func (s *Spider) metaObject(r *crawl.Request) *goja.Object {
	imp := s.importer()
	m := s.vm.NewObject()
	for k, v := range r.Meta {
		_ = m.Set(k, imp.value(v))
	}
	if m.Get("depth") == nil {
		_ = m.Set("depth", r.Depth)
	}
	if r.RetryTimes > 0 && m.Get("retry_times") == nil {
		_ = m.Set("retry_times", r.RetryTimes)
	}
	if r.RedirectTimes > 0 && m.Get("redirect_times") == nil {
		_ = m.Set("redirect_times", r.RedirectTimes)
		_ = m.Set("redirect_urls", imp.value(r.RedirectURLs))
	}
	return m
}

func (s *Spider) kwargsObject(r *crawl.Request) *goja.Object {
	imp := s.importer()
	m := s.vm.NewObject()
	for k, v := range r.CbKwargs {
		_ = m.Set(k, imp.value(v))
	}
	return m
}

// headersObject is a request's headers as a plain object: name → value, or
// an array of values for a repeated header.
func (s *Spider) headersObject(h crawl.Headers) *goja.Object {
	o := s.vm.NewObject()
	for _, kv := range h {
		if prev := o.Get(kv.Name); prev != nil {
			if arr, ok := prev.(*goja.Object); ok && arr.ClassName() == "Array" {
				_ = arr.Set(fmt.Sprint(arr.Get("length").ToInteger()), kv.Value)
				continue
			}
			_ = o.Set(kv.Name, s.vm.NewArray(prev, kv.Value))
			continue
		}
		_ = o.Set(kv.Name, kv.Value)
	}
	return o
}
