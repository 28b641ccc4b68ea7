package redisq

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

func urls(n int, f string) []*crawl.Request {
	var out []*crawl.Request
	for i := range n {
		out = append(out, &crawl.Request{URL: fmt.Sprintf(f, i)})
	}
	return out
}

func added(res []scheduler.Enqueued) []bool {
	var out []bool
	for _, r := range res {
		out = append(out, r.Added)
	}
	return out
}

func drainURLs(t *testing.T, s *Scheduler) []string {
	t.Helper()
	var out []string
	for {
		r, err := s.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			return out
		}
		out = append(out, r.URL)
		if err := s.Ack(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

// A batch behaves as its requests enqueued one by one: duplicates inside
// the batch (the same fingerprint under another spelling) are dropped, the
// first one kept; dont_filter ones are all kept; what was seen before (by
// this worker's cache, or by another worker: Redis) is dropped; the order
// is kept; the shared counters add up.
func TestEnqueueBatchDuplicatesInside(t *testing.T) {
	srv := redistest.Start(t)
	for _, df := range []string{DupefilterExact, DupefilterBloom} {
		t.Run(df, func(t *testing.T) {
			ctx := context.Background()
			name := "batch-" + df
			o := Options{Name: name, Dupefilter: df, BloomCapacity: 100_000, Persist: true}
			a, _ := openSched(t, srv, o)
			b, _ := openSched(t, srv, o)
			batch := []*crawl.Request{
				{URL: "http://a.test/1"},
				{URL: "http://a.test/2?y=2&x=1"},
				{URL: "http://a.test/1#frag"}, // = 1
				{URL: "http://a.test/3", Priority: 0},
				{URL: "http://a.test/2?x=1&y=2"}, // = 2
				{URL: "http://a.test/k", DontFilter: true},
				{URL: "http://a.test/k", DontFilter: true},
				{URL: "http://A.TEST/3"}, // = 3
			}
			res := a.EnqueueBatch(ctx, batch)
			for _, r := range res {
				if r.Err != nil {
					t.Fatal(r.Err)
				}
			}
			if got, want := added(res), []bool{true, true, false, true, false, true, true, false}; !slices.Equal(got, want) {
				t.Fatalf("first batch added %v, want %v", got, want)
			}
			// Seen by this worker (its cache) and by the other (Redis).
			if got, want := added(a.EnqueueBatch(ctx, []*crawl.Request{{URL: "http://a.test/1"}, {URL: "http://a.test/4"}})), []bool{false, true}; !slices.Equal(got, want) {
				t.Fatalf("second batch added %v, want %v", got, want)
			}
			if got, want := added(b.EnqueueBatch(ctx, []*crawl.Request{{URL: "http://a.test/4"}, {URL: "http://a.test/2?x=1&y=2"}, {URL: "http://a.test/5"}, {URL: "http://a.test/5"}})), []bool{false, false, true, false}; !slices.Equal(got, want) {
				t.Fatalf("other worker's batch added %v, want %v", got, want)
			}
			if ok, err := b.Enqueue(ctx, &crawl.Request{URL: "http://a.test/3"}); ok || err != nil {
				t.Fatalf("Enqueue of a batch's request = %v, %v; want a duplicate", ok, err)
			}
			want := []string{"http://a.test/1", "http://a.test/2?y=2&x=1", "http://a.test/3", "http://a.test/k", "http://a.test/k", "http://a.test/4", "http://a.test/5"}
			if got := drainURLs(t, b); !slices.Equal(got, want) {
				t.Fatalf("queue order %v\nwant %v", got, want)
			}
			_ = a.Close(ctx, "shutdown")
			_ = b.Close(ctx, "shutdown")
			c := newClient(t, srv)
			if v := c.HGet(ctx, name+":stats", "dupefilter/filtered").Val(); v != "8" {
				t.Fatalf("shared dupefilter/filtered = %s, want 8", v)
			}
			if v := c.HGet(ctx, name+":stats", "scheduler/enqueued/redis").Val(); v != "7" {
				t.Fatalf("shared scheduler/enqueued/redis = %s, want 7", v)
			}
		})
	}
}

// A batch of requests that cannot be queued: each fails alone, the others
// are queued.
func TestEnqueueBatchRefusesLocalRequests(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := openSched(t, srv, Options{Name: "batchlocal"})
	res := s.EnqueueBatch(context.Background(), []*crawl.Request{{URL: "http://a.test/1"}, {URL: "http://a.test/2", Local: struct{}{}}, {URL: "http://a.test/3"}})
	if res[0].Err != nil || !res[0].Added || !errors.Is(res[1].Err, ErrLocalRequest) || res[2].Err != nil || !res[2].Added {
		t.Fatalf("results %+v", res)
	}
}

// A fingerprint the worker remembers is dropped without a round trip; one
// it does not know goes to Redis.
func TestSeenCacheSkipsRedis(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, _ := openSched(t, srv, Options{Name: "seencache"})
	mustEnq(t, s, &crawl.Request{URL: "http://a.test/1"})
	if _, err := srv.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	calls := func() int {
		info, err := srv.Do("INFO", "commandstats")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, l := range strings.Split(info, "\n") {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "cmdstat_evalsha:calls="); ok {
				n, _ = strconv.Atoi(v[:strings.IndexByte(v, ',')])
			}
		}
		return n
	}
	for range 5 {
		if ok, err := s.Enqueue(ctx, &crawl.Request{URL: "http://a.test/1#x"}); ok || err != nil {
			t.Fatalf("duplicate Enqueue = %v, %v", ok, err)
		}
	}
	if got := added(s.EnqueueBatch(ctx, []*crawl.Request{{URL: "http://a.test/1"}})); got[0] {
		t.Fatal("cached duplicate added")
	}
	if n := calls(); n != 0 {
		t.Fatalf("%d script calls for cached duplicates, want 0", n)
	}
	mustEnq(t, s, &crawl.Request{URL: "http://a.test/2"})
	if n := calls(); n != 1 {
		t.Fatalf("%d script calls for a new request, want 1", n)
	}
	// The cache is bounded: with 4 places, old fingerprints go, and a
	// forgotten one is asked to Redis (still a duplicate).
	c := newSeenCache(4)
	for i := range 100 {
		c.add([16]byte{byte(i)})
	}
	if n := len(c.cur) + len(c.old); n > 4 {
		t.Fatalf("cache holds %d fingerprints, want at most 4", n)
	}
	if c.has([16]byte{0}) || !c.has([16]byte{99}) {
		t.Fatal("cache kept the oldest or lost the newest")
	}
}

// A batch across a kill: a worker leases a batch of requests, queues the
// links of the first one's page in one batch and dies before its ack. The
// batch is atomic (all its requests are queued, or none), the dead
// worker's leases — those it had leased ahead included — come back after
// the lease timeout, and a second processing of the page finds its links
// already queued: every request is served exactly once more, nothing is
// lost and nothing doubled.
func TestBatchAcrossKill(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	o := Options{Name: "batchkill", LeaseTimeout: time.Second, Persist: true, LeaseBatch: 4}
	a, _ := openSched(t, srv, o)
	b, _ := openSched(t, srv, o)
	for _, r := range urls(6, "http://a.test/seed/%d") {
		mustEnq(t, a, r)
	}
	first, err := a.Next(ctx)
	if err != nil || first == nil {
		t.Fatalf("Next: %v %v", first, err)
	}
	if n := a.HeldLeases(); n != 4 {
		t.Fatalf("a holds %d leases after one Next, want a batch of 4", n)
	}
	links := append(urls(5, "http://a.test/link/%d"), &crawl.Request{URL: "http://a.test/link/0"}, &crawl.Request{URL: "http://a.test/seed/1"})
	if got, want := added(a.EnqueueBatch(ctx, links)), []bool{true, true, true, true, true, false, false}; !slices.Equal(got, want) {
		t.Fatalf("links added %v, want %v", got, want)
	}
	a.crash()
	// B takes the rest now, and the dead worker's four leases once they
	// expire; its own processing of the first seed queues the links again:
	// all duplicates.
	var got []string
	waitFor(t, "every request served", 15*time.Second, func() bool {
		r, err := b.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			return len(got) == 11
		}
		if r.URL == first.URL {
			for _, x := range added(b.EnqueueBatch(ctx, links)) {
				if x {
					t.Fatal("the redelivered page's links were queued twice")
				}
			}
		}
		got = append(got, r.URL)
		if err := b.Ack(ctx, r); err != nil {
			t.Fatal(err)
		}
		return false
	})
	slices.Sort(got)
	var want []string
	for i := range 6 {
		want = append(want, fmt.Sprintf("http://a.test/seed/%d", i))
	}
	for i := range 5 {
		want = append(want, fmt.Sprintf("http://a.test/link/%d", i))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("served %v\nwant each of %v once", got, want)
	}
	if v := b.Client().HGet(ctx, "batchkill:stats", "leases/expired").Val(); v != "4" {
		t.Fatalf("leases/expired = %s, want the 4 leases of the dead worker", v)
	}
}

// Requests leased ahead never break the lease bound, and a graceful close
// returns them at once.
func TestLeaseBatchWithinBoundAndReturnedOnClose(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := openSched(t, srv, Options{Name: "aheadbound", MaxLeases: 6, LeaseBatch: 4, Persist: true})
	for _, r := range urls(20, "http://a.test/%d") {
		mustEnq(t, a, r)
	}
	var taken []*crawl.Request
	for {
		r, err := a.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			break
		}
		taken = append(taken, r)
		if n := a.HeldLeases(); n > 6 {
			t.Fatalf("%d leases held, bound 6", n)
		}
	}
	if len(taken) != 6 {
		t.Fatalf("handed out %d requests at the bound 6", len(taken))
	}
	if n, _ := a.Len(ctx); n != 14 {
		t.Fatalf("Len = %d, want 14", n)
	}
	_ = a.Ack(ctx, taken[0])
	if r, _ := a.Next(ctx); r == nil {
		t.Fatal("no request after an ack freed a place")
	}
	b, _ := openSched(t, srv, Options{Name: "aheadbound", Persist: true})
	_ = a.Close(ctx, "shutdown")
	if got := len(drainURLs(t, b)); got != 19 {
		t.Fatalf("after close %d requests to serve, want 19 (only the acked one is done)", got)
	}
}

// AckBatch commits each lease as Ack does: items pushed once, a fenced
// lease reported with ErrLeaseLost while the others of the batch commit.
func TestAckBatch(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := openSched(t, srv, Options{Name: "ackbatch", ItemsKey: "{name}:items", LeaseTimeout: time.Second, Persist: true, LeaseBatch: 1})
	b, _ := openSched(t, srv, Options{Name: "ackbatch", ItemsKey: "{name}:items", LeaseTimeout: time.Second, Persist: true, LeaseBatch: 1})
	for _, r := range urls(4, "http://a.test/%d") {
		mustEnq(t, a, r)
	}
	var reqs []*crawl.Request
	for range 4 {
		r, _ := a.Next(ctx)
		reqs = append(reqs, r)
		for j := range 2 {
			it := crawl.NewItem()
			it.Set("u", r.URL)
			it.Set("j", j)
			if _, err := a.Items().ProcessItem(crawl.WithRequest(ctx, r), it); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The third lease is lost: a stalled past its timeout and b took it.
	lost := reqs[2].Lease.(*Lease).id
	if err := a.rdb.ZAdd(ctx, "ackbatch:leases:deadlines", rz(0, lost)).Err(); err != nil {
		t.Fatal(err)
	}
	if r, _ := b.Next(ctx); r == nil || r.URL != reqs[2].URL {
		t.Fatalf("b got %v, want the expired %s", r, reqs[2].URL)
	}
	err := a.AckBatch(ctx, reqs)
	if !errors.Is(err, ErrLeaseLost) || !strings.Contains(err.Error(), reqs[2].URL) || strings.Contains(err.Error(), reqs[0].URL) {
		t.Fatalf("AckBatch error %v, want the lost lease of %s only", err, reqs[2].URL)
	}
	if n := a.rdb.LLen(ctx, "ackbatch:items").Val(); n != 6 {
		t.Fatalf("%d items, want 6 (3 committed requests × 2)", n)
	}
	if n := a.HeldLeases(); n != 0 {
		t.Fatalf("a still holds %d leases", n)
	}
	if n := a.rdb.HLen(ctx, "ackbatch:leases").Val(); n != 1 {
		t.Fatalf("%d leases in redis, want b's one", n)
	}
	// A retried batch (its reply lost: same batch id) gets the first run's
	// results and pushes nothing twice; an ack of a released lease in
	// another batch is fenced and pushes nothing either.
	keys := []string{"ackbatch:leases", "ackbatch:leases:deadlines", "ackbatch:items", "ackbatch:stats", "ackbatch:activity"}
	var args []any
	for _, r := range reqs {
		args = append(args, r.Lease.(*Lease).id, "1", 1, "dup")
	}
	res, err := scriptAckBatch.Run(ctx, a.rdb, keys, append([]any{a.opts.WorkerID, a.opts.WorkerID + ":1"}, args...)...).Int64Slice()
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 1, 0, 1}; !slices.Equal(res, want) {
		t.Fatalf("retried batch: results %v, want the first run's %v", res, want)
	}
	res, err = scriptAckBatch.Run(ctx, a.rdb, keys, a.opts.WorkerID, "other-batch", reqs[0].Lease.(*Lease).id, "1", 1, "dup").Int64Slice()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res, []int64{0}) {
		t.Fatalf("ack of a released lease in another batch: %v, want [0]", res)
	}
	if n := a.rdb.LLen(ctx, "ackbatch:items").Val(); n != 6 {
		t.Fatalf("%d items after a retried ack, want 6", n)
	}
}

// Many workers batching the same links at once: each link queued once.
func TestEnqueueBatchAtomicAcrossWorkers(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	const workers, n = 6, 500
	var accepted atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		s, _ := openSched(t, srv, Options{Name: "batchatomic", Persist: true})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n; i += 10 {
				var batch []*crawl.Request
				for j := range 10 {
					batch = append(batch, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", (i+j+w*37)%n)})
				}
				for _, r := range s.EnqueueBatch(ctx, batch) {
					if r.Err != nil {
						t.Error(r.Err)
					}
					if r.Added {
						accepted.Add(1)
					}
				}
			}
		}()
	}
	wg.Wait()
	if accepted.Load() != n {
		t.Fatalf("accepted %d, want exactly %d", accepted.Load(), n)
	}
}
