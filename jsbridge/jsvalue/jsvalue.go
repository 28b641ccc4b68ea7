// Package jsvalue holds the value conversions both goja hosts share: the
// spider runtime (jsbridge) and the use_execjs contexts (jsbridge/execjs).
//
// Go → JS is one conversion (ToJS): JSON-like Go data (nil, bools, numbers,
// strings, []any, map[string]any, *crawl.Item, []byte as Uint8Array,
// json.Number, typed slices and string-keyed maps) becomes the same JS value
// in both hosts. Each host adds its own cases through Converter.Hook and
// Converter.Fallback (jsbridge: opaque meta values, Stringers, JSON for Go
// structs).
//
// JS → Go is not shared on purpose, only its number rule (Int): jsbridge
// exports items and meta with JSON semantics (Date → ISO string, Map → object,
// Set → array, toJSON honoured, NaN rejected, Uint8Array → string), while
// execjs copies a value between runtimes like structured clone restricted
// to JSON types plus bytes (Uint8Array → []byte, Date/Map/Set rejected, NaN
// and -0 kept), as PyExecJS callers expect from a JSON round trip through
// Node.
package jsvalue

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// MaxSafeInt is 2^53: integral numbers up to it are exact in float64.
const MaxSafeInt = 1 << 53

// Int reports whether f is integral and exact in float64 (|f| ≤ 2^53), and
// its int64 value. Both hosts export such numbers as int64, so Go callers
// see one type whether goja stored the number as an int or a float. (-0
// passes; execjs checks the sign itself to keep -0.)
func Int(f float64) (int64, bool) {
	if f == math.Trunc(f) && math.Abs(f) <= MaxSafeInt {
		return int64(f), true
	}
	return 0, false
}

// PathError names where in a value a conversion failed ("args[0].a: cyclic
// reference"). execjs.CopyError and jsbridge.ValueError are this type.
type PathError struct {
	Path   string // e.g. "result.a[2]", "item.price"
	Reason string // e.g. "cyclic reference", "function is not copyable"
}

func (e *PathError) Error() string { return e.Path + ": " + e.Reason }

// NewUint8Array returns a Uint8Array over a copy of b, built with rt's
// global Uint8Array constructor.
func NewUint8Array(rt *goja.Runtime, b []byte) (goja.Value, error) {
	ctor, ok := goja.AssertConstructor(rt.Get("Uint8Array"))
	if !ok {
		return nil, fmt.Errorf("Uint8Array is not a constructor")
	}
	buf := rt.NewArrayBuffer(append([]byte(nil), b...))
	return ctor(nil, rt.ToValue(buf))
}

// SetOwn creates an own data property. obj.Set would run setters on the
// prototype chain: a key "__proto__" from a decoded JSON document would
// replace the object's prototype instead of becoming a field.
func SetOwn(obj *goja.Object, k string, v goja.Value) error {
	return obj.DefineDataProperty(k, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
}

// DefaultMaxDepth bounds nesting when MaxDepth is 0: deeper values are
// almost always cycles or hostile input, and deep recursion in Go is the one
// cost the watchdog cannot interrupt.
const DefaultMaxDepth = 1000

// Converter converts Go data to JS values in one runtime.
type Converter struct {
	RT *goja.Runtime
	// Hook, if set, sees every value (at every depth) first; ok=false
	// leaves it to the built-in rules.
	Hook func(v any) (js goja.Value, ok bool)
	// Fallback, if set, converts what the rules do not cover (structs,
	// pointers, channels, non-string map keys) instead of failing.
	Fallback func(v any) goja.Value
	// MaxDepth bounds nesting (DefaultMaxDepth if 0).
	MaxDepth int
}

// ToJS copies a Go value into c.RT; path names it in errors ("args[0]").
func (c Converter) ToJS(v any, path string) (goja.Value, error) {
	return c.toJS(v, path, 0)
}

func (c Converter) toJS(v any, path string, depth int) (goja.Value, error) {
	rt := c.RT
	max := c.MaxDepth
	if max == 0 {
		max = DefaultMaxDepth
	}
	if depth > max {
		return nil, &PathError{Path: path, Reason: fmt.Sprintf("nesting deeper than %d", max)}
	}
	if c.Hook != nil {
		if jv, ok := c.Hook(v); ok {
			return jv, nil
		}
	}
	switch x := v.(type) {
	case nil:
		return goja.Null(), nil
	case bool:
		return rt.ToValue(x), nil
	case string:
		return rt.ToValue(x), nil
	case int:
		return rt.ToValue(int64(x)), nil
	case int64:
		return rt.ToValue(x), nil
	case int32:
		return rt.ToValue(int64(x)), nil
	case float64:
		return rt.ToValue(x), nil
	case float32:
		return rt.ToValue(float64(x)), nil
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return rt.ToValue(i), nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, &PathError{Path: path, Reason: fmt.Sprintf("invalid number %q", string(x))}
		}
		return rt.ToValue(f), nil
	case []byte:
		return NewUint8Array(rt, x)
	case []any:
		arr := make([]any, len(x))
		for i, e := range x {
			jv, err := c.toJS(e, path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			arr[i] = jv
		}
		return rt.NewArray(arr...), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		// Go maps have no order; sorting makes the JS key order (and so
		// any signature computed over it) reproducible.
		sort.Strings(keys)
		obj := rt.NewObject()
		for _, k := range keys {
			jv, err := c.toJS(x[k], path+"."+k, depth+1)
			if err != nil {
				return nil, err
			}
			if err := SetOwn(obj, k, jv); err != nil {
				return nil, &PathError{Path: path + "." + k, Reason: err.Error()}
			}
		}
		return obj, nil
	case *crawl.Item:
		if x == nil {
			return goja.Null(), nil
		}
		obj := rt.NewObject()
		for _, f := range x.Fields {
			jv, err := c.toJS(f.Value, path+"."+f.Key, depth+1)
			if err != nil {
				return nil, err
			}
			if err := SetOwn(obj, f.Key, jv); err != nil {
				return nil, &PathError{Path: path + "." + f.Key, Reason: err.Error()}
			}
		}
		return obj, nil
	}
	return c.reflectToJS(v, path, depth)
}

// reflectToJS handles the remaining numeric kinds, typed slices and
// string-keyed maps ([]string, map[string]string, uint8...).
func (c Converter) reflectToJS(v any, path string, depth int) (goja.Value, error) {
	rt := c.RT
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return rt.ToValue(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		u := rv.Uint()
		if u > math.MaxInt64 {
			return rt.ToValue(float64(u)), nil
		}
		return rt.ToValue(int64(u)), nil
	case reflect.Float32, reflect.Float64:
		return rt.ToValue(rv.Float()), nil
	case reflect.Bool:
		return rt.ToValue(rv.Bool()), nil
	case reflect.String:
		return rt.ToValue(rv.String()), nil
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return goja.Null(), nil
		}
		arr := make([]any, rv.Len())
		for i := range arr {
			jv, err := c.toJS(rv.Index(i).Interface(), path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			arr[i] = jv
		}
		return rt.NewArray(arr...), nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			break
		}
		m := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			m[iter.Key().String()] = iter.Value().Interface()
		}
		return c.toJS(m, path, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return goja.Null(), nil
		}
	}
	if c.Fallback != nil {
		return c.Fallback(v), nil
	}
	if rv.Kind() == reflect.Map {
		return nil, &PathError{Path: path, Reason: fmt.Sprintf("map with %s keys is not copyable (want string keys)", rv.Type().Key())}
	}
	return nil, &PathError{Path: path, Reason: fmt.Sprintf("Go value of type %T is not copyable", v)}
}

// TypeName names v's type for messages, in both hosts: typeof's answer
// (undefined, string, number, boolean, function, ...), except null, and
// an object's class in lower case ("object" for a plain one, "array",
// "date", "uint8array").
func TypeName(v goja.Value) string {
	switch {
	case v == nil || goja.IsUndefined(v):
		return "undefined"
	case goja.IsNull(v):
		return "null"
	}
	if o, ok := v.(*goja.Object); ok {
		if _, ok := goja.AssertFunction(o); ok {
			return "function"
		}
		return strings.ToLower(o.ClassName())
	}
	switch v.Export().(type) {
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64, float64:
		return "number"
	}
	return v.ExportType().String()
}
