package jsbridge

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestLimits: every unbounded thing a callback can do is stopped with a
// clear error, and the next callback of the same runtime still works.
func TestLimits(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "limits.js", func(o *Options) { o.JSTimeout = time.Second })
	tests := []struct {
		callback string
		wantErr  string // substring of the first line
		is       error
	}{
		{"spin", "callback spin exceeded JS_TIMEOUT 1s at testdata/limits.js:4:", ErrTimeout},
		{"spin", "— infinite loop? (on http://example.test/page)", ErrTimeout},
		{"spin_later", "callback spin_later exceeded JS_TIMEOUT 1s at testdata/limits.js:", ErrTimeout},
		{"repeat", "RangeError: String.prototype.repeat: string length limit 16 Mi exceeded (1024 Mi requested)", nil},
		{"pad", "RangeError: String.prototype.padEnd: string length limit 16 Mi exceeded", nil},
		{"join", "RangeError: Array.prototype.join: array length limit 4 Mi exceeded", nil},
		{"stringify", "RangeError: JSON.stringify: nesting deeper than 1000", nil},
		{"parse", "RangeError: JSON.parse: nesting deeper than 1000", nil},
		{"fill", "RangeError: Array.prototype.fill: array length limit 4 Mi exceeded (length 100000000)", nil},
		{"typed", "RangeError: Uint8Array: buffer size limit 64MiB exceeded", nil},
		{"nested", "RangeError: Array.prototype.join: arrays nested deeper than 1000", nil},
		{"pollute", "TypeError", nil},
	}
	for _, tc := range tests {
		rec, err := call(t, s, tc.callback)
		if err == nil {
			t.Errorf("%s: no error; output %s", tc.callback, rec)
			continue
		}
		if !strings.Contains(firstLine(err.Error()), tc.wantErr) {
			t.Errorf("%s: error %q, want it to contain %q", tc.callback, firstLine(err.Error()), tc.wantErr)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%s: error %v is not %v", tc.callback, err, tc.is)
		}
		// The runtime is still usable after each limit.
		rec, err = call(t, s, "after")
		if err != nil || rec.String() != `I {"ok":1}` {
			t.Fatalf("after %s: %v %s", tc.callback, err, rec)
		}
	}
	// Prototype pollution never reaches the next callback (J08).
	if _, err := call(t, s, "pollute_sloppy"); err != nil {
		t.Fatal(err)
	}
	rec, err := call(t, s, "check_clean")
	if err != nil || rec.String() != `I {"isAdmin":true,"price":true,"push":true}` {
		t.Errorf("check_clean: %v %s", err, rec)
	}
	// No capability beyond the documented globals (J10).
	rec, err = call(t, s, "capabilities")
	want := `I {"require":"undefined","process":"undefined","fetch":"undefined","Deno":"undefined","setTimeout":"function","native":"undefined","go":0}`
	if err != nil || rec.String() != want {
		t.Errorf("capabilities: %v\n%s\nwant\n%s", err, rec, want)
	}
}

// TestRecursion: deep recursion is a RangeError, not a crash or a heap
// that grows until the process dies (RELIABILITY.md M2/M3, J02). The first
// overflow grows goja's stack (slow under -race), hence its own timeout.
func TestRecursion(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "limits.js", func(o *Options) { o.JSTimeout = 20 * time.Second })
	for i := 0; i < 2; i++ {
		_, err := call(t, s, "recurse")
		if err == nil || !strings.HasPrefix(err.Error(), "testdata/limits.js:13:") || !strings.Contains(firstLine(err.Error()), "RangeError: maximum call stack size exceeded") {
			t.Fatalf("got %v", err)
		}
		if n := strings.Count(err.Error(), "\n\tat "); n > maxStackFrames {
			t.Errorf("stack has %d frames, want at most %d", n, maxStackFrames)
		}
	}
}

// TestRegexTimeout: a catastrophic regex ends within the regex timeout and
// throws instead of silently not matching (RELIABILITY.md M6/M7, J05).
func TestRegexTimeout(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "limits.js", func(o *Options) { o.JSTimeout = 10 * time.Second })
	_, err := call(t, s, "regex")
	if err == nil || !strings.Contains(err.Error(), "regex match timed out after 1000ms") {
		t.Fatalf("got %v, want a regex timeout error", err)
	}
}

// TestMemoryLimit: a runaway allocation is stopped by the heap watchdog
// (J03), and the runtime stays usable.
func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "limits.js", func(o *Options) {
		o.JSTimeout = 20 * time.Second
		o.JSMemoryLimit = 64 << 20
	})
	_, err := call(t, s, "membomb")
	if !errors.Is(err, ErrMemoryLimit) || !strings.Contains(err.Error(), "callback membomb exceeded JS_MEMORY_LIMIT 64MiB at testdata/limits.js:") {
		t.Fatalf("got %v, want a JS_MEMORY_LIMIT error", err)
	}
	if rec, err := call(t, s, "after"); err != nil || rec.String() != `I {"ok":1}` {
		t.Fatalf("after membomb: %v %s", err, rec)
	}
}

// TestAbandonedRuntime: a built-in that ignores the interrupt (a regex
// running into its 1s match timeout) outlives the grace period: the
// runtime is abandoned and every later call fails fast with the reason.
func TestAbandonedRuntime(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "limits.js", func(o *Options) {
		o.JSTimeout = 100 * time.Millisecond
		o.abandonGrace = 200 * time.Millisecond
	})
	_, err := call(t, s, "regex")
	if !errors.Is(err, ErrAbandoned) {
		t.Fatalf("got %v, want ErrAbandoned", err)
	}
	_, err = call(t, s, "after")
	if !errors.Is(err, ErrAbandoned) || !strings.Contains(err.Error(), "did not stop within 200ms") {
		t.Fatalf("after abandonment: %v", err)
	}
}
