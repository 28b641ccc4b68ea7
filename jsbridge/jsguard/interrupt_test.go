package jsguard

import (
	"errors"
	"testing"
	"time"

	"github.com/dop251/goja"
)

// TestWatchdogInterrupt: Interrupt stops the running turn's JavaScript
// with the limit it is given; with no turn running it does nothing and
// reports false (nothing is left pending for the next turn); an interrupt
// that lands after the turn's JavaScript returned is cleared by End
// (jsbridge's TestStaleInterruptDoesNotHitNextJob fires it from the loop).
func TestWatchdogInterrupt(t *testing.T) {
	t.Parallel()
	vm := goja.New()
	w := NewWatchdog(vm, Limits{Timeout: time.Minute}, nil)
	defer w.Close()
	lim := TimeoutError(time.Minute)

	if w.Interrupt(lim) {
		t.Fatal("Interrupt with no turn running reported true")
	}
	w.Begin()
	_, err := vm.RunString("1")
	w.End()
	if err != nil {
		t.Fatalf("a turn after an Interrupt between turns: %v", err)
	}

	w.Begin()
	if !w.Interrupt(lim) {
		t.Fatal("Interrupt during a turn reported false")
	}
	_, err = vm.RunString("for (;;) {}")
	w.End()
	var ie *goja.InterruptedError
	if !errors.As(err, &ie) || ie.Value() != lim {
		t.Fatalf("got %v, want an interrupt with the limit", err)
	}

	w.Begin()
	_, _ = vm.RunString("1")
	w.Interrupt(lim) // after the turn's JavaScript returned
	w.End()
	w.Begin()
	v, err := vm.RunString("40 + 2")
	w.End()
	if err != nil || v.ToInteger() != 42 {
		t.Fatalf("the next turn: %v, %v (a stale interrupt)", v, err)
	}
}
