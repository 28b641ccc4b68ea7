package jsvalue

import (
	"errors"
	"testing"

	"github.com/dop251/goja"
)

func TestToJSErrors(t *testing.T) {
	vm := goja.New()
	c := Converter{RT: vm}
	var pe *PathError
	if _, err := c.ToJS(map[string]any{"a": []any{struct{}{}}}, "args[0]"); !errors.As(err, &pe) || pe.Path != "args[0].a[0]" {
		t.Errorf("struct: %v", err)
	}
	if _, err := c.ToJS(map[int]string{1: "x"}, "v"); !errors.As(err, &pe) || pe.Reason != "map with int keys is not copyable (want string keys)" {
		t.Errorf("int keys: %v", err)
	}
	deep := any(nil)
	for i := 0; i < 5; i++ {
		deep = []any{deep}
	}
	if _, err := (Converter{RT: vm, MaxDepth: 3}).ToJS(deep, "v"); !errors.As(err, &pe) || pe.Reason != "nesting deeper than 3" {
		t.Errorf("depth: %v", err)
	}
	fb := Converter{RT: vm, Fallback: func(any) goja.Value { return vm.ToValue("fallback") }}
	if v, err := fb.ToJS([]any{struct{}{}}, "v"); err != nil || v.ToObject(vm).Get("0").String() != "fallback" {
		t.Errorf("fallback: %v %v", v, err)
	}
}
