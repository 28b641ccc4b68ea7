package diskq

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/schedulertest"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func mustOpen(t *testing.T, dir string, opts Options) *Scheduler {
	t.Helper()
	if opts.Spider == "" {
		opts.Spider = "quotes"
	}
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	if err := s.Open(t.Context()); err != nil {
		t.Fatalf("Scheduler.Open: %v", err)
	}
	return s
}

func enqueue(t *testing.T, s *Scheduler, r *crawl.Request, want bool) {
	t.Helper()
	ok, err := s.Enqueue(t.Context(), r)
	if err != nil {
		t.Fatalf("Enqueue(%s): %v", r.URL, err)
	}
	if ok != want {
		t.Fatalf("Enqueue(%s) = %v, want %v", r.URL, ok, want)
	}
}

func next(t *testing.T, s *Scheduler) *crawl.Request {
	t.Helper()
	r, err := s.Next(t.Context())
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	if r == nil {
		t.Fatal("Next: queue unexpectedly empty")
	}
	return r
}

func drain(t *testing.T, s *Scheduler) []string {
	t.Helper()
	var out []string
	for {
		r, err := s.Next(t.Context())
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if r == nil {
			return out
		}
		if err := s.Ack(t.Context(), r); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		out = append(out, r.URL)
	}
}

func closeS(t *testing.T, s *Scheduler, reason string) {
	t.Helper()
	if err := s.Close(t.Context(), reason); err != nil {
		t.Fatalf("Close(%s): %v", reason, err)
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler {
		s, err := Open(t.TempDir(), Options{Spider: "conformance"})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestConformancePersistent(t *testing.T) {
	t.Parallel()
	schedulertest.RunPersistent(t, func(t *testing.T) func() scheduler.Scheduler {
		dir := t.TempDir()
		return func() scheduler.Scheduler {
			s, err := Open(dir, Options{Spider: "conformance"})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	})
}

// A pause (any close reason but finished) keeps the queue, the priorities,
// FIFO order and the dupefilter; requests left in flight come back at their
// old place.
func TestResumeKeepsQueueAndRequeuesInFlight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	st := stats.NewMemory()
	var logs bytes.Buffer
	s := mustOpen(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for i, p := range []int{0, 5, 0, 5, -1} {
		enqueue(t, s, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", i), Priority: p, Meta: map[string]any{"n": i}}, true)
	}
	// Taken, not acked: /1 and /3 (priority 5) and /0.
	var taken []string
	for range 3 {
		taken = append(taken, next(t, s).URL)
	}
	if want := []string{"http://a.test/1", "http://a.test/3", "http://a.test/0"}; !slices.Equal(taken, want) {
		t.Fatalf("taken = %v, want %v", taken, want)
	}
	if n, _ := s.Len(t.Context()); n != 2 || s.InFlight() != 3 {
		t.Fatalf("Len = %d, InFlight = %d; want 2, 3", n, s.InFlight())
	}
	closeS(t, s, "shutdown")
	// The pause tells how much is left (S01).
	if want := "pending=5 in_flight=3 seen=5"; !strings.Contains(logs.String(), want) {
		t.Fatalf("close log lacks %q:\n%s", want, logs.String())
	}

	s = mustOpen(t, dir, Options{Stats: st})
	defer closeS(t, s, "finished")
	if n, _ := s.Len(t.Context()); n != 5 || s.InFlight() != 0 {
		t.Fatalf("after reopen Len = %d, InFlight = %d; want 5, 0", n, s.InFlight())
	}
	if got := stats.Int(st, StatRequeued); got != 3 {
		t.Fatalf("%s = %d, want 3", StatRequeued, got)
	}
	enqueue(t, s, &crawl.Request{URL: "http://a.test/4"}, false)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/2", DontFilter: true}, true)
	got := drain(t, s)
	want := []string{"http://a.test/1", "http://a.test/3", "http://a.test/0", "http://a.test/2", "http://a.test/2", "http://a.test/4"}
	if !slices.Equal(got, want) {
		t.Fatalf("order after resume = %v\nwant %v", got, want)
	}
}

// Acked requests are gone for good; unacked in-flight ones are not.
func TestAckIsDurable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	enqueue(t, s, &crawl.Request{URL: "http://a.test/a"}, true)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/b"}, true)
	a, b := next(t, s), next(t, s)
	if err := s.Ack(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	// A second Ack of the same request is harmless.
	if err := s.Ack(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	_ = b
	closeS(t, s, "shutdown")
	s = mustOpen(t, dir, Options{})
	defer closeS(t, s, "shutdown")
	if got := drain(t, s); !slices.Equal(got, []string{"http://a.test/b"}) {
		t.Fatalf("after reopen = %v, want only /b", got)
	}
}

// finished empties the queue but keeps the dupefilter (Scrapy): a re-run
// with the same JOBDIR fetches nothing it fetched before.
func TestFinishedKeepsDupefilter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	enqueue(t, s, &crawl.Request{URL: "http://a.test/a"}, true)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/b"}, true)
	drain(t, s)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/left-over", DontFilter: true}, true)
	closeS(t, s, "finished")

	var logs bytes.Buffer
	s = mustOpen(t, dir, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	defer closeS(t, s, "finished")
	if n, _ := s.Len(t.Context()); n != 0 {
		t.Fatalf("Len after finished = %d, want 0", n)
	}
	if want := "use a new --jobdir for a fresh crawl"; !strings.Contains(logs.String(), want) {
		t.Fatalf("reopening a finished jobdir did not warn %q:\n%s", want, logs.String())
	}
	if s.Seen() != 2 {
		t.Fatalf("Seen = %d, want 2", s.Seen())
	}
	enqueue(t, s, &crawl.Request{URL: "http://a.test/a"}, false)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/b#frag"}, false)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/c"}, true)
}

// Requests that cannot be serialized stay in memory, keep their place in the
// priority order, are logged once, and are not in the jobdir after a pause;
// their fingerprint is written only once they are acked.
func TestLocalRequestsKeptInMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var logs bytes.Buffer
	st := stats.NewMemory()
	s := mustOpen(t, dir, Options{Stats: st, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	enqueue(t, s, &crawl.Request{URL: "http://a.test/disk1"}, true)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/closure", Local: struct{}{}}, true)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/disk2"}, true)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/holder", Meta: map[string]any{"holder": unserializable{}}}, true)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/urgent", Priority: 9, Local: struct{}{}}, true)
	enqueue(t, s, &crawl.Request{URL: "http://a.test/closure"}, false) // in-process dupefilter
	enqueue(t, s, &crawl.Request{URL: "http://a.test/never-fetched", Local: struct{}{}, Priority: -1}, true)
	if n, _ := s.Len(t.Context()); n != 6 {
		t.Fatalf("Len = %d, want 6", n)
	}
	var got []string
	for range 5 {
		r := next(t, s)
		got = append(got, r.URL)
		if err := s.Ack(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"http://a.test/urgent", "http://a.test/disk1", "http://a.test/closure", "http://a.test/disk2", "http://a.test/holder"}
	if !slices.Equal(got, want) {
		t.Fatalf("order = %v\nwant %v", got, want)
	}
	if c := strings.Count(logs.String(), "kept in memory only"); c != 1 {
		t.Fatalf("warning logged %d times, want 1:\n%s", c, logs.String())
	}
	if n := stats.Int(st, StatUnserializable); n != 4 {
		t.Fatalf("%s = %d, want 4", StatUnserializable, n)
	}
	closeS(t, s, "shutdown")
	if !strings.Contains(logs.String(), "lost=1") {
		t.Fatalf("close did not report the lost memory-only request:\n%s", logs.String())
	}

	s = mustOpen(t, dir, Options{})
	defer closeS(t, s, "finished")
	if n, _ := s.Len(t.Context()); n != 0 {
		t.Fatalf("Len after resume = %d, want 0 (memory-only requests are not saved)", n)
	}
	enqueue(t, s, &crawl.Request{URL: "http://a.test/closure"}, false)      // fetched: remembered
	enqueue(t, s, &crawl.Request{URL: "http://a.test/never-fetched"}, true) // lost: may come again
}

type unserializable struct{}

func (unserializable) MarshalJSON() ([]byte, error) {
	return nil, errors.New("meta holds a JavaScript object")
}

func TestRoundTripAllFields(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	yes := true
	in := &crawl.Request{
		URL: "http://a.test/ws", Method: "POST", Body: []byte{0, 1, 2, 255},
		Headers: crawl.Headers{{Name: "B", Value: "2"}, {Name: "A", Value: "1"}},
		Meta:    map[string]any{"nested": map[string]any{"x": []any{1.0, "two"}}},
		Proxy:   "socks5://127.0.0.1:1080", Timeout: 1500_000_000, AllowRedirects: &yes,
		WebSocket:    &crawl.WebSocketSpec{ID: "w1", Send: []crawl.WSMessage{{Data: []byte("hi"), Binary: true}}},
		RedirectURLs: []string{"http://a.test/r1"}, Parent: "http://a.test/", RetryTimes: 2,
	}
	enqueue(t, s, in, true)
	closeS(t, s, "shutdown")
	s = mustOpen(t, dir, Options{})
	defer closeS(t, s, "finished")
	got := next(t, s)
	got.Lease = nil
	if !reflect.DeepEqual(got, in) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", *got, *in)
	}
}

func TestLockRefusesSecondOpener(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	_, err := Open(dir, Options{Spider: "quotes"})
	want := fmt.Sprintf("jobdir %s is in use by pid %d", dir, os.Getpid())
	if err == nil || err.Error() != want || !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open = %v, want %q", err, want)
	}
	closeS(t, s, "shutdown")
	// Released on Close.
	s = mustOpen(t, dir, Options{})
	closeS(t, s, "shutdown")
}

func TestRefusesForeignJobdir(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		first   Options
		second  Options
		prepare func(t *testing.T, dir string)
		want    string // %s = dir
		is      error
	}{
		{
			name:  "other spider",
			first: Options{Spider: "news"}, second: Options{Spider: "quotes"},
			want: "jobdir %s belongs to spider 'news'; use a new --jobdir", is: ErrForeign,
		},
		{
			name:  "other spec",
			first: Options{Spider: "news", SpecHash: "sha256:aaaa"}, second: Options{Spider: "news", SpecHash: "sha256:bbbb"},
			want: "jobdir %s belongs to spider 'news' (spec sha256:aaaa); use a new --jobdir", is: ErrForeign,
		},
		{
			name:  "format version",
			first: Options{Spider: "news"}, second: Options{Spider: "news"},
			prepare: func(t *testing.T, dir string) {
				db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(metaFormat, []byte("99")) }); err != nil {
					t.Fatal(err)
				}
			},
			want: "jobdir %s has format version 99, this spiderrun reads versions 1 to 2; use a new --jobdir", is: ErrVersion,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := mustOpen(t, dir, c.first)
			enqueue(t, s, &crawl.Request{URL: "http://a.test/"}, true)
			closeS(t, s, "shutdown")
			if c.prepare != nil {
				c.prepare(t, dir)
			}
			_, err := Open(dir, c.second)
			if want := fmt.Sprintf(c.want, dir); err == nil || err.Error() != want || !errors.Is(err, c.is) {
				t.Fatalf("Open = %v\nwant %q", err, want)
			}
			if c.is == ErrVersion {
				// Refused again, not "in use": the lock was released.
				if _, err := Open(dir, c.second); !errors.Is(err, ErrVersion) {
					t.Fatalf("second Open = %v, want the version error again", err)
				}
				return
			}
			// The refusal released the lock and left the queue intact.
			s = mustOpen(t, dir, Options{Spider: "news"})
			defer closeS(t, s, "shutdown")
			if n, _ := s.Len(t.Context()); n != 1 {
				t.Fatalf("Len = %d, want 1", n)
			}
		})
	}
}

func TestSpecHash(t *testing.T) {
	t.Parallel()
	// sha256("") is the well-known e3b0… digest.
	if got, want := SpecHash(nil), "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; got != want {
		t.Fatalf("SpecHash = %s, want %s", got, want)
	}
}

// An empty spec hash (the caller does not know it) skips the spec check.
func TestSpecHashOptional(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	closeS(t, mustOpen(t, dir, Options{Spider: "news", SpecHash: "sha256:aaaa"}), "shutdown")
	closeS(t, mustOpen(t, dir, Options{Spider: "news"}), "shutdown")
}

func TestClosedSchedulerRefuses(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), Options{})
	closeS(t, s, "finished")
	if _, err := s.Enqueue(context.Background(), &crawl.Request{URL: "http://a.test/"}); !errors.Is(err, scheduler.ErrClosed) {
		t.Fatalf("Enqueue after Close = %v", err)
	}
	if _, err := s.Next(context.Background()); !errors.Is(err, scheduler.ErrClosed) {
		t.Fatalf("Next after Close = %v", err)
	}
	if err := s.Close(context.Background(), "finished"); err != nil {
		t.Fatalf("second Close = %v", err)
	}
}

func TestQueueKeyOrder(t *testing.T) {
	t.Parallel()
	prios := []int{1 << 40, 100, 1, 0, -1, -100, -(1 << 40)}
	for i := 1; i < len(prios); i++ {
		a, b := queueKey(prios[i-1], 9), queueKey(prios[i], 1)
		if bytes.Compare(a[:], b[:]) >= 0 {
			t.Fatalf("priority %d does not sort before %d", prios[i-1], prios[i])
		}
	}
	a, b := queueKey(3, 1), queueKey(3, 2)
	if bytes.Compare(a[:], b[:]) >= 0 {
		t.Fatal("sequence 1 does not sort before 2")
	}
}

// A damaged database file is an error naming the file, never a panic.
func TestDamagedFileIsAnError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		// panics: bbolt panics inside its own Open on this damage (and keeps
		// its file lock); diskq must still return ErrDamaged.
		panics bool
		damage func(t *testing.T, path string)
	}{
		{"garbage", false, func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a bbolt file "), 4096), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"pages after the meta pages", true, func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ps := int64(os.Getpagesize())
			if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5}, int(4*ps)), 2*ps); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", false, func(t *testing.T, path string) {
			if err := os.Truncate(path, 100); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			s := mustOpen(t, dir, Options{})
			enqueue(t, s, &crawl.Request{URL: "http://a.test/"}, true)
			closeS(t, s, "shutdown")
			c.damage(t, filepath.Join(dir, DBFile))
			_, err := Open(dir, Options{Spider: "quotes"})
			if err == nil || !strings.Contains(err.Error(), DBFile) || !strings.Contains(err.Error(), "use a new --jobdir") {
				t.Fatalf("Open of a damaged file = %v", err)
			}
			if c.panics {
				if !errors.Is(err, ErrDamaged) {
					t.Fatalf("Open = %v, want ErrDamaged", err)
				}
				return
			}
			// The failed open released the lock.
			if _, err := Open(dir, Options{Spider: "quotes"}); errors.Is(err, ErrInUse) {
				t.Fatalf("lock kept after a failed open: %v", err)
			}
		})
	}
}

// dropMapped (MADV_DONTNEED on bbolt's mapping) must never lose data: the
// pages come back from the page cache on the next read.
func TestDropMappedKeepsData(t *testing.T) {
	t.Parallel()
	s := mustOpen(t, t.TempDir(), Options{})
	defer closeS(t, s, "finished")
	var want []string
	for i := range 300 {
		u := fmt.Sprintf("http://a.test/%d?%s", i, strings.Repeat("x", i))
		want = append(want, u)
		enqueue(t, s, &crawl.Request{URL: u}, true)
		if i%50 == 0 {
			s.mu.Lock()
			s.dropMapped()
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	s.dropMapped()
	s.mu.Unlock()
	enqueue(t, s, &crawl.Request{URL: want[7]}, false)
	if got := drain(t, s); !slices.Equal(got, want) {
		t.Fatalf("after dropping mapped pages got %d requests, want %d", len(got), len(want))
	}
}
