package jsbridge

import (
	"fmt"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
	nodeurl "github.com/dop251/goja_nodejs/url"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
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
	s.resultHolderNatives(natives)
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
	s.installSelector()
	s.installSelectorList()
	s.installHeaders()
	s.installLinkExtractor()
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
