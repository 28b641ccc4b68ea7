package execjs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStuckBuiltinIsAbandoned simulates a built-in that ignores Interrupt
// ('x'.repeat(2**30), a catastrophic regexp: RELIABILITY.md M5/M6) with a
// Go native that sleeps. The call must return ErrTimeout after the timeout
// plus the grace period, and the next call must run in a reloaded runtime.
func TestStuckBuiltinIsAbandoned(t *testing.T) {
	dir := t.TempDir()
	src := "var n = 0;\nfunction bump() { return ++n; }\nfunction stuck() { n = 50; return goSleep(); }\n"
	if err := os.WriteFile(filepath.Join(dir, "slow.js"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	// Load with a generous budget (a busy -race run is slow), then
	// shorten it for the calls.
	c, err := Load([]string{dir}, Options{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.opts.Timeout = 50 * time.Millisecond
	release := make(chan struct{})
	defer close(release)
	ctx := c.byKey["slow"]
	ctx.mu.Lock()
	if err := ctx.st.vm.Set("goSleep", func() int { <-release; return 1 }); err != nil {
		t.Fatal(err)
	}
	ctx.mu.Unlock()

	if got, err := c.Call("slow", "bump", nil); err != nil || got != int64(1) {
		t.Fatalf("bump = %v, %v", got, err)
	}
	_, err = c.Call("slow", "stuck", nil)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "abandoned and reloaded") {
		t.Fatalf("stuck: %v, want ErrTimeout with abandonment", err)
	}
	c.opts.Timeout = time.Minute // the reload below must not race the clock
	got, err := c.Call("slow", "bump", nil)
	if err != nil || got != int64(1) {
		t.Fatalf("bump after abandonment = %v, %v; want 1 from a fresh runtime", got, err)
	}
}
