package execjs

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
)

// TestStuckBuiltinIsAbandoned simulates a built-in that ignores Interrupt
// and that no jsguard cap covers with a Go native that blocks. The call
// must return ErrTimeout after the timeout plus the grace period; while
// the abandoned call still runs, the context fails fast with ErrStuck
// instead of loading a second runtime next to it (abandoned runtimes never
// pile up); once it ends, the next call runs in a reloaded runtime.
func TestStuckBuiltinIsAbandoned(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
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
	ctx := c.byKey["slow"]
	ctx.mu.Lock()
	ctx.st.close()
	ctx.st.watch(c.opts)
	if err := ctx.st.vm.Set("goSleep", func() int { <-release; return 1 }); err != nil {
		t.Fatal(err)
	}
	ctx.mu.Unlock()

	if got, err := c.Call("slow", "bump", nil); err != nil || got != int64(1) {
		t.Fatalf("bump = %v, %v", got, err)
	}
	start := time.Now()
	_, err = c.Call("slow", "stuck", nil)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "abandoned and reloaded") {
		t.Fatalf("stuck: %v, want ErrTimeout with abandonment", err)
	}
	t.Logf("abandoned after %s", time.Since(start))
	c.opts.Timeout = time.Minute // the reload below must not race the clock
	if _, err := c.Call("slow", "bump", nil); !errors.Is(err, ErrStuck) {
		t.Fatalf("bump while the abandoned call runs: %v, want ErrStuck", err)
	}
	close(release)
	// ErrStuck until the abandoned call has ended, then a fresh runtime.
	var got any
	proctest.Poll(10*time.Second, func() bool {
		got, err = c.Call("slow", "bump", nil)
		return !errors.Is(err, ErrStuck)
	})
	if err != nil {
		t.Fatalf("bump after the abandoned call ended: %v", err)
	}
	if got != int64(1) {
		t.Fatalf("bump after abandonment = %v; want 1 from a fresh runtime", got)
	}
}
