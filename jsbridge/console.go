package jsbridge

import (
	"fmt"
	"strings"

	"github.com/dop251/goja"
)

// formatArgs renders console arguments the way console.log prints them.
func (s *Spider) formatArgs(args []goja.Value) string {
	parts := make([]string, len(args))
	for i, a := range args {
		if o, ok := a.(*goja.Object); ok {
			if _, isFn := goja.AssertFunction(o); !isFn && o.ClassName() != "Error" {
				if j, err := s.stringify(goja.Undefined(), o); err == nil && present(j) {
					parts[i] = j.String()
					continue
				}
			}
			if o.ClassName() == "Error" {
				if st := o.Get("stack"); present(st) {
					stack, _ := s.cleanStack(st.String())
					parts[i] = o.String() + "\n" + stack
					continue
				}
			}
		}
		parts[i] = fmt.Sprint(a)
	}
	return strings.Join(parts, " ")
}

func (s *Spider) installConsole() {
	c := s.vm.NewObject()
	logf := s.jsLog
	for _, k := range []string{"log", "info", "debug", "warn", "error"} {
		_ = c.Set(k, logf(k))
	}
	_ = c.Set("trace", logf("debug"))
	_ = s.vm.Set("console", c)
}

// jsLog returns the JS function that logs its arguments at level
// ("debug", "warn", "error"; anything else is info) with the caller's
// source position: console.* and spider.log.* share it.
func (s *Spider) jsLog(level string) func(goja.FunctionCall) goja.Value {
	return func(call goja.FunctionCall) goja.Value {
		msg := s.formatArgs(call.Arguments)
		pos := s.callerPos()
		switch level {
		case "debug":
			s.log.Debug(msg, "js", pos)
		case "warn":
			s.log.Warn(msg, "js", pos)
		case "error":
			s.log.Error(msg, "js", pos)
		default:
			s.log.Info(msg, "js", pos)
		}
		return goja.Undefined()
	}
}
