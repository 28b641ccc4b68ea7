package diskq

import (
	"fmt"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/schedulertest"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// tiny makes the filter grow from one fingerprint: many stages.
var tiny = Options{ExpectedURLs: 1, FPRate: 0.2}

// leaky replaces s's filter with one whose every other block is full, so
// it answers "maybe seen" for half of all new fingerprints (a sized filter
// is right too often to test what happens when it is wrong), and never
// grows.
func leaky(s *Scheduler) *Scheduler {
	f := newSeenFilter(1<<16, 0.01)
	st := f.stages[0]
	for b := uint64(0); b < st.nblk; b += 2 {
		for w := range blockWords {
			st.words[b*blockWords+uint64(w)] = ^uint64(0)
		}
	}
	st.cap = 1 << 62
	s.filter = f
	return s
}

// TestFalsePositiveIsConfirmed: with a filter that is wrong for half of
// new URLs, every new URL is still enqueued (the bucket is asked and says
// no), through Enqueue and EnqueueBatch, and every duplicate is still
// filtered. The stats count both kinds of answer.
func TestFalsePositiveIsConfirmed(t *testing.T) {
	t.Parallel()
	st := stats.NewMemory()
	s := leaky(mustOpen(t, t.TempDir(), Options{Stats: st}))
	defer closeS(t, s, "finished")
	const n = 1000
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("http://127.0.0.1/page/%d", i)
	}
	for _, u := range urls[:n/2] {
		enqueue(t, s, &crawl.Request{URL: u}, true)
	}
	for i := n / 2; i < n; i += 10 {
		var batch []*crawl.Request
		for _, u := range urls[i : i+10] {
			batch = append(batch, &crawl.Request{URL: u})
		}
		for j, res := range s.EnqueueBatch(t.Context(), batch) {
			if res.Err != nil || !res.Added {
				t.Fatalf("EnqueueBatch: %s added=%v err=%v", batch[j].URL, res.Added, res.Err)
			}
		}
	}
	neg, fpos := stats.Int(st, StatFilterNegative), stats.Int(st, StatFilterFalsePositive)
	t.Logf("%d new URLs: %d filter negatives, %d false positives confirmed absent", n, neg, fpos)
	if fpos < n/3 || neg < n/3 || neg+fpos != n {
		t.Errorf("filter answers for %d new URLs: %d negative + %d false positive", n, neg, fpos)
	}
	if l, _ := s.Len(t.Context()); l != n {
		t.Fatalf("Len = %d after %d new URLs", l, n)
	}
	// Duplicates are filtered, whether the seen cache answers (it holds
	// them all) or, once it is emptied, the bucket.
	s.seenCache = newSeenCache(seenCacheSize)
	for _, u := range urls {
		enqueue(t, s, &crawl.Request{URL: u}, false)
	}
	got := drain(t, s)
	if len(got) != n {
		t.Fatalf("drained %d requests, want %d", len(got), n)
	}
}

// TestConformanceTinyFilter runs the scheduler conformance suite (its
// dupefilter cases included) through a filter wrong half of the time.
func TestConformanceLeakyFilter(t *testing.T) {
	t.Parallel()
	schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler {
		s, err := Open(t.TempDir(), Options{Spider: "conformance"})
		if err != nil {
			t.Fatal(err)
		}
		return leaky(s)
	})
}

// TestResumeRebuildsFilter: a reopened directory's filter holds every
// fingerprint of the seen bucket, in one stage even when the first run
// outgrew its expected count, so a URL enqueued before the pause is a
// duplicate after it — with the seen cache empty, only the filter and the
// bucket can say so — and a new one is still new.
func TestResumeRebuildsFilter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o := Options{ExpectedURLs: 100, FPRate: 0.01}
	s := mustOpen(t, dir, o)
	// Through EnqueueBatch, 100 a transaction (the engine's path; the
	// test's own time under -race).
	const n = 3000
	enqueueBatch(t, s, "http://127.0.0.1/old/%d", n)
	if len(s.filter.stages) < 5 {
		t.Fatalf("%d stages for 30 × the expected count", len(s.filter.stages))
	}
	closeS(t, s, "shutdown")

	st := stats.NewMemory()
	o.Stats = st
	s = mustOpen(t, dir, o)
	defer closeS(t, s, "finished")
	if len(s.filter.stages) != 1 || s.filter.stages[0].cap != 2*n {
		t.Errorf("rebuilt filter: %d stages, first sized for %d, want 1 for %d", len(s.filter.stages), s.filter.stages[0].cap, 2*n)
	}
	checkFilter(t, s)
	for i := range n {
		enqueue(t, s, &crawl.Request{URL: fmt.Sprintf("http://127.0.0.1/old/%d", i)}, false)
	}
	if neg := stats.Int(st, StatFilterNegative); neg != 0 {
		t.Errorf("the rebuilt filter said %d fingerprints of the bucket were absent", neg)
	}
	enqueueBatch(t, s, "http://127.0.0.1/new/%d", n)
	neg, fpos := stats.Int(st, StatFilterNegative), stats.Int(st, StatFilterFalsePositive)
	t.Logf("%d new URLs after the resume: %d filter negatives, %d false positives", n, neg, fpos)
	if neg+fpos != n || fpos > n/20 {
		t.Errorf("filter answers for %d new URLs: %d negative + %d false positive", n, neg, fpos)
	}
}

// enqueueBatch enqueues n new requests for format, 100 a batch, and fails
// unless every one is added.
func enqueueBatch(t *testing.T, s *Scheduler, format string, n int) {
	t.Helper()
	for i := 0; i < n; i += 100 {
		var batch []*crawl.Request
		for j := i; j < min(i+100, n); j++ {
			batch = append(batch, &crawl.Request{URL: fmt.Sprintf(format, j)})
		}
		for j, res := range s.EnqueueBatch(t.Context(), batch) {
			if res.Err != nil || !res.Added {
				t.Fatalf("EnqueueBatch: %s added=%v err=%v", batch[j].URL, res.Added, res.Err)
			}
		}
	}
}

// checkFilter fails when a fingerprint of the seen bucket is missing from
// the filter: the one thing the filter must never do.
func checkFilter(t *testing.T, s *Scheduler) {
	t.Helper()
	missing, n := 0, 0
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketSeen).ForEach(func(k, _ []byte) error {
			n++
			if !s.filter.mayContain([16]byte(k)) {
				missing++
			}
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if missing > 0 {
		t.Fatalf("%d of %d fingerprints in the seen bucket are absent from the filter", missing, n)
	}
}

// TestMemoryOnlyRequestEntersFilterOnAck: the fingerprint of a request
// kept in memory is written at its ack, and from then on the filter holds
// it: after a resume, when the memory state is gone, it is a duplicate.
func TestMemoryOnlyRequestEntersFilterOnAck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, tiny)
	enqueue(t, s, &crawl.Request{URL: "http://127.0.0.1/local", Local: struct{}{}}, true)
	r := next(t, s)
	if err := s.Ack(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	checkFilter(t, s)
	closeS(t, s, "shutdown")
	s = mustOpen(t, dir, tiny)
	defer closeS(t, s, "finished")
	enqueue(t, s, &crawl.Request{URL: "http://127.0.0.1/local"}, false)
}

// TestFilterOptionsChecked: a rate outside (0, 1) is refused when the
// directory is opened, naming the option.
func TestFilterOptionsChecked(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{-0.1, 1, 2} {
		_, err := Open(t.TempDir(), Options{Spider: "x", FPRate: rate})
		if err == nil {
			t.Fatalf("FPRate %g accepted", rate)
		}
		if want := fmt.Sprintf("diskq: options.FPRate %g is not between 0 and 1 exclusive", rate); err.Error() != want {
			t.Errorf("got %q, want %q", err, want)
		}
	}
}

// TestFilterTooLargeRefused: an expected count that would need more
// memory than any machine this runs on is an error, not an allocation.
func TestFilterTooLargeRefused(t *testing.T) {
	t.Parallel()
	_, err := Open(t.TempDir(), Options{Spider: "x", ExpectedURLs: 1 << 40, FPRate: 0.01})
	want := "diskq: a dupefilter filter for options.ExpectedURLs 1099511627776 at options.FPRate 0.01 needs 1310720 MiB of memory, more than the 16384 MiB allowed"
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %q", err, want)
	}
}
