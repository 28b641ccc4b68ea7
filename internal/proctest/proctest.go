// Package proctest holds what tests need to run crawlers as child
// processes (the test binary re-executed as the CLI or as a worker): start
// one and collect its output, wait for it with a deadline, and count the
// items the crawlers wrote for each page of a test site.
package proctest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is an io.Writer safe for a child's stdout and stderr and for the
// test reading it meanwhile.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Proc is a started child process.
type Proc struct {
	Cmd  *exec.Cmd
	Out  *Buffer // stdout and stderr
	done chan error
}

// Start starts cmd with its output collected in Out. The process is killed
// when the test ends, if it is still running.
func Start(t testing.TB, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Cmd: cmd, Out: &Buffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.Out, p.Out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		p.done <- <-p.done
	})
	return p
}

// Wait returns the process's exit error (nil for exit code 0), failing the
// test with the process's output if it runs longer than d.
func (p *Proc) Wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the next Wait and the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("%s did not finish within %v; its output:\n%s", p.Cmd.Path, d, p.Out)
		return nil
	}
}

// EnvInt is the integer in the environment variable name, or def when it
// is unset (a knob to run a test at a larger scale by hand).
func EnvInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return n
}

// PageItems counts the items (JSON objects with a URL field) written for
// the pages site/page/0 .. site/page/n-1: how many pages have none, and how
// many items are extra copies.
func PageItems(t testing.TB, items []string, site string, n int) (missing, dups int) {
	t.Helper()
	seen := map[string]int{}
	for _, raw := range items {
		var it struct{ URL string }
		if err := json.Unmarshal([]byte(raw), &it); err != nil {
			t.Fatalf("item %q: %v", raw, err)
		}
		seen[it.URL]++
	}
	for i := range n {
		switch c := seen[fmt.Sprintf("%s/page/%d", site, i)]; {
		case c == 0:
			missing++
		case c > 1:
			dups += c - 1
		}
	}
	return missing, dups
}
