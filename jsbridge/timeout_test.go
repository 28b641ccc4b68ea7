package jsbridge

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
)

// TestCallbackTimeout: a callback whose promise a setInterval keeps
// pending is ended by CALLBACK_TIMEOUT with an error that names it and
// its source line, after the items it yielded; its interval is cleared
// (the loop can become quiescent again), and the next callback runs.
func TestCallbackTimeout(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "forever.js", func(o *Options) { o.CallbackTimeout = 300 * time.Millisecond })
	start := time.Now()
	rec, err := call(t, s, "ticking")
	took := time.Since(start)
	var je *Error
	if !errors.Is(err, ErrCallbackTimeout) || !errors.As(err, &je) || je.Type != "CALLBACK_TIMEOUT" {
		t.Fatalf("got %v, want a CALLBACK_TIMEOUT error", err)
	}
	want := "callback ticking (testdata/forever.js:2:"
	if msg := firstLine(err.Error()); !strings.HasPrefix(msg, want) ||
		!strings.Contains(msg, "did not finish within CALLBACK_TIMEOUT 300ms: it is still waiting on a promise (1 timer cleared) (on http://example.test/page)") {
		t.Errorf("error %q, want it to start with %q and name the timeout", msg, want)
	}
	if rec.String() != `I {"first":"http://example.test/page"}` {
		t.Errorf("output before the timeout: %s", rec)
	}
	if took > 2*time.Second {
		t.Errorf("ended after %s", took)
	}
	// The interval is gone: nothing keeps the loop busy any more.
	proctest.WaitFor(t, "the loop to become quiescent (the interval cleared)", 5*time.Second, s.loop.quiescent)
	if rec, err := call(t, s, "after"); err != nil || rec.String() != `I {"ok":1}` {
		t.Fatalf("after: %v %s", err, rec)
	}
	// A callback awaiting a promise nothing settles (no timer) ends the
	// same way.
	if _, err := call(t, s, "waiting"); !errors.Is(err, ErrCallbackTimeout) || !strings.Contains(err.Error(), "callback waiting (testdata/forever.js:9:") {
		t.Fatalf("waiting: %v", err)
	}
}

// TestCallbackTimeoutOff: a negative CallbackTimeout disables the bound.
func TestCallbackTimeoutOff(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "forever.js", func(o *Options) { o.CallbackTimeout = -1 })
	if s.opts.CallbackTimeout > 0 {
		t.Fatalf("CallbackTimeout = %s", s.opts.CallbackTimeout)
	}
	s2, _ := newSpider(t, "forever.js", nil)
	if s2.opts.CallbackTimeout != DefaultCallbackTimeout {
		t.Fatalf("default CallbackTimeout = %s", s2.opts.CallbackTimeout)
	}
}
