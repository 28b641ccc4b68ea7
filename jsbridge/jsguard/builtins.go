package jsguard

import (
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/dop251/goja"
)

// native is the Go form of a goja native function.
type native = func(goja.FunctionCall) goja.Value

// guards is the state of the guards installed in one runtime. Its
// functions run on the runtime's goroutine only.
type guards struct {
	vm         *goja.Runtime
	rangeError *goja.Object
	errorCtor  *goja.Object
	// checkpoint is an empty JS function: calling it from a long Go loop
	// lets a pending interrupt (JS_TIMEOUT, JS_MEMORY_LIMIT) land there.
	checkpoint goja.Callable
	polls      uint
	// joining holds the arrays being joined, innermost last: cycles join
	// to "" (as in V8 and goja), and nesting is bounded by MaxDepth (a
	// deeply nested array would otherwise overflow the Go stack: a fatal
	// error, not a panic).
	joining []*goja.Object
	// defineLike copies a wrapped constructor's statics (prelude below).
	defineLike goja.Callable
}

// definelikeSrc makes w stand in for constructor o: same statics,
// prototype and [[Prototype]], and o.prototype.constructor === w.
const defineLikeSrc = `(function (w, o) {
  "use strict";
  const d = Object.getOwnPropertyDescriptors(o);
  delete d.prototype;
  Object.defineProperties(w, d);
  Object.defineProperty(w, "prototype", { value: o.prototype, writable: false, enumerable: false, configurable: false });
  Object.setPrototypeOf(w, Object.getPrototypeOf(o));
  Object.defineProperty(o.prototype, "constructor", { value: w, writable: true, enumerable: false, configurable: true });
})`

// newGuards prepares the guards of vm: the error constructors and the
// helper functions they use.
func newGuards(vm *goja.Runtime) (*guards, error) {
	g := &guards{vm: vm}
	re, ok := vm.Get("RangeError").(*goja.Object)
	if !ok {
		return nil, fmt.Errorf("jsguard: no RangeError")
	}
	g.rangeError = re
	if g.errorCtor, ok = vm.Get("Error").(*goja.Object); !ok {
		return nil, fmt.Errorf("jsguard: no Error")
	}
	cp, err := vm.RunString("(function () {})")
	if err != nil {
		return nil, fmt.Errorf("jsguard: %w", err)
	}
	g.checkpoint, _ = goja.AssertFunction(cp)
	dl, err := vm.RunString(defineLikeSrc)
	if err != nil {
		return nil, fmt.Errorf("jsguard: %w", err)
	}
	g.defineLike, _ = goja.AssertFunction(dl)
	return g, nil
}

// Install caps, in vm, the built-ins that goja cannot interrupt (see the
// package documentation and the constants). Call it once, on a fresh
// runtime, before any user code runs and before the host freezes the
// intrinsics. The guarded functions keep their names and lengths and
// print as native code.
//
// Guarded, by what one call may produce:
//
//   - strings (MaxStringLength): String.prototype.repeat, padStart,
//     padEnd, concat, replace and replaceAll (the replacement text added;
//     RegExp.prototype[Symbol.replace] too, when called directly),
//     Array.prototype.join (and so toString), %TypedArray%.prototype.join,
//     JSON.stringify, encodeURIComponent, encodeURI, escape and
//     String.prototype.normalize (by the exact length of their output,
//     encode.go);
//   - arrays (MaxArrayLength): the Array.prototype methods that walk
//     this.length in Go (fill, join, sort, map, filter, forEach, indexOf,
//     slice, splice, concat, flat, ...; not push, pop or at), Array.from,
//     Function.prototype.apply, Reflect.apply and Reflect.construct
//     (argument lists), String.prototype.split and
//     RegExp.prototype[Symbol.split] (captures count), string iteration
//     (String.prototype[Symbol.iterator]: spread, for-of) and the key and
//     value listers on strings and typed arrays (Object.keys, values,
//     entries, getOwnPropertyNames, getOwnPropertyDescriptors,
//     Reflect.ownKeys; keys.go);
//   - buffers (MaxBufferBytes): the ArrayBuffer and typed-array
//     constructors (and so TypedArray.from and species constructors);
//   - nesting (MaxDepth): JSON.parse input, JSON.stringify values, nested
//     arrays joined by join, toString and toLocaleString, flat's depth;
//   - time: RegExp.prototype.exec and test throw an Error when a match ran
//     into RegexTimeout (goja reports no match). Every regex operation
//     (match, matchAll, replace, search, split) goes through exec. The
//     arrays of a global match (or of matchAll spread into one) are not
//     capped: each element costs one timed exec, which polls for the
//     interrupt, so the watchdog's limits stop them.
//
// new Array(n) is not capped: goja allocates nothing for it, and a.length =
// n does the same, so the caps sit on the methods that walk the length.
func Install(vm *goja.Runtime) error {
	g, err := newGuards(vm)
	if err != nil {
		return err
	}
	for _, step := range []func() error{g.installStrings, g.installEncoders, g.installNormalize, g.installKeys, g.installArrays, g.installBuffers, g.installJSON, g.installRegExp} {
		if err := step(); err != nil {
			return fmt.Errorf("jsguard: %w", err)
		}
	}
	return nil
}

// ---- helpers -------------------------------------------------------------------

// throw raises a RangeError naming the limit.
func (g *guards) throw(format string, args ...any) {
	g.throwWith(g.rangeError, fmt.Sprintf(format, args...))
}

func (g *guards) throwWith(ctor *goja.Object, msg string) {
	e, err := g.vm.New(ctor, g.vm.ToValue(msg))
	if err != nil {
		panic(err)
	}
	panic(e)
}

// poll lets a pending interrupt land during a long Go loop; cheap enough
// to call every iteration (it only calls into JS every 256th time).
func (g *guards) poll() {
	g.polls++
	if g.polls&255 != 0 {
		return
	}
	if _, err := g.checkpoint(goja.Undefined()); err != nil {
		panic(err)
	}
}

// object returns obj[name] as an object, or an error naming it.
func (g *guards) object(obj *goja.Object, name string) (*goja.Object, error) {
	o, ok := obj.Get(name).(*goja.Object)
	if !ok {
		return nil, fmt.Errorf("%s is not an object", name)
	}
	return o, nil
}

// global returns the global constructor or namespace name.
func (g *guards) global(name string) (*goja.Object, error) {
	return g.object(g.vm.GlobalObject(), name)
}

// nativeOf returns the Go function behind a native JS function.
func nativeOf(fn *goja.Object) (native, bool) {
	f, ok := fn.Export().(func(goja.FunctionCall) goja.Value)
	return f, ok
}

// wrap replaces the native method obj[name] by mk(original), keeping the
// method's name and length (so it still prints as native code).
func (g *guards) wrap(obj *goja.Object, name string, mk func(orig native) native) error {
	fn, err := g.object(obj, name)
	if err != nil {
		return err
	}
	orig, ok := nativeOf(fn)
	if !ok {
		return fmt.Errorf("%s is not a native function", name)
	}
	w := g.vm.ToValue(mk(orig)).(*goja.Object)
	if err := w.DefineDataProperty("name", fn.Get("name"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return err
	}
	if err := w.DefineDataProperty("length", fn.Get("length"), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
		return err
	}
	return obj.DefineDataProperty(name, w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

// wrapSymbol is wrap for the native method obj[sym]; what names it in
// errors.
func (g *guards) wrapSymbol(obj *goja.Object, sym *goja.Symbol, what string, mk func(orig native) native) error {
	fn, ok := obj.GetSymbol(sym).(*goja.Object)
	if !ok {
		return fmt.Errorf("%s is not a function", what)
	}
	orig, ok := nativeOf(fn)
	if !ok {
		return fmt.Errorf("%s is not native", what)
	}
	w := g.vm.ToValue(mk(orig)).(*goja.Object)
	for _, p := range []string{"name", "length"} {
		if err := w.DefineDataProperty(p, fn.Get(p), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE); err != nil {
			return err
		}
	}
	return obj.DefineDataPropertySymbol(sym, w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

// wrapCtor replaces the global constructor name by one that runs check on
// the arguments first and then constructs with the original (new.target
// kept, so subclasses and species constructors work). The replacement has
// the original's statics, prototype and [[Prototype]]; a missing
// constructor is skipped.
func (g *guards) wrapCtor(name string, check func(args []goja.Value)) error {
	orig, ok := g.vm.GlobalObject().Get(name).(*goja.Object)
	if !ok {
		return nil
	}
	construct, ok := goja.AssertConstructor(orig)
	if !ok {
		return fmt.Errorf("%s is not a constructor", name)
	}
	call, _ := goja.AssertFunction(orig)
	proto, _ := orig.Get("prototype").(*goja.Object)
	var w *goja.Object
	w = g.vm.ToValue(func(cc goja.ConstructorCall) *goja.Object {
		// Checked first, whatever the call: Buffer(size) without new
		// allocates too.
		check(cc.Arguments)
		nt := cc.NewTarget
		if nt == nil {
			// goja passes no new.target for new w(...): This is then an
			// instance of w. A call with another this gets what the
			// original does (typed arrays throw a TypeError); a call with
			// no this at all constructs.
			if cc.This.Prototype() != proto {
				v, err := call(cc.This, cc.Arguments...)
				if err != nil {
					panic(err)
				}
				return v.ToObject(g.vm)
			}
			nt = w
		}
		o, err := construct(nt, cc.Arguments...)
		if err != nil {
			panic(err)
		}
		return o
	}).(*goja.Object)
	if _, err := g.defineLike(goja.Undefined(), w, orig); err != nil {
		return err
	}
	return g.vm.GlobalObject().DefineDataProperty(name, w, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
}

// toLength is ECMAScript ToLength.
func toLength(v goja.Value) int64 {
	if v == nil {
		return 0
	}
	f := v.ToFloat()
	switch {
	case !(f > 0):
		return 0
	case f >= 1<<53-1:
		return 1<<53 - 1
	}
	return int64(f)
}

// toUint32 is ECMAScript ToUint32 of a number.
func toUint32(f float64) int64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	f = math.Mod(math.Trunc(f), 1<<32)
	if f < 0 {
		f += 1 << 32
	}
	return int64(f)
}

// lengthOf is obj.length, or -1 when obj is not an object or has no
// numeric length.
func lengthOf(v goja.Value) int64 {
	o, ok := v.(*goja.Object)
	if !ok {
		return -1
	}
	l := o.Get("length")
	if l == nil || goja.IsUndefined(l) || goja.IsNull(l) {
		return -1
	}
	return toLength(l)
}

// str converts v to a string once (ToString may run user code).
func str(v goja.Value) goja.String {
	if s, ok := v.(goja.String); ok {
		return s
	}
	r := v.ToString() // a number stays a number here
	if s, ok := r.(goja.String); ok {
		return s
	}
	var b goja.StringBuilder
	b.WriteUTF8String(r.String())
	return b.String()
}

func present(v goja.Value) bool { return v != nil && !goja.IsUndefined(v) }

func isCallable(v goja.Value) (goja.Callable, bool) {
	if _, ok := v.(*goja.Object); !ok {
		return nil, false
	}
	return goja.AssertFunction(v)
}

// mi renders a count in Mi when it is a multiple of 2^20.
func mi(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " Mi"
	}
	if n >= 1<<20 {
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " Mi"
	}
	return strconv.FormatInt(n, 10)
}

// grows checks the length of a string a call would build from one of
// length base: longer than MaxStringLength and than base is refused.
func (g *guards) grows(what string, base, result float64) {
	if result > MaxStringLength && result > base {
		g.throw("%s: string length limit %s exceeded (%s requested)", what, mi(MaxStringLength), mi(int64(min(result, math.MaxInt64/2))))
	}
}

// ---- strings -------------------------------------------------------------------

func (g *guards) installStrings() error {
	sp, err := g.object(g.vm.Get("String").ToObject(g.vm), "prototype")
	if err != nil {
		return err
	}
	// this and the arguments are converted once and passed on converted,
	// so user toString/valueOf run once, as without the guard.
	thisString := func(call *goja.FunctionCall) (goja.String, bool) {
		if call.This == nil || goja.IsUndefined(call.This) || goja.IsNull(call.This) {
			return nil, false // the original throws its TypeError
		}
		s := str(call.This)
		call.This = s
		return s, true
	}
	if err := g.wrap(sp, "repeat", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			if s, ok := thisString(&call); ok && len(call.Arguments) > 0 {
				n := call.Arguments[0].ToNumber()
				call.Arguments = []goja.Value{n}
				if c := n.ToFloat(); c >= 1 && !math.IsInf(c, 0) {
					g.grows("String.prototype.repeat", float64(s.Length()), float64(s.Length())*math.Floor(c))
				}
			}
			return orig(call)
		}
	}); err != nil {
		return err
	}
	for _, name := range []string{"padStart", "padEnd"} {
		what := "String.prototype." + name
		if err := g.wrap(sp, name, func(orig native) native {
			return func(call goja.FunctionCall) goja.Value {
				if s, ok := thisString(&call); ok && len(call.Arguments) > 0 {
					args := append([]goja.Value(nil), call.Arguments...)
					args[0] = args[0].ToNumber()
					if len(args) > 1 && present(args[1]) {
						args[1] = str(args[1])
					}
					call.Arguments = args
					fill := len(args) < 2 || !present(args[1]) || args[1].(goja.String).Length() > 0
					if fill {
						g.grows(what, float64(s.Length()), float64(toLength(args[0])))
					}
				}
				return orig(call)
			}
		}); err != nil {
			return err
		}
	}
	if err := g.wrap(sp, "concat", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			if s, ok := thisString(&call); ok {
				args := make([]goja.Value, len(call.Arguments))
				n := s.Length()
				for i, a := range call.Arguments {
					as := str(a)
					args[i] = as
					n += as.Length()
				}
				call.Arguments = args
				g.grows("String.prototype.concat", float64(s.Length()), float64(n))
			}
			return orig(call)
		}
	}); err != nil {
		return err
	}
	for _, name := range []string{"replace", "replaceAll"} {
		what := "String.prototype." + name
		if err := g.wrap(sp, name, func(orig native) native {
			return func(call goja.FunctionCall) goja.Value { return g.replace(what, orig, call) }
		}); err != nil {
			return err
		}
	}
	return g.wrap(sp, "split", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			s, ok := thisString(&call)
			if !ok {
				return orig(call)
			}
			args := []goja.Value{call.Argument(0), goja.Undefined()}
			limit := int64(MaxArrayLength + 1)
			if lv := call.Argument(1); present(lv) {
				n := lv.ToNumber()
				args[1] = n
				if l := toUint32(n.ToFloat()); l <= MaxArrayLength {
					limit = l
				}
			}
			if limit > MaxArrayLength {
				args[1] = g.vm.ToValue(limit)
				if sep, ok := args[0].(goja.String); ok && sep.Length() == 0 && s.Length() > MaxArrayLength {
					g.throw("String.prototype.split: array length limit %s exceeded (%s pieces)", mi(MaxArrayLength), mi(int64(s.Length())))
				}
			}
			call.Arguments = args
			r := orig(call)
			if limit > MaxArrayLength {
				if n := lengthOf(r); n > MaxArrayLength {
					g.throw("String.prototype.split: array length limit %s exceeded", mi(MaxArrayLength))
				}
			}
			return r
		}
	})
}

// replace guards String.prototype.replace and replaceAll (see replacer).
func (g *guards) replace(what string, orig native, call goja.FunctionCall) goja.Value {
	if call.This == nil || goja.IsUndefined(call.This) || goja.IsNull(call.This) {
		return orig(call)
	}
	s := str(call.This)
	call.This = s
	call.Arguments = []goja.Value{call.Argument(0), g.replacer(what, s, call.Argument(1))}
	return orig(call)
}

// replacer returns the replaceValue to hand to a replace of subject s (by
// String.prototype.replace, replaceAll or RegExp.prototype[Symbol.replace])
// so that the replacement text added may not pass MaxStringLength. A
// replacement string that could not (a bound from its length and its $
// patterns) is returned as it is (converted to a string once, as the
// original would); otherwise the replacement runs as a counting function
// that throws a RangeError naming what once the text it returned passes
// the limit (a string through GetSubstitution: substitute).
func (g *guards) replacer(what string, s goja.String, replaceValue goja.Value) goja.Value {
	added := 0
	count := func(r goja.String) goja.String {
		added += r.Length()
		if added > MaxStringLength {
			g.throw("%s: string length limit %s exceeded by the replacements", what, mi(MaxStringLength))
		}
		g.poll()
		return r
	}
	if fn, ok := isCallable(replaceValue); ok {
		return g.vm.ToValue(func(c goja.FunctionCall) goja.Value {
			v, err := fn(goja.Undefined(), c.Arguments...)
			if err != nil {
				panic(err)
			}
			return count(str(v))
		})
	}
	repl := str(replaceValue)
	n, r := float64(s.Length()), float64(repl.Length())
	dollars := 0.0
	for i := 0; i < repl.Length(); i++ {
		if repl.CharAt(i) == '$' {
			dollars++
		}
	}
	if (n+1)*(r+dollars*n) <= MaxStringLength {
		return repl
	}
	return g.vm.ToValue(func(c goja.FunctionCall) goja.Value {
		return count(g.substitute(repl, c.Arguments))
	})
}

// substitute is ECMAScript GetSubstitution for a replacement function's
// arguments: (matched, captures..., position, string[, groups]).
func (g *guards) substitute(repl goja.String, args []goja.Value) goja.String {
	var groups *goja.Object
	if k := len(args); k > 0 {
		if o, ok := args[k-1].(*goja.Object); ok {
			groups, args = o, args[:k-1]
		}
	}
	if len(args) < 3 {
		return repl
	}
	matched := str(args[0])
	caps := args[1 : len(args)-2]
	pos := int(args[len(args)-2].ToInteger())
	subject := str(args[len(args)-1])
	var b goja.StringBuilder
	n := repl.Length()
	start := 0 // of the pending literal run
	capture := func(i int) {
		if v := caps[i-1]; present(v) {
			b.WriteString(str(v))
		}
	}
	for i := 0; i < n; {
		if repl.CharAt(i) != '$' || i+1 >= n {
			i++
			continue
		}
		b.WriteString(repl.Substring(start, i))
		c := repl.CharAt(i + 1)
		next := i + 2
		switch {
		case c == '$':
			b.WriteUTF8String("$")
		case c == '&':
			b.WriteString(matched)
		case c == '`':
			b.WriteString(subject.Substring(0, min(pos, subject.Length())))
		case c == '\'':
			if tail := pos + matched.Length(); tail < subject.Length() {
				b.WriteString(subject.Substring(tail, subject.Length()))
			}
		case c >= '0' && c <= '9':
			d := int(c - '0')
			if i+2 < n && repl.CharAt(i+2) >= '0' && repl.CharAt(i+2) <= '9' {
				if dd := d*10 + int(repl.CharAt(i+2)-'0'); dd >= 1 && dd <= len(caps) {
					capture(dd)
					next = i + 3
					break
				}
			}
			if d >= 1 && d <= len(caps) {
				capture(d)
			} else {
				next = i + 1 // a literal "$"
			}
		case c == '<' && groups != nil:
			gt := -1
			for j := i + 2; j < n; j++ {
				if repl.CharAt(j) == '>' {
					gt = j
					break
				}
			}
			if gt < 0 {
				next = i + 1
				break
			}
			if v := groups.Get(repl.Substring(i+2, gt).String()); present(v) {
				b.WriteString(str(v))
			}
			next = gt + 1
		default:
			next = i + 1
		}
		if next == i+1 {
			b.WriteUTF8String("$")
		}
		i, start = next, next
	}
	b.WriteString(repl.Substring(start, n))
	return b.String()
}

// ---- arrays --------------------------------------------------------------------

// walkingMethods are the Array.prototype methods that loop over
// this.length in Go (allocating for it, or visiting holes one by one
// without running JavaScript). push, pop, at, the iterators and the find
// family (which call back for every index) are left alone.
var walkingMethods = []string{
	"copyWithin", "every", "fill", "filter", "forEach", "includes", "indexOf",
	"lastIndexOf", "map", "reduce", "reduceRight", "reverse", "shift", "slice",
	"some", "sort", "splice", "toReversed", "toSorted", "toSpliced", "unshift", "with",
}

func (g *guards) checkArrayLength(what string, n int64) {
	if n > MaxArrayLength {
		g.throw("%s: array length limit %s exceeded (length %d)", what, mi(MaxArrayLength), n)
	}
}

func (g *guards) installArrays() error {
	arr, err := g.global("Array")
	if err != nil {
		return err
	}
	ap, err := g.object(arr, "prototype")
	if err != nil {
		return err
	}
	for _, name := range walkingMethods {
		if _, ok := ap.Get(name).(*goja.Object); !ok {
			continue // not in this goja
		}
		what := "Array.prototype." + name
		if err := g.wrap(ap, name, func(orig native) native {
			return func(call goja.FunctionCall) goja.Value {
				g.checkArrayLength(what, lengthOf(call.This))
				return orig(call)
			}
		}); err != nil {
			return err
		}
	}
	if err := g.wrap(ap, "join", func(native) native { return g.join }); err != nil {
		return err
	}
	if err := g.wrap(ap, "toLocaleString", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			o := call.This.ToObject(g.vm)
			g.checkArrayLength("Array.prototype.toLocaleString", lengthOf(o))
			if !g.enterJoin("Array.prototype.toLocaleString", o) {
				return g.vm.ToValue("")
			}
			defer g.leaveJoin()
			return orig(call)
		}
	}); err != nil {
		return err
	}
	if err := g.wrap(ap, "concat", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			n := max(lengthOf(call.This), 1)
			for _, a := range call.Arguments {
				if l := lengthOf(a); l >= 0 && spreadable(a) {
					n += l
				} else {
					n++
				}
			}
			g.checkArrayLength("Array.prototype.concat", n)
			return orig(call)
		}
	}); err != nil {
		return err
	}
	for _, name := range []string{"flat", "flatMap"} {
		what := "Array.prototype." + name
		if err := g.wrap(ap, name, func(orig native) native {
			return func(call goja.FunctionCall) goja.Value {
				g.checkArrayLength(what, lengthOf(call.This))
				if what == "Array.prototype.flat" && len(call.Arguments) > 0 && present(call.Arguments[0]) {
					// flat recurses in Go: cap the depth like every nesting.
					if d := call.Arguments[0].ToFloat(); d > MaxDepth {
						call.Arguments = []goja.Value{g.vm.ToValue(MaxDepth)}
					}
				}
				return orig(call)
			}
		}); err != nil {
			return err
		}
	}
	if err := g.wrap(arr, "from", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			src := call.Argument(0)
			if s, ok := src.(goja.String); ok {
				g.checkArrayLength("Array.from", int64(s.Length()))
			} else {
				g.checkArrayLength("Array.from", lengthOf(src))
			}
			return orig(call)
		}
	}); err != nil {
		return err
	}
	// Argument lists built from array-likes.
	fp, err := g.object(g.vm.Get("Function").ToObject(g.vm), "prototype")
	if err != nil {
		return err
	}
	argList := func(what string, i int) func(native) native {
		return func(orig native) native {
			return func(call goja.FunctionCall) goja.Value {
				g.checkArrayLength(what, lengthOf(call.Argument(i)))
				return orig(call)
			}
		}
	}
	if err := g.wrap(fp, "apply", argList("Function.prototype.apply", 1)); err != nil {
		return err
	}
	refl, err := g.global("Reflect")
	if err != nil {
		return err
	}
	if err := g.wrap(refl, "apply", argList("Reflect.apply", 2)); err != nil {
		return err
	}
	return g.wrap(refl, "construct", argList("Reflect.construct", 1))
}

// spreadable approximates IsConcatSpreadable.
func spreadable(v goja.Value) bool {
	o, ok := v.(*goja.Object)
	if !ok {
		return false
	}
	if s := o.GetSymbol(goja.SymIsConcatSpreadable); present(s) {
		return s.ToBoolean()
	}
	return o.ClassName() == "Array"
}

// enterJoin pushes o on the join stack; false when o is being joined
// already (a cycle: it joins to "").
func (g *guards) enterJoin(what string, o *goja.Object) bool {
	for _, p := range g.joining {
		if p == o {
			return false
		}
	}
	if len(g.joining) >= MaxDepth {
		g.throw("%s: arrays nested deeper than %d", what, MaxDepth)
	}
	g.joining = append(g.joining, o)
	return true
}

func (g *guards) leaveJoin() {
	g.joining[len(g.joining)-1] = nil
	g.joining = g.joining[:len(g.joining)-1]
}

// join is Array.prototype.join with its result bounded by
// MaxStringLength, its length by MaxArrayLength and its nesting by
// MaxDepth. Elements are converted once each, in order, as by the
// original.
func (g *guards) join(call goja.FunctionCall) goja.Value {
	const what = "Array.prototype.join"
	o := call.This.ToObject(g.vm)
	if !g.enterJoin(what, o) {
		return g.vm.ToValue("")
	}
	defer g.leaveJoin()
	n := toLength(o.Get("length"))
	g.checkArrayLength(what, n)
	var sep goja.String
	if s := call.Argument(0); present(s) {
		sep = str(s)
	} else {
		sep = g.vm.ToValue(",").(goja.String)
	}
	var b goja.StringBuilder
	total := 0
	var key []byte
	grow := func(n int) {
		if total += n; total > MaxStringLength {
			g.throw("%s: string length limit %s exceeded", what, mi(MaxStringLength))
		}
	}
	for i := int64(0); i < n; i++ {
		if i > 0 {
			grow(sep.Length())
			b.WriteString(sep)
		}
		key = strconv.AppendInt(key[:0], i, 10)
		switch v := o.Get(string(key)).(type) {
		case nil:
		case goja.String:
			grow(v.Length())
			b.WriteString(v)
		case *goja.Object, *goja.Symbol:
			s := str(v) // toString of an object; a TypeError for a symbol
			grow(s.Length())
			b.WriteString(s)
		default:
			if goja.IsUndefined(v) || goja.IsNull(v) {
				break
			}
			s := v.String() // a number, boolean or BigInt: ASCII
			grow(len(s))
			b.WriteUTF8String(s)
		}
		g.poll()
	}
	return b.String()
}

// ---- buffers -------------------------------------------------------------------

// typedArrays are the typed-array constructors goja may provide.
var typedArrays = []string{
	"Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array",
	"Int32Array", "Uint32Array", "Float16Array", "Float32Array", "Float64Array",
	"BigInt64Array", "BigUint64Array",
}

var arrayBufferType = reflect.TypeOf(goja.ArrayBuffer{})

// viewsMemory reports whether a typed-array constructor argument brings its
// own memory (an ArrayBuffer or another typed array, copied at most once).
func viewsMemory(v goja.Value) bool {
	o, ok := v.(*goja.Object)
	if !ok {
		return false
	}
	t := o.ExportType()
	return t == arrayBufferType || (t != nil && t.Kind() == reflect.Slice && t.Elem().Kind() != reflect.Interface)
}

func (g *guards) checkBytes(what string, n float64) {
	if n > MaxBufferBytes {
		g.throw("%s: buffer size limit %s exceeded (%s bytes requested)", what, FormatBytes(MaxBufferBytes), mi(int64(min(n, math.MaxInt64/2))))
	}
}

func (g *guards) installBuffers() error {
	if err := g.wrapCtor("ArrayBuffer", func(args []goja.Value) {
		if len(args) > 0 {
			g.checkBytes("ArrayBuffer", args[0].ToFloat())
		}
	}); err != nil {
		return err
	}
	if err := g.wrapCtor("SharedArrayBuffer", func(args []goja.Value) {
		if len(args) > 0 {
			g.checkBytes("SharedArrayBuffer", args[0].ToFloat())
		}
	}); err != nil {
		return err
	}
	for _, name := range typedArrays {
		ctor, ok := g.vm.GlobalObject().Get(name).(*goja.Object)
		if !ok {
			continue
		}
		size := ctor.Get("BYTES_PER_ELEMENT").ToFloat()
		what := name
		if err := g.wrapCtor(name, func(args []goja.Value) {
			if len(args) == 0 {
				return
			}
			a := args[0]
			if _, isObj := a.(*goja.Object); !isObj {
				g.checkBytes(what, a.ToFloat()*size)
				return
			}
			if !viewsMemory(a) {
				if n := lengthOf(a); n > 0 {
					g.checkBytes(what, float64(n)*size)
				}
			}
		}); err != nil {
			return err
		}
	}
	// %TypedArray%.prototype.join: at most 24 characters an element.
	u8, err := g.global("Uint8Array")
	if err != nil {
		return err
	}
	proto, err := g.object(u8, "prototype")
	if err != nil {
		return err
	}
	tap := proto.Prototype()
	if tap == nil {
		return nil
	}
	return g.wrap(tap, "join", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			n := float64(lengthOf(call.This))
			sep := 1.0
			if s := call.Argument(0); present(s) {
				ss := str(s)
				call.Arguments = []goja.Value{ss}
				sep = float64(ss.Length())
			}
			g.grows("%TypedArray%.prototype.join", 0, n*(elementDigits(call.This)+sep))
			return orig(call)
		}
	})
}

// elementDigits is the longest text of one element of typed array v.
func elementDigits(v goja.Value) float64 {
	o, ok := v.(*goja.Object)
	if !ok {
		return 24
	}
	t := o.ExportType()
	if t == nil || t.Kind() != reflect.Slice {
		return 24
	}
	switch t.Elem().Kind() {
	case reflect.Uint8, reflect.Int8:
		return 4
	case reflect.Uint16, reflect.Int16:
		return 6
	case reflect.Uint32, reflect.Int32:
		return 11
	}
	return 24 // floats, BigInts
}

// GuardBuffer caps the allocating parts of a Node-style Buffer (global
// Buffer, from goja_nodejs): the constructor (Buffer(size), new
// Buffer(arrayLike)), alloc, allocUnsafe, allocUnsafeSlow and from an
// array-like, by MaxBufferBytes. It does nothing without a Buffer.
func GuardBuffer(vm *goja.Runtime) error {
	b, ok := vm.Get("Buffer").(*goja.Object)
	if !ok {
		return nil
	}
	g, err := newGuards(vm)
	if err != nil {
		return err
	}
	// The deprecated constructor, Buffer(size) or new Buffer(arrayLike),
	// allocates like alloc and from (a stand-in Buffer that is not a
	// constructor only has its statics guarded).
	if _, ctor := goja.AssertConstructor(b); ctor {
		err := g.wrapCtor("Buffer", func(args []goja.Value) {
			if len(args) == 0 {
				return
			}
			a := args[0]
			if _, obj := a.(*goja.Object); obj {
				if !viewsMemory(a) {
					g.checkBytes("Buffer", float64(lengthOf(a)))
				}
			} else if t := a.ExportType(); t != nil && (t.Kind() == reflect.Int64 || t.Kind() == reflect.Float64) {
				g.checkBytes("Buffer", a.ToFloat())
			}
		})
		if err != nil {
			return fmt.Errorf("jsguard: %w", err)
		}
	}
	if b, ok = vm.Get("Buffer").(*goja.Object); !ok {
		return nil
	}
	for _, name := range []string{"alloc", "allocUnsafe", "allocUnsafeSlow"} {
		if _, ok := b.Get(name).(*goja.Object); !ok {
			continue
		}
		what := "Buffer." + name
		if err := g.wrap(b, name, func(orig native) native {
			return func(call goja.FunctionCall) goja.Value {
				g.checkBytes(what, call.Argument(0).ToFloat())
				return orig(call)
			}
		}); err != nil {
			return fmt.Errorf("jsguard: %w", err)
		}
	}
	if _, ok := b.Get("from").(*goja.Object); !ok {
		return nil
	}
	if err := g.wrap(b, "from", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			if a := call.Argument(0); !viewsMemory(a) {
				g.checkBytes("Buffer.from", float64(lengthOf(a)))
			}
			return orig(call)
		}
	}); err != nil {
		return fmt.Errorf("jsguard: %w", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
