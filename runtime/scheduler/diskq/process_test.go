//go:build unix

package diskq

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// These tests run real processes: the test binary re-executed with
// DISKQ_CHILD=<mode> is a small program using the package, so that the kill
// is a real SIGKILL and the lock holder a real other pid.

var (
	kills    = flag.Int("diskq.kills", 40, "SIGKILL rounds in TestSIGKILLAtRandomPoints")
	frontier = flag.Int("diskq.frontier", 5_000, "requests in TestFrontierMemory (the README figure uses 1000000)")
)

func TestMain(m *testing.M) {
	if mode := os.Getenv("DISKQ_CHILD"); mode != "" {
		os.Exit(child(mode, os.Getenv("DISKQ_DIR")))
	}
	os.Exit(m.Run())
}

func child(mode, dir string) int {
	fail := func(err error) int {
		fmt.Println("FAIL", err)
		return 1
	}
	ctx := context.Background()
	if mode == "fsize" {
		// Every write past 512 KiB fails with EFBIG, as a full disk fails
		// with ENOSPC; the signal it raises by default is ignored like the
		// Go runtime does for SIGPIPE on non-stdout files.
		signal.Ignore(syscall.SIGXFSZ)
		lim := &syscall.Rlimit{Cur: 512 << 10, Max: 512 << 10}
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, lim); err != nil {
			return fail(err)
		}
	}
	perSlot := os.Getenv("DISKQ_SLOTS") != ""
	o := childOptions(perSlot)
	if mode == "work" || mode == "workbatch" {
		// A filter sized for one URL grows stage after stage within a
		// round, and is rebuilt from the seen bucket at each restart.
		o.ExpectedURLs = 1
	}
	s, err := Open(dir, o)
	if err != nil {
		return fail(err)
	}
	if err := s.Open(ctx); err != nil {
		return fail(err)
	}
	// URLs earlier rounds enqueued: the filter rebuilt after the kill
	// must not let one through as new.
	for _, u := range strings.Fields(os.Getenv("DISKQ_SEEN")) {
		r := &crawl.Request{URL: u}
		added := false
		if mode == "workbatch" {
			res := s.EnqueueBatch(ctx, []*crawl.Request{r})
			added, err = res[0].Added, res[0].Err
		} else {
			added, err = s.Enqueue(ctx, r)
		}
		if err != nil {
			return fail(err)
		}
		if added {
			fmt.Println("BUG duplicate accepted after a restart", u)
		}
	}
	// With per-slot queues the requests spread over five hosts (slots).
	host := func(i int) string {
		if perSlot {
			return fmt.Sprintf("h%d.test", i%5)
		}
		return "a.test"
	}
	fmt.Println("ready", os.Getpid())
	switch mode {
	case "hold":
		_, _ = io.Copy(io.Discard, os.Stdin)
	case "work":
		round := os.Getenv("DISKQ_ROUND")
		var held []*crawl.Request
		for i := range 1_000_000 {
			u := fmt.Sprintf("http://%s/%s/%d", host(i), round, i)
			ok, err := s.Enqueue(ctx, &crawl.Request{URL: u, Priority: i % 3, Meta: map[string]any{"i": i}})
			if err != nil || !ok {
				return fail(fmt.Errorf("enqueue %s: %v %v", u, ok, err))
			}
			fmt.Println("E", u)
			if ok, _ := s.Enqueue(ctx, &crawl.Request{URL: u}); ok {
				fmt.Println("BUG duplicate accepted", u)
			}
			r, err := s.Next(ctx)
			if err != nil {
				return fail(err)
			}
			if r != nil {
				fmt.Println("N", r.URL)
				held = append(held, r)
			}
			// Up to 4 requests in flight, like a small CONCURRENT_REQUESTS.
			if len(held) == 4 {
				if err := s.Ack(ctx, held[0]); err != nil {
					return fail(err)
				}
				fmt.Println("A", held[0].URL)
				held = held[1:]
			}
		}
	case "workbatch":
		// The batched calls the engine makes (EnqueueBatch per callback,
		// NextBatch for the free places, AckBatch per group commit).
		round := os.Getenv("DISKQ_ROUND")
		var held []*crawl.Request
		for i := range 1_000_000 {
			u := fmt.Sprintf("http://%s/%s/%d", host(i), round, i)
			batch := []*crawl.Request{
				{URL: u, Priority: i % 3, Meta: map[string]any{"i": i}},
				{URL: u + "/b", Priority: -(i % 2)},
				{URL: u},
			}
			res := s.EnqueueBatch(ctx, batch)
			for j, x := range res {
				if x.Err != nil {
					return fail(fmt.Errorf("enqueue batch %s: %v", batch[j].URL, x.Err))
				}
				if x.Added && j == 2 {
					fmt.Println("BUG duplicate accepted", u)
				}
				if x.Added {
					fmt.Println("E", batch[j].URL)
				}
			}
			reqs, err := s.NextBatch(ctx, 4-len(held))
			if err != nil {
				return fail(err)
			}
			for _, r := range reqs {
				fmt.Println("N", r.URL)
				held = append(held, r)
			}
			// Up to 4 requests in flight; half of them acked at a time.
			if len(held) == 4 {
				if err := s.AckBatch(ctx, held[:2]); err != nil {
					return fail(err)
				}
				fmt.Println("A", held[0].URL)
				fmt.Println("A", held[1].URL)
				held = held[2:]
			}
		}
	case "frontier":
		n, _ := strconv.Atoi(os.Getenv("DISKQ_N"))
		start := time.Now()
		for i := range n {
			u := fmt.Sprintf("http://127.0.0.1:8080/site/page/%d?sort=asc", i)
			if _, err := s.Enqueue(ctx, &crawl.Request{URL: u, Callback: "parse", Depth: 3, Priority: -(i % 4)}); err != nil {
				return fail(err)
			}
		}
		enq := time.Since(start)
		start = time.Now()
		for range min(n, 10_000) {
			r, err := s.Next(ctx)
			if err != nil || r == nil {
				return fail(fmt.Errorf("next: %v %v", r, err))
			}
			if err := s.Ack(ctx, r); err != nil {
				return fail(err)
			}
		}
		deq := time.Since(start)
		fi, err := os.Stat(filepath.Join(dir, DBFile))
		if err != nil {
			return fail(err)
		}
		res := procStatus()
		res["enqueue_per_s"] = int64(float64(n) / enq.Seconds())
		res["next_ack_per_s"] = int64(float64(min(n, 10_000)) / deq.Seconds())
		res["file_bytes"] = fi.Size()
		b, _ := json.Marshal(res)
		fmt.Println("RESULT", string(b))
	case "fsize":
		for i := range 1_000_000 {
			u := fmt.Sprintf("http://a.test/%d", i)
			if _, err := s.Enqueue(ctx, &crawl.Request{URL: u, Body: []byte(strings.Repeat("x", 1000))}); err != nil {
				fmt.Println("ERR", err)
				break
			}
			fmt.Println("E", u)
		}
	}
	if err := s.Close(ctx, "shutdown"); err != nil && mode != "fsize" {
		return fail(err)
	}
	return 0
}

// childOptions are the options the kill tests open the directory with:
// per-slot queues keyed by host name, or the global queue.
func childOptions(perSlot bool) Options {
	o := Options{Spider: "child"}
	if perSlot {
		o.SlotKey = func(r *crawl.Request) string {
			u, err := r.ParsedURL()
			if err != nil {
				return ""
			}
			return u.Hostname()
		}
	}
	return o
}

// procStatus reads the memory lines of /proc/self/status in bytes.
func procStatus() map[string]int64 {
	out := map[string]int64{}
	b, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, "kB") {
			continue
		}
		switch k {
		case "VmHWM", "VmRSS", "RssAnon", "RssFile":
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(v, "kB")), 10, 64)
			out[k] = n << 10
		}
	}
	return out
}

// proc is a running child with its output lines.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
	all   []string
	done  chan struct{}
}

func startChild(t *testing.T, mode, dir string, env ...string) *proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"DISKQ_CHILD=" + mode, "DISKQ_DIR=" + dir}, env...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdin: in, lines: make(chan string, 1), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(out)
		readySent := false
		for sc.Scan() {
			line := sc.Text()
			p.all = append(p.all, line)
			if !readySent && (strings.HasPrefix(line, "ready") || strings.HasPrefix(line, "FAIL")) {
				p.lines <- line
				readySent = true
			}
		}
		if !readySent {
			p.lines <- "exited before ready"
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		_ = cmd.Wait()
	})
	return p
}

// ready waits for the child's first line ("ready PID").
func (p *proc) ready(t *testing.T) int {
	t.Helper()
	select {
	case line := <-p.lines:
		pid, err := strconv.Atoi(strings.TrimPrefix(line, "ready "))
		if err != nil {
			t.Fatalf("child: %s", line)
		}
		return pid
	case <-time.After(time.Minute):
		t.Fatal("child did not start within a minute")
		return 0
	}
}

// wait returns every line once the child has exited.
func (p *proc) wait(t *testing.T) []string {
	t.Helper()
	<-p.done
	_ = p.cmd.Wait()
	return p.all
}

func TestLockRefusesOtherProcess(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startChild(t, "hold", dir)
	pid := p.ready(t)
	_, err := Open(dir, Options{Spider: "child"})
	want := fmt.Sprintf("jobdir %s is in use by pid %d", dir, pid)
	if err == nil || err.Error() != want {
		t.Fatalf("Open while held = %v, want %q", err, want)
	}
	_ = p.stdin.Close()
	p.wait(t)
	s := mustOpen(t, dir, Options{Spider: "child"})
	closeS(t, s, "shutdown")
}

// S03: SIGKILL at random points of a stream of enqueue / next / ack
// transactions. Every restart opens the JOBDIR, its counters match its
// contents, nothing acknowledged comes back, nothing enqueued is lost, and
// at most the requests in flight at each kill are taken twice.
func TestSIGKILLAtRandomPoints(t *testing.T) {
	t.Parallel()
	sigkillRounds(t, "work", false)
}

// The same with per-slot queues over five hosts; the directory is reopened
// after each kill with the global queue every other round, so every resume
// also converts it from one mode to the other and back.
func TestSIGKILLAtRandomPointsPerSlot(t *testing.T) {
	t.Parallel()
	sigkillRounds(t, "work", true)
}

// The same with the batched calls of issue 20: a callback's requests in
// one transaction, several requests taken in one, acks in one.
func TestSIGKILLAtRandomPointsBatched(t *testing.T) {
	t.Parallel()
	sigkillRounds(t, "workbatch", false)
}

// The batched calls with per-slot queues.
func TestSIGKILLAtRandomPointsBatchedPerSlot(t *testing.T) {
	t.Parallel()
	sigkillRounds(t, "workbatch", true)
}

func sigkillRounds(t *testing.T, mode string, perSlot bool) {
	dir := t.TempDir()
	const maxInFlight = 4
	enqueued := map[string]bool{}
	taken := map[string]int{}
	acked := map[string]bool{}
	for round := range *kills {
		var seen []string
		for u := range enqueued { // a random sample: map order
			if len(seen) == 20 {
				break
			}
			seen = append(seen, u)
		}
		env := []string{"DISKQ_ROUND=" + strconv.Itoa(round), "DISKQ_SEEN=" + strings.Join(seen, " ")}
		if perSlot {
			env = append(env, "DISKQ_SLOTS=1")
		}
		p := startChild(t, mode, dir, env...)
		p.ready(t)
		time.Sleep(time.Duration(rand.IntN(50_000)) * time.Microsecond) // kill at a random point: the behaviour under test
		if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for _, line := range p.wait(t) {
			kind, u, _ := strings.Cut(line, " ")
			switch kind {
			case "E":
				enqueued[u] = true
			case "N":
				if acked[u] {
					t.Fatalf("round %d: %s taken again after its ack", round, u)
				}
				taken[u]++
			case "A":
				acked[u] = true
			case "BUG", "FAIL":
				t.Fatalf("round %d: child: %s", round, line)
			}
		}
		// The restart opens, and the counters agree with the buckets (they
		// are written in the same transaction as the data).
		s, err := Open(dir, childOptions(perSlot && round%2 == 0))
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if err := s.Open(t.Context()); err != nil {
			t.Fatalf("round %d: Open: %v", round, err)
		}
		checkCounters(t, s)
		checkFilter(t, s)
		closeS(t, s, "shutdown")
	}
	s := mustOpen(t, dir, childOptions(perSlot))
	defer closeS(t, s, "finished")
	for _, u := range drain(t, s) {
		if acked[u] {
			t.Fatalf("%s is still queued after its ack", u)
		}
		taken[u]++
	}
	refetched := 0
	for u := range enqueued {
		if taken[u] == 0 && !acked[u] {
			t.Errorf("lost: %s was enqueued and never came out", u)
		}
	}
	for _, n := range taken {
		if n > 1 {
			refetched += n - 1
		}
	}
	if refetched > *kills*maxInFlight {
		t.Fatalf("%d refetches after %d kills, want at most %d (in flight per kill)", refetched, *kills, maxInFlight)
	}
	t.Logf("%d kills: %d requests enqueued, %d acked, %d refetched", *kills, len(enqueued), len(acked), refetched)
	if len(acked) == 0 {
		t.Fatal("no request was acked in any round: the kills came too early to test anything")
	}
}

func checkCounters(t *testing.T, s *Scheduler) {
	t.Helper()
	err := s.db.View(func(tx *bolt.Tx) error {
		q, seen := tx.Bucket(bucketQueue).Stats().KeyN, tx.Bucket(bucketSeen).Stats().KeyN
		inf := tx.Bucket(bucketInflight).Stats().KeyN
		slots := tx.Bucket(bucketSlots)
		if err := slots.ForEachBucket(func(name []byte) error {
			q += slots.Bucket(name).Stats().KeyN
			return nil
		}); err != nil {
			return err
		}
		if q != s.pending || seen != s.seen || inf != 0 {
			return fmt.Errorf("counters pending=%d seen=%d, buckets queue=%d seen=%d inflight=%d", s.pending, s.seen, q, seen, inf)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// S05: a write that fails (here EFBIG from RLIMIT_FSIZE, the same path as
// ENOSPC) is reported as "jobdir write failed: ...", and everything stored
// before it is intact on the next open.
func TestWriteFailureKeepsStoredRequests(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startChild(t, "fsize", dir)
	p.ready(t)
	var stored []string
	var errLine string
	for _, line := range p.wait(t) {
		switch kind, rest, _ := strings.Cut(line, " "); kind {
		case "E":
			stored = append(stored, rest)
		case "ERR":
			errLine = rest
		case "BUG", "FAIL":
			t.Fatalf("child: %s", line)
		}
	}
	if want := "jobdir write failed: "; !strings.Contains(errLine, want) || !strings.Contains(errLine, "file too large") {
		t.Fatalf("error = %q, want it to contain %q and the cause", errLine, want)
	}
	if len(stored) == 0 {
		t.Fatal("no request stored before the limit")
	}
	s := mustOpen(t, dir, Options{Spider: "child"})
	defer closeS(t, s, "finished")
	checkCounters(t, s)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/after"}, true)
	got := drain(t, s)
	if want := append(stored, "http://a.test/after"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after the failure got %d requests, want %d (%v ...)", len(got), len(want), got[:min(3, len(got))])
	}
}

// S09: a large frontier lives on disk. The child enqueues -diskq.frontier
// requests and reports its peak RSS; the Go heap must not hold the queue.
func TestFrontierMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := startChild(t, "frontier", dir, "DISKQ_N="+strconv.Itoa(*frontier))
	p.ready(t)
	var res map[string]int64
	for _, line := range p.wait(t) {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			if err := json.Unmarshal([]byte(rest), &res); err != nil {
				t.Fatal(err)
			}
		} else if strings.HasPrefix(line, "FAIL") {
			t.Fatalf("child: %s", line)
		}
	}
	if res == nil {
		t.Fatal("child printed no result")
	}
	t.Logf("frontier %d: peak RSS %d MiB (anon %d MiB, file-backed %d MiB), file %d MiB, enqueue %d/s, next+ack %d/s",
		*frontier, res["VmHWM"]>>20, res["RssAnon"]>>20, res["RssFile"]>>20, res["file_bytes"]>>20,
		res["enqueue_per_s"], res["next_ack_per_s"])
	// The anonymous (heap) memory is what the queue would cost if it lived
	// in RAM; the file-backed part is the kernel's page cache of the mmap,
	// reclaimable under memory pressure.
	if limit := int64(128 << 20); res["RssAnon"] > limit {
		t.Fatalf("anonymous RSS %d MiB > %d MiB for %d requests: the queue is in memory", res["RssAnon"]>>20, limit>>20, *frontier)
	}
	if res["VmHWM"] > 512<<20 {
		t.Fatalf("peak RSS %d MiB > 512 MiB", res["VmHWM"]>>20)
	}
}
