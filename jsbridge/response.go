package jsbridge

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract"
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
	return j.obj
}

// responseOf returns the Go response of a JS Response object.
func (s *Spider) responseOf(v goja.Value) (*jsResponse, bool) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, false
	}
	j, ok := o.Export().(*jsResponse)
	return j, ok && j.s == s
}

// jsSelector is one parsel Selector.
type jsSelector struct {
	s   *Spider
	sel *extract.Selector
}

func (j *jsSelector) Get(key string) goja.Value {
	if key == "attrib" {
		return j.s.attribObject(j.sel.Attrib())
	}
	if m, ok := j.s.protos.selectorMethods[key]; ok {
		return m
	}
	return nil
}
func (j *jsSelector) Set(string, goja.Value) bool { return false }
func (j *jsSelector) Has(key string) bool {
	_, ok := j.s.protos.selectorMethods[key]
	return ok || key == "attrib"
}
func (j *jsSelector) Delete(string) bool { return false }
func (j *jsSelector) Keys() []string     { return nil }

func (s *Spider) attribObject(attrs []extract.Attr) *goja.Object {
	o := s.vm.NewObject()
	for _, a := range attrs {
		_ = o.Set(a.Name, a.Value)
	}
	return o
}

// jsSelectorList is a SelectorList: a JS array whose elements (Selector
// objects) are only created when indexed or iterated, so the common
// `q.css("span::text").get()` costs one object, not one per match.
type jsSelectorList struct {
	s     *Spider
	l     extract.SelectorList
	items []goja.Value
}

func (d *jsSelectorList) Len() int { return len(d.l) }

func (d *jsSelectorList) Get(idx int) goja.Value {
	if idx < 0 || idx >= len(d.l) {
		return nil
	}
	if d.items == nil {
		d.items = make([]goja.Value, len(d.l))
	}
	if d.items[idx] == nil {
		o := d.s.vm.NewDynamicObject(&jsSelector{s: d.s, sel: d.l[idx]})
		_ = o.SetPrototype(d.s.protos.selector)
		d.items[idx] = o
	}
	return d.items[idx]
}

func (d *jsSelectorList) Set(int, goja.Value) bool { return false }
func (d *jsSelectorList) SetLen(int) bool          { return false }

func (s *Spider) selectorList(l extract.SelectorList) *goja.Object {
	arr := s.vm.NewDynamicArray(&jsSelectorList{s: s, l: l})
	_ = arr.SetPrototype(s.protos.selectorList)
	return arr
}

// listOf returns the Go SelectorList of a SelectorList, or of any array of
// selectors (the result of .filter() or .slice()).
func (s *Spider) listOf(v goja.Value) (extract.SelectorList, bool) {
	o, ok := v.(*goja.Object)
	if !ok {
		return nil, false
	}
	if d, ok := o.Export().(*jsSelectorList); ok {
		return d.l, true
	}
	if o.ClassName() != "Array" {
		return nil, false
	}
	n := int(o.Get("length").ToInteger())
	out := make(extract.SelectorList, 0, n)
	for i := 0; i < n; i++ {
		e, ok := o.Get(strconv.Itoa(i)).(*goja.Object)
		if !ok {
			return nil, false
		}
		js, ok := e.Export().(*jsSelector)
		if !ok {
			return nil, false
		}
		out = append(out, js.sel)
	}
	return out, true
}

func (s *Spider) selectorOf(v goja.Value) (*extract.Selector, bool) {
	if o, ok := v.(*goja.Object); ok {
		if js, ok := o.Export().(*jsSelector); ok {
			return js.sel, true
		}
	}
	return nil, false
}

// jsHeaders is response.headers: case-insensitive, with Scrapy's get and
// getlist; `headers["content-type"]` reads the first value too.
type jsHeaders struct {
	s *Spider
	h crawl.Headers
}

func (j *jsHeaders) Get(key string) goja.Value {
	if m, ok := j.s.protos.headersMethods[key]; ok {
		return m
	}
	if j.h.Has(key) {
		return j.s.vm.ToValue(j.h.Get(key))
	}
	return nil
}
func (j *jsHeaders) Set(string, goja.Value) bool { return false }
func (j *jsHeaders) Has(key string) bool {
	// The methods Get serves, so that `"get" in response.headers` agrees.
	if _, ok := j.s.protos.headersMethods[key]; ok {
		return true
	}
	return j.h.Has(key)
}
func (j *jsHeaders) Delete(string) bool { return false }
func (j *jsHeaders) Keys() []string {
	var out []string
	seen := map[string]bool{}
	for _, kv := range j.h {
		k := strings.ToLower(kv.Name)
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func (s *Spider) headersDyn(h crawl.Headers) goja.Value {
	o := s.vm.NewDynamicObject(&jsHeaders{s: s, h: h})
	_ = o.SetPrototype(s.protos.headers)
	return o
}

// throw raises err as a JS Error, keeping its text.
func (s *Spider) throw(err error) {
	panic(s.vm.NewGoError(err))
}

func (s *Spider) installResponse() {
	vm := s.vm
	fn := func(f func(goja.FunctionCall) goja.Value) goja.Value { return vm.ToValue(f) }
	this := func(call goja.FunctionCall) *jsResponse {
		j, ok := s.responseOf(call.This)
		if !ok {
			panic(vm.NewTypeError("not a Response"))
		}
		return j
	}
	root := func(j *jsResponse) *extract.Selector {
		sel, err := extract.Root(j.r)
		if err != nil {
			s.throw(fmt.Errorf("%s: %w", j.r.URL, err))
		}
		return sel
	}
	strArg := func(call goja.FunctionCall, i int, what string) string {
		a := call.Argument(i)
		if !present(a) {
			panic(vm.NewTypeError("%s: argument %d is required", what, i+1))
		}
		return a.String()
	}
	xpathVars := func(v goja.Value) []map[string]any {
		o, ok := v.(*goja.Object)
		if !ok {
			return nil
		}
		m := map[string]any{}
		for _, k := range o.Keys() {
			m[k] = o.Get(k).Export()
		}
		return []map[string]any{m}
	}
	s.protos.responseMethods = map[string]goja.Value{
		"json": fn(func(call goja.FunctionCall) goja.Value {
			j := this(call)
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
			l, err := root(this(call)).CSS(strArg(call, 0, "css"))
			if err != nil {
				s.throw(err)
			}
			return s.selectorList(l)
		}),
		"xpath": fn(func(call goja.FunctionCall) goja.Value {
			l, err := root(this(call)).XPath(strArg(call, 0, "xpath"), xpathVars(call.Argument(1))...)
			if err != nil {
				s.throw(err)
			}
			return s.selectorList(l)
		}),
		"re": fn(func(call goja.FunctionCall) goja.Value {
			out, err := extract.ReExtract(strArg(call, 0, "re"), extract.Text(this(call).r))
			if err != nil {
				s.throw(err)
			}
			return s.importer().value(out)
		}),
		"re_first": fn(func(call goja.FunctionCall) goja.Value {
			out, err := extract.ReExtract(strArg(call, 0, "re_first"), extract.Text(this(call).r))
			if err != nil {
				s.throw(err)
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
			j := this(call)
			data, err := extract.JSON(j.r)
			if err != nil {
				s.throw(err)
			}
			out, err := extract.JMESPath(data, strArg(call, 0, "jmespath"))
			if err != nil {
				s.throw(err)
			}
			return s.importer().value(out)
		}),
		"extract_json": fn(func(call goja.FunctionCall) goja.Value {
			out, err := extract.ExtractJSON(this(call).r, strArg(call, 0, "extract_json"))
			if err != nil {
				if present(call.Argument(1)) {
					return call.Argument(1)
				}
				s.throw(err)
			}
			return s.importer().value(out)
		}),
		"urljoin": fn(func(call goja.FunctionCall) goja.Value {
			u, err := extract.URLJoin(this(call).r, strArg(call, 0, "urljoin"))
			if err != nil {
				s.throw(err)
			}
			return vm.ToValue(u)
		}),
		"follow": fn(func(call goja.FunctionCall) goja.Value {
			j := this(call)
			u, ok := s.followURL(j, call.Argument(0))
			if !ok {
				panic(vm.NewTypeError("follow: want a URL, a Link, or a Selector of an <a>/<link> element or an attribute"))
			}
			return s.newRequestFrom(u, call.Argument(1))
		}),
		"follow_all": fn(func(call goja.FunctionCall) goja.Value {
			j := this(call)
			arg := call.Argument(0)
			var items []goja.Value
			if o, ok := arg.(*goja.Object); ok && o.ClassName() == "Object" && !s.isSelectorValue(o) {
				// {css: "..."} or {xpath: "..."}
				var l extract.SelectorList
				var err error
				if q := o.Get("css"); present(q) {
					l, err = root(j).CSS(q.String())
				} else if q := o.Get("xpath"); present(q) {
					l, err = root(j).XPath(q.String())
				} else {
					panic(vm.NewTypeError("follow_all: want an array of URLs, a SelectorList, or {css} / {xpath}"))
				}
				if err != nil {
					s.throw(err)
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
			for _, it := range items {
				u, ok := s.followURL(j, it)
				if !ok {
					continue
				}
				out = append(out, s.newRequestFrom(u, call.Argument(1)))
			}
			return vm.NewArray(out...)
		}),
		"toString": fn(func(call goja.FunctionCall) goja.Value {
			j := this(call)
			return vm.ToValue(fmt.Sprintf("<%d %s>", j.r.Status, j.r.URL))
		}),
		// send(data, {binary}) and close(code, reason) act on the open
		// WebSocket connection a message came from. They run on the loop,
		// bounded by wsOpTimeout: messages are small and keep their order.
		"send": fn(func(call goja.FunctionCall) goja.Value {
			j := this(call)
			if j.r.WebSocket == nil {
				panic(vm.NewTypeError("response.send: not a WebSocket response"))
			}
			data, err := bytesOf(call.Argument(0))
			if err != nil {
				panic(vm.NewTypeError("response.send: %v", err))
			}
			binary := false
			if o, ok := call.Argument(0).(*goja.Object); ok {
				if m := o.Get("data"); present(m) && o.Get("binary") != nil {
					// A WebSocketMsg.
					if data, err = bytesOf(m); err != nil {
						panic(vm.NewTypeError("response.send: %v", err))
					}
					binary = o.Get("binary").ToBoolean()
				} else {
					binary = true
				}
			}
			if o, ok := call.Argument(1).(*goja.Object); ok {
				if b := o.Get("binary"); present(b) {
					binary = b.ToBoolean()
				}
			}
			ctx, cancel := context.WithTimeout(s.ctx, wsOpTimeout)
			defer cancel()
			if err := j.r.WebSocket.Send(ctx, crawl.WSMessage{Data: data, Binary: binary}); err != nil {
				s.throw(fmt.Errorf("response.send: %w", err))
			}
			return goja.Undefined()
		}),
		"close": fn(func(call goja.FunctionCall) goja.Value {
			j := this(call)
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
				s.throw(fmt.Errorf("response.close: %w", err))
			}
			return goja.Undefined()
		}),
	}
	s.protos.response = vm.NewObject()

	// Selector and SelectorList.
	selThis := func(call goja.FunctionCall) *extract.Selector {
		sel, ok := s.selectorOf(call.This)
		if !ok {
			panic(vm.NewTypeError("not a Selector"))
		}
		return sel
	}
	listThis := func(call goja.FunctionCall) extract.SelectorList {
		l, ok := s.listOf(call.This)
		if !ok {
			panic(vm.NewTypeError("not a SelectorList"))
		}
		return l
	}
	defArg := func(call goja.FunctionCall, i int) goja.Value {
		if present(call.Argument(i)) {
			return call.Argument(i)
		}
		return goja.Null()
	}
	s.protos.selectorMethods = map[string]goja.Value{
		"css": fn(func(call goja.FunctionCall) goja.Value {
			l, err := selThis(call).CSS(strArg(call, 0, "css"))
			if err != nil {
				s.throw(err)
			}
			return s.selectorList(l)
		}),
		"xpath": fn(func(call goja.FunctionCall) goja.Value {
			l, err := selThis(call).XPath(strArg(call, 0, "xpath"), xpathVars(call.Argument(1))...)
			if err != nil {
				s.throw(err)
			}
			return s.selectorList(l)
		}),
		"get": fn(func(call goja.FunctionCall) goja.Value { return vm.ToValue(selThis(call).Get()) }),
		"getall": fn(func(call goja.FunctionCall) goja.Value {
			return vm.NewArray(selThis(call).Get())
		}),
		"re": fn(func(call goja.FunctionCall) goja.Value {
			out, err := selThis(call).Re(strArg(call, 0, "re"))
			if err != nil {
				s.throw(err)
			}
			return s.importer().value(out)
		}),
		"re_first": fn(func(call goja.FunctionCall) goja.Value {
			out, err := selThis(call).Re(strArg(call, 0, "re_first"))
			if err != nil {
				s.throw(err)
			}
			if len(out) == 0 {
				return defArg(call, 1)
			}
			return vm.ToValue(out[0])
		}),
		"toString": fn(func(call goja.FunctionCall) goja.Value {
			return vm.ToValue("<Selector " + truncate(selThis(call).Get(), 40) + ">")
		}),
	}
	s.protos.selectorMethods["extract"] = s.protos.selectorMethods["get"]
	s.protos.selector = vm.NewObject()

	list := vm.NewObject()
	_ = list.SetPrototype(vm.Get("Array").ToObject(vm).Get("prototype").(*goja.Object))
	setM := func(o *goja.Object, k string, f func(goja.FunctionCall) goja.Value) {
		_ = o.DefineDataProperty(k, vm.ToValue(f), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	setM(list, "get", func(call goja.FunctionCall) goja.Value {
		l := listThis(call)
		if v, ok := l.First(); ok {
			return vm.ToValue(v)
		}
		return defArg(call, 0)
	})
	setM(list, "extract_first", func(call goja.FunctionCall) goja.Value {
		l := listThis(call)
		if v, ok := l.First(); ok {
			return vm.ToValue(v)
		}
		return defArg(call, 0)
	})
	getall := func(call goja.FunctionCall) goja.Value { return s.importer().value(listThis(call).GetAll()) }
	setM(list, "getall", getall)
	setM(list, "extract", getall)
	setM(list, "re", func(call goja.FunctionCall) goja.Value {
		out, err := listThis(call).Re(strArg(call, 0, "re"))
		if err != nil {
			s.throw(err)
		}
		return s.importer().value(out)
	})
	setM(list, "re_first", func(call goja.FunctionCall) goja.Value {
		out, err := listThis(call).Re(strArg(call, 0, "re_first"))
		if err != nil {
			s.throw(err)
		}
		if len(out) == 0 {
			return defArg(call, 1)
		}
		return vm.ToValue(out[0])
	})
	setM(list, "css", func(call goja.FunctionCall) goja.Value {
		l, err := listThis(call).CSS(strArg(call, 0, "css"))
		if err != nil {
			s.throw(err)
		}
		return s.selectorList(l)
	})
	setM(list, "xpath", func(call goja.FunctionCall) goja.Value {
		l, err := listThis(call).XPath(strArg(call, 0, "xpath"), xpathVars(call.Argument(1))...)
		if err != nil {
			s.throw(err)
		}
		return s.selectorList(l)
	})
	_ = list.DefineAccessorProperty("attrib", vm.ToValue(func(call goja.FunctionCall) goja.Value {
		return s.attribObject(listThis(call).Attrib())
	}), nil, goja.FLAG_TRUE, goja.FLAG_FALSE)
	s.protos.selectorList = list

	s.protos.headersMethods = map[string]goja.Value{
		"get": fn(func(call goja.FunctionCall) goja.Value {
			h := s.headersOf(call)
			name := strArg(call, 0, "headers.get")
			if !h.Has(name) {
				return defArg(call, 1)
			}
			return vm.ToValue(h.Get(name))
		}),
		"getlist": fn(func(call goja.FunctionCall) goja.Value {
			return s.importer().value(s.headersOf(call).Values(strArg(call, 0, "headers.getlist")))
		}),
		"has": fn(func(call goja.FunctionCall) goja.Value {
			return vm.ToValue(s.headersOf(call).Has(strArg(call, 0, "headers.has")))
		}),
		"items": fn(func(call goja.FunctionCall) goja.Value {
			h := s.headersOf(call)
			out := make([]any, len(h))
			for i, kv := range h {
				out[i] = vm.NewArray(kv.Name, kv.Value)
			}
			return vm.NewArray(out...)
		}),
		"toJSON": fn(func(call goja.FunctionCall) goja.Value {
			o := vm.NewObject()
			for _, kv := range s.headersOf(call) {
				_ = o.Set(kv.Name, kv.Value)
			}
			return o
		}),
	}
	s.protos.headers = vm.NewObject()
	s.installLinkExtractor()
}

func (s *Spider) headersOf(call goja.FunctionCall) crawl.Headers {
	if o, ok := call.This.(*goja.Object); ok {
		if h, ok := o.Export().(*jsHeaders); ok {
			return h.h
		}
	}
	panic(s.vm.NewTypeError("not a Headers object"))
}

func (s *Spider) isSelectorValue(o *goja.Object) bool {
	_, ok := o.Export().(*jsSelector)
	return ok
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
	u, err := extract.URLJoin(j.r, strings.TrimSpace(raw))
	if err != nil {
		s.throw(err)
	}
	return u, true
}

func isObject(v goja.Value) bool {
	_, ok := v.(*goja.Object)
	return ok
}

// newRequestFrom builds `new Request({...opts, url})` without the
// intermediate options object (response.follow runs once per link).
func (s *Spider) newRequestFrom(u string, opts goja.Value) goja.Value {
	src, _ := opts.(*goja.Object)
	var srcGet optionGetter
	if src != nil {
		keys, err := checkOptions(src, kindHTTP)
		if err != nil {
			panic(s.vm.NewTypeError(err.Error()))
		}
		srcGet = keyedGetter(src, keys)
	}
	get := func(k string) goja.Value {
		if k == "url" {
			return s.vm.ToValue(u)
		}
		if srcGet == nil {
			return nil
		}
		return srcGet(k)
	}
	r, local, err := s.buildRequest(get, kindHTTP, true)
	if err != nil {
		panic(s.vm.NewTypeError(err.Error()))
	}
	o := s.vm.NewObject()
	_ = o.SetPrototype(s.protos.request)
	s.setRequestProps(o, r, local, get("meta"), get("cb_kwargs"))
	return o
}

// formFromResponse implements FormRequest.from_response(response, opts).
func (s *Spider) formFromResponse(call goja.FunctionCall) goja.Value {
	vm := s.vm
	j, ok := s.responseOf(call.Argument(0))
	if !ok {
		panic(vm.NewTypeError("FormRequest.from_response: first argument must be a Response"))
	}
	opts, _ := call.Argument(1).(*goja.Object)
	fo := extract.FormOptions{}
	rest := vm.NewObject()
	if opts != nil {
		if _, err := checkOptions(opts, kindForm); err != nil {
			panic(vm.NewTypeError(err.Error()))
		}
		for _, k := range opts.Keys() {
			v := opts.Get(k)
			switch k {
			case "formname":
				fo.FormName = v.String()
			case "formid":
				fo.FormID = v.String()
			case "formxpath":
				fo.FormXPath = v.String()
			case "formcss":
				fo.FormCSS = v.String()
			case "formnumber":
				fo.FormNumber = int(v.ToInteger())
			case "dont_click":
				fo.DontClick = v.ToBoolean()
			case "clickdata":
				if o, ok := v.(*goja.Object); ok {
					fo.ClickData = map[string]any{}
					for _, ck := range o.Keys() {
						fo.ClickData[ck] = o.Get(ck).Export()
					}
				}
			case "formdata":
				if o, ok := v.(*goja.Object); ok {
					for _, fk := range o.Keys() {
						fv := o.Get(fk)
						if goja.IsNull(fv) || goja.IsUndefined(fv) {
							fo.FormData = append(fo.FormData, extract.FormField{Name: fk, Null: true})
							continue
						}
						if arr, ok := fv.(*goja.Object); ok && arr.ClassName() == "Array" {
							n := int(arr.Get("length").ToInteger())
							for i := 0; i < n; i++ {
								fo.FormData = append(fo.FormData, extract.FormField{Name: fk, Value: arr.Get(strconv.Itoa(i)).String()})
							}
							continue
						}
						fo.FormData = append(fo.FormData, extract.FormField{Name: fk, Value: fv.String()})
					}
				}
			case "method":
				fo.Method = v.String()
			case "url":
				fo.URL = v.String()
			default:
				_ = rest.Set(k, v)
			}
		}
	}
	fr, err := extract.FormRequest(j.r, fo)
	if err != nil {
		s.throw(err)
	}
	_ = rest.Set("url", fr.URL)
	_ = rest.Set("method", fr.GetMethod())
	if fr.Body != nil {
		_ = rest.Set("body", string(fr.Body))
	}
	hdrs := s.headersObject(fr.Headers)
	if uh, ok := rest.Get("headers").(*goja.Object); ok {
		for _, k := range uh.Keys() {
			_ = hdrs.Set(k, uh.Get(k))
		}
	}
	_ = rest.Set("headers", hdrs)
	r, err := vm.New(vm.Get("Request"), rest)
	if err != nil {
		panic(err)
	}
	_ = r.SetPrototype(s.protos.formRequest)
	return r
}

// failureObject is what errbacks receive.
func (s *Spider) failureObject(f *crawl.Failure) *goja.Object {
	vm := s.vm
	o := vm.NewObject()
	if f.Request != nil {
		_ = o.Set("request", s.requestObject(f.Request))
	} else {
		_ = o.Set("request", goja.Null())
	}
	_ = o.Set("message", f.Message)
	_ = o.Set("type", string(f.Type))
	var resp goja.Value = goja.Null()
	if f.Response != nil {
		if f.Response.Request == nil {
			f.Response.Request = f.Request
		}
		resp = s.newResponse(f.Response)
	}
	_ = o.Set("response", resp)
	val := vm.NewObject()
	_ = val.Set("response", resp)
	_ = val.Set("message", f.Message)
	_ = o.Set("value", val)
	_ = o.Set("check", func(call goja.FunctionCall) goja.Value {
		for _, a := range call.Arguments {
			name := a.String()
			if ao, ok := a.(*goja.Object); ok {
				if n := ao.Get("name"); present(n) {
					name = n.String()
				}
			}
			if name == string(f.Type) {
				return vm.ToValue(name)
			}
		}
		return goja.Null()
	})
	_ = o.Set("getErrorMessage", func() string { return f.Message })
	_ = o.Set("toString", func() string { return f.Error() })
	return o
}

// ---- LinkExtractor -----------------------------------------------------------

type leRef struct{ le *extract.LinkExtractor }

func (s *Spider) installLinkExtractor() {
	vm := s.vm
	strs := func(v goja.Value) []string {
		if !present(v) {
			return nil
		}
		if o, ok := v.(*goja.Object); ok && o.ClassName() == "Array" {
			n := int(o.Get("length").ToInteger())
			out := make([]string, 0, n)
			for i := 0; i < n; i++ {
				out = append(out, o.Get(strconv.Itoa(i)).String())
			}
			return out
		}
		return []string{v.String()}
	}
	known := []string{"allow", "deny", "allow_domains", "deny_domains", "restrict_xpaths", "restrict_css", "restrict_text", "tags", "attrs", "canonicalize", "unique", "strip", "deny_extensions", "process_value"}
	ctor := vm.ToValue(func(call goja.ConstructorCall) *goja.Object {
		o, _ := call.Argument(0).(*goja.Object)
		var opts extract.LinkExtractorOptions
		if o != nil {
			for _, k := range o.Keys() {
				ok := false
				for _, kk := range known {
					ok = ok || kk == k
				}
				if !ok {
					msg := fmt.Sprintf("LinkExtractor: unknown option %q", k)
					if sg := suggest(k, known); sg != "" {
						msg += fmt.Sprintf(" (did you mean %q?)", sg)
					}
					panic(vm.NewTypeError(msg))
				}
			}
			get := o.Get
			opts.Allow, opts.Deny = strs(get("allow")), strs(get("deny"))
			opts.AllowDomains, opts.DenyDomains = strs(get("allow_domains")), strs(get("deny_domains"))
			opts.RestrictXPaths, opts.RestrictCSS = strs(get("restrict_xpaths")), strs(get("restrict_css"))
			opts.RestrictText = strs(get("restrict_text"))
			opts.Tags, opts.Attrs = strs(get("tags")), strs(get("attrs"))
			if v := get("tags"); v != nil && goja.IsNull(v) {
				opts.Tags = []string{}
			}
			if v := get("deny_extensions"); present(v) {
				opts.DenyExtensions = strs(v)
				if opts.DenyExtensions == nil {
					opts.DenyExtensions = []string{}
				}
			}
			if v := get("canonicalize"); present(v) {
				opts.Canonicalize = v.ToBoolean()
			}
			if v := get("unique"); present(v) {
				b := v.ToBoolean()
				opts.Unique = &b
			}
			if v := get("strip"); present(v) {
				b := v.ToBoolean()
				opts.Strip = &b
			}
			if v := get("process_value"); present(v) {
				f, ok := goja.AssertFunction(v)
				if !ok {
					panic(vm.NewTypeError("LinkExtractor: process_value must be a function"))
				}
				// Runs synchronously inside extract_links, on the loop.
				opts.ProcessValueErr = func(u string) (string, bool, error) {
					r, err := f(goja.Undefined(), vm.ToValue(u))
					if err != nil {
						return "", false, err
					}
					if !present(r) || r.String() == "" {
						return "", false, nil
					}
					return r.String(), true, nil
				}
			}
		}
		opts.MaxLinks = s.opts.MaxLinks
		le, err := extract.NewLinkExtractor(opts)
		if err != nil {
			panic(vm.NewTypeError("LinkExtractor: " + err.Error()))
		}
		_ = call.This.DefineDataProperty("__le", vm.ToValue(leRef{le}), goja.FLAG_FALSE, goja.FLAG_FALSE, goja.FLAG_FALSE)
		return nil
	}).(*goja.Object)
	leOf := func(call goja.FunctionCall) *extract.LinkExtractor {
		if o, ok := call.This.(*goja.Object); ok {
			if ref, ok := o.Get("__le").Export().(leRef); ok {
				return ref.le
			}
		}
		panic(vm.NewTypeError("not a LinkExtractor"))
	}
	proto := ctor.Get("prototype").(*goja.Object)
	_ = proto.Set("extract_links", func(call goja.FunctionCall) goja.Value {
		le := leOf(call)
		j, ok := s.responseOf(call.Argument(0))
		if !ok {
			panic(vm.NewTypeError("extract_links: argument must be a Response"))
		}
		links, truncated, err := le.Extract(j.r)
		if truncated {
			s.log.Warn("page has more links than LINKEXTRACTOR_MAX_LINKS: the rest were not read",
				"url", j.r.URL, "max_links", le.MaxLinks())
			s.Stats().Inc("linkextractor/pages_truncated", 1)
		}
		if err != nil {
			var ex *goja.Exception
			if errors.As(err, &ex) {
				panic(ex)
			}
			s.throw(err)
		}
		out := make([]any, len(links))
		for i, l := range links {
			lo := vm.NewObject()
			_ = lo.Set("url", l.URL)
			_ = lo.Set("text", l.Text)
			_ = lo.Set("fragment", l.Fragment)
			_ = lo.Set("nofollow", l.NoFollow)
			out[i] = lo
		}
		return vm.NewArray(out...)
	})
	_ = proto.Set("matches", func(call goja.FunctionCall) goja.Value {
		ok, err := leOf(call).Matches(call.Argument(0).String())
		if err != nil {
			s.throw(err)
		}
		return vm.ToValue(ok)
	})
	_ = vm.Set("LinkExtractor", ctor)
}
