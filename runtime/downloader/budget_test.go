package downloader

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// growAsync starts b.grow(h, n) and returns its result channel.
func growAsync(ctx context.Context, b *memBudget, h *budgetHold, n int64) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.grow(ctx, h, n) }()
	return ch
}

// waitWaiters waits until b has n waiters (a goroutine reached its wait).
func waitWaiters(t *testing.T, b *memBudget, n int) {
	t.Helper()
	proctest.WaitFor(t, fmt.Sprintf("%d waiters", n), 10*time.Second, func() bool {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.waiters) == n
	})
}

func TestMemoryBudget(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("off", func(t *testing.T) {
		var b *memBudget = newMemBudget(0)
		if err := b.grow(ctx, &budgetHold{}, 1<<40); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("waits in order until bytes come back", func(t *testing.T) {
		b := newMemBudget(100)
		h1, h2, h3 := &budgetHold{}, &budgetHold{}, &budgetHold{}
		if err := b.grow(ctx, h1, 60); err != nil {
			t.Fatal(err)
		}
		c2 := growAsync(ctx, b, h2, 60)
		waitWaiters(t, b, 1)
		// h3 would fit (60 + 30 ≤ 100) but h2 asked first.
		c3 := growAsync(ctx, b, h3, 30)
		waitWaiters(t, b, 2)
		b.release(h1)
		if err := <-c2; err != nil {
			t.Fatal(err)
		}
		if err := <-c3; err != nil {
			t.Fatal(err)
		}
		if got := b.inUse(); got != 90 {
			t.Fatalf("in use %d, want 90", got)
		}
		b.release(h2)
		b.release(h3)
		if got := b.inUse(); got != 0 {
			t.Fatalf("in use %d after every release, want 0", got)
		}
	})

	t.Run("a body that can never fit fails at once", func(t *testing.T) {
		b := newMemBudget(100)
		h := &budgetHold{}
		if err := b.grow(ctx, h, 80); err != nil {
			t.Fatal(err)
		}
		err := b.grow(ctx, h, 30)
		var be *BudgetError
		if !errors.As(err, &be) || be.Exhausted {
			t.Fatalf("err = %v, want a BudgetError", err)
		}
		if want := "body needs more than DOWNLOAD_MEMORY_BUDGET 100 B (80 B read, 30 B more needed)"; err.Error() != want {
			t.Fatalf("err = %q, want %q", err, want)
		}
	})

	t.Run("a standstill fails the download that asked last", func(t *testing.T) {
		b := newMemBudget(100)
		h1, h2 := &budgetHold{}, &budgetHold{}
		if err := b.grow(ctx, h1, 50); err != nil {
			t.Fatal(err)
		}
		if err := b.grow(ctx, h2, 40); err != nil {
			t.Fatal(err)
		}
		// h2 waits: h1 is still reading and will give bytes back.
		c2 := growAsync(ctx, b, h2, 20)
		waitWaiters(t, b, 1)
		// Now h1 would wait too: nobody holding bytes would be reading.
		err := b.grow(ctx, h1, 20)
		var be *BudgetError
		if !errors.As(err, &be) || !be.Exhausted || be.Bodies != 2 || be.Held != 50 {
			t.Fatalf("h1: err = %#v, want the standstill BudgetError", err)
		}
		if want := "DOWNLOAD_MEMORY_BUDGET 100 B exhausted: 2 bodies being read hold it all and wait for more (this one had 50 B)"; err.Error() != want {
			t.Fatalf("err = %q, want %q", err, want)
		}
		if err := <-c2; err != nil {
			t.Fatalf("h2 should go on once h1 gave up its bytes: %v", err)
		}
		b.release(h1) // what the failed download does: nothing left to give
		if got := b.inUse(); got != 60 {
			t.Fatalf("in use %d, want h2's 60", got)
		}
		b.release(h2)
		if got := b.inUse(); got != 0 {
			t.Fatalf("in use %d, want 0", got)
		}
	})

	t.Run("waiting ends with the deadline", func(t *testing.T) {
		b := newMemBudget(100)
		h1, h2 := &budgetHold{}, &budgetHold{}
		if err := b.grow(ctx, h1, 100); err != nil {
			t.Fatal(err)
		}
		cause := errors.New("the test's deadline")
		dctx, cancel := context.WithCancelCause(ctx)
		c2 := growAsync(dctx, b, h2, 10)
		waitWaiters(t, b, 1)
		cancel(cause)
		err := <-c2
		if !errors.Is(err, cause) || !strings.Contains(err.Error(), "waiting for DOWNLOAD_MEMORY_BUDGET (100 B of 100 B in use)") {
			t.Fatalf("err = %v", err)
		}
		b.release(h1)
		b.release(h2)
		if got := b.inUse(); got != 0 {
			t.Fatalf("in use %d, want 0", got)
		}
	})
}

// The budget is given back after every download, whatever happened to it.
func TestMemoryBudgetReturnsToZero(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 4, PageSize: 200 << 10})
	d := newDownloader(t, srv, func(o *Options) { o.MemoryBudget = 4 << 20 })
	var wg sync.WaitGroup
	for _, path := range []string{"/ok", "/site/1", "/bomb?enc=gzip", "/bomb?enc=identity", "/partial", "/biglength", "/reset?mid=1", "/bomb?enc=br&size=100KiB"} {
		for range 3 {
			wg.Go(func() { d.Download(context.Background(), get(srv.URL+path)) })
		}
	}
	wg.Wait()
	if got := d.budget.inUse(); got != 0 {
		t.Fatalf("budget in use %d after every download ended, want 0", got)
	}
}

// Every budget error a user can meet, through the downloader: the failure
// names the URL and the setting.
func TestMemoryBudgetErrors(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	srv.Handle("/known", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.Write(make([]byte, n))
	})

	t.Run("Content-Length over the budget", func(t *testing.T) {
		d := newDownloader(t, srv, func(o *Options) { o.MemoryBudget = 1 << 20; o.MaxSize = 4 << 20 })
		u := srv.URL + "/biglength?cl=3000000"
		resp, err := d.Download(context.Background(), get(u))
		mustFail(t, resp, err, crawl.MaxSizeExceeded, "GET "+u, "Content-Length 2.9 MiB exceeds DOWNLOAD_MEMORY_BUDGET 1.0 MiB")
	})

	t.Run("streamed body over the budget", func(t *testing.T) {
		d := newDownloader(t, srv, func(o *Options) { o.MemoryBudget = 256 << 10; o.MaxSize = 4 << 20 })
		u := srv.URL + "/bomb?enc=gzip&size=10GiB"
		resp, err := d.Download(context.Background(), get(u))
		mustFail(t, resp, err, crawl.MaxSizeExceeded, "GET "+u, "body needs more than DOWNLOAD_MEMORY_BUDGET 256.0 KiB (256.0 KiB read, 64.0 KiB more needed)")
	})

	t.Run("deadline while waiting", func(t *testing.T) {
		// The first download holds most of the budget (a piece of a body
		// that never ends) until it is cancelled; the second needs 60 KiB
		// and its 300 ms deadline passes while it waits.
		d := newDownloader(t, srv, func(o *Options) { o.MemoryBudget = 100 << 10 })
		holder := get(srv.URL + "/hang-after-headers")
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := d.Download(ctx, holder)
			done <- err
		}()
		proctest.WaitFor(t, "the first download to take its piece", 10*time.Second, func() bool { return d.budget.inUse() != 0 })
		u := srv.URL + "/known?n=61440"
		r := get(u)
		r.Meta = map[string]any{MetaDownloadTimeout: 0.3}
		resp, err := d.Download(context.Background(), r)
		mustFail(t, resp, err, crawl.TimeoutError, "GET "+u, "download deadline 300ms exceeded waiting for DOWNLOAD_MEMORY_BUDGET (64.0 KiB of 100.0 KiB in use")
		cancel()
		<-done
	})

	t.Run("a download waits for the budget, then succeeds", func(t *testing.T) {
		d := newDownloader(t, srv, func(o *Options) { o.MemoryBudget = 100 << 10 })
		holder := get(srv.URL + "/hang-after-headers")
		holder.Meta = map[string]any{MetaDownloadTimeout: 0.5}
		first := make(chan error, 1)
		start := time.Now()
		go func() {
			_, err := d.Download(context.Background(), holder)
			first <- err
		}()
		proctest.WaitFor(t, "the first download to take its piece", 10*time.Second, func() bool { return d.budget.inUse() != 0 })
		resp, err := d.Download(context.Background(), get(srv.URL+"/known?n=61440"))
		if err != nil || len(resp.Body) != 61440 {
			t.Fatalf("second download: %v", err)
		}
		// The first gives its bytes back at its 0.5 s deadline, before its
		// Download returns (so <-first may not be ready yet): the second
		// cannot have ended earlier.
		if took := time.Since(start); took < 500*time.Millisecond {
			t.Fatalf("the second download ended after %v, before the first gave its bytes back", took)
		}
		select {
		case err := <-first:
			mustFail(t, nil, err, crawl.TimeoutError)
		case <-time.After(10 * time.Second):
			t.Fatal("the first download never ended")
		}
	})

	t.Run("a complete body that cannot be joined", func(t *testing.T) {
		d := newDownloader(t, srv, func(o *Options) { o.MemoryBudget = 256 << 10; o.MaxSize = 1 << 20 })
		u := srv.URL + "/bomb?enc=identity&size=200KiB"
		resp, err := d.Download(context.Background(), get(u))
		mustFail(t, resp, err, crawl.MaxSizeExceeded, "GET "+u, "body of 200.0 KiB needs twice its size while it is joined, more than DOWNLOAD_MEMORY_BUDGET 256.0 KiB")
	})

	t.Run("a spooled body that cannot be joined", func(t *testing.T) {
		d := newDownloader(t, srv, func(o *Options) { o.MemoryBudget = 3 << 20; o.MaxSize = 8 << 20; o.SpoolDir = t.TempDir() })
		u := srv.URL + "/bomb?enc=identity&size=3MiB"
		resp, err := d.Download(context.Background(), get(u))
		mustFail(t, resp, err, crawl.MaxSizeExceeded, "GET "+u, "body of 3.0 MiB needs its size plus the 64.0 KiB it holds in memory while it is joined, more than DOWNLOAD_MEMORY_BUDGET 3.0 MiB")
	})

	t.Run("a budget under DOWNLOAD_MAXSIZE plus 1 MiB is warned about", func(t *testing.T) {
		for _, tc := range []struct {
			budget, max int64
			warn        bool
		}{{1 << 20, 2 << 20, true}, {1 << 20, 600 << 10, true}, {1 << 20, 0, true}, {1 << 20, 512 << 10, false}, {0, 2 << 20, false}, {4 << 20, 3 << 20, false}, {4 << 20, 3<<20 + 1, true}} {
			log, buf := testLogger()
			newDownloader(t, srv, func(o *Options) { o.MemoryBudget = tc.budget; o.MaxSize = tc.max; o.Logger = log })
			if got := strings.Contains(buf.String(), "DOWNLOAD_MEMORY_BUDGET is under DOWNLOAD_MAXSIZE plus 1 MiB"); got != tc.warn {
				t.Errorf("budget %d, max %d: warned %v, want %v:\n%s", tc.budget, tc.max, got, tc.warn, buf)
			}
		}
	})

	t.Run("local file over the budget", func(t *testing.T) {
		d := newDownloader(t, srv, func(o *Options) { o.MemoryBudget = 1 << 10 })
		path := t.TempDir() + "/big.html"
		if err := os.WriteFile(path, make([]byte, 4096), 0o600); err != nil {
			t.Fatal(err)
		}
		u := "file://" + path
		resp, err := d.Download(context.Background(), get(u))
		mustFail(t, resp, err, crawl.MaxSizeExceeded, "GET "+u, "Content-Length 4.0 KiB exceeds DOWNLOAD_MEMORY_BUDGET 1.0 KiB")
	})
}

// scriptedBody returns its chunks one Read at a time; a Read waits for a
// value on gate first, except the first one.
type scriptedBody struct {
	chunks []int
	gate   chan struct{}
	reads  int
}

func (b *scriptedBody) Read(p []byte) (int, error) {
	if b.reads > 0 && b.gate != nil {
		<-b.gate
	}
	if b.reads >= len(b.chunks) {
		return 0, io.EOF
	}
	n := min(len(p), b.chunks[b.reads])
	b.reads++
	return n, nil
}

func (b *scriptedBody) Close() error { return nil }

type scriptedTransport map[string]*scriptedBody

func (s scriptedTransport) RoundTrip(_ context.Context, out *Outgoing) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", Header: http.Header{}, ContentLength: -1, Body: s[out.URL.Path]}, nil
}

// The standstill through the downloader: two chunked bodies fill a
// 192 KiB budget and both need more. The one that asked last fails with a
// retryable ConnectionError naming the URL; the other completes.
func TestMemoryBudgetStandstillThroughDownloads(t *testing.T) {
	gateA := make(chan struct{})
	a := &scriptedBody{chunks: []int{pieceSize, pieceSize, pieceSize, pieceSize}, gate: gateA}
	b := &scriptedBody{chunks: []int{pieceSize}}
	d := newDownloader(t, nil, func(o *Options) {
		o.MemoryBudget = 3 * pieceSize
		o.Transport = scriptedTransport{"/a": a, "/b": b}
	})
	ra := make(chan error, 1)
	go func() {
		_, err := d.Download(context.Background(), get("http://a.test/a"))
		ra <- err
	}()
	// A read its first piece and took its second: 128 KiB.
	if !proctest.Poll(10*time.Second, func() bool { return d.budget.inUse() == 2*pieceSize }) {
		t.Fatalf("in use %d, want A's two pieces", d.budget.inUse())
	}
	rb := make(chan *crawl.Response, 1)
	go func() {
		resp, err := d.Download(context.Background(), get("http://b.test/b"))
		if err != nil {
			t.Error(err)
		}
		rb <- resp
	}()
	// B read its first piece (the budget is full) and waits for a second.
	waitWaiters(t, d.budget, 1)
	// A reads its second piece and needs a third: nobody left reading.
	gateA <- struct{}{}
	err := <-ra
	f := mustFail(t, nil, err, crawl.ConnectionError, "GET http://a.test/a",
		"DOWNLOAD_MEMORY_BUDGET 192.0 KiB exhausted: 2 bodies being read hold it all and wait for more (this one had 128.0 KiB)")
	if f.Type != crawl.ConnectionError {
		t.Fatal(f)
	}
	if resp := <-rb; resp == nil || len(resp.Body) != pieceSize {
		t.Fatalf("B should complete once A gave its bytes up")
	}
	if got := d.budget.inUse(); got != 0 {
		t.Fatalf("in use %d after both ended", got)
	}
}

// Bodies are read without doubling: a body of known size costs its size,
// one of unknown size (chunked, or compressed) its size plus the spillAt
// bytes kept in memory before the rest goes to the spool file (or twice
// its size when no spool file can be made), and a bomb refused at DOWNLOAD_MAXSIZE costs about
// DOWNLOAD_MAXSIZE plus its decoder's window. (Go's bytes.Buffer, which
// this replaced, allocated about 3 × the size as it doubled, and held
// twice the size at its peak.) The server's bodies are made before the
// measurement, so only the client's allocations count.
func TestBodyAllocation(t *testing.T) {
	const size = 8 << 20
	page := make([]byte, size) // not zeros: a piece joined out of place must show
	for i := range page {
		page[i] = byte(i % 251)
	}
	bombs := map[string][]byte{}
	for _, enc := range []string{"gzip", "br", "zstd"} {
		b, err := fixture.Encode(make([]byte, 8*size), enc)
		if err != nil {
			t.Fatal(err)
		}
		bombs[enc] = b
	}
	gz, err := fixture.Encode(page, "gzip")
	if err != nil {
		t.Fatal(err)
	}
	srv := fixture.New(t, fixture.Options{})
	srv.Handle("/known", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(page)
	})
	srv.Handle("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < size; i += 1 << 20 {
			w.Write(page[i : i+1<<20])
		}
	})
	srv.Handle("/gzip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz)
	})
	srv.Handle("/endless", func(w http.ResponseWriter, r *http.Request) {
		for r.Context().Err() == nil {
			if _, err := w.Write(page[:1<<20]); err != nil {
				return
			}
		}
	})
	srv.Handle("/bomb/{enc}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", r.PathValue("enc"))
		w.Write(bombs[r.PathValue("enc")])
	})
	for _, tc := range []struct {
		path    string
		status  string // "" = a response of size bytes
		max     int64  // bytes allocated at most
		noSpool bool   // the spool directory cannot be used
	}{
		{"/known", "", size + 256<<10, false},
		{"/chunked", "", size + spillAt + 256<<10, false},
		{"/gzip", "", size + spillAt + 512<<10, false},
		{"/chunked", "", 2*size + 256<<10, true},
		{"/gzip", "", 2*size + 512<<10, true},
		{"/endless", "exceeded", size + 256<<10, false},
		{"/bomb/gzip", "exceeded", size + 512<<10, false},
		{"/bomb/br", "exceeded", size + 512<<10 + 16<<20, false},  // + its window (up to 16 MiB)
		{"/bomb/zstd", "exceeded", size + 512<<10 + 8<<20, false}, // + its window (8 MiB at most)
	} {
		name := tc.path
		if tc.noSpool {
			name += "/in-memory"
		}
		t.Run(name, func(t *testing.T) {
			spool := t.TempDir()
			if tc.noSpool {
				spool = filepath.Join(spool, "missing")
			}
			d := newDownloader(t, srv, func(o *Options) { o.MaxSize = size; o.Timeout = 20 * time.Second; o.SpoolDir = spool })
			// Empty the piece pool so that pieces count as allocated.
			runtime.GC()
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			resp, err := d.Download(context.Background(), get(srv.URL+tc.path))
			runtime.ReadMemStats(&after)
			alloc := int64(after.TotalAlloc - before.TotalAlloc)
			t.Logf("%s: allocated %.1f MiB", tc.path, float64(alloc)/(1<<20))
			if tc.status == "" {
				if err != nil || !bytes.Equal(resp.Body, page) {
					t.Fatalf("err %v, or the body differs from what was sent", err)
				}
			} else {
				mustFail(t, resp, err, crawl.MaxSizeExceeded, tc.status)
			}
			if left, _ := os.ReadDir(spool); len(left) > 0 {
				t.Errorf("spool files left behind: %v", left)
			}
			max := tc.max
			if raceDetector && tc.status == "" && !tc.noSpool && tc.path != "/known" {
				// Spilled pieces go back to the pool; under -race a
				// random quarter are dropped there and allocated again
				// (half is allowed for the randomness). Without the
				// spool it would still be 2×size, over this bound.
				max += (size - spillAt) / 2
			}
			if alloc > max {
				t.Errorf("allocated %.1f MiB, want ≤ %.1f MiB", float64(alloc)/(1<<20), float64(max)/(1<<20))
			}
		})
	}
}

// A spool file that stops taking writes (a full disk) leaves the body
// whole: the pieces already written are read back from the file, the rest
// stays in memory, in order.
func TestSpoolWriteErrorKeepsBody(t *testing.T) {
	const size = 3*spillAt + 12345
	want := make([]byte, size)
	for i := range want {
		want[i] = byte(i * 7 / 5)
	}
	b := newMemBudget(64 << 20)
	h := &budgetHold{}
	p := pieces{spoolDir: t.TempDir()}
	defer p.free()
	broke := false
	for p.n < size {
		buf, err := p.next(context.Background(), b, h)
		if err != nil {
			t.Fatal(err)
		}
		if p.spool != nil && !broke {
			// From now on every write fails, as on a full disk.
			ro, err := os.Open(p.spool.Name())
			if err != nil {
				// The file is unlinked: reopen through /proc.
				ro, err = os.Open(fmt.Sprintf("/proc/self/fd/%d", p.spool.Fd()))
			}
			if err != nil {
				t.Fatal(err)
			}
			p.spool.Close()
			p.spool, broke = ro, true
		}
		p.n += int64(copy(buf, want[p.n:]))
	}
	if p.spillErr == nil || !p.spillOff {
		t.Fatalf("the failed write was not noticed (spilled %d)", p.spilled)
	}
	if p.spilled == 0 || p.memSize() == 0 {
		t.Fatalf("want a body split between the file and memory: spilled %d, in memory %d", p.spilled, p.memSize())
	}
	got, err := p.bytes()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the joined body differs from what was read")
	}
	if h.held != p.memSize() {
		t.Fatalf("budget holds %d, the pieces in memory are %d", h.held, p.memSize())
	}
}
