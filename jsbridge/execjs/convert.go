package execjs

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"sort"
	"strconv"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// maxDepth bounds nesting in both directions; deeper values are almost
// always cycles through non-identical wrappers or hostile input, and deep
// recursion in Go is the only cost we cannot interrupt.
const maxDepth = 1000

// maxSafeInt is 2^53: integral numbers up to it are exact in float64 and
// cross as int64.
const maxSafeInt = 1 << 53

// toJS copies a Go value into rt.
func toJS(rt *goja.Runtime, v any, path string, depth int) (goja.Value, error) {
	if depth > maxDepth {
		return nil, &CopyError{Path: path, Reason: fmt.Sprintf("nesting deeper than %d", maxDepth)}
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
			return nil, &CopyError{Path: path, Reason: fmt.Sprintf("invalid number %q", string(x))}
		}
		return rt.ToValue(f), nil
	case []byte:
		return newUint8Array(rt, x)
	case []any:
		arr := make([]any, len(x))
		for i, e := range x {
			jv, err := toJS(rt, e, path+"["+strconv.Itoa(i)+"]", depth+1)
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
			jv, err := toJS(rt, x[k], path+"."+k, depth+1)
			if err != nil {
				return nil, err
			}
			if err := setOwn(obj, k, jv); err != nil {
				return nil, &CopyError{Path: path + "." + k, Reason: err.Error()}
			}
		}
		return obj, nil
	case *crawl.Item:
		if x == nil {
			return goja.Null(), nil
		}
		obj := rt.NewObject()
		for _, f := range x.Fields {
			jv, err := toJS(rt, f.Value, path+"."+f.Key, depth+1)
			if err != nil {
				return nil, err
			}
			if err := setOwn(obj, f.Key, jv); err != nil {
				return nil, &CopyError{Path: path + "." + f.Key, Reason: err.Error()}
			}
		}
		return obj, nil
	}
	return reflectToJS(rt, v, path, depth)
}

// setOwn creates an own data property. obj.Set would run setters on the
// prototype chain: a key "__proto__" from a decoded JSON document would
// replace the object's prototype instead of becoming a field.
func setOwn(obj *goja.Object, k string, v goja.Value) error {
	return obj.DefineDataProperty(k, v, goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_TRUE)
}

// reflectToJS handles the remaining numeric kinds, typed slices and
// string-keyed maps ([]string, map[string]string, uint8...).
func reflectToJS(rt *goja.Runtime, v any, path string, depth int) (goja.Value, error) {
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
			jv, err := toJS(rt, rv.Index(i).Interface(), path+"["+strconv.Itoa(i)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			arr[i] = jv
		}
		return rt.NewArray(arr...), nil
	case reflect.Map:
		if rv.Type().Key().Kind() != reflect.String {
			return nil, &CopyError{Path: path, Reason: fmt.Sprintf("map with %s keys is not copyable (want string keys)", rv.Type().Key())}
		}
		m := make(map[string]any, rv.Len())
		iter := rv.MapRange()
		for iter.Next() {
			m[iter.Key().String()] = iter.Value().Interface()
		}
		return toJS(rt, m, path, depth)
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return goja.Null(), nil
		}
	}
	return nil, &CopyError{Path: path, Reason: fmt.Sprintf("Go value of type %T is not copyable", v)}
}

func newUint8Array(rt *goja.Runtime, b []byte) (goja.Value, error) {
	ctor, ok := goja.AssertConstructor(rt.Get("Uint8Array"))
	if !ok {
		return nil, fmt.Errorf("Uint8Array is not a constructor")
	}
	buf := rt.NewArrayBuffer(append([]byte(nil), b...))
	return ctor(nil, rt.ToValue(buf))
}

// fromJS copies a JS value out of its runtime. onPath holds the objects
// being copied on the current path, to tell a cycle from a shared
// (diamond) reference, which is copied twice like structured clone does.
type copier struct {
	rt     *goja.Runtime
	onPath map[*goja.Object]bool
}

func fromJS(rt *goja.Runtime, v goja.Value, path string) (any, error) {
	c := copier{rt: rt}
	return c.copy(v, path, 0)
}

var (
	bigIntType      = reflect.TypeOf((*big.Int)(nil))
	bytesType       = reflect.TypeOf([]byte(nil))
	arrayBufferType = reflect.TypeOf(goja.ArrayBuffer{})
	plainObjectType = reflect.TypeOf(map[string]any(nil))
)

// notCopyableCtors are built-ins that export like plain objects.
var notCopyableCtors = map[string]bool{"DataView": true, "WeakMap": true, "WeakSet": true, "WeakRef": true, "FinalizationRegistry": true}

// ctorName is obj.constructor.name, for messages ("Map", "Uint32Array").
func ctorName(obj *goja.Object) string {
	if c, ok := obj.Get("constructor").(*goja.Object); ok {
		if n := c.Get("name"); n != nil && n.String() != "" {
			return n.String()
		}
	}
	return obj.ClassName()
}

func (c *copier) copy(v goja.Value, path string, depth int) (any, error) {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return nil, nil
	}
	obj, isObj := v.(*goja.Object)
	if !isObj {
		if _, ok := v.(*goja.Symbol); ok {
			return nil, &CopyError{Path: path, Reason: "symbol is not copyable"}
		}
		if v.ExportType() == bigIntType {
			return nil, &CopyError{Path: path, Reason: "BigInt is not copyable (convert it with String(x))"}
		}
		switch x := v.Export().(type) {
		case bool, int64, string:
			return x, nil
		case float64:
			return normalizeFloat(x), nil
		}
		return nil, &CopyError{Path: path, Reason: fmt.Sprintf("%s is not copyable", v.ExportType())}
	}
	if depth > maxDepth {
		return nil, &CopyError{Path: path, Reason: fmt.Sprintf("nesting deeper than %d", maxDepth)}
	}
	switch cls := obj.ClassName(); cls {
	case "Function", "AsyncFunction", "GeneratorFunction":
		return nil, &CopyError{Path: path, Reason: "function is not copyable"}
	case "Array":
		if c.onPath[obj] {
			return nil, &CopyError{Path: path, Reason: "cyclic reference"}
		}
		c.enter(obj)
		defer delete(c.onPath, obj)
		n := obj.Get("length").ToInteger()
		out := make([]any, n)
		for i := int64(0); i < n; i++ {
			e, err := c.copy(obj.Get(strconv.FormatInt(i, 10)), path+"["+strconv.FormatInt(i, 10)+"]", depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	case "Object":
		// goja reports typed arrays, ArrayBuffer, Map and Set as class
		// "Object"; their export type tells them apart.
		switch et := obj.ExportType(); {
		case et == bytesType:
			var b []byte
			if err := c.rt.ExportTo(obj, &b); err != nil {
				return nil, &CopyError{Path: path, Reason: err.Error()}
			}
			return append([]byte{}, b...), nil
		case et == arrayBufferType:
			ab, _ := obj.Export().(goja.ArrayBuffer)
			return append([]byte{}, ab.Bytes()...), nil
		case et != plainObjectType:
			return nil, &CopyError{Path: path, Reason: ctorName(obj) + " is not copyable (want null, boolean, number, string, Array, plain object or Uint8Array)"}
		}
		if n := ctorName(obj); notCopyableCtors[n] {
			return nil, &CopyError{Path: path, Reason: n + " is not copyable"}
		}
		if c.onPath[obj] {
			return nil, &CopyError{Path: path, Reason: "cyclic reference"}
		}
		c.enter(obj)
		defer delete(c.onPath, obj)
		keys := obj.Keys()
		it := &crawl.Item{Fields: make([]crawl.Field, 0, len(keys))}
		for _, k := range keys {
			e, err := c.copy(obj.Get(k), path+"."+k, depth+1)
			if err != nil {
				return nil, err
			}
			it.Fields = append(it.Fields, crawl.Field{Key: k, Value: e})
		}
		return it, nil
	default:
		return nil, &CopyError{Path: path, Reason: cls + " is not copyable (want null, boolean, number, string, Array, plain object or Uint8Array)"}
	}
}

func (c *copier) enter(obj *goja.Object) {
	if c.onPath == nil {
		c.onPath = map[*goja.Object]bool{}
	}
	c.onPath[obj] = true
}

// normalizeFloat returns integral values as int64 so that Go callers see
// the same type whether goja stored the number as an int or a float.
func normalizeFloat(f float64) any {
	if f == math.Trunc(f) && math.Abs(f) <= maxSafeInt && !(f == 0 && math.Signbit(f)) {
		return int64(f)
	}
	return f
}
