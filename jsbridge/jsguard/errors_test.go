package jsguard

import (
	"errors"
	"testing"
	"time"

	"github.com/dop251/goja"
)

func TestClassify(t *testing.T) {
	vm := goja.New()
	vm.SetMaxCallStackSize(100)
	_, err := vm.RunScript("a.js", "function f() {\n  throw new TypeError('x');\n}\nf();")
	if f := Classify(err); f.Kind != Exception || f.Value.ToObject(vm).Get("name").String() != "TypeError" || len(f.Frames) == 0 || FramePos(&f.Frames[0]) != "a.js:2:9" {
		t.Errorf("throw: %+v", f)
	}
	_, err = vm.RunScript("b.js", "function r() { return r(); }\nr();")
	if f := Classify(err); f.Kind != StackOverflow || len(f.Frames) == 0 {
		t.Errorf("overflow: %+v", f)
	}
	vm.Interrupt(TimeoutError(time.Second))
	_, err = vm.RunString("for (;;) {}")
	vm.ClearInterrupt()
	if f := Classify(err); f.Kind != Limit || !errors.Is(f.Limit, ErrTimeout) {
		t.Errorf("limit: %+v", f)
	}
	vm.Interrupt("stop")
	_, err = vm.RunString("for (;;) {}")
	vm.ClearInterrupt()
	if f := Classify(err); f.Kind != Interrupt || f.Interrupt != "stop" {
		t.Errorf("interrupt: %+v", f)
	}
	if f := Classify(errors.New("go")); f.Kind != GoFailure {
		t.Errorf("go error: %+v", f)
	}
}

func TestParseStackLine(t *testing.T) {
	for _, c := range []struct{ line, fn, file, ln, col string }{
		{"    at parse (spider.js:12:9(14))", "parse", "spider.js", "12", "9"},
		{"\tat spider.js:3:1(2)", "", "spider.js", "3", "1"},
		{"at f (/abs/a b.js:1:2)", "f", "/abs/a b.js", "1", "2"},
	} {
		fn, file, ln, col, ok := ParseStackLine(c.line)
		if !ok || fn != c.fn || file != c.file || ln != c.ln || col != c.col {
			t.Errorf("%q: %q %q %q %q %v", c.line, fn, file, ln, col, ok)
		}
	}
	for _, line := range []string{"TypeError: x", "at native"} {
		if _, _, _, _, ok := ParseStackLine(line); ok {
			t.Errorf("%q parsed", line)
		}
	}
}
