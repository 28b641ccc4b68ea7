package diskq

import (
	"bytes"
	"context"
	"flag"
	"github.com/spiderrun/spiderrun/internal/cputime"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	rebuildN = flag.Int("diskq.rebuild", 50_000, "fingerprints in TestRebuildFilterTime (specs/benchmarks.md uses 1000000 and 10000000)")
	lookupN  = flag.Int("diskq.lookupseen", 1_000_000, "fingerprints in the seen bucket of BenchmarkSeenLookupNewURL")
)

// buildSeen writes a JOBDIR whose seen bucket holds the n fingerprints of
// randomFps(seed, n), as a crawl that has seen n URLs leaves it, and
// returns them. They are written in key order, 1 M per transaction (in
// random order every transaction would rewrite most of the tree): the
// pages are as full as bbolt's split leaves them either way.
func buildSeen(tb testing.TB, dir string, seed uint64, n int) [][16]byte {
	tb.Helper()
	s, err := Open(dir, Options{Spider: "bench"})
	if err != nil {
		tb.Fatal(err)
	}
	fps := randomFps(seed, n)
	sorted := slices.Clone(fps)
	slices.SortFunc(sorted, func(a, b [16]byte) int { return bytes.Compare(a[:], b[:]) })
	for i := 0; i < n; i += 1_000_000 {
		chunk := sorted[i:min(i+1_000_000, n)]
		err := s.db.Update(func(tx *bolt.Tx) error {
			seen := tx.Bucket(bucketSeen)
			for _, fp := range chunk {
				if err := seen.Put(fp[:], nil); err != nil {
					return err
				}
			}
			return putCount(tx.Bucket(bucketMeta), metaSeen, i+len(chunk))
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	if err := s.Close(context.Background(), "shutdown"); err != nil {
		tb.Fatal(err)
	}
	return fps
}

// TestRebuildFilterTime: opening a JOBDIR that has seen n URLs rebuilds
// its filter from the seen bucket; every fingerprint is in it, in one
// stage sized for twice the count. The time and memory are logged for
// specs/benchmarks.md (go test -run TestRebuildFilterTime -v
// -diskq.rebuild=10000000 ./runtime/scheduler/diskq), not asserted.
func TestRebuildFilterTime(t *testing.T) {
	t.Parallel()
	n := *rebuildN
	dir := t.TempDir()
	t0 := time.Now()
	buildSeen(t, dir, 11, n)
	built := time.Since(t0)
	rss0, cpu0 := procStatus(), cputime.Process()
	t0 = time.Now()
	s, err := Open(dir, Options{Spider: "bench"})
	if err != nil {
		t.Fatal(err)
	}
	took, cpu := time.Since(t0), cputime.Process()-cpu0
	rss1 := procStatus()
	defer closeS(t, s, "shutdown")
	if len(s.filter.stages) != 1 || s.filter.count() != n || s.filter.stages[0].cap != max(DefaultExpectedURLs, 2*n) {
		t.Errorf("rebuilt filter: %d stages, %d fingerprints, sized for %d", len(s.filter.stages), s.filter.count(), s.filter.stages[0].cap)
	}
	checkFilter(t, s)
	fi, err := os.Stat(filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d MiB", DBFile, fi.Size()>>20)
	t.Logf("%d fingerprints (written in %v): Open rebuilt the filter in %v, %v of CPU (%.0f ns per fingerprint), filter %d bytes (%.2f B per URL); VmRSS %d → %d MiB, RssFile %d → %d MiB",
		n, built.Round(time.Millisecond), took.Round(time.Millisecond), cpu.Round(time.Millisecond), float64(took.Nanoseconds())/float64(n),
		s.filter.bytes(), float64(s.filter.bytes())/float64(n),
		rss0["VmRSS"]>>20, rss1["VmRSS"]>>20, rss0["RssFile"]>>20, rss1["RssFile"]>>20)
}

// noFilter makes s's filter answer "maybe seen" always: the scheduler as
// it was before the filter, every lookup a read of the seen bucket.
func noFilter(s *Scheduler) {
	f := newSeenFilter(1, 0.5)
	for i := range f.stages[0].words {
		f.stages[0].words[i] = ^uint64(0)
	}
	f.stages[0].cap = 1 << 62
	s.filter = f
}

// BenchmarkSeenLookupNewURL is the lookup of a new URL's fingerprint in a
// JOBDIR that has seen 1 M URLs (-diskq.lookupseen): a read transaction
// and a B-tree walk in the seen bucket (without the filter, or when the
// filter says "maybe"), against the filter alone. rss-file-MiB is the
// file-backed RSS at the end: the pages of the bucket the lookups mapped
// (no commit runs here, so nothing drops them).
func BenchmarkSeenLookupNewURL(b *testing.B) {
	dir := b.TempDir()
	buildSeen(b, dir, 12, *lookupN)
	s, err := Open(dir, Options{Spider: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background(), "shutdown")
	q := randomFps(13, benchN)
	lookup := func(fp [16]byte) bool {
		if !s.filter.mayContain(fp) {
			return false
		}
		dup := false
		_ = s.view(func(tx *bolt.Tx) error {
			dup = tx.Bucket(bucketSeen).Get(fp[:]) != nil
			return nil
		})
		return dup
	}
	for _, with := range []bool{true, false} {
		name := "filter"
		if !with {
			name = "bbolt"
		}
		b.Run(name, func(b *testing.B) {
			if !with {
				noFilter(s)
			}
			s.dropMapped()
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cputime.Process()
			for i := 0; i < b.N; i++ {
				if lookup(q[i%benchN]) {
					b.Fatal("a new fingerprint found in the seen bucket")
				}
			}
			reportCPU(b, c0)
			b.ReportMetric(float64(procStatus()["RssFile"])/(1<<20), "rss-file-MiB")
		})
	}
}

// BenchmarkCrawlPageFilter is BenchmarkCrawlPage's batched crawl with and
// without the filter.
func BenchmarkCrawlPageFilter(b *testing.B) {
	for _, with := range []bool{true, false} {
		name := "filter"
		if !with {
			name = "no-filter"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Spider: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background(), ReasonFinished)
			if !with {
				noFilter(s)
			}
			b.ReportAllocs()
			b.ResetTimer()
			c0 := cputime.Process()
			c := crawlCounts(b, s, b.N, true)
			reportCPU(b, c0)
			b.ReportMetric(float64(c.commits)/float64(b.N), "commits/page")
		})
	}
}
