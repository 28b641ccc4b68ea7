package jsbridge

import (
	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// failureObject is what errbacks receive.
func (s *Spider) failureObject(f *crawl.Failure) *goja.Object {
	vm := s.vm
	o := vm.NewObject()
	if f.Request != nil {
		_ = o.Set("request", s.requestObject(f.Request))
	} else {
		_ = o.Set("request", goja.Null())
	}
	_ = o.Set("message", f.Message)
	_ = o.Set("type", string(f.Type))
	var resp goja.Value = goja.Null()
	if f.Response != nil {
		if f.Response.Request == nil {
			f.Response.Request = f.Request
		}
		resp = s.newResponse(f.Response)
	}
	_ = o.Set("response", resp)
	val := vm.NewObject()
	_ = val.Set("response", resp)
	_ = val.Set("message", f.Message)
	_ = o.Set("value", val)
	_ = o.Set("check", func(call goja.FunctionCall) goja.Value {
		for _, a := range call.Arguments {
			name := a.String()
			if ao, ok := a.(*goja.Object); ok {
				if n := ao.Get("name"); present(n) {
					name = n.String()
				}
			}
			if name == string(f.Type) {
				return vm.ToValue(name)
			}
		}
		return goja.Null()
	})
	_ = o.Set("getErrorMessage", func() string { return f.Message })
	_ = o.Set("toString", func() string { return f.Error() })
	return o
}
