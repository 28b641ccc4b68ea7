package jsbridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// maxValueDepth bounds nesting when converting JS values to Go (items,
// meta): deeper values are rejected instead of recursing without end.
const maxValueDepth = 200

// Opaque is a JavaScript value kept as is in Request.Meta (a ResultHolder,
// a function, an object holding either): it comes back as the very same
// object in response.meta. It only makes sense inside the process that
// created it; it refuses to be serialized, so a scheduler that persists
// requests fails loudly instead of losing it.
type Opaque struct {
	v goja.Value
	// rt identifies the runtime the value belongs to.
	rt *goja.Runtime
}

// MarshalJSON refuses: an opaque JavaScript value cannot leave the process.
func (o *Opaque) MarshalJSON() ([]byte, error) {
	return nil, errors.New("jsbridge: meta holds a JavaScript object (ResultHolder, function, class instance) that cannot be serialized")
}

// String describes the value without touching it off the loop.
func (o *Opaque) String() string { return "[javascript object]" }

// ValueError names the path of a value that cannot become Go data
// ("item.a.b: cyclic reference"). It is jsvalue's PathError, shared with
// execjs.CopyError.
type ValueError = jsvalue.PathError

// exporter converts JS values to Go data on the loop.
type exporter struct {
	vm          *goja.Runtime
	mapProto    *goja.Object
	setProto    *goja.Object
	bytesProto  *goja.Object   // %TypedArray%.prototype
	bufferProto *goja.Object   // ArrayBuffer.prototype
	seen        []*goja.Object // current path, for cycle detection
}

func protoIs(o, proto *goja.Object) bool {
	if proto == nil {
		return false
	}
	for p := o.Prototype(); p != nil; p = p.Prototype() {
		if p == proto {
			return true
		}
	}
	return false
}

// item converts a yielded item (plain object, Map or class instance) to an
// ordered *crawl.Item.
func (x *exporter) item(v goja.Value) (*crawl.Item, error) {
	obj, ok := v.(*goja.Object)
	if !ok {
		return nil, &ValueError{Path: "item", Reason: fmt.Sprintf("a %s is not an item (want an object or a Map)", jsvalue.TypeName(v))}
	}
	out, err := x.object(obj, "item", 0)
	if err != nil {
		return nil, err
	}
	it, ok := out.(*crawl.Item)
	if !ok {
		return nil, &ValueError{Path: "item", Reason: fmt.Sprintf("a %s is not an item (want an object or a Map)", jsvalue.TypeName(v))}
	}
	return it, nil
}

// value converts any JS value to JSON-like Go data: nil, bool, int64,
// float64, string, []any, *crawl.Item.
func (x *exporter) value(v goja.Value, path string, depth int) (any, error) {
	if depth > maxValueDepth {
		return nil, &ValueError{Path: path, Reason: fmt.Sprintf("nested deeper than %d levels", maxValueDepth)}
	}
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil, nil
	}
	switch t := v.(type) {
	case *goja.Object:
		return x.object(t, path, depth)
	case *goja.Symbol:
		return nil, &ValueError{Path: path, Reason: "a Symbol is not data"}
	}
	switch e := v.Export().(type) {
	case string:
		return e, nil
	case bool:
		return e, nil
	case int64:
		return e, nil
	case float64:
		if math.IsNaN(e) || math.IsInf(e, 0) {
			return nil, &ValueError{Path: path, Reason: fmt.Sprintf("%v is not valid JSON", v)}
		}
		// The number rule execjs uses too, except that -0 becomes 0 here,
		// as in JSON.stringify.
		if i, ok := jsvalue.Int(e); ok {
			return i, nil
		}
		return e, nil
	case *big.Int:
		return nil, &ValueError{Path: path, Reason: "a BigInt is not valid JSON (convert it with String(x) or Number(x))"}
	default:
		return nil, &ValueError{Path: path, Reason: fmt.Sprintf("unsupported value %s", v)}
	}
}

func (x *exporter) object(o *goja.Object, path string, depth int) (any, error) {
	for _, s := range x.seen {
		if s == o {
			return nil, &ValueError{Path: path, Reason: "cyclic reference"}
		}
	}
	x.seen = append(x.seen, o)
	defer func() { x.seen = x.seen[:len(x.seen)-1] }()

	if _, ok := goja.AssertFunction(o); ok {
		return nil, &ValueError{Path: path, Reason: "a function is not data"}
	}
	switch o.ClassName() {
	case "Array":
		n := int(o.Get("length").ToInteger())
		arr := make([]any, 0, n)
		for i := 0; i < n; i++ {
			v, err := x.value(o.Get(strconv.Itoa(i)), path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		return arr, nil
	case "Date":
		if f, ok := goja.AssertFunction(o.Get("toISOString")); ok {
			s, err := f(o)
			if err != nil {
				return nil, &ValueError{Path: path, Reason: "invalid Date"}
			}
			return s.String(), nil
		}
	case "Error":
		return nil, &ValueError{Path: path, Reason: "an Error is not data"}
	}
	if protoIs(o, x.bytesProto) || protoIs(o, x.bufferProto) {
		// Export only here: for plain objects it would build a Go map.
		switch e := o.Export().(type) {
		case []byte:
			return string(e), nil
		case goja.ArrayBuffer:
			return string(e.Bytes()), nil
		}
		return nil, &ValueError{Path: path, Reason: "typed arrays other than Uint8Array are not data"}
	}
	if protoIs(o, x.mapProto) {
		return x.mapValue(o, path, depth)
	}
	if protoIs(o, x.setProto) {
		return x.setValue(o, path, depth)
	}
	if o.ClassName() == "Object" && o.Get("toJSON") != nil {
		if f, ok := goja.AssertFunction(o.Get("toJSON")); ok {
			r, err := f(o)
			if err != nil {
				return nil, &ValueError{Path: path, Reason: fmt.Sprintf("toJSON: %v", err)}
			}
			if r2, ok := r.(*goja.Object); ok && r2 == o {
				return nil, &ValueError{Path: path, Reason: "toJSON returned itself"}
			}
			return x.value(r, path, depth+1)
		}
	}
	it := &crawl.Item{}
	for _, k := range o.Keys() {
		v, err := x.value(o.Get(k), path+"."+k, depth+1)
		if err != nil {
			return nil, err
		}
		it.Fields = append(it.Fields, crawl.Field{Key: k, Value: v})
	}
	return it, nil
}

func (x *exporter) mapValue(o *goja.Object, path string, depth int) (any, error) {
	entries, ok := goja.AssertFunction(o.Get("entries"))
	if !ok {
		return nil, &ValueError{Path: path, Reason: "Map without entries()"}
	}
	itv, err := entries(o)
	if err != nil {
		return nil, err
	}
	it := itv.ToObject(x.vm)
	next, _ := goja.AssertFunction(it.Get("next"))
	out := &crawl.Item{}
	for {
		r, err := next(it)
		if err != nil {
			return nil, err
		}
		ro := r.ToObject(x.vm)
		if ro.Get("done").ToBoolean() {
			break
		}
		pair := ro.Get("value").ToObject(x.vm)
		key := pair.Get("0").String()
		v, err := x.value(pair.Get("1"), path+"."+key, depth+1)
		if err != nil {
			return nil, err
		}
		out.Set(key, v)
	}
	return out, nil
}

func (x *exporter) setValue(o *goja.Object, path string, depth int) (any, error) {
	values, ok := goja.AssertFunction(o.Get("values"))
	if !ok {
		return nil, &ValueError{Path: path, Reason: "Set without values()"}
	}
	itv, err := values(o)
	if err != nil {
		return nil, err
	}
	it := itv.ToObject(x.vm)
	next, _ := goja.AssertFunction(it.Get("next"))
	out := []any{}
	for i := 0; ; i++ {
		r, err := next(it)
		if err != nil {
			return nil, err
		}
		ro := r.ToObject(x.vm)
		if ro.Get("done").ToBoolean() {
			return out, nil
		}
		v, err := x.value(ro.Get("value"), path+"["+strconv.Itoa(i)+"]", depth+1)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// metaValue converts one meta (or cb_kwargs) value: JSON-like data becomes
// Go data; anything else (a ResultHolder, a function, an object holding one)
// is kept as an *Opaque so the same object comes back.
func (x *exporter) metaValue(v goja.Value) any {
	if o, ok := v.(*goja.Object); ok {
		if !plainData(o, 0, nil) {
			return &Opaque{v: v, rt: x.vm}
		}
	}
	out, err := x.value(v, "meta", 0)
	if err != nil {
		return &Opaque{v: v, rt: x.vm}
	}
	return crawl.Plain(out)
}

// plainData reports whether o is made only of plain objects, arrays and
// primitives (so a Go copy loses nothing).
func plainData(o *goja.Object, depth int, seen []*goja.Object) bool {
	if depth > maxValueDepth {
		return false
	}
	for _, s := range seen {
		if s == o {
			return false
		}
	}
	seen = append(seen, o)
	switch o.ClassName() {
	case "Array":
	case "Object":
		p := o.Prototype()
		if p != nil && p.Get("hasOwnProperty") == nil {
			return false
		}
		if p != nil && p.Prototype() != nil {
			return false // a class instance
		}
	default:
		return false
	}
	if _, ok := goja.AssertFunction(o); ok {
		return false
	}
	for _, k := range o.Keys() {
		v := o.Get(k)
		switch t := v.(type) {
		case *goja.Object:
			if !plainData(t, depth+1, seen) {
				return false
			}
		case *goja.Symbol:
			return false
		default:
			if f, ok := v.Export().(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return false
			}
			if _, ok := v.Export().(*big.Int); ok {
				return false
			}
		}
	}
	return true
}

// importer converts Go data to JS values on the loop: jsvalue's conversion
// (the one execjs uses), plus jsbridge's own cases in hook and viaJSON.
type importer struct{ vm *goja.Runtime }

func (m importer) value(v any) goja.Value {
	jv, err := jsvalue.Converter{RT: m.vm, Hook: m.hook, Fallback: m.viaJSON}.ToJS(v, "value")
	if err != nil {
		return goja.Undefined()
	}
	return jv
}

// hook handles, at every depth, what jsbridge converts unlike execjs:
// opaque meta values come back as the very same JS object (undefined in
// another runtime); a nil []string is an empty array (response.re that
// matches nothing); other Stringers (time.Duration, enums) cross as their
// String(), and other json.Marshalers as their JSON.
func (m importer) hook(v any) (goja.Value, bool) {
	switch t := v.(type) {
	case *Opaque:
		if t.rt == m.vm {
			return t.v, true
		}
		return goja.Undefined(), true
	case []string:
		if t == nil {
			return m.vm.NewArray(), true
		}
	case json.Number, *crawl.Item:
		// jsvalue's rules.
	case fmt.Stringer:
		return m.vm.ToValue(t.String()), true
	case json.Marshaler:
		return m.viaJSON(v), true
	}
	return nil, false
}

// viaJSON converts the Go values jsvalue's rules do not cover (structs,
// pointers: from Go code that put them into meta) through JSON, so JS never
// gets a reflection wrapper around Go internals.
func (m importer) viaJSON(v any) goja.Value {
	b, err := json.Marshal(v)
	if err != nil {
		return goja.Undefined()
	}
	var d any
	if json.Unmarshal(b, &d) != nil {
		return goja.Undefined()
	}
	return m.value(d)
}

func (s *Spider) exporter() *exporter {
	return &exporter{vm: s.vm, mapProto: s.protos.mapProto, setProto: s.protos.setProto,
		bytesProto: s.protos.bytesProto, bufferProto: s.protos.bufferProto}
}

func (s *Spider) importer() importer { return importer{vm: s.vm} }
