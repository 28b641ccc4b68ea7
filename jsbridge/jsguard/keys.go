package jsguard

import (
	"github.com/dop251/goja"
)

// Two more ways to turn one long string (or a large typed array) into
// millions of values in one uninterruptible step, found by measuring:
// spreading or iterating a 16 Mi-character string ([...s] took 18 s past a
// 2 s JS_TIMEOUT and 1.4 GiB), and listing its index keys
// (Object.keys(s): 1 GiB). Both are refused past MaxArrayLength elements,
// as Array.from(s) already is; a long string is still read by index, by
// slices or with a regular expression.

// installKeys guards String.prototype[Symbol.iterator] and the functions
// that list an object's own keys or values.
func (g *guards) installKeys() error {
	sp, err := g.object(g.vm.Get("String").ToObject(g.vm), "prototype")
	if err != nil {
		return err
	}
	it, ok := sp.GetSymbol(goja.SymIterator).(*goja.Object)
	if !ok {
		return nil
	}
	orig, ok := nativeOf(it)
	if !ok {
		return nil
	}
	w := g.vm.ToValue(func(call goja.FunctionCall) goja.Value {
		if call.This != nil && !goja.IsUndefined(call.This) && !goja.IsNull(call.This) {
			s := str(call.This)
			call.This = s
			g.checkArrayLength("String.prototype[Symbol.iterator]", int64(s.Length()))
		}
		return orig(call)
	}).(*goja.Object)
	_ = w.DefineDataProperty("name", it.Get("name"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
	if err := sp.DefineDataPropertySymbol(goja.SymIterator, w, goja.FLAG_TRUE, goja.FLAG_FALSE, goja.FLAG_TRUE); err != nil {
		return err
	}
	var isView goja.Callable
	if ab, err := g.global("ArrayBuffer"); err == nil {
		isView, _ = goja.AssertFunction(ab.Get("isView"))
	}
	lister := func(what string) func(orig native) native {
		return func(orig native) native {
			return func(call goja.FunctionCall) goja.Value {
				if len(call.Arguments) > 0 {
					if n, ok := indexedLength(call.Arguments[0], isView); ok {
						g.checkArrayLength(what, n)
					}
				}
				return orig(call)
			}
		}
	}
	object, err := g.global("Object")
	if err != nil {
		return err
	}
	for _, name := range []string{"keys", "values", "entries", "getOwnPropertyNames", "getOwnPropertyDescriptors"} {
		if err := g.wrap(object, name, lister("Object."+name)); err != nil {
			return err
		}
	}
	if reflect, err := g.global("Reflect"); err == nil {
		if err := g.wrap(reflect, "ownKeys", lister("Reflect.ownKeys")); err != nil {
			return err
		}
	}
	return nil
}

// indexedLength is the number of index keys a string, a String object or
// a typed array (ArrayBuffer.isView; goja's class name for them is
// "Object") has: values whose keys goja makes up from their length.
func indexedLength(v goja.Value, isView goja.Callable) (int64, bool) {
	if s, ok := v.(goja.String); ok {
		return int64(s.Length()), true
	}
	o, ok := v.(*goja.Object)
	if !ok {
		return 0, false
	}
	if o.ClassName() == "String" {
		return o.Get("length").ToInteger(), true
	}
	if isView != nil {
		if view, err := isView(goja.Undefined(), o); err == nil && view.ToBoolean() {
			return o.Get("length").ToInteger(), true
		}
	}
	return 0, false
}
