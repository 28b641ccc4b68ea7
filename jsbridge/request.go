package jsbridge

import (
	"fmt"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// jsLocal keeps callbacks that are not exported functions (closures) with
// the request, in Request.Local: they cannot leave the process.
type jsLocal struct {
	callback goja.Value
	errback  goja.Value
	rt       *goja.Runtime
}

// requestKind names the JS class a request was built with.
type requestKind int

const (
	kindHTTP requestKind = iota
	kindForm
	kindWS
)

func (k requestKind) String() string {
	switch k {
	case kindForm:
		return "FormRequest"
	case kindWS:
		return "WebSocketRequest"
	}
	return "Request"
}

// setRequestProps writes the normalized request onto a Request object.
// Only values that differ from the defaults become own properties; the
// defaults live as accessors on Request.prototype (see requestDefaults), so
// building the many requests of response.follow stays cheap. meta and
// cb_kwargs keep the script's own objects when given (so the very same
// objects come back), else fresh ones built from Go data (lazily, on first
// access, when empty).
func (s *Spider) setRequestProps(o *goja.Object, r *crawl.Request, local *jsLocal, meta, cbKwargs goja.Value) {
	s.setRequestPropsURL(o, r, local, meta, cbKwargs, nil)
}

// setRequestPropsURL is setRequestProps with the url as a JS value when the
// caller has it (urlVal; nil: made from r.URL).
func (s *Spider) setRequestPropsURL(o *goja.Object, r *crawl.Request, local *jsLocal, meta, cbKwargs, urlVal goja.Value) {
	// On the built-in (frozen) prototypes, assigning a property that has a
	// default calls its setter, which defines the own data property
	// (installRequestDefaults), and assigning any other (url, method,
	// websocket_id...: none is on those prototypes) defines it too. With
	// the prototype detached meanwhile, assignments define them directly,
	// without the setter calls (DefineDataProperty would allocate a
	// descriptor for every new property).
	if proto := o.Prototype(); proto != nil && (proto == s.protos.request || proto == s.protos.wsRequest || proto == s.protos.formRequest) &&
		o.SetPrototype(nil) == nil {
		defer func() { _ = o.SetPrototype(proto) }()
	}
	set := func(k string, v any) { _ = o.Set(k, v) }
	imp := s.importer()
	if urlVal == nil {
		urlVal = s.vm.ToValue(r.URL)
	}
	set("url", urlVal)
	set("method", methodValue(s.vm, r.GetMethod()))
	if len(r.Headers) > 0 {
		set("headers", s.headersObject(r.Headers))
	}
	if r.Body != nil {
		if utf8.Valid(r.Body) {
			set("body", string(r.Body))
		} else {
			set("body", s.uint8Array(r.Body))
		}
	}
	if len(r.Cookies) > 0 {
		c := s.vm.NewObject()
		for _, ck := range r.Cookies {
			_ = c.Set(ck.Name, ck.Value)
		}
		set("cookies", c)
	}
	if mo, ok := meta.(*goja.Object); ok {
		set("meta", mo)
	} else if len(r.Meta) > 0 {
		m := s.vm.NewObject()
		for k, v := range r.Meta {
			_ = m.Set(k, imp.value(v))
		}
		set("meta", m)
	}
	if co, ok := cbKwargs.(*goja.Object); ok {
		set("cb_kwargs", co)
	} else if len(r.CbKwargs) > 0 {
		m := s.vm.NewObject()
		for k, v := range r.CbKwargs {
			_ = m.Set(k, imp.value(v))
		}
		set("cb_kwargs", m)
	}
	if r.Priority != 0 {
		set("priority", r.Priority)
	}
	if r.DontFilter {
		set("dont_filter", true)
	}
	if local != nil && local.callback != nil {
		set("callback", local.callback)
	} else if r.Callback != "" {
		set("callback", s.exportFns[r.Callback])
	}
	if local != nil && local.errback != nil {
		set("errback", local.errback)
	} else if r.Errback != "" {
		set("errback", s.exportFns[r.Errback])
	}
	if r.SessionID != "" {
		set("session_id", r.SessionID)
	}
	if r.DescText != "" {
		set("desc_text", r.DescText)
	}
	if r.Proxy != "" {
		set("proxy", r.Proxy)
	}
	if r.Timeout > 0 {
		set("timeout", r.Timeout.Seconds())
	}
	if r.MaxRetryTimes != nil {
		set("max_retry_times", *r.MaxRetryTimes)
	}
	if r.RetryDelay > 0 {
		set("retry_delay", r.RetryDelay.Seconds())
	}
	if r.AllowRedirects != nil {
		set("allow_redirects", *r.AllowRedirects)
	}
	if r.MaxRedirects != 0 {
		set("max_redirects", r.MaxRedirects)
	}
	if r.Verify != nil {
		set("verify", *r.Verify)
	}
	if r.Impersonate != "" {
		set("impersonate", r.Impersonate)
	}
	if r.HTTPVersion != "" {
		set("http_version", r.HTTPVersion)
	}
	if r.Kind != "" {
		set("kind", r.Kind)
	}
	if r.Credentials != "" {
		set("credentials", r.Credentials)
	}
	if r.WebSocket != nil {
		set("websocket_id", r.WebSocket.ID)
		msgs := make([]any, len(r.WebSocket.Send))
		for i, m := range r.WebSocket.Send {
			if m.Binary {
				msgs[i] = s.uint8Array(m.Data)
			} else {
				msgs[i] = string(m.Data)
			}
		}
		set("send_message", s.vm.NewArray(msgs...))
		if r.WebSocket.PingData != nil {
			set("ping_data", string(r.WebSocket.PingData))
		}
		if r.WebSocket.PingInterval > 0 {
			set("ping_interval", r.WebSocket.PingInterval.Seconds())
		}
	}
}

// methodValues are the JS strings of the common methods, made once: JS
// strings belong to no runtime, and every Request has a method.
var methodValues struct {
	once sync.Once
	m    map[string]goja.Value
}

// methodValue is m as a JS string.
func methodValue(vm *goja.Runtime, m string) goja.Value {
	methodValues.once.Do(func() {
		methodValues.m = map[string]goja.Value{}
		for _, name := range []string{"GET", "POST", "HEAD", "PUT", "DELETE", "PATCH", "OPTIONS"} {
			methodValues.m[name] = vm.ToValue(name)
		}
	})
	if v, ok := methodValues.m[m]; ok {
		return v
	}
	return vm.ToValue(m)
}

// requestDefaults are the values of Request properties that are not own
// properties of the object. Objects (headers, meta, cb_kwargs) are created
// on first access and stay as own properties.
var requestDefaults = map[string]any{
	"body": nil, "cookies": nil, "priority": 0, "dont_filter": false,
	"callback": nil, "errback": nil, "session_id": "", "desc_text": "",
	"proxy": nil, "timeout": nil, "max_retry_times": nil, "retry_delay": nil,
	"allow_redirects": nil, "max_redirects": 0, "verify": nil,
	"impersonate": nil, "http_version": nil, "kind": nil, "credentials": nil,
	"headers": "{}", "meta": "{}", "cb_kwargs": "{}",
}

// installRequestDefaults defines requestDefaults as accessors on proto: the
// getter returns the default (creating an own object for headers, meta and
// cb_kwargs); the setter defines an own property. Accessors keep working
// once the prototype is frozen, where an inherited data property would
// make assignments fail.
func (s *Spider) installRequestDefaults(proto *goja.Object) {
	vm := s.vm
	for k, d := range requestDefaults {
		k, d := k, d
		own := func(this goja.Value, v goja.Value) {
			if o, ok := this.(*goja.Object); ok {
				_ = o.DefineDataProperty(k, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
			}
		}
		getter := vm.ToValue(func(call goja.FunctionCall) goja.Value {
			if d == "{}" {
				obj := vm.NewObject()
				own(call.This, obj)
				return obj
			}
			if d == nil {
				return goja.Null()
			}
			return vm.ToValue(d)
		})
		setter := vm.ToValue(func(call goja.FunctionCall) goja.Value {
			own(call.This, call.Argument(0))
			return goja.Undefined()
		})
		_ = proto.DefineAccessorProperty(k, getter, setter, goja.FLAG_FALSE, goja.FLAG_FALSE)
	}
}

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
		meta, cbKwargs := get("meta"), get("cb_kwargs")
		s.setRequestProps(call.This, r, local, meta, cbKwargs)
		if kind == kindHTTP && call.This.Prototype() == s.protos.request {
			// new Request, not a subclass: yielded as it is, the sink
			// takes r (see keepFollowed).
			s.fast.startFollow()
			s.keepFollowed(call.This, r, local, meta, cbKwargs)
		}
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
		return nil, fmt.Errorf("want a Request, got a %s", jsvalue.TypeName(v))
	}
	kind := kindHTTP
	if s.hasProto(o, s.protos.wsRequest) {
		kind = kindWS
	}
	if r := s.takeFollowed(o); r != nil {
		return r, nil
	}
	keys := o.Keys()
	r, _, err := s.buildRequest(keyedGetter(o, keys), kind, false)
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

// fastPath is the loop-only state of the path from response.follow to
// the output sink (see keepFollowed), and the handlers of the last
// Response and sink objects seen (goja's Export of a DynamicObject
// allocates, and response.follow and the sink ask for them once per
// Request). It keeps the Request objects of the last follow, follow_all
// or new Request alive until the next one, or until they are yielded.
type fastPath struct {
	kept []followed // in the order they were made
	next int        // kept[next] is the one expected at the sink

	watched   []string // see watchedKeys
	watchedAt []int    // watched[i] is followKeys[watchedAt[i]], or -1

	respObj *goja.Object
	resp    *jsResponse
	sinkObj *goja.Object
	sinkInv *invocation
}

// followed is a Request object kept by keepFollowed: the request built
// for it, and the values of its own properties as they were then
// (vals[i] is followKeys[i]'s; nil: absent, as every other option).
type followed struct {
	obj  *goja.Object
	r    *crawl.Request
	vals [len(followKeys)]goja.Value
}

// maxKeptCap bounds the capacity of fastPath.kept kept between calls.
const maxKeptCap = 1024

// startFollow forgets the kept Request objects: the next ones (a follow,
// a follow_all, a new Request) replace them.
func (f *fastPath) startFollow() {
	if cap(f.kept) > maxKeptCap {
		f.kept = nil
	}
	clear(f.kept)
	f.kept, f.next = f.kept[:0], 0
}

// followKeys are the properties a followed Request may have for the fast
// path: those whose value round-trips exactly through setRequestProps and
// buildRequest (not timeout or retry_delay: seconds as floats).
var followKeys = [...]string{"url", "method", "callback", "errback", "priority", "dont_filter",
	"session_id", "desc_text", "impersonate", "http_version"}

// watchedKeys are the properties requestFromObject may read from a
// Request object: __engine, and the options buildRequest asks for,
// recorded once per spider by running it on a recording getter (once
// with only a url, once with every followKey set, so that a key asked for
// only next to another is seen too). Should either run fail, every
// option is watched.
func (s *Spider) watchedKeys() []string {
	if s.fast.watched != nil {
		return s.fast.watched
	}
	vm := s.vm
	fn := vm.ToValue(func(goja.FunctionCall) goja.Value { return goja.Undefined() })
	full := map[string]goja.Value{
		"url": vm.ToValue("http://watched.invalid/"), "method": vm.ToValue("GET"), "priority": vm.ToValue(1),
		"dont_filter": vm.ToValue(true), "callback": fn, "errback": fn, "session_id": vm.ToValue("s"),
		"desc_text": vm.ToValue("d"), "impersonate": vm.ToValue("chrome"), "http_version": vm.ToValue("2"),
	}
	out := []string{"__engine"}
	for _, urlOnly := range []bool{true, false} {
		_, _, err := s.buildRequest(func(k string) goja.Value {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
			if urlOnly && k != "url" {
				return nil
			}
			return full[k]
		}, kindHTTP, false)
		if err != nil {
			out = append(append(out[:0], "__engine"), requestOptions...)
			break
		}
	}
	s.fast.watched = out
	s.fast.watchedAt = make([]int, len(out))
	for i, k := range out {
		s.fast.watchedAt[i] = slices.Index(followKeys[:], k)
	}
	return out
}

// keepFollowed remembers o, built from r by response.follow (local and
// the meta and cb_kwargs options as setRequestProps had them), after the
// others since startFollow, so that yielding o unchanged — `yield
// response.follow(href, {callback})`, the usual case, or the array of
// follow_all in its order — hands the engine r instead of building a
// second request from the object's properties (enumerating them, parsing
// the url, looking the callback up: most of the sink's cost). Only
// objects whose own properties are all followKeys qualify (an object
// property — headers, meta, cb_kwargs — could change inside without the
// object changing).
func (s *Spider) keepFollowed(o *goja.Object, r *crawl.Request, local *jsLocal, meta, cbKwargs goja.Value) {
	if r.Headers != nil || r.Body != nil || r.Cookies != nil || r.Meta != nil || r.CbKwargs != nil ||
		present(meta) || present(cbKwargs) || r.Proxy != "" || r.Timeout != 0 || r.MaxRetryTimes != nil ||
		r.RetryDelay != 0 || r.AllowRedirects != nil || r.MaxRedirects != 0 || r.Verify != nil || r.WebSocket != nil || r.Kind != "" {
		return
	}
	e := followed{obj: o, r: r}
	for i, k := range followKeys {
		var ok bool
		switch k {
		case "url", "method":
			ok = true
		case "priority":
			ok = r.Priority != 0
		case "dont_filter":
			ok = r.DontFilter
		case "callback":
			ok = (local != nil && local.callback != nil) || r.Callback != ""
		case "errback":
			ok = (local != nil && local.errback != nil) || r.Errback != ""
		case "session_id":
			ok = r.SessionID != ""
		case "desc_text":
			ok = r.DescText != ""
		case "impersonate":
			ok = r.Impersonate != ""
		case "http_version":
			ok = r.HTTPVersion != ""
		}
		if ok {
			e.vals[i] = o.Get(k)
		}
	}
	// The engine gets the method the object carries (GetMethod's default
	// written out), as when the request is built from the object.
	r.Method = r.GetMethod()
	s.fast.kept = append(s.fast.kept, e)
}

// takeFollowed returns the request kept for o when o is the next kept
// object and is unchanged since it was built, and forgets it (yielding
// the object again builds a new request). Unchanged means: the same
// prototype, and every property requestFromObject could read
// (watchedKeys) an own property with the value it had, or absent as it
// was. The check reads own properties only, with o's prototype detached
// for the lookups: through the prototype, an absent headers, meta or
// cb_kwargs would be created by its default accessor. Not seen (and not
// worth an enumeration of the object's keys per yield): an own property
// made non-enumerable by Object.defineProperty with its value unchanged;
// and a getter defined on the object runs during the check (with the
// prototype detached) and again when the request is built.
func (s *Spider) takeFollowed(o *goja.Object) *crawl.Request {
	f := &s.fast
	if f.next >= len(f.kept) || f.kept[f.next].obj != o || o == nil {
		return nil
	}
	// A copy: a getter run by the check may call response.follow.
	e := f.kept[f.next]
	f.kept[f.next] = followed{}
	f.next++
	proto := o.Prototype()
	if proto != s.protos.request || o.SetPrototype(nil) != nil {
		return nil // changed prototype, or not extensible any more
	}
	s.watchedKeys()
	if !ownUnchanged(o, proto, f.watched, f.watchedAt, &e.vals) {
		return nil
	}
	return e.r
}

// ownUnchanged reports whether, of the properties watched, o (its
// prototype detached) has exactly the own properties vals gives (by
// followKeys index: watchedAt) with those values, and puts proto back
// (also when a getter throws).
func ownUnchanged(o, proto *goja.Object, watched []string, watchedAt []int, vals *[len(followKeys)]goja.Value) bool {
	defer func() {
		if err := o.SetPrototype(proto); err != nil {
			panic(err) // it was extensible a moment ago
		}
	}()
	for i, k := range watched {
		var want goja.Value
		if at := watchedAt[i]; at >= 0 {
			want = vals[at]
		}
		// SameAs, not ==: a unicode string is a slice, which == panics on.
		if v := o.Get(k); (v == nil) != (want == nil) || v != nil && !v.SameAs(want) {
			return false
		}
	}
	return true
}
