package redisq

// Throughput (issue #20): the per-page cost of Redis mode is round trips
// and script runs. Four things keep it small without weakening a promise:
//
//   - a per-worker cache of fingerprints Redis has confirmed are in the
//     dupefilter (seenCache): a hit is a certain duplicate (the dupefilter
//     only grows), so it never goes to Redis; a miss still asks Redis;
//   - EnqueueBatch (scheduler.BatchEnqueuer): a callback's requests in one
//     script call, the dupefilter test-and-set and the queue write still
//     atomic together;
//   - AckBatch (the engine's BatchAcker): a group commit's acknowledgements,
//     each with its items and fencing check, in one script call;
//   - Next leases up to Options.LeaseBatch requests per script call (within
//     MaxLeases) and hands them out one by one.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// DefaultSeenCache is Options.SeenCache when zero: fingerprints a worker
// remembers (about 40 B each, so ~5 MB).
const DefaultSeenCache = 131072

// maxBatch bounds the requests (or acknowledgements) of one script call, so
// one script never runs long and blocks the server for other workers.
const maxBatch = 256

// seenCache is a bounded set of fingerprints known to be in the shared
// dupefilter: two generations of maps, the older dropped when the newer
// fills half the capacity (a fingerprint used again moves to the newer).
type seenCache struct {
	mu       sync.Mutex
	cur, old map[[16]byte]struct{}
	half     int
}

func newSeenCache(size int) *seenCache {
	if size <= 0 {
		return nil
	}
	half := max(size/2, 1)
	return &seenCache{cur: make(map[[16]byte]struct{}, half), half: half}
}

// has reports whether fp is known to be in the dupefilter.
func (c *seenCache) has(fp [16]byte) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.cur[fp]; ok {
		return true
	}
	if _, ok := c.old[fp]; ok {
		c.addLocked(fp)
		return true
	}
	return false
}

// add records that fp is in the dupefilter (Redis said so).
func (c *seenCache) add(fp [16]byte) {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.addLocked(fp)
	c.mu.Unlock()
}

func (c *seenCache) addLocked(fp [16]byte) {
	c.cur[fp] = struct{}{}
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[[16]byte]struct{}, c.half)
	}
}

// cachedDuplicate counts a request the seen cache filtered: the shared
// dupefilter/filtered counter gets it with the next batch script.
func (s *Scheduler) cachedDuplicate() {
	s.filteredLocal.Add(1)
	if st := s.opts.Stats; st != nil {
		st.Inc(stats.DupefilterFiltered, 1)
		st.Inc("redis/dupefilter_cache_hits", 1)
	}
}

// EnqueueBatch implements scheduler.BatchEnqueuer: it enqueues reqs as
// Enqueue would one by one, in one script call per maxBatch requests. The
// dupefilter test-and-set and the queue write of each request stay one
// atomic step (the whole batch is), duplicates inside the batch are found
// (the first one is enqueued), and the added requests keep their order.
// A start request (one carrying a task entry's lease) goes through Enqueue.
func (s *Scheduler) EnqueueBatch(ctx context.Context, reqs []*crawl.Request) []scheduler.Enqueued {
	out := make([]scheduler.Enqueued, len(reqs))
	type pending struct {
		i    int
		r    *crawl.Request
		body []byte
		fp   [16]byte
	}
	var batch []pending
	inBatch := map[[16]byte]bool{}
	flush := func() {
		if len(batch) == 0 {
			return
		}
		rs := make([]*crawl.Request, len(batch))
		bodies := make([][]byte, len(batch))
		fps := make([][16]byte, len(batch))
		for j, p := range batch {
			rs[j], bodies[j], fps[j] = p.r, p.body, p.fp
		}
		added, err := s.enqueueChunk(ctx, rs, bodies, fps)
		for j, p := range batch {
			out[p.i] = scheduler.Enqueued{Err: err}
			if err == nil {
				out[p.i].Added = added[j]
			}
		}
		batch = batch[:0]
		clear(inBatch)
	}
	for i, r := range reqs {
		if l, _ := r.Lease.(*Lease); l != nil && l.s == s && l.start {
			flush()
			ok, err := s.Enqueue(ctx, r)
			out[i] = scheduler.Enqueued{Added: ok, Err: err}
			continue
		}
		if r.Local != nil {
			out[i].Err = fmt.Errorf("redisq: enqueue %s: %w (a callback must be an exported function named by string and meta must hold JSON values, not a ResultHolder)", r.URL, ErrLocalRequest)
			continue
		}
		var fp [16]byte
		if !r.DontFilter {
			fp = s.opts.Fingerprint(r)
			if inBatch[fp] || s.seen.has(fp) {
				s.cachedDuplicate()
				continue
			}
		}
		body, err := json.Marshal(r)
		if err != nil {
			out[i].Err = fmt.Errorf("redisq: enqueue %s: request is not serializable to JSON: %w", r.URL, err)
			continue
		}
		if !r.DontFilter {
			inBatch[fp] = true
		}
		batch = append(batch, pending{i: i, r: r, body: body, fp: fp})
		if len(batch) == maxBatch {
			flush()
		}
	}
	flush()
	return out
}

// enqueueChunk runs the batch enqueue script for at most maxBatch requests
// and reports which were added.
func (s *Scheduler) enqueueChunk(ctx context.Context, rs []*crawl.Request, bodies [][]byte, fps [][16]byte) ([]bool, error) {
	bloom := s.opts.Dupefilter == DupefilterBloom
	per := 4
	if bloom {
		per = 3 + s.bloom.k
	}
	filtered := s.filteredLocal.Swap(0)
	args := make([]any, 0, 2+per*len(rs))
	args = append(args, filtered)
	if bloom {
		args = append(args, s.bloom.k)
	}
	for j, r := range rs {
		args = append(args, boolArg(r.DontFilter), strconv.Itoa(-r.Priority), bodies[j])
		switch {
		case bloom && r.DontFilter:
			for range s.bloom.k {
				args = append(args, "")
			}
		case bloom:
			args = append(args, s.bloom.offsets(fps[j])...)
		default:
			args = append(args, fps[j][:])
		}
	}
	script := scriptEnqueueBatchExact
	if bloom {
		script = scriptEnqueueBatchBloom
	}
	var res []int64
	err := s.retry.do(ctx, "enqueue", func(ctx context.Context) error {
		var err error
		res, err = s.run(ctx, script, []string{s.keys.requests, s.keys.seq, s.keys.stats, s.keys.activity,
			s.keys.dupefilter}, args...).Int64Slice()
		return err
	})
	if err == nil && len(res) != len(rs) {
		err = fmt.Errorf("redisq: enqueue batch: %d results for %d requests", len(res), len(rs))
	}
	if err != nil {
		s.filteredLocal.Add(filtered)
		return nil, err
	}
	added := make([]bool, len(rs))
	var n int64
	for j, r := range rs {
		added[j] = res[j] == 1
		if !r.DontFilter {
			// Added or found: either way the fingerprint is in the
			// dupefilter now.
			s.seen.add(fps[j])
		}
		if added[j] {
			n++
			s.noteEnqueued(r)
		}
	}
	if st := s.opts.Stats; st != nil {
		st.Inc(stats.SchedulerEnqueued, n)
		st.Inc("scheduler/enqueued/redis", n)
		st.Inc(stats.DupefilterFiltered, int64(len(rs))-n)
	}
	return added, nil
}

// AckBatch implements the engine's BatchAcker: it acknowledges reqs (see
// Ack) in one script call per maxBatch leases, each lease checked,
// committed with its items and released on its own, exactly as Ack does.
// The error joins those of the requests whose ack failed (ErrLeaseLost for
// a fenced one).
func (s *Scheduler) AckBatch(ctx context.Context, reqs []*crawl.Request) error {
	type ack struct {
		r       *crawl.Request
		l       *Lease
		release bool
		items   [][]byte
	}
	var acks []ack
	var errs []error
	for _, r := range reqs {
		l, _ := r.Lease.(*Lease)
		if l == nil || l.s != s {
			continue
		}
		release := l.releaseOne()
		items := l.takeItems()
		if !release && len(items) == 0 {
			continue
		}
		if l.isLost() {
			if release {
				s.forget(l)
			}
			errs = append(errs, fmt.Errorf("redisq: ack %s: %w: lease %s expired before the ack (the request was redelivered; %d items not written)", r.URL, ErrLeaseLost, l.id, len(items)))
			continue
		}
		acks = append(acks, ack{r: r, l: l, release: release, items: items})
	}
	itemsKey := s.keys.items
	for len(acks) > 0 {
		chunk := acks[:min(len(acks), maxBatch)]
		acks = acks[len(chunk):]
		// Unique to this chunk and the same for its retries: the script
		// answers a retry whose first reply was lost from its marker.
		args := []any{s.opts.WorkerID, s.opts.WorkerID + ":" + strconv.FormatUint(s.ackBatches.Add(1), 10)}
		for _, a := range chunk {
			items := a.items
			if itemsKey == "" {
				items = nil
			}
			args = append(args, a.l.id, boolArg(a.release), len(items))
			for _, it := range items {
				args = append(args, it)
			}
		}
		key := itemsKey
		if key == "" {
			key = s.keys.prefix + ":items"
		}
		var res []int64
		err := s.retry.do(ctx, "ack", func(ctx context.Context) error {
			var err error
			res, err = s.run(ctx, scriptAckBatch, []string{s.keys.leases, s.keys.deadlines, key, s.keys.stats,
				s.keys.activity}, args...).Int64Slice()
			return err
		})
		if err == nil && len(res) != len(chunk) {
			err = fmt.Errorf("%d results for %d acknowledgements", len(res), len(chunk))
		}
		pushed := 0
		for j, a := range chunk {
			if a.release {
				s.forget(a.l)
			}
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("redisq: ack %s: %w", a.r.URL, err))
			case res[j] == 0:
				s.log.Warn("late ack rejected: the lease expired and the request was redelivered", "lease", a.l.id, "items_discarded", len(a.items))
				if st := s.opts.Stats; st != nil {
					st.Inc("redis/leases_fenced", 1)
				}
				errs = append(errs, fmt.Errorf("redisq: ack %s: %w: lease %s was reclaimed (%d items not written)", a.r.URL, ErrLeaseLost, a.l.id, len(a.items)))
			case itemsKey != "":
				pushed += len(a.items)
			}
		}
		if st := s.opts.Stats; st != nil && pushed > 0 {
			st.Inc("redis/items_pushed", int64(pushed))
		}
	}
	return errors.Join(errs...)
}

// noteEnqueued marks the requests leased ahead stale when r, queued by this
// worker, must come before one of them: the next Next returns them to the
// queue (same place) in the script that leases the next batch.
func (s *Scheduler) noteEnqueued(r *crawl.Request) {
	s.mu.Lock()
	for _, a := range s.ahead {
		if r.Priority > a.Priority {
			s.aheadStale = true
			break
		}
	}
	s.mu.Unlock()
}

// popAhead hands out the next request leased ahead whose lease is still
// held, or nil.
func (s *Scheduler) popAhead() *crawl.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aheadStale {
		return nil
	}
	for len(s.ahead) > 0 {
		r := s.ahead[0]
		s.ahead[0] = nil
		s.ahead = s.ahead[1:]
		if l, _ := r.Lease.(*Lease); l != nil && !l.isLost() {
			return r
		}
	}
	return nil
}

// takeStale empties the read-ahead when a request of higher priority was
// queued meanwhile and returns the ids of its leases (to be returned to
// the queue); their places are still counted as held.
func (s *Scheduler) takeStale() []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.aheadStale {
		return nil
	}
	s.aheadStale = false
	var ids []any
	for _, r := range s.ahead {
		if l, _ := r.Lease.(*Lease); l != nil {
			ids = append(ids, l.id)
		}
	}
	s.ahead = nil
	return ids
}
