package redisq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/schedulertest"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	for _, df := range []string{DupefilterExact, DupefilterBloom} {
		t.Run(df, func(t *testing.T) {
			var n atomic.Int64
			schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler {
				s, _ := newSched(t, srv, Options{
					Name: fmt.Sprintf("conf-%s-%d", df, n.Add(1)), Dupefilter: df,
					BloomCapacity: 100_000, BloomErrorRate: 0.0001, Persist: true,
				})
				return s
			})
		})
	}
}

func TestConformancePersistent(t *testing.T) {
	srv := redistest.Start(t)
	var n atomic.Int64
	schedulertest.RunPersistent(t, func(t *testing.T) func() scheduler.Scheduler {
		name := fmt.Sprintf("persist-%d", n.Add(1))
		return func() scheduler.Scheduler {
			s, _ := newSched(t, srv, Options{Name: name, Persist: true})
			return s
		}
	})
}

func TestLeaseLifecycle(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, _ := openSched(t, srv, Options{Name: "life", Persist: true})
	rdb := s.Client()
	mustEnq(t, s, &crawl.Request{URL: "http://a.test/1"})
	r, err := s.Next(ctx)
	if err != nil || r == nil {
		t.Fatalf("Next = %v, %v", r, err)
	}
	if n := rdb.HLen(ctx, "life:leases").Val(); n != 1 {
		t.Fatalf("leases after Next = %d, want 1 (the request is leased, not popped)", n)
	}
	if n := rdb.ZCard(ctx, "life:leases:deadlines").Val(); n != 1 {
		t.Fatalf("lease deadlines = %d, want 1", n)
	}
	rec := rdb.HGet(ctx, "life:leases", r.Lease.(*Lease).ID()).Val()
	if !strings.HasPrefix(rec, s.WorkerID()+"\nq\nlife:requests\n") {
		t.Fatalf("lease record = %q, want it to name the worker and the origin key", rec)
	}
	if err := s.Ack(ctx, r); err != nil {
		t.Fatalf("Ack: %v", err)
	}
	if n := rdb.HLen(ctx, "life:leases").Val(); n != 0 {
		t.Fatalf("leases after Ack = %d, want 0", n)
	}
	// A second ack of the same request is a no-op, not an error.
	if err := s.Ack(ctx, r); err != nil {
		t.Fatalf("second Ack: %v", err)
	}
	if got := rdb.HGet(ctx, "life:stats", "scheduler/dequeued/redis").Val(); got != "1" {
		t.Fatalf("stats dequeued = %q, want 1", got)
	}
}

// A worker that dies (kill -9: no ack, no heartbeat) does not lose its
// requests: after the lease timeout another worker gets them.
func TestCrashedWorkerLeasesAreRedelivered(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	// A leases one request per Next here, so that one stays queued for B
	// (TestCrashedWorkerLeasedAheadAreRedelivered: a batch leased ahead).
	a, _ := openSched(t, srv, Options{Name: "crash", LeaseTimeout: 1500 * time.Millisecond, Persist: true, LeaseBatch: 1})
	b, _ := openSched(t, srv, Options{Name: "crash", LeaseTimeout: 1500 * time.Millisecond, Persist: true})
	for i := range 3 {
		mustEnq(t, a, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", i)})
	}
	var taken []string
	for range 2 {
		r, err := a.Next(ctx)
		if err != nil || r == nil {
			t.Fatalf("Next: %v %v", r, err)
		}
		taken = append(taken, r.URL)
	}
	a.crash()
	// Meanwhile the remaining request is served at once; the leased ones are
	// invisible until their lease expires.
	r, _ := b.Next(ctx)
	if r == nil || r.URL != "http://a.test/2" {
		t.Fatalf("B first got %v, want http://a.test/2", r)
	}
	_ = b.Ack(ctx, r)
	if r, _ := b.Next(ctx); r != nil {
		t.Fatalf("B got %s while A's leases were still valid", r.URL)
	}
	var got []string
	waitFor(t, "redelivery of the dead worker's leases", 10*time.Second, func() bool {
		r, err := b.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r != nil {
			got = append(got, r.URL)
			if err := b.Ack(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		return len(got) == 2
	})
	if fmt.Sprint(got) != fmt.Sprint(taken) {
		t.Fatalf("redelivered %v, want %v in their original order", got, taken)
	}
	if v := b.Client().HGet(ctx, "crash:stats", "leases/expired").Val(); v != "2" {
		t.Fatalf("stats leases/expired = %q, want 2", v)
	}
}

// Heartbeats keep a lease alive well past the lease timeout while the
// worker is alive and busy.
func TestHeartbeatRenewsLeases(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := openSched(t, srv, Options{Name: "renew", LeaseTimeout: time.Second, Persist: true})
	b, _ := openSched(t, srv, Options{Name: "renew", LeaseTimeout: time.Second, Persist: true})
	mustEnq(t, a, &crawl.Request{URL: "http://a.test/slow"})
	r, _ := a.Next(ctx)
	if r == nil {
		t.Fatal("no request")
	}
	// Poll from another worker for three lease timeouts: it must never see
	// the request while A holds it (a sleep: the time is the behaviour).
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if got, err := b.Next(ctx); err != nil || got != nil {
			t.Fatalf("B got %v, %v while A's lease is renewed", got, err)
		}
	}
	if err := a.Ack(ctx, r); err != nil {
		t.Fatalf("Ack after a long callback: %v", err)
	}
}

// A stalled worker (SIGSTOP past the lease timeout) comes back and acks late:
// the ack and its items are fenced, so items stay unique.
func TestStalledWorkerLateAckIsFenced(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	o := Options{Name: "fence", LeaseTimeout: 500 * time.Millisecond, ItemsKey: "{name}:items", Persist: true}
	a, alog := openSched(t, srv, o)
	b, _ := openSched(t, srv, o)
	mustEnq(t, a, &crawl.Request{URL: "http://a.test/p"})
	ra, _ := a.Next(ctx)
	if ra == nil {
		t.Fatal("no request")
	}
	a.stall()
	// A's callback produced an item before the stall.
	if _, err := a.Items().ProcessItem(crawl.WithRequest(ctx, ra), crawl.NewItem("from", "A")); err != nil {
		t.Fatal(err)
	}
	var rb *crawl.Request
	waitFor(t, "B to get the expired lease", 10*time.Second, func() bool {
		rb, _ = b.Next(ctx)
		return rb != nil
	})
	if _, err := b.Items().ProcessItem(crawl.WithRequest(ctx, rb), crawl.NewItem("from", "B")); err != nil {
		t.Fatal(err)
	}
	if err := b.Ack(ctx, rb); err != nil {
		t.Fatalf("B Ack: %v", err)
	}
	err := a.Ack(ctx, ra)
	if !errors.Is(err, ErrLeaseLost) {
		t.Fatalf("late Ack = %v, want ErrLeaseLost", err)
	}
	items := a.Client().LRange(ctx, "fence:items", 0, -1).Val()
	if fmt.Sprint(items) != `[{"from":"B"}]` {
		t.Fatalf("items = %v, want only B's", items)
	}
	if !strings.Contains(alog.String(), "late ack rejected") {
		t.Fatalf("log does not say the late ack was rejected:\n%s", alog)
	}
}

// Close returns held leases at once, in order; a worker shutting down does
// not make the others wait for the lease timeout.
func TestCloseReturnsLeases(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	a, _ := openSched(t, srv, Options{Name: "ret", Persist: true}) // 60s lease timeout
	b, _ := openSched(t, srv, Options{Name: "ret", Persist: true})
	for i := range 4 {
		mustEnq(t, a, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d", i), Priority: 4 - i})
	}
	for range 3 {
		if r, _ := a.Next(ctx); r == nil {
			t.Fatal("no request")
		}
	}
	if n, _ := a.Len(ctx); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
	if err := a.Close(ctx, "shutdown"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var got []string
	for {
		r, err := b.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			break
		}
		got = append(got, r.URL)
		_ = b.Ack(ctx, r)
	}
	want := "[http://a.test/0 http://a.test/1 http://a.test/2 http://a.test/3]"
	if fmt.Sprint(got) != want {
		t.Fatalf("after shutdown B got %v, want %s (returned at once, priorities kept)", got, want)
	}
	if n := b.Client().HLen(ctx, "ret:workers").Val(); n != 1 {
		t.Fatalf("workers registered = %d, want 1 (A unregistered)", n)
	}
}

// X08: 8 workers discover the same URLs at the same moment; the atomic
// dupefilter gate lets exactly one enqueue each.
func TestDupefilterAtomicAcrossWorkers(t *testing.T) {
	srv := redistest.Start(t)
	for _, df := range []string{DupefilterExact, DupefilterBloom} {
		t.Run(df, func(t *testing.T) {
			ctx := context.Background()
			const workers, urls = 8, 1000
			name := "atomic-" + df
			var accepted atomic.Int64
			var wg sync.WaitGroup
			for w := range workers {
				s, _ := openSched(t, srv, Options{Name: name, Dupefilter: df, BloomCapacity: 100_000, Persist: true})
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range urls {
						ok, err := s.Enqueue(ctx, &crawl.Request{URL: fmt.Sprintf("http://a.test/%d?w=%d", (i+w*101)%urls, 0)})
						if err != nil {
							t.Error(err)
							return
						}
						if ok {
							accepted.Add(1)
						}
					}
				}()
			}
			wg.Wait()
			if accepted.Load() != urls {
				t.Fatalf("accepted %d enqueues, want exactly %d", accepted.Load(), urls)
			}
			c := newClient(t, srv)
			if n := c.ZCard(ctx, name+":requests").Val(); n != urls {
				t.Fatalf("queue holds %d, want %d", n, urls)
			}
			if v := c.HGet(ctx, name+":stats", "dupefilter/filtered").Val(); v != fmt.Sprint((workers-1)*urls) {
				t.Fatalf("dupefilter/filtered = %s, want %d", v, (workers-1)*urls)
			}
		})
	}
}

func TestBloomParametersInStats(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	st := stats.NewMemory()
	s, _ := openSched(t, srv, Options{Name: "bloomstats", Dupefilter: DupefilterBloom, BloomCapacity: 1_000_000, BloomErrorRate: 0.01, Stats: st})
	h := s.Client().HGetAll(ctx, "bloomstats:stats").Val()
	if h["dupefilter/bloom_capacity"] != "1000000" || h["dupefilter/bloom_error_rate"] != "0.01" || h["dupefilter/bloom_hashes"] != "7" {
		t.Fatalf("redis stats = %v", h)
	}
	if v, _ := st.Get("dupefilter/bloom_error_rate"); v != 0.01 {
		t.Fatalf("local stat error rate = %v", v)
	}
	// 9,585,059 bits for 1M at 1%: the textbook size.
	if h["dupefilter/bloom_bits"] != "9585059" {
		t.Fatalf("bits = %s, want 9585059", h["dupefilter/bloom_bits"])
	}
}

func TestBloomTooLargeIsRefused(t *testing.T) {
	_, err := New(Options{Client: newClient(t, redistest.Start(t)), Name: "x", Dupefilter: DupefilterBloom, BloomCapacity: 10_000_000_000, BloomErrorRate: 0.001})
	if err == nil || !strings.Contains(err.Error(), "2^32 bits") {
		t.Fatalf("err = %v", err)
	}
}

func TestLocalRequestIsRefused(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := openSched(t, srv, Options{Name: "local"})
	cases := []struct {
		name string
		r    *crawl.Request
		want string
	}{
		{"js closure", &crawl.Request{URL: "http://a.test/", Local: struct{}{}}, "process-local state"},
		{"non-json meta", &crawl.Request{URL: "http://a.test/", Meta: map[string]any{"ch": make(chan int)}}, "not serializable to JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ok, err := s.Enqueue(context.Background(), c.r)
			if ok || err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "http://a.test/") {
				t.Fatalf("Enqueue = %v, %v; want an error naming the URL and %q", ok, err, c.want)
			}
		})
	}
	if n, _ := s.Len(context.Background()); n != 0 {
		t.Fatalf("Len = %d, want 0", n)
	}
}

func TestEvictionPolicyRefused(t *testing.T) {
	cases := []struct {
		policy string
		ok     bool
	}{
		{"allkeys-lru", false}, {"allkeys-random", false}, {"noeviction", true}, {"volatile-lru", true},
	}
	for _, c := range cases {
		t.Run(c.policy, func(t *testing.T) {
			srv := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory-policy", c.policy}})
			s, _ := newSched(t, srv, Options{Name: "evict"})
			err := s.Open(context.Background())
			if c.ok {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				_ = s.Close(context.Background(), "finished")
				return
			}
			if !errors.Is(err, ErrEvictionPolicy) || !strings.Contains(err.Error(), "maxmemory-policy "+c.policy+" may evict queue/dupefilter keys; set noeviction") {
				t.Fatalf("Open = %v", err)
			}
		})
	}
}

func TestFlushOnStartAndPersist(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	c := newClient(t, srv)
	seed := func(name string) {
		s, _ := openSched(t, srv, Options{Name: name, Persist: true, ItemsKey: "{name}:items"})
		mustEnq(t, s, &crawl.Request{URL: "http://a.test/1"})
		mustEnq(t, s, &crawl.Request{URL: "http://a.test/2"})
		c.RPush(ctx, name+":items", `{"a":1}`)
		_ = s.Close(ctx, "shutdown")
	}
	t.Run("flush on start", func(t *testing.T) {
		seed("flush")
		// A worker of the last run killed while queuing its start requests.
		c.ZAdd(ctx, "flush:starting", redis.Z{Score: 1e15, Member: "dead-worker"})
		s, _ := openSched(t, srv, Options{Name: "flush", FlushOnStart: true, Persist: true})
		if n, _ := s.Len(ctx); n != 0 {
			t.Fatalf("Len after flush = %d", n)
		}
		if n := c.ZCard(ctx, "flush:starting").Val(); n != 0 {
			t.Fatalf("flush:starting holds %d entries after the flush, want none (a dead worker's would hold the crawl open)", n)
		}
		if ok, _ := s.Enqueue(ctx, &crawl.Request{URL: "http://a.test/1"}); !ok {
			t.Fatal("dupefilter not flushed")
		}
		if n := c.LLen(ctx, "flush:items").Val(); n != 1 {
			t.Fatalf("items = %d, want 1 (items are kept)", n)
		}
	})
	t.Run("no persist: finished crawl is deleted", func(t *testing.T) {
		seed("nopersist")
		s, _ := openSched(t, srv, Options{Name: "nopersist"})
		for {
			r, _ := s.Next(ctx)
			if r == nil {
				break
			}
			_ = s.Ack(ctx, r)
		}
		if err := s.Close(ctx, "finished"); err != nil {
			t.Fatal(err)
		}
		if n := c.Exists(ctx, "nopersist:dupefilter", "nopersist:requests").Val(); n != 0 {
			t.Fatalf("%d keys left after a finished non-persistent crawl", n)
		}
	})
	t.Run("no persist: shutdown keeps the queue", func(t *testing.T) {
		seed("keep")
		s, _ := openSched(t, srv, Options{Name: "keep"})
		if err := s.Close(ctx, "shutdown"); err != nil {
			t.Fatal(err)
		}
		if n := c.ZCard(ctx, "keep:requests").Val(); n != 2 {
			t.Fatalf("queue = %d after shutdown, want 2", n)
		}
	})
	t.Run("no persist: other worker busy keeps the queue", func(t *testing.T) {
		seed("busy")
		other, _ := openSched(t, srv, Options{Name: "busy", Persist: true})
		if r, _ := other.Next(ctx); r == nil {
			t.Fatal("no request")
		}
		s, _ := openSched(t, srv, Options{Name: "busy"})
		if err := s.Close(ctx, "finished"); err != nil {
			t.Fatal(err)
		}
		if n := c.Exists(ctx, "busy:dupefilter").Val(); n != 1 {
			t.Fatal("dupefilter deleted while another worker holds a lease")
		}
	})
}

func mustEnq(t testing.TB, s *Scheduler, r *crawl.Request) {
	t.Helper()
	ok, err := s.Enqueue(context.Background(), r)
	if err != nil || !ok {
		t.Fatalf("Enqueue(%s) = %v, %v", r.URL, ok, err)
	}
}

// X09 (crash loop): a request that kills every worker taking it is not
// redelivered forever: after MaxDeliveries expired leases it moves to
// N:dead, and the rest of the queue goes on.
func TestPoisonRequestGoesToDeadLetter(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	srv := redistest.Start(t)
	ctx := context.Background()
	o := Options{Name: "poison", LeaseTimeout: 300 * time.Millisecond, MaxDeliveries: 3, Persist: true}
	seed, _ := openSched(t, srv, o)
	mustEnq(t, seed, &crawl.Request{URL: "http://a.test/poison"})
	for i := range 3 {
		w, _ := openSched(t, srv, o)
		var r *crawl.Request
		waitFor(t, fmt.Sprintf("delivery %d", i+1), 10*time.Second, func() bool { r, _ = w.Next(ctx); return r != nil })
		if r.URL != "http://a.test/poison" {
			t.Fatalf("got %s", r.URL)
		}
		w.crash() // the page kills the worker
	}
	mustEnq(t, seed, &crawl.Request{URL: "http://a.test/healthy"})
	last, _ := openSched(t, srv, o)
	var got []string
	next := func() {
		r, err := last.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r != nil {
			got = append(got, r.URL)
			_ = last.Ack(ctx, r)
		}
	}
	// Take what comes until the poison request's last lease expired (it is
	// dead-lettered) and the healthy one was served, then once more.
	waitFor(t, "the dead letter and the healthy request", 10*time.Second, func() bool {
		next()
		return len(got) > 0 && last.Client().LLen(ctx, "poison:dead").Val() > 0
	})
	next()
	if fmt.Sprint(got) != "[http://a.test/healthy]" {
		t.Fatalf("after 3 deaths got %v, want only the healthy request", got)
	}
	dead := last.Client().LRange(ctx, "poison:dead", 0, -1).Val()
	if len(dead) != 1 || !strings.Contains(dead[0], "poison") || !strings.Contains(dead[0], "lease expired 3 times") {
		t.Fatalf("dead letters = %v", dead)
	}
}

// An entry that expired once but was then processed starts from zero again.
func TestRedeliveryCountClearedOnAck(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	o := Options{Name: "recover", LeaseTimeout: time.Second, MaxDeliveries: 2, Persist: true}
	a, _ := openSched(t, srv, o)
	mustEnq(t, a, &crawl.Request{URL: "http://a.test/flaky", DontFilter: true})
	if r, _ := a.Next(ctx); r == nil {
		t.Fatal("no request")
	}
	a.crash()
	b, _ := openSched(t, srv, o)
	var r *crawl.Request
	waitFor(t, "redelivery", 10*time.Second, func() bool { r, _ = b.Next(ctx); return r != nil })
	if err := b.Ack(ctx, r); err != nil {
		t.Fatal(err)
	}
	if n := b.Client().HLen(ctx, "recover:redeliveries").Val(); n != 0 {
		t.Fatalf("redelivery counts left after the ack: %d", n)
	}
}

func TestLocalStatsMirror(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	st := stats.NewMemory()
	s, _ := openSched(t, srv, Options{Name: "mirror", Stats: st})
	mustEnq(t, s, &crawl.Request{URL: "http://a.test/1"})
	if ok, _ := s.Enqueue(ctx, &crawl.Request{URL: "http://a.test/1"}); ok {
		t.Fatal("duplicate accepted")
	}
	if r, _ := s.Next(ctx); r == nil {
		t.Fatal("no request")
	}
	want := map[string]int64{"scheduler/enqueued": 1, "scheduler/enqueued/redis": 1, "scheduler/dequeued": 1,
		"scheduler/dequeued/redis": 1, "dupefilter/filtered": 1}
	for k, v := range want {
		if got := stats.Int(st, k); got != v {
			t.Errorf("%s = %d, want %d", k, got, v)
		}
	}
}
