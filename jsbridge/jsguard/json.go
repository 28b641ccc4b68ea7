package jsguard

import (
	"math"
	"reflect"
	"strconv"

	"github.com/dop251/goja"
)

func (g *guards) installJSON() error {
	j, err := g.global("JSON")
	if err != nil {
		return err
	}
	if err := g.wrap(j, "parse", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			text := str(call.Argument(0))
			args := append([]goja.Value{text}, call.Arguments[min(1, len(call.Arguments)):]...)
			call.Arguments = args
			if text.Length() > MaxDepth && jsonTooDeep(text.String()) {
				g.throw("JSON.parse: nesting deeper than %d", MaxDepth)
			}
			return orig(call)
		}
	}); err != nil {
		return err
	}
	return g.wrap(j, "stringify", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			z := &sizer{g: g}
			switch sp := call.Argument(2).(type) {
			case goja.String:
				z.gap = min(sp.Length(), 10)
			default:
				if present(sp) && !goja.IsNull(sp) {
					if _, isObj := sp.(*goja.Object); !isObj {
						z.gap = int(min(max(sp.ToFloat(), 0), 10))
					}
				}
			}
			args := []goja.Value{call.Argument(0), call.Argument(1), call.Argument(2)}
			call.Arguments = args
			if list, ok := args[1].(*goja.Object); ok {
				if _, isFn := goja.AssertFunction(list); !isFn && list.ClassName() == "Array" {
					// A property list: it also orders the keys, which a
					// replacer function cannot do. Measure beforehand.
					z.path = map[*goja.Object]struct{}{}
					z.walk(args[0], 0)
					return orig(call)
				}
			}
			// Measure as stringify goes, through a replacer function that
			// sees every key and value after toJSON (and after the user's
			// replacer, if any): the output is refused before it is built.
			user, _ := isCallable(args[1])
			z.depth = map[*goja.Object]int{}
			args[1] = g.vm.ToValue(func(c goja.FunctionCall) goja.Value {
				v := c.Argument(1)
				if user != nil {
					var err error
					if v, err = user(c.This, c.Arguments...); err != nil {
						panic(err)
					}
				}
				z.measure(c.This, c.Argument(0), v)
				return v
			})
			return orig(call)
		}
	})
}

// jsonTooDeep reports whether JSON text nests arrays and objects deeper
// than MaxDepth (strings skipped; the text need not be valid).
func jsonTooDeep(s string) bool {
	depth := 0
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[', '{':
			if depth++; depth > MaxDepth {
				return true
			}
		case ']', '}':
			depth--
		}
	}
	return false
}

// sizer measures the nesting and the length of JSON.stringify's output and
// refuses values past MaxDepth or MaxStringLength: a stringify of an array
// holding one long string a million times, or of a deep structure
// (RELIABILITY.md M8), would otherwise run as one uninterruptible call.
// It measures as stringify goes (measure, from a replacer function), or,
// with a property-list replacer, beforehand (walk; objects with toJSON then
// count as what they are, not what toJSON returns).
type sizer struct {
	g    *guards
	gap  int
	size int
	// path holds the objects being walked (walk).
	path map[*goja.Object]struct{}
	// depth holds the depth of each object seen as a value (measure).
	depth map[*goja.Object]int
}

func (z *sizer) add(n int) {
	if z.size += n; z.size > MaxStringLength {
		z.g.throw("JSON.stringify: string length limit %s exceeded", mi(MaxStringLength))
	}
}

// measure counts one key and value as JSON.stringify reaches them (called
// from the replacer, holder as this) and refuses nesting past MaxDepth.
func (z *sizer) measure(holder, key, v goja.Value) {
	z.g.poll()
	d, keyed := 0, true
	if h, ok := holder.(*goja.Object); ok {
		d = z.depth[h] + 1 // the root's holder is a wrapper: depth 0
		keyed = h.ClassName() != "Array"
	}
	indent := 1
	if z.gap > 0 {
		indent += z.gap*d + 1
	}
	z.add(indent)
	if k, ok := key.(goja.String); ok && keyed {
		z.add(k.Length() + 3)
	}
	if o, ok := v.(*goja.Object); ok {
		if _, isFn := goja.AssertFunction(o); isFn {
			return
		}
		if d >= MaxDepth {
			z.g.throw("JSON.stringify: nesting deeper than %d", MaxDepth)
		}
		if t := o.ExportType(); t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Interface {
			// A typed array: its elements are not values stringify
			// passes to the replacer one by one cheaply; count them here.
			z.add(int(max(lengthOf(o), 0)) * (indent + 12 + int(elementDigits(o))))
		}
		if o.ClassName() == "Array" {
			z.g.checkArrayLength("JSON.stringify", toLength(o.Get("length")))
		}
		z.depth[o] = d
		z.add(2)
		return
	}
	z.primitive(v)
}

// primitive counts the JSON text of a primitive value.
func (z *sizer) primitive(v goja.Value) {
	if s, ok := v.(goja.String); ok {
		z.add(s.Length() + 2)
		return
	}
	switch x := v.Export().(type) {
	case nil:
		z.add(4)
	case int64:
		z.add(len(strconv.FormatInt(x, 10)))
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			z.add(4)
		} else {
			z.add(24)
		}
	case bool:
		z.add(5)
	default:
		z.add(24) // BigInt (stringify throws), symbols (skipped)
	}
}

func (z *sizer) walk(v goja.Value, depth int) {
	z.g.poll()
	if v == nil || goja.IsUndefined(v) {
		return
	}
	if goja.IsNull(v) {
		z.add(4)
		return
	}
	o, ok := v.(*goja.Object)
	if !ok {
		z.primitive(v)
		return
	}
	if _, isFn := goja.AssertFunction(o); isFn {
		return
	}
	if depth >= MaxDepth {
		z.g.throw("JSON.stringify: nesting deeper than %d", MaxDepth)
	}
	if _, seen := z.path[o]; seen {
		return // a cycle: stringify throws its TypeError
	}
	if fn, ok := o.Get("toJSON").(*goja.Object); ok {
		if _, ok := goja.AssertFunction(fn); ok {
			z.add(2)
			return
		}
	}
	indent := 1
	if z.gap > 0 {
		indent += z.gap*(depth+1) + 1
	}
	z.path[o] = struct{}{}
	defer delete(z.path, o)
	if t := o.ExportType(); t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Interface {
		// A typed array stringifies as {"0":x,"1":y,...}: do not list its
		// keys, just count them.
		n := int(max(lengthOf(o), 0))
		z.add(n * (indent + 12 + int(elementDigits(o))))
		return
	}
	if o.ClassName() == "Array" {
		n := toLength(o.Get("length"))
		z.g.checkArrayLength("JSON.stringify", n)
		z.add(2)
		var key []byte
		for i := int64(0); i < n; i++ {
			key = strconv.AppendInt(key[:0], i, 10)
			z.add(indent)
			z.walk(o.Get(string(key)), depth+1)
		}
		return
	}
	z.add(2)
	for _, k := range o.Keys() {
		z.add(len(k) + 3 + indent)
		z.walk(o.Get(k), depth+1)
	}
}
