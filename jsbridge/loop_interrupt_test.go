package jsbridge

import (
	"errors"
	"testing"
	"time"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsguard"
)

// TestStaleInterruptDoesNotHitNextJob: the watchdog may interrupt a turn
// after its JavaScript returned and before the turn ended (the job's Go
// tail: driving its output, posting results). goja keeps such an interrupt
// pending until the runtime runs JavaScript again, which would be the next
// job — another callback, charged with a limit it never passed. The turn's
// end (jsguard.Watchdog.End, called by the loop after every job) clears
// it. The loop's afterJob seam fires the interrupt exactly in that window,
// so the race is reproduced on every run. With End clearing nothing, the
// second job fails with the first one's interrupt. (End clears it twice
// over: its ClearInterrupt, and its reset run, which the pending interrupt
// stops at once and goja then clears the flag itself — so removing the
// ClearInterrupt alone does not fail this test.)
func TestStaleInterruptDoesNotHitNextJob(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name      string
		inJob     bool // interrupt while the job's JavaScript runs (the ordinary case)
		wantFirst bool // the first job's JavaScript is interrupted
	}{
		{"after the job's javascript returned", false, false},
		{"during the job's javascript", true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			vm := goja.New()
			l := newLoop(vm, jsguard.Limits{Timeout: time.Minute}) // the watchdog itself never fires
			lim := jsguard.TimeoutError(time.Minute)
			fired := false
			l.afterJob = func() {
				if !c.inJob && !fired {
					fired = true
					if !l.wd.Interrupt(lim) {
						t.Error("no turn running between the job's return and its end")
					}
				}
			}
			go l.run()
			t.Cleanup(func() { l.close(nil); <-l.done })

			type result struct {
				v   goja.Value
				err error
			}
			first, second := make(chan result, 1), make(chan result, 1)
			l.post(func() {
				if c.inJob && !l.wd.Interrupt(lim) {
					t.Error("no turn running during the job")
				}
				v, err := vm.RunString("1 + 1")
				first <- result{v, err}
			})
			r1 := <-first
			l.post(func() {
				v, err := vm.RunString("40 + 2")
				second <- result{v, err}
			})
			r2 := <-second

			var ie *goja.InterruptedError
			if got := errors.As(r1.err, &ie); got != c.wantFirst {
				t.Fatalf("first job: err %v, interrupted %v; want interrupted %v", r1.err, got, c.wantFirst)
			}
			if c.wantFirst {
				var le *jsguard.LimitError
				if le, _ = ie.Value().(*jsguard.LimitError); le != lim {
					t.Errorf("first job interrupted with %v, want the watchdog's limit", ie.Value())
				}
			}
			if r2.err != nil {
				t.Fatalf("second job: %v (a stale interrupt of the first job's turn)", r2.err)
			}
			if r2.v.ToInteger() != 42 {
				t.Errorf("second job = %v, want 42", r2.v)
			}
			if !c.wantFirst && r1.v.ToInteger() != 2 {
				t.Errorf("first job = %v, want 2", r1.v)
			}
		})
	}
}
