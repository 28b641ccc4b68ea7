package jsbridge

import (
	"strconv"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/extract"
)

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

func (d *jsSelectorList) SetLen(int) bool { return false }

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

// listThis is the SelectorList (or array of Selectors) a method was called on.
func (s *Spider) listThis(call goja.FunctionCall) extract.SelectorList {
	l, ok := s.listOf(call.This)
	if !ok {
		panic(s.vm.NewTypeError("not a SelectorList"))
	}
	return l
}

// installSelectorList installs the prototype of SelectorList arrays.
func (s *Spider) installSelectorList() {
	vm := s.vm
	list := vm.NewObject()
	_ = list.SetPrototype(vm.Get("Array").ToObject(vm).Get("prototype").(*goja.Object))
	setM := func(o *goja.Object, k string, f func(goja.FunctionCall) goja.Value) {
		fv := vm.ToValue(f)
		nameNative(vm, fv, k)
		_ = o.DefineDataProperty(k, fv, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	}
	setM(list, "get", func(call goja.FunctionCall) goja.Value {
		l := s.listThis(call)
		if v, ok := l.First(); ok {
			return vm.ToValue(v)
		}
		return defArg(call, 0)
	})
	setM(list, "extract_first", func(call goja.FunctionCall) goja.Value {
		l := s.listThis(call)
		if v, ok := l.First(); ok {
			return vm.ToValue(v)
		}
		return defArg(call, 0)
	})
	getall := func(call goja.FunctionCall) goja.Value { return s.importer().value(s.listThis(call).GetAll()) }
	setM(list, "getall", getall)
	setM(list, "extract", getall)
	setM(list, "re", func(call goja.FunctionCall) goja.Value {
		out, err := s.listThis(call).Re(s.strArg(call, 0, "re"))
		if err != nil {
			s.throw(err)
		}
		return s.importer().value(out)
	})
	setM(list, "re_first", func(call goja.FunctionCall) goja.Value {
		out, err := s.listThis(call).Re(s.strArg(call, 0, "re_first"))
		if err != nil {
			s.throw(err)
		}
		if len(out) == 0 {
			return defArg(call, 1)
		}
		return vm.ToValue(out[0])
	})
	setM(list, "css", func(call goja.FunctionCall) goja.Value {
		l, err := s.listThis(call).CSS(s.strArg(call, 0, "css"))
		if err != nil {
			s.throw(err)
		}
		return s.selectorList(l)
	})
	setM(list, "xpath", func(call goja.FunctionCall) goja.Value {
		l, err := s.listThis(call).XPath(s.strArg(call, 0, "xpath"), xpathVars(call.Argument(1))...)
		if err != nil {
			s.throw(err)
		}
		return s.selectorList(l)
	})
	_ = list.DefineAccessorProperty("attrib", vm.ToValue(func(call goja.FunctionCall) goja.Value {
		return s.attribObject(s.listThis(call).Attrib())
	}), nil, goja.FLAG_TRUE, goja.FLAG_FALSE)
	s.protos.selectorList = list

}
