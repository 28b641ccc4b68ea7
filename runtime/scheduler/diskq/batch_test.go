package diskq

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// pageLinks is the crawl benchmark's page in miniature: 10 same-host links
// of which about one is new, and one link back to the page itself.
func pageLinks(base string, i, pages int) []*crawl.Request {
	out := make([]*crawl.Request, 0, 11)
	for j := 1; j <= 10; j++ {
		out = append(out, &crawl.Request{URL: fmt.Sprintf("%s/p/%d", base, (i+j)%pages), Callback: "parse"})
	}
	return append(out, &crawl.Request{URL: fmt.Sprintf("%s/p/%d", base, i), Callback: "parse"})
}

// txCounts is what a crawl of pages costs the database.
type txCounts struct{ commits, reads int }

// crawlCounts crawls pages pages of pageLinks through s as the engine does
// (Next, the callback's requests, a group commit of the acks every 64
// pages) and counts bbolt transactions. batch hands each page's requests
// over with EnqueueBatch, otherwise one Enqueue each.
func crawlCounts(tb testing.TB, s *Scheduler, pages int, batch bool) txCounts {
	tb.Helper()
	ctx := context.Background()
	if _, err := s.Enqueue(ctx, &crawl.Request{URL: "http://a.test/p/0"}); err != nil {
		tb.Fatal(err)
	}
	commits0, reads0 := s.writes, s.db.Stats().TxN
	var acks []*crawl.Request
	done := 0
	for {
		r, err := s.Next(ctx)
		if err != nil {
			tb.Fatal(err)
		}
		if r == nil {
			break
		}
		var i int
		if _, err := fmt.Sscanf(r.URL, "http://a.test/p/%d", &i); err != nil {
			tb.Fatal(err)
		}
		links := pageLinks("http://a.test", i, pages)
		if batch {
			for _, x := range s.EnqueueBatch(ctx, links) {
				if x.Err != nil {
					tb.Fatal(x.Err)
				}
			}
		} else {
			for _, l := range links {
				if _, err := s.Enqueue(ctx, l); err != nil {
					tb.Fatal(err)
				}
			}
		}
		done++
		if acks = append(acks, r); len(acks) == 64 {
			if err := s.AckBatch(ctx, acks); err != nil {
				tb.Fatal(err)
			}
			acks = acks[:0]
		}
	}
	if err := s.AckBatch(ctx, acks); err != nil {
		tb.Fatal(err)
	}
	if done != pages {
		tb.Fatalf("crawled %d pages, want %d", done, pages)
	}
	return txCounts{commits: s.writes - commits0, reads: s.db.Stats().TxN - reads0}
}

// TestBatchTransactionsPerPage pins what a page costs the JOBDIR with the
// engine's batched enqueue: one write transaction for the page's new
// request, a share of a ready-buffer fill for Next (this crawl's queue is
// only a few requests deep, so a fill takes few: measured 0.11 per page,
// 1.0 before the buffer), 1/64 of the group commit's, and no read
// transaction (the seen cache answers the duplicates). One by one, as
// before issue 20's change, every request read the seen bucket.
func TestBatchTransactionsPerPage(t *testing.T) {
	t.Parallel()
	const pages = 2000
	one := crawlCounts(t, mustOpen(t, t.TempDir(), Options{}), pages, false)
	s := mustOpen(t, t.TempDir(), Options{})
	defer closeS(t, s, ReasonFinished)
	got := crawlCounts(t, s, pages, true)
	t.Logf("per page: one by one %.2f commits %.2f reads; batch %.2f commits %.2f reads",
		float64(one.commits)/pages, float64(one.reads)/pages, float64(got.commits)/pages, float64(got.reads)/pages)
	// The new request, the ready buffer's fills and the acks (32 group
	// commits).
	if want := pages + pages/8 + pages/64 + 2; got.commits > want {
		t.Errorf("batch: %d commits for %d pages, want at most %d", got.commits, pages, want)
	}
	if got.reads > pages/100 {
		t.Errorf("batch: %d read transactions for %d pages, want almost none (seen cache)", got.reads, pages)
	}
}

// BenchmarkCrawlPage is one page of crawlCounts: go test -bench CrawlPage
// -benchmem ./runtime/scheduler/diskq reports commits and reads per page.
func BenchmarkCrawlPage(b *testing.B) {
	for _, batch := range []bool{false, true} {
		name := "one-by-one"
		if batch {
			name = "batch"
		}
		b.Run(name, func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{Spider: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(context.Background(), ReasonFinished)
			b.ReportAllocs()
			b.ResetTimer()
			c := crawlCounts(b, s, b.N, batch)
			b.ReportMetric(float64(c.commits)/float64(b.N), "commits/page")
			b.ReportMetric(float64(c.reads)/float64(b.N), "reads/page")
		})
	}
}

// NextBatch gives what Next one by one gives, in the same order, and its
// requests are in flight until acked: a reopen requeues exactly them.
func TestNextBatchLikeNext(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	fill := func(s *Scheduler) {
		for i, p := range []int{0, 5, 0, 5, -1, 3, 0} {
			enqueue(t, s, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", i), Priority: p}, true)
		}
	}
	one := mustOpen(t, t.TempDir(), Options{})
	defer closeS(t, one, ReasonFinished)
	fill(one)
	want := drain(t, one)

	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	fill(s)
	var got []string
	first, err := s.NextBatch(ctx, 3)
	if err != nil || len(first) != 3 {
		t.Fatalf("NextBatch(3) = %d requests, %v", len(first), err)
	}
	for _, r := range first {
		got = append(got, r.URL)
	}
	if n, _ := s.Len(ctx); n != 4 || s.InFlight() != 3 {
		t.Fatalf("after NextBatch(3): Len %d, InFlight %d; want 4, 3", n, s.InFlight())
	}
	// A higher priority enqueued now comes before the rest.
	enqueue(t, s, &crawl.Request{URL: "http://a.test/late", Priority: 9}, true)
	rest, err := s.NextBatch(ctx, 100)
	if err != nil || len(rest) != 5 {
		t.Fatalf("NextBatch(100) = %d requests, %v; want the 5 left", len(rest), err)
	}
	if rest[0].URL != "http://a.test/late" {
		t.Fatalf("NextBatch after a priority-9 enqueue starts with %s", rest[0].URL)
	}
	for _, r := range rest[1:] {
		got = append(got, r.URL)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("NextBatch order %v\nNext order     %v", got, want)
	}
	if empty, err := s.NextBatch(ctx, 4); err != nil || len(empty) != 0 {
		t.Fatalf("NextBatch of an empty queue = %d requests, %v", len(empty), err)
	}
	if err := s.AckBatch(ctx, append(first, rest[0])); err != nil {
		t.Fatal(err)
	}
	closeS(t, s, "shutdown")
	s = mustOpen(t, dir, Options{})
	defer closeS(t, s, ReasonFinished)
	if n, _ := s.Len(ctx); n != 4 {
		t.Fatalf("after reopen Len = %d, want the 4 taken and not acked", n)
	}
}
