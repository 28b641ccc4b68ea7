package execjs

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// maxDepth bounds nesting in both directions; deeper values are almost
// always cycles through non-identical wrappers or hostile input, and deep
// recursion in Go is the only cost we cannot interrupt.
const maxDepth = jsvalue.DefaultMaxDepth

// toJS copies a Go value into rt: the conversion jsbridge uses too
// (jsvalue.Converter), without jsbridge's hooks, so a Go value the rules do
// not cover is a *CopyError rather than a JSON round trip.
func toJS(rt *goja.Runtime, v any, path string) (goja.Value, error) {
	return jsvalue.Converter{RT: rt, MaxDepth: maxDepth}.ToJS(v, path)
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

// normalizeFloat returns integral values as int64 (jsvalue.Int, the rule
// jsbridge's items use too) so that Go callers see the same type whether
// goja stored the number as an int or a float. Unlike jsbridge, which
// follows JSON.stringify (-0 is "0"), -0 stays a float: a structured copy
// keeps it.
func normalizeFloat(f float64) any {
	if i, ok := jsvalue.Int(f); ok && !(f == 0 && math.Signbit(f)) {
		return i
	}
	return f
}
