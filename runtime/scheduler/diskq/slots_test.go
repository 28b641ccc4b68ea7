package diskq

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/schedulertest"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func hostSlot(r *crawl.Request) string {
	u, err := r.ParsedURL()
	if err != nil {
		return ""
	}
	return u.Hostname()
}

func TestConformancePerSlot(t *testing.T) {
	t.Parallel()
	schedulertest.Run(t, func(t *testing.T) scheduler.Scheduler {
		s, err := Open(t.TempDir(), Options{Spider: "conformance", SlotKey: hostSlot})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestConformancePersistentPerSlot(t *testing.T) {
	t.Parallel()
	schedulertest.RunPersistent(t, func(t *testing.T) func() scheduler.Scheduler {
		dir := t.TempDir()
		return func() scheduler.Scheduler {
			s, err := Open(dir, Options{Spider: "conformance", SlotKey: hostSlot})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			return s
		}
	})
}

type fixedView struct {
	blocked map[string]bool
	active  map[string]int
}

func (v fixedView) Blocked(k string) bool { return v.blocked[k] }
func (v fixedView) Active(k string) int   { return v.active[k] }

// TestPerSlotOrderLikeMemory: the JOBDIR's per-slot queues hand out
// exactly what the memory scheduler's do, take by take, under random
// enqueues (single and batched, random hosts and priorities, some
// memory-only requests), takes with random blocked slots and active
// counts, and acks — windows, a higher priority enqueued behind a filled
// window, emptied slot buckets included.
func TestPerSlotOrderLikeMemory(t *testing.T) {
	t.Parallel()
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 21))
			d := mustOpen(t, t.TempDir(), Options{SlotKey: hostSlot})
			defer closeS(t, d, "finished")
			m := scheduler.NewMemory(scheduler.MemoryOptions{SlotKey: hostSlot})
			hosts := []string{"a.test", "b.test", "c.test", "d.test", "e.test", "f.test"}
			i := 0
			mk := func() *crawl.Request {
				i++
				h := hosts[rng.IntN(len(hosts))]
				r := &crawl.Request{URL: fmt.Sprintf("http://%s/%d", h, i), Priority: rng.IntN(4) - 1}
				if rng.IntN(20) == 0 {
					r.Local = struct{}{} // kept in memory only
				}
				return r
			}
			var held []*crawl.Request
			for op := range 3000 {
				switch x := rng.IntN(10); {
				case x < 3:
					r := mk()
					ok1, err1 := d.Enqueue(t.Context(), r)
					ok2, err2 := m.Enqueue(t.Context(), r)
					if err1 != nil || err2 != nil || ok1 != ok2 {
						t.Fatalf("op %d: enqueue %s: disk %v %v, memory %v %v", op, r.URL, ok1, err1, ok2, err2)
					}
				case x < 5:
					batch := []*crawl.Request{mk(), mk(), mk()}
					for j, res := range d.EnqueueBatch(t.Context(), batch) {
						if res.Err != nil || !res.Added {
							t.Fatalf("op %d: batch %s: %+v", op, batch[j].URL, res)
						}
						if _, err := m.Enqueue(t.Context(), batch[j]); err != nil {
							t.Fatal(err)
						}
					}
				default:
					v := fixedView{blocked: map[string]bool{}, active: map[string]int{}}
					for _, h := range hosts {
						if rng.IntN(4) == 0 {
							v.blocked[h] = true
						}
						v.active[h] = rng.IntN(3)
					}
					got, err := d.NextHost(t.Context(), v)
					if err != nil {
						t.Fatalf("op %d: disk NextHost: %v", op, err)
					}
					want, err := m.NextHost(t.Context(), v)
					if err != nil {
						t.Fatal(err)
					}
					if (got == nil) != (want == nil) || (got != nil && got.URL != want.URL) {
						t.Fatalf("op %d: disk took %v, memory %v (view %v)", op, got, want, v)
					}
					if got != nil {
						held = append(held, got)
					}
					if len(held) > 4 {
						if err := d.Ack(t.Context(), held[0]); err != nil {
							t.Fatal(err)
						}
						held = held[1:]
					}
				}
				n1, _ := d.Len(t.Context())
				n2, _ := m.Len(t.Context())
				if n1 != n2 {
					t.Fatalf("op %d: Len disk %d, memory %d", op, n1, n2)
				}
			}
			for {
				got, err := d.Next(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				want, _ := m.Next(t.Context())
				if (got == nil) != (want == nil) || (got != nil && got.URL != want.URL) {
					t.Fatalf("drain: disk %v, memory %v", got, want)
				}
				if got == nil {
					break
				}
			}
		})
	}
}

// TestPerSlotPauseResume: a pause puts the windows back, a resume keeps
// every pending request, each slot's order, and the requests left in
// flight; a JOBDIR written with per-slot queues resumes with the global
// queue (and back) in the global queue's order.
func TestPerSlotPauseResume(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{SlotKey: hostSlot})
	for i := range 40 {
		enqueue(t, s, &crawl.Request{URL: fmt.Sprintf("http://h%d.test/%d", i%4, i), Priority: i % 3}, true)
	}
	var inFlight []string
	for range 6 {
		inFlight = append(inFlight, next(t, s).URL) // never acked
	}
	if n := s.InFlight(); n != 6 {
		t.Fatalf("InFlight = %d, want 6 (windows are not in flight)", n)
	}
	closeS(t, s, "shutdown")

	// With the global queue: every request, in priority then FIFO order.
	g := mustOpen(t, dir, Options{})
	if n, _ := g.Len(t.Context()); n != 40 {
		t.Fatalf("Len after resume = %d, want 40", n)
	}
	var want []string
	for p := 2; p >= 0; p-- {
		for i := range 40 {
			if i%3 == p {
				want = append(want, fmt.Sprintf("http://h%d.test/%d", i%4, i))
			}
		}
	}
	for i := range 10 {
		if r := next(t, g); r.URL != want[i] {
			t.Fatalf("global take %d = %s, want %s", i, r.URL, want[i])
		}
	}
	closeS(t, g, "shutdown")

	// Back to per-slot queues: within each slot, priority then FIFO.
	s = mustOpen(t, dir, Options{SlotKey: hostSlot})
	defer closeS(t, s, "finished")
	got := drain(t, s)
	if len(got) != 40 {
		t.Fatalf("drained %d, want 40", len(got))
	}
	last := map[string]int{}
	pos := map[string]int{}
	for i, u := range want {
		pos[u] = i
	}
	for _, u := range got {
		r := &crawl.Request{URL: u}
		h := hostSlot(r)
		if p, ok := last[h]; ok && pos[u] < p {
			t.Fatalf("%s out of its slot's order in %v", u, got)
		}
		last[h] = pos[u]
	}
}

// TestConvertInChunks converts a JOBDIR between the two modes several
// requests per transaction (the chunk made small): nothing is lost, the
// counters hold, and each mode's order is kept. Not parallel: it sets
// convertChunk.
func TestConvertInChunks(t *testing.T) {
	defer func(n int) { convertChunk = n }(convertChunk)
	convertChunk = 7
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	var want []string
	for i := range 50 {
		u := fmt.Sprintf("http://h%d.test/%d", i%6, i)
		want = append(want, u)
		enqueue(t, s, &crawl.Request{URL: u}, true)
	}
	closeS(t, s, "shutdown")
	for round, perSlot := range []bool{true, false, true} {
		o := Options{}
		if perSlot {
			o.SlotKey = hostSlot
		}
		s := mustOpen(t, dir, o)
		checkCounters(t, s)
		if n, _ := s.Len(t.Context()); n != 50 {
			t.Fatalf("round %d: Len = %d, want 50", round, n)
		}
		closeS(t, s, "shutdown")
	}
	s = mustOpen(t, dir, Options{})
	defer closeS(t, s, "finished")
	if got := drain(t, s); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the conversions the global queue gives %v\nwant %v", got, want)
	}
}

// TestVersion1Upgraded: a version 1 directory (no per-slot buckets) opens,
// keeps its queue, and is marked version 2 so that an older build, which
// would not see the slot buckets, refuses it.
func TestVersion1Upgraded(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := mustOpen(t, dir, Options{})
	enqueue(t, s, &crawl.Request{URL: "http://a.test/1"}, true)
	closeS(t, s, "shutdown")
	db, err := bolt.Open(filepath.Join(dir, DBFile), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketSlots); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(metaFormat, []byte("1"))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = mustOpen(t, dir, Options{SlotKey: hostSlot})
	if got := drain(t, s); len(got) != 1 || got[0] != "http://a.test/1" {
		t.Fatalf("version 1 queue read as %v", got)
	}
	_ = s.view(func(tx *bolt.Tx) error {
		if v := string(tx.Bucket(bucketMeta).Get(metaFormat)); v != "2" {
			t.Errorf("format after open = %q, want 2", v)
		}
		return nil
	})
	closeS(t, s, "finished")
}

// TestPerSlotTakesBatched: taking round-robin over 200 hosts still moves
// about ReadAhead requests per transaction (the heads of the slots taken
// next are read ahead with the one asked for), as the global queue does,
// instead of one transaction per take; the windows stay within
// windowBudget.
func TestPerSlotTakesBatched(t *testing.T) {
	t.Parallel()
	st := stats.NewMemory()
	s := mustOpen(t, t.TempDir(), Options{SlotKey: hostSlot, Stats: st})
	defer closeS(t, s, "finished")
	const n, hosts = 2000, 200
	for i := 0; i < n; i += 10 {
		var b []*crawl.Request
		for j := i; j < i+10; j++ {
			b = append(b, &crawl.Request{URL: fmt.Sprintf("http://h%d.test/%d", j%hosts, j)})
		}
		for _, r := range s.EnqueueBatch(t.Context(), b) {
			if r.Err != nil || !r.Added {
				t.Fatalf("%+v", r)
			}
		}
	}
	before := stats.Int(st, StatCommits)
	seen := map[string]bool{}
	for range n {
		r := next(t, s)
		if seen[r.URL] {
			t.Fatalf("%s taken twice", r.URL)
		}
		seen[r.URL] = true
		if s.window > windowBudget {
			t.Fatalf("windows hold %d requests, over %d", s.window, windowBudget)
		}
	}
	takes := stats.Int(st, StatCommits) - before
	if max := int64(2 * n / ReadAhead); takes > max {
		t.Errorf("%d transactions for %d takes over %d hosts, want at most %d", takes, n, hosts, max)
	}
	t.Logf("%d takes over %d hosts: %d transactions", n, hosts, takes)
}
