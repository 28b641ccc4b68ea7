package jsbridge

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// wsOpTimeout bounds response.send and response.close on the loop.
const wsOpTimeout = 5 * time.Second

// jsResponse is the Go side of a JS Response object. Properties are built
// lazily and cached, so response.meta === response.meta and the body is
// decoded at most once; HTML is parsed once, in Go, on the first selector
// (extract memoizes the document on the crawl.Response).
type jsResponse struct {
	s     *Spider
	r     *crawl.Response
	obj   *goja.Object
	cache map[string]goja.Value
	// base is the page's base URL made once for response.follow (nil
	// until the first follow; a zero Base when BaseURL fails).
	base *weburl.Base
}

func (j *jsResponse) Get(key string) goja.Value {
	if v, ok := j.cache[key]; ok {
		return v
	}
	vm := j.s.vm
	var v goja.Value
	switch key {
	case "url":
		v = vm.ToValue(j.r.URL)
	case "status":
		v = vm.ToValue(j.r.Status)
	case "headers":
		v = j.s.headersDyn(j.r.Headers)
	case "body":
		v = j.s.uint8Array(j.r.Body)
	case "text":
		v = vm.ToValue(extract.Text(j.r))
	case "encoding":
		v = vm.ToValue(extract.Encoding(j.r))
	case "meta":
		if j.r.Request != nil {
			if ro, ok := j.Get("request").(*goja.Object); ok {
				v = ro.Get("meta")
			}
		} else {
			v = vm.NewObject()
		}
	case "request":
		if j.r.Request != nil {
			v = j.s.requestObjectWith(j.r.Request, j.cache["cb_kwargs"])
		} else {
			v = goja.Null()
		}
	case "cb_kwargs":
		if ro, ok := j.Get("request").(*goja.Object); ok {
			v = ro.Get("cb_kwargs")
		} else {
			v = vm.NewObject()
		}
	case "session_id":
		if j.r.Request != nil {
			v = vm.ToValue(j.r.Request.SessionID)
		} else {
			v = vm.ToValue("")
		}
	case "protocol":
		v = vm.ToValue(j.r.Protocol)
	case "ip":
		v = vm.ToValue(j.r.IP)
	case "flags":
		v = j.s.importer().value(j.r.Flags)
		if j.r.Flags == nil {
			v = vm.NewArray()
		}
	case "websocket_id":
		switch {
		case j.r.WebSocket != nil:
			v = vm.ToValue(j.r.WebSocket.ID())
		case j.r.Request != nil && j.r.Request.WebSocket != nil:
			v = vm.ToValue(j.r.Request.WebSocket.ID)
		default:
			return nil
		}
	case "message":
		// One WebSocket message: text as a string, binary as bytes.
		if j.r.WebSocket == nil && j.r.Protocol != "websocket" {
			return nil
		}
		if slices.Contains(j.r.Flags, "binary") {
			v = j.s.uint8Array(j.r.Body)
		} else {
			v = vm.ToValue(string(j.r.Body))
		}
	default:
		if m, ok := j.s.protos.responseMethods[key]; ok {
			return m
		}
		return nil
	}
	if j.cache == nil {
		j.cache = make(map[string]goja.Value, 4)
	}
	j.cache[key] = v
	return v
}

func (j *jsResponse) Set(key string, v goja.Value) bool {
	switch key {
	case "meta", "cb_kwargs":
		if j.cache == nil {
			j.cache = map[string]goja.Value{}
		}
		j.cache[key] = v
		return true
	}
	return false
}

var responseProps = []string{"url", "status", "headers", "body", "text", "encoding", "meta", "request", "cb_kwargs", "session_id", "protocol", "ip", "flags", "websocket_id", "message"}

func (j *jsResponse) Has(key string) bool {
	for _, k := range responseProps {
		if k == key {
			return true
		}
	}
	_, ok := j.s.protos.responseMethods[key]
	return ok
}
func (j *jsResponse) Delete(string) bool { return false }
func (j *jsResponse) Keys() []string     { return []string{"url", "status", "headers", "meta", "protocol"} }

func (s *Spider) newResponse(r *crawl.Response) goja.Value {
	j := &jsResponse{s: s, r: r}
	j.obj = s.vm.NewDynamicObject(j)
	_ = j.obj.SetPrototype(s.protos.response)
	s.fast.respObj, s.fast.resp = j.obj, j
	return j.obj
}

// responseOf returns the Go response of a JS Response object. The last
// one seen is remembered: Export allocates, and response.follow asks once
// per link.
func (s *Spider) responseOf(v goja.Value) (*jsResponse, bool) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, false
	}
	if o == s.fast.respObj {
		return s.fast.resp, true
	}
	j, ok := o.Export().(*jsResponse)
	if ok && j.s == s {
		s.fast.respObj, s.fast.resp = o, j
		return j, true
	}
	return j, false
}

// installResponse installs the methods of Response objects.
func (s *Spider) installResponse() {
	vm := s.vm
	fn := func(f func(goja.FunctionCall) goja.Value) goja.Value { return vm.ToValue(f) }
	s.protos.responseMethods = map[string]goja.Value{
		"json": fn(func(call goja.FunctionCall) goja.Value {
			j := s.responseThis(call)
			if v, ok := j.cache["__json"]; ok {
				return v
			}
			parse := mustCallable(vm.Get("JSON").ToObject(vm).Get("parse"))
			v, err := parse(goja.Undefined(), vm.ToValue(extract.Text(j.r)))
			if err != nil {
				panic(err)
			}
			if j.cache == nil {
				j.cache = map[string]goja.Value{}
			}
			j.cache["__json"] = v
			return v
		}),
		"css": fn(func(call goja.FunctionCall) goja.Value {
			l, err := s.responseThis(call).root().CSS(s.strArg(call, 0, "css"))
			if err != nil {
				panic(s.goThrowable("response.css", err))
			}
			return s.selectorList(l)
		}),
		"xpath": fn(func(call goja.FunctionCall) goja.Value {
			l, err := s.responseThis(call).root().XPath(s.strArg(call, 0, "xpath"), xpathVars(call.Argument(1))...)
			if err != nil {
				panic(s.goThrowable("response.xpath", err))
			}
			return s.selectorList(l)
		}),
		"re": fn(func(call goja.FunctionCall) goja.Value {
			out, err := extract.ReExtract(s.strArg(call, 0, "re"), extract.Text(s.responseThis(call).r))
			if err != nil {
				panic(s.goThrowable("response.re", err))
			}
			return s.importer().value(out)
		}),
		"re_first": fn(func(call goja.FunctionCall) goja.Value {
			out, err := extract.ReExtract(s.strArg(call, 0, "re_first"), extract.Text(s.responseThis(call).r))
			if err != nil {
				panic(s.goThrowable("response.re_first", err))
			}
			if len(out) == 0 {
				if present(call.Argument(1)) {
					return call.Argument(1)
				}
				return goja.Null()
			}
			return vm.ToValue(out[0])
		}),
		"jmespath": fn(func(call goja.FunctionCall) goja.Value {
			j := s.responseThis(call)
			data, err := extract.JSON(j.r)
			if err != nil {
				panic(s.goThrowable("response.jmespath", err))
			}
			out, err := extract.JMESPath(data, s.strArg(call, 0, "jmespath"))
			if err != nil {
				panic(s.goThrowable("response.jmespath", err))
			}
			return s.importer().value(out)
		}),
		"extract_json": fn(func(call goja.FunctionCall) goja.Value {
			out, err := extract.ExtractJSON(s.responseThis(call).r, s.strArg(call, 0, "extract_json"))
			if err != nil {
				if present(call.Argument(1)) {
					return call.Argument(1)
				}
				panic(s.goThrowable("response.extract_json", err))
			}
			return s.importer().value(out)
		}),
		"urljoin": fn(func(call goja.FunctionCall) goja.Value {
			u, err := extract.URLJoin(s.responseThis(call).r, s.strArg(call, 0, "urljoin"))
			if err != nil {
				panic(s.goThrowable("response.urljoin", err))
			}
			return vm.ToValue(u)
		}),
		"follow": fn(func(call goja.FunctionCall) goja.Value {
			j := s.responseThis(call)
			u, ok := s.followURL(j, call.Argument(0))
			if !ok {
				panic(vm.NewTypeError("follow: want a URL, a Link, or a Selector of an <a>/<link> element or an attribute"))
			}
			opts, _ := call.Argument(1).(*goja.Object)
			s.fast.startFollow()
			return s.newRequestFrom(u, &followOptions{src: opts})
		}),
		"follow_all": fn(func(call goja.FunctionCall) goja.Value {
			j := s.responseThis(call)
			arg := call.Argument(0)
			var items []goja.Value
			if o, ok := arg.(*goja.Object); ok && o.ClassName() == "Object" && !s.isSelectorValue(o) {
				// {css: "..."} or {xpath: "..."}
				var l extract.SelectorList
				var err error
				if q := o.Get("css"); present(q) {
					l, err = j.root().CSS(q.String())
				} else if q := o.Get("xpath"); present(q) {
					l, err = j.root().XPath(q.String())
				} else {
					panic(vm.NewTypeError("follow_all: want an array of URLs, a SelectorList, or {css} / {xpath}"))
				}
				if err != nil {
					panic(s.goThrowable("response.follow_all", err))
				}
				for _, sel := range l {
					items = append(items, s.vm.NewDynamicObject(&jsSelector{s: s, sel: sel}))
				}
			} else if o, ok := arg.(*goja.Object); ok && o.ClassName() == "Array" {
				n := int(o.Get("length").ToInteger())
				for i := 0; i < n; i++ {
					items = append(items, o.Get(strconv.Itoa(i)))
				}
			} else {
				panic(vm.NewTypeError("follow_all: want an array of URLs, a SelectorList, or {css} / {xpath}"))
			}
			out := make([]any, 0, len(items))
			opts, _ := call.Argument(1).(*goja.Object)
			f := &followOptions{src: opts}
			s.fast.startFollow()
			for _, it := range items {
				u, ok := s.followURL(j, it)
				if !ok {
					continue
				}
				out = append(out, s.newRequestFrom(u, f))
			}
			return vm.NewArray(out...)
		}),
		"replace": fn(s.replaceResponse),
		"toString": fn(func(call goja.FunctionCall) goja.Value {
			j := s.responseThis(call)
			return vm.ToValue(fmt.Sprintf("<%d %s>", j.r.Status, j.r.URL))
		}),
		// send(msg, {binary}) and close(code, reason) act on the open
		// WebSocket connection a message came from. They run on the loop,
		// bounded by wsOpTimeout: messages are small and keep their order.
		"send": fn(func(call goja.FunctionCall) goja.Value {
			j := s.responseThis(call)
			if j.r.WebSocket == nil {
				panic(vm.NewTypeError("response.send: not a WebSocket response"))
			}
			// The message as in send_message; options ({binary}, {flags})
			// may set its kind.
			_, msg, err := wsMsgArgs(call.Argument(0), call.Argument(1))
			if err != nil {
				panic(vm.NewTypeError("response.send: %v", err))
			}
			ctx, cancel := context.WithTimeout(s.ctx, wsOpTimeout)
			defer cancel()
			if err := j.r.WebSocket.Send(ctx, msg); err != nil {
				panic(s.goThrowable("response.send", err))
			}
			return goja.Undefined()
		}),
		"close": fn(func(call goja.FunctionCall) goja.Value {
			j := s.responseThis(call)
			if j.r.WebSocket == nil {
				panic(vm.NewTypeError("response.close: not a WebSocket response"))
			}
			code, reason := 1000, ""
			if present(call.Argument(0)) {
				code = int(call.Argument(0).ToInteger())
			}
			if present(call.Argument(1)) {
				reason = call.Argument(1).String()
			}
			if err := j.r.WebSocket.Close(code, reason); err != nil {
				panic(s.goThrowable("response.close", err))
			}
			return goja.Undefined()
		}),
	}
	ctor := vm.ToValue(s.responseCtor).(*goja.Object)
	s.protos.response = ctor.Get("prototype").(*goja.Object)
	_ = ctor.DefineDataProperty("name", vm.ToValue("Response"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	_ = vm.GlobalObject().DefineDataProperty("Response", ctor, goja.FLAG_TRUE, goja.FLAG_FALSE, goja.FLAG_FALSE)
	if freeze, ok := goja.AssertFunction(vm.Get("Object").ToObject(vm).Get("freeze")); ok {
		_, _ = freeze(goja.Undefined(), ctor) // its prototype is frozen with the others
	}
}

// responseThis is the Response a method was called on.
func (s *Spider) responseThis(call goja.FunctionCall) *jsResponse {
	j, ok := s.responseOf(call.This)
	if !ok {
		panic(s.vm.NewTypeError("not a Response"))
	}
	return j
}

// root is the response's document as a Selector (parsed once, in extract).
func (j *jsResponse) root() *extract.Selector {
	sel, err := extract.Root(j.r)
	if err != nil {
		panic(j.s.goThrowable("", fmt.Errorf("%s: %w", j.r.URL, err)))
	}
	return sel
}

// followURL resolves what response.follow accepts: a (relative) URL, a Link
// ({url}), a Selector of an <a>/<link>/<area> element (its href) or of an
// attribute or text (its value).
func (s *Spider) followURL(j *jsResponse, v goja.Value) (string, bool) {
	var raw string
	switch {
	case !present(v):
		return "", false
	case isObject(v):
		o := v.(*goja.Object)
		if sel, ok := s.selectorOf(o); ok {
			if sel.IsNode() {
				href, ok := sel.AttribValue("href")
				if !ok {
					href, ok = sel.AttribValue("src")
				}
				if !ok {
					return "", false
				}
				raw = href
			} else {
				raw = sel.Get()
			}
		} else if u := o.Get("url"); present(u) && !s.isRequest(o) {
			raw = u.String()
		} else {
			return "", false
		}
	default:
		raw = v.String()
	}
	raw = strings.TrimSpace(raw)
	if u, ok := j.quickJoin(raw); ok {
		return u, true
	}
	u, err := extract.URLJoin(j.r, raw)
	if err != nil {
		panic(s.goThrowable("response.follow", err))
	}
	return u, true
}

// quickJoin is extract.URLJoin(j.r, ref) for the references
// weburl.Base.QuickJoin handles, with the page's base URL parsed once per
// response instead of once per link (URLJoin takes the same shortcut
// after parsing it); ok=false for the others.
func (j *jsResponse) quickJoin(ref string) (string, bool) {
	if j.base == nil {
		j.base = &weburl.Base{} // QuickJoin refuses everything
		if u, err := extract.BaseURL(j.r); err == nil && u != nil {
			b := weburl.NewBase(u.String())
			j.base = &b
		}
	}
	return j.base.QuickJoin(ref)
}

// followOptions is the options argument of response.follow and
// follow_all, its keys checked (on the first link: follow_all of no links
// checks nothing) and read once for all the links of a call.
type followOptions struct {
	src     *goja.Object
	keys    []string
	checked bool
	url     goja.Value // the url option: the link being followed
}

// get reads an option: the link's url, else an own enumerable property
// of the options object.
func (f *followOptions) get(k string) goja.Value {
	if k == "url" {
		return f.url
	}
	for _, have := range f.keys {
		if have == k {
			return f.src.Get(k)
		}
	}
	return nil
}

// newRequestFrom builds `new Request({...opts, url})` without the
// intermediate options object (response.follow runs once per link).
func (s *Spider) newRequestFrom(u string, f *followOptions) goja.Value {
	if !f.checked && f.src != nil {
		keys, err := checkOptions(f.src, kindHTTP)
		if err != nil {
			panic(s.vm.NewTypeError(err.Error()))
		}
		f.keys, f.checked = keys, true
	}
	uv := s.vm.ToValue(u)
	f.url = uv
	r, local, err := s.buildRequest(f.get, kindHTTP, true)
	if err != nil {
		panic(s.vm.NewTypeError(err.Error()))
	}
	if r.URL != u {
		uv = nil // params added to it
	}
	meta, cbKwargs := f.get("meta"), f.get("cb_kwargs")
	// The properties are set while the object still has Object.prototype
	// (frozen, none of theirs), then its prototype: one SetPrototype, where
	// setRequestPropsURL detaches and attaches Request.prototype.
	o := s.vm.NewObject()
	s.setRequestPropsURL(o, r, local, meta, cbKwargs, uv)
	_ = o.SetPrototype(s.protos.request)
	s.keepFollowed(o, r, local, meta, cbKwargs)
	return o
}

// responseOptionKeys are the options of new Response({...}) and
// response.replace({...}): Scrapy's Response constructor arguments.
var responseOptionKeys = []string{"url", "status", "headers", "body", "flags", "request", "protocol", "ip"}

// buildResponse makes a new crawl.Response from base (nil for new
// Response) with opts applied, as Scrapy's Response(...) and
// Response.replace(...): what opts does not give is base's (body, headers
// and flags copied), or the defaults (status 200, no body). what names
// the JS method in errors. The new response has no parsed document yet,
// and no WebSocket connection. Loop only.
func (s *Spider) buildResponse(what string, base *crawl.Response, opts goja.Value) (*crawl.Response, error) {
	r := &crawl.Response{Status: 200, Protocol: "HTTP/1.1"}
	if base != nil {
		r.URL, r.Status, r.Protocol, r.IP, r.Request = base.URL, base.Status, base.Protocol, base.IP, base.Request
		r.Headers = base.Headers.Clone()
		r.Body = base.Body // never written in place
		r.Flags = slices.Clone(base.Flags)
	}
	o, ok := opts.(*goja.Object)
	if present(opts) && !ok {
		return nil, fmt.Errorf("%s: want an options object {url, status, headers, body, flags, request}", what)
	}
	if o != nil {
		for _, k := range o.Keys() {
			if !slices.Contains(responseOptionKeys, k) {
				return nil, fmt.Errorf("%s: unknown option %q (options: %s)", what, k, strings.Join(responseOptionKeys, ", "))
			}
		}
		get := func(k string) goja.Value {
			if v := o.Get(k); present(v) {
				return v
			}
			return nil
		}
		if v := get("url"); v != nil {
			r.URL = v.String()
		}
		if v := get("status"); v != nil {
			n := v.ToFloat()
			if n != float64(int(n)) || n < 100 || n > 999 {
				return nil, fmt.Errorf("%s: status %s is not an HTTP status code", what, v.String())
			}
			r.Status = int(n)
		}
		if v := get("headers"); v != nil {
			if h, ok := v.(*goja.Object).Export().(*jsHeaders); ok && isObject(v) {
				r.Headers = h.h.Clone()
			} else {
				h, err := s.headersFrom(v, kindHTTP)
				if err != nil {
					return nil, fmt.Errorf("%s: %s", what, strings.TrimPrefix(err.Error(), kindHTTP.String()+": "))
				}
				r.Headers = h
			}
		}
		if v := get("body"); v != nil {
			b, err := bytesOf(v)
			if err != nil {
				return nil, fmt.Errorf("%s: body: %w", what, err)
			}
			r.Body = b
		}
		if v := get("flags"); v != nil {
			fo, ok := v.(*goja.Object)
			if !ok || fo.ClassName() != "Array" {
				return nil, fmt.Errorf("%s: flags must be an array of strings", what)
			}
			n := int(fo.Get("length").ToInteger())
			r.Flags = make([]string, 0, n)
			for i := range n {
				r.Flags = append(r.Flags, fo.Get(strconv.Itoa(i)).String())
			}
		}
		if v := get("request"); v != nil {
			ro, ok := v.(*goja.Object)
			if !ok || !s.isRequest(ro) {
				return nil, fmt.Errorf("%s: request must be a Request", what)
			}
			req, err := s.requestFromObject(ro)
			if err != nil {
				return nil, fmt.Errorf("%s: request: %w", what, err)
			}
			r.Request = req
		}
		if v := get("protocol"); v != nil {
			r.Protocol = v.String()
		}
		if v := get("ip"); v != nil {
			r.IP = v.String()
		}
	}
	if r.URL == "" && r.Request != nil {
		r.URL = r.Request.URL
	}
	if r.URL == "" {
		return nil, fmt.Errorf("%s: url is required (or a request to take it from)", what)
	}
	return r, nil
}

// responseCtor is the global Response: new Response({url, status,
// headers, body, flags, request}), Scrapy's Response(...) (HtmlResponse
// and TextResponse too: the body's encoding comes from its headers or
// content, as for a downloaded one). A downloader middleware returns one
// to answer a request without downloading it.
func (s *Spider) responseCtor(call goja.ConstructorCall) *goja.Object {
	r, err := s.buildResponse("new Response", nil, call.Argument(0))
	if err != nil {
		panic(s.vm.NewTypeError(err.Error()))
	}
	return s.responseWithRequest(r, call.Argument(0), nil)
}

// responseWithRequest is the JS object of r whose request property is the
// Request object given in opts (so response.request === it, and meta is
// shared), else keep (may be nil).
func (s *Spider) responseWithRequest(r *crawl.Response, opts goja.Value, keep *goja.Object) *goja.Object {
	o := s.newResponse(r).(*goja.Object)
	nj, _ := s.responseOf(o)
	if oo, ok := opts.(*goja.Object); ok {
		if ro, ok := oo.Get("request").(*goja.Object); ok {
			keep = ro
		}
	}
	if keep != nil && r.Request != nil {
		nj.shareRequest(keep)
	}
	return o
}

// replaceResponse is response.replace({...}): a new Response with the
// given attributes changed, as Scrapy's Response.replace. A request given
// as an option becomes the new response's request; otherwise it keeps
// this response's request object, so meta and cb_kwargs stay shared.
func (s *Spider) replaceResponse(call goja.FunctionCall) goja.Value {
	j := s.responseThis(call)
	r, err := s.buildResponse("response.replace", j.r, call.Argument(0))
	if err != nil {
		panic(s.vm.NewTypeError(err.Error()))
	}
	keep, _ := j.cache["request"].(*goja.Object)
	return s.responseWithRequest(r, call.Argument(0), keep)
}
