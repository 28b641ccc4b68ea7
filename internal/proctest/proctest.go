// Package proctest holds what tests need to run crawlers as child
// processes (the test binary re-executed as the CLI or as a worker): start
// one and collect its output, wait for it with a deadline, serve them a
// site that counts fetches, and count the items they wrote for each page.
// Poll and WaitFor are the suites' one way to wait for a condition.
package proctest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

// Poll calls cond until it returns true or timeout passes, and reports
// whether it returned true. It sleeps 1 ms after the first false, doubling
// up to 16 ms, so that a condition that holds soon is seen soon. It fails
// nothing: call it from any goroutine, and say what was expected when it
// returns false; in the test's goroutine WaitFor does that.
func Poll(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for pause := time.Millisecond; ; pause = min(2*pause, 16*time.Millisecond) {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pause)
	}
}

// WaitFor polls cond (see Poll) and fails the test, naming what it waited
// for, when cond does not hold within timeout. Tests wait for a condition
// with it instead of sleeping for a while.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	if !Poll(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
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

// TreeSite is the multi-process crawl tests' site: /page/0 .. /page/N-1,
// page i linking to its five children 5i+1..5i+5, back to the root and
// across the tree to page i*7919 mod N (work for the dupefilter). It counts
// the fetches of every page and answers after 2 ms, so that requests stay
// in flight.
type TreeSite struct {
	*httptest.Server
	hits []atomic.Int32
}

// NewTreeSite starts a TreeSite of n pages; write renders page i with its
// links (absolute paths) in the format the crawler under test reads.
func NewTreeSite(t testing.TB, n int, write func(w http.ResponseWriter, i int, links []string)) *TreeSite {
	s := &TreeSite{hits: make([]atomic.Int32, n)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/page/"))
		if err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		s.hits[i].Add(1)
		time.Sleep(2 * time.Millisecond)
		var links []string
		for c := 5*i + 1; c <= 5*i+5 && c < n; c++ {
			links = append(links, fmt.Sprintf("/page/%d", c))
		}
		links = append(links, "/page/0", fmt.Sprintf("/page/%d", (i*7919)%n))
		write(w, i, links)
	}))
	t.Cleanup(s.Close)
	return s
}

// Hits is how many times page i was fetched.
func (s *TreeSite) Hits(i int) int { return int(s.hits[i].Load()) }
