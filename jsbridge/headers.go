package jsbridge

import (
	"strings"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

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

// installHeaders installs the methods of response.headers.
func (s *Spider) installHeaders() {
	vm := s.vm
	fn := func(f func(goja.FunctionCall) goja.Value) goja.Value { return vm.ToValue(f) }
	s.protos.headersMethods = map[string]goja.Value{
		"get": fn(func(call goja.FunctionCall) goja.Value {
			h := s.headersOf(call)
			name := s.strArg(call, 0, "headers.get")
			if !h.Has(name) {
				return defArg(call, 1)
			}
			return vm.ToValue(h.Get(name))
		}),
		"getlist": fn(func(call goja.FunctionCall) goja.Value {
			return s.importer().value(s.headersOf(call).Values(s.strArg(call, 0, "headers.getlist")))
		}),
		"has": fn(func(call goja.FunctionCall) goja.Value {
			return vm.ToValue(s.headersOf(call).Has(s.strArg(call, 0, "headers.has")))
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
}

func (s *Spider) headersOf(call goja.FunctionCall) crawl.Headers {
	if o, ok := call.This.(*goja.Object); ok {
		if h, ok := o.Export().(*jsHeaders); ok {
			return h.h
		}
	}
	panic(s.vm.NewTypeError("not a Headers object"))
}
