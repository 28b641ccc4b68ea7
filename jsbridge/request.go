package jsbridge

import (
	"fmt"
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
	// (installRequestDefaults): define it directly, without the call.
	proto := o.Prototype()
	direct := proto != nil && (proto == s.protos.request || proto == s.protos.wsRequest || proto == s.protos.formRequest)
	set := func(k string, v any) {
		if direct {
			if _, ok := requestDefaults[k]; ok {
				_ = o.DefineDataProperty(k, s.vm.ToValue(v), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
				return
			}
		}
		_ = o.Set(k, v)
	}
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
	"impersonate": nil, "http_version": nil,
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
	keys := o.Keys()
	if r := takeFollowed(o, keys); r != nil {
		return r, nil
	}
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

// followed keeps the crawl.Request that response.follow built for the
// Request object it returned last, so that yielding that object right
// away — `yield response.follow(href, {callback})`, the usual case — hands
// the engine that request instead of building it a second time from the
// object's properties (url parsing, callback lookup: a third of the
// follow's cost). It is taken only while the object is as follow left it:
// the same own enumerable properties in the same order with the same
// values, each a string, number, boolean or function (an object property
// — headers, meta, cb_kwargs — could have changed inside), and only once
// (yielding the object again builds a new request). One slot for the
// process (every spider's loop uses it, under the lock): it holds at most
// one Request object, until the next follow.
var followed struct {
	sync.Mutex
	obj  *goja.Object
	r    *crawl.Request
	n    int
	keys [len(followKeys)]string
	vals [len(followKeys)]goja.Value
}

// followKeys are the properties a followed Request may have for the slot:
// those whose value round-trips exactly through setRequestProps and
// buildRequest (not timeout or retry_delay: seconds as floats).
var followKeys = [...]string{"url", "method", "callback", "errback", "priority", "dont_filter",
	"session_id", "desc_text", "impersonate", "http_version"}

// keepFollowed puts o (built from r by response.follow, local and the
// meta and cb_kwargs options as setRequestProps had them) in the slot, if
// its properties allow. The keys are those setRequestProps set, in its
// order.
func keepFollowed(o *goja.Object, r *crawl.Request, local *jsLocal, meta, cbKwargs goja.Value) {
	if r.Headers != nil || r.Body != nil || r.Cookies != nil || r.Meta != nil || r.CbKwargs != nil ||
		present(meta) || present(cbKwargs) || r.Proxy != "" || r.Timeout != 0 || r.MaxRetryTimes != nil ||
		r.RetryDelay != 0 || r.AllowRedirects != nil || r.MaxRedirects != 0 || r.Verify != nil || r.WebSocket != nil {
		return
	}
	var keys [len(followKeys)]string
	n := 0
	add := func(k string, ok bool) {
		if ok {
			keys[n] = k
			n++
		}
	}
	add("url", true)
	add("method", true)
	add("priority", r.Priority != 0)
	add("dont_filter", r.DontFilter)
	add("callback", (local != nil && local.callback != nil) || r.Callback != "")
	add("errback", (local != nil && local.errback != nil) || r.Errback != "")
	add("session_id", r.SessionID != "")
	add("desc_text", r.DescText != "")
	add("impersonate", r.Impersonate != "")
	add("http_version", r.HTTPVersion != "")
	var vals [len(followKeys)]goja.Value
	for i, k := range keys[:n] {
		vals[i] = o.Get(k)
	}
	// The engine gets the method the object carries (GetMethod's default
	// written out), as when the request is built from the object.
	r.Method = r.GetMethod()
	followed.Lock()
	followed.obj, followed.r, followed.n = o, r, n
	followed.keys, followed.vals = keys, vals
	followed.Unlock()
}

// takeFollowed returns the request kept for o when o (with its own keys)
// is unchanged since response.follow built it, and empties the slot.
func takeFollowed(o *goja.Object, keys []string) *crawl.Request {
	followed.Lock()
	defer followed.Unlock()
	if followed.obj != o || followed.obj == nil {
		return nil
	}
	r := followed.r
	ok := len(keys) == followed.n
	for i := 0; ok && i < len(keys); i++ {
		ok = keys[i] == followed.keys[i] && o.Get(keys[i]) == followed.vals[i]
	}
	followed.obj, followed.r, followed.vals = nil, nil, [len(followKeys)]goja.Value{}
	if !ok {
		return nil
	}
	return r
}
