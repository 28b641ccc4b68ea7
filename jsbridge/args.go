package jsbridge

import (
	"github.com/dop251/goja"
)

// throw raises err as a JS Error, keeping its text.
func (s *Spider) throw(err error) {
	panic(s.vm.NewGoError(err))
}

// strArg is argument i of a call, which is required.
func (s *Spider) strArg(call goja.FunctionCall, i int, what string) string {
	a := call.Argument(i)
	if !present(a) {
		panic(s.vm.NewTypeError("%s: argument %d is required", what, i+1))
	}
	return a.String()
}

// defArg is optional argument i of a call (a default), or null.
func defArg(call goja.FunctionCall, i int) goja.Value {
	if present(call.Argument(i)) {
		return call.Argument(i)
	}
	return goja.Null()
}

func isObject(v goja.Value) bool {
	_, ok := v.(*goja.Object)
	return ok
}

func present(v goja.Value) bool { return v != nil && !goja.IsUndefined(v) && !goja.IsNull(v) }
