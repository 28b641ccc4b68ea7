package jstimers

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/dop251/goja"
)

type recorder struct {
	added   []Timer
	cleared []int64
}

func (r *recorder) Add(t Timer) int64 { r.added = append(r.added, t); return int64(len(r.added)) }
func (r *recorder) Clear(id int64)    { r.cleared = append(r.cleared, id) }

func TestDelay(t *testing.T) {
	vm := goja.New()
	for _, tc := range []struct {
		v      goja.Value
		repeat bool
		want   time.Duration
	}{
		{goja.Undefined(), false, 0},
		{vm.ToValue(math.NaN()), false, 0},
		{vm.ToValue(-5), false, 0},
		{vm.ToValue(0), true, time.Millisecond},
		{vm.ToValue(0.5), false, 500 * time.Microsecond},
		{vm.ToValue(1500), false, 1500 * time.Millisecond},
		{vm.ToValue("20"), false, 20 * time.Millisecond},
		{vm.ToValue(float64(1<<31 - 1)), false, MaxDelay},
		{vm.ToValue(float64(1 << 31)), false, time.Millisecond}, // Node.js: does not fit, 1 ms
		{vm.ToValue(math.Inf(1)), false, time.Millisecond},
	} {
		if got := Delay(tc.v, tc.repeat); got != tc.want {
			t.Errorf("Delay(%v, %v) = %v, want %v", tc.v, tc.repeat, got, tc.want)
		}
	}
}

func TestInstall(t *testing.T) {
	for _, code := range []bool{false, true} {
		vm := goja.New()
		r := &recorder{}
		if err := Install(vm, r, Options{Code: code}); err != nil {
			t.Fatal(err)
		}
		v, err := vm.RunString(`[
			setTimeout(function(){}, 10, 'a', 'b'),
			setInterval(function(){}, 0),
			setImmediate(function(){}, 'x'),
		]`)
		if err != nil {
			t.Fatal(err)
		}
		if got := v.Export().([]any); len(got) != 3 || got[0] != int64(1) || got[2] != int64(3) {
			t.Fatalf("ids %v", got)
		}
		a := r.added
		if a[0].Delay != 10*time.Millisecond || len(a[0].Args) != 2 || a[0].Repeat ||
			a[1].Delay != time.Millisecond || !a[1].Repeat ||
			a[2].Delay != 0 || len(a[2].Args) != 1 || a[2].Args[0].String() != "x" {
			t.Fatalf("timers %+v", a)
		}
		if _, err := vm.RunString(`clearTimeout(1); clearInterval(2); clearImmediate(3); clearTimeout(undefined); clearTimeout(0)`); err != nil {
			t.Fatal(err)
		}
		if len(r.cleared) != 3 {
			t.Fatalf("cleared %v", r.cleared)
		}
		_, err = vm.RunString(`setTimeout("globalThis.x = 1", 5)`)
		if code {
			if err != nil || r.added[3].Code != "globalThis.x = 1" {
				t.Fatalf("code form: %v %+v", err, r.added)
			}
		} else if err == nil || !strings.Contains(err.Error(), "TypeError: setTimeout: callback must be a function, got string") {
			t.Fatalf("code form refused: %v", err)
		}
		if _, err := vm.RunString(`setInterval()`); err == nil || !strings.Contains(err.Error(), "setInterval: callback must be a function, got undefined") {
			t.Fatalf("no callback: %v", err)
		}
	}
}
