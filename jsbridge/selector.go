package jsbridge

import (
	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/extract"
)

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

func (j *jsSelector) Keys() []string { return nil }

func (s *Spider) attribObject(attrs []extract.Attr) *goja.Object {
	o := s.vm.NewObject()
	for _, a := range attrs {
		_ = o.Set(a.Name, a.Value)
	}
	return o
}

func (s *Spider) selectorOf(v goja.Value) (*extract.Selector, bool) {
	if o, ok := v.(*goja.Object); ok {
		if js, ok := o.Export().(*jsSelector); ok {
			return js.sel, true
		}
	}
	return nil, false
}

// installSelector installs the methods of Selector objects.
func (s *Spider) installSelector() {
	vm := s.vm
	fn := func(f func(goja.FunctionCall) goja.Value) goja.Value { return vm.ToValue(f) }
	s.protos.selectorMethods = map[string]goja.Value{
		"css": fn(func(call goja.FunctionCall) goja.Value {
			l, err := s.selectorThis(call).CSS(s.strArg(call, 0, "css"))
			if err != nil {
				s.throw(err)
			}
			return s.selectorList(l)
		}),
		"xpath": fn(func(call goja.FunctionCall) goja.Value {
			l, err := s.selectorThis(call).XPath(s.strArg(call, 0, "xpath"), xpathVars(call.Argument(1))...)
			if err != nil {
				s.throw(err)
			}
			return s.selectorList(l)
		}),
		"get": fn(func(call goja.FunctionCall) goja.Value { return vm.ToValue(s.selectorThis(call).Get()) }),
		"getall": fn(func(call goja.FunctionCall) goja.Value {
			return vm.NewArray(s.selectorThis(call).Get())
		}),
		"re": fn(func(call goja.FunctionCall) goja.Value {
			out, err := s.selectorThis(call).Re(s.strArg(call, 0, "re"))
			if err != nil {
				s.throw(err)
			}
			return s.importer().value(out)
		}),
		"re_first": fn(func(call goja.FunctionCall) goja.Value {
			out, err := s.selectorThis(call).Re(s.strArg(call, 0, "re_first"))
			if err != nil {
				s.throw(err)
			}
			if len(out) == 0 {
				return defArg(call, 1)
			}
			return vm.ToValue(out[0])
		}),
		"toString": fn(func(call goja.FunctionCall) goja.Value {
			return vm.ToValue("<Selector " + truncate(s.selectorThis(call).Get(), 40) + ">")
		}),
	}
	s.protos.selectorMethods["extract"] = s.protos.selectorMethods["get"]
	s.protos.selector = vm.NewObject()

}

// selectorThis is the Selector a method was called on.
func (s *Spider) selectorThis(call goja.FunctionCall) *extract.Selector {
	sel, ok := s.selectorOf(call.This)
	if !ok {
		panic(s.vm.NewTypeError("not a Selector"))
	}
	return sel
}

// xpathVars is the optional variables argument of xpath(query, vars).
func xpathVars(v goja.Value) []map[string]any {
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

func (s *Spider) isSelectorValue(o *goja.Object) bool {
	_, ok := o.Export().(*jsSelector)
	return ok
}
