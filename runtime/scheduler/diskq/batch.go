package diskq

// Throughput (issue #20): with a JOBDIR every enqueue used to be a read
// transaction (the dupefilter test) and, for a new request, a write
// transaction on the JS loop, for each request a callback yields (13 per
// page on the crawl benchmark, about one of them new). Two things cut that
// without weakening the guarantee (every change is still one bbolt
// transaction, written to the kernel before the call returns):
//
//   - EnqueueBatch (scheduler.BatchEnqueuer): the engine hands over a
//     callback's requests together when it returns, off the JS loop, and
//     they are tested and stored in one write transaction (none when all
//     are duplicates);
//   - seenCache: fingerprints known to be in the seen bucket, which only
//     grows while the directory is open, so a hit is a certain duplicate
//     that needs no transaction at all.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// seenCacheSize bounds the fingerprints remembered (about 40 B each with
// the maps' overhead, so ~5 MB at most); a miss only costs a bbolt lookup.
const seenCacheSize = 131072

// seenCache is a bounded set of fingerprints known to be in the seen
// bucket: two generations of maps, the older dropped when the newer fills
// half the capacity (a fingerprint found again moves to the newer). Guarded
// by Scheduler.mu.
type seenCache struct {
	cur, old map[[16]byte]struct{}
	half     int
}

func newSeenCache(size int) seenCache {
	half := max(size/2, 1)
	return seenCache{cur: make(map[[16]byte]struct{}, 1024), half: half}
}

func (c *seenCache) has(fp [16]byte) bool {
	if _, ok := c.cur[fp]; ok {
		return true
	}
	if _, ok := c.old[fp]; ok {
		c.add(fp)
		return true
	}
	return false
}

func (c *seenCache) add(fp [16]byte) {
	c.cur[fp] = struct{}{}
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[[16]byte]struct{}, 1024)
	}
}

// errNoChange rolls back a write transaction that found nothing to write.
var errNoChange = errors.New("diskq: nothing to write")

// EnqueueBatch implements scheduler.BatchEnqueuer: it enqueues reqs as
// Enqueue would one by one, in at most one write transaction. A batch
// holding a request that cannot be serialized goes one by one (its
// memory-only key depends on the disk sequence at its place in the order).
func (s *Scheduler) EnqueueBatch(ctx context.Context, reqs []*crawl.Request) []scheduler.Enqueued {
	res := make([]scheduler.Enqueued, len(reqs))
	bodies := make([][]byte, len(reqs))
	fps := make([][16]byte, len(reqs))
	for i, r := range reqs {
		if r == nil {
			res[i].Err = errors.New("diskq: enqueue nil request")
			continue
		}
		if r.Local != nil {
			return s.enqueueEach(ctx, reqs)
		}
		if !r.DontFilter {
			fps[i] = s.opts.Fingerprint(r)
		}
	}
	var slotOf []string // each request's slot (per-slot queues)
	if s.opts.SlotKey != nil {
		slotOf = make([]string, len(reqs))
		for i, r := range reqs {
			if r != nil {
				slotOf[i] = s.slotOf(r)
			}
		}
	}

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		for i, r := range reqs {
			if r != nil {
				res[i].Err = fmt.Errorf("enqueue %s: %w", r.URL, scheduler.ErrClosed)
			}
		}
		return res
	}
	// Requests the memory state already answers: nil requests, duplicates
	// of memory-only requests, cache hits. The others go to the transaction.
	dup := make([]bool, len(reqs))
	var toDisk []int
	for i, r := range reqs {
		if r == nil {
			continue
		}
		if !r.DontFilter {
			if _, ok := s.localSeen[fps[i]]; ok || s.seenCache.has(fps[i]) {
				dup[i] = true
				continue
			}
		}
		toDisk = append(toDisk, i)
	}
	// Only what the transaction may store is encoded: most of a page's
	// links are duplicates the cache answers.
	for _, i := range toDisk {
		var err error
		if bodies[i], err = json.Marshal(reqs[i]); err != nil {
			// Kept in memory only, which Enqueue decides request by
			// request; nothing has changed yet.
			s.mu.Unlock()
			return s.enqueueEach(ctx, reqs)
		}
	}
	var (
		added, newFps int
		seq           = s.seq
		known         [][16]byte // fingerprints found in or written to the bucket
		keys          [][16]byte // queue keys written
		look          filterLookups
		keySlots      []string // their slots (per-slot queues)
	)
	var commit error
	if len(toDisk) > 0 {
		commit = s.update(func(tx *bolt.Tx) error {
			// A retried function starts over: nothing below outlives a
			// rolled back transaction.
			added, newFps, seq, known, keys, look, keySlots = 0, 0, s.seq, known[:0], keys[:0], filterLookups{}, keySlots[:0]
			batchFps := make(map[[16]byte]struct{}, len(toDisk))
			meta, seen, q := tx.Bucket(bucketMeta), tx.Bucket(bucketSeen), tx.Bucket(bucketQueue)
			q.FillPercent = 0.9 // see Enqueue
			for _, i := range toDisk {
				r := reqs[i]
				dup[i] = false
				if !r.DontFilter {
					// Earlier requests of this batch are in batchFps: a
					// value-less key Put in this transaction reads back
					// as nil, like a missing one. The filter spares the
					// read for a fingerprint it has never seen.
					_, ok := batchFps[fps[i]]
					if !ok {
						if !s.filter.mayContain(fps[i]) {
							look.negative++
						} else if seen.Get(fps[i][:]) != nil {
							ok = true
						} else {
							look.falsePositive++
						}
					}
					if ok {
						dup[i] = true
						known = append(known, fps[i])
						continue
					}
					s.filterAdd(fps[i])
					if err := seen.Put(fps[i][:], nil); err != nil {
						return err
					}
					known = append(known, fps[i])
					batchFps[fps[i]] = struct{}{}
					newFps++
				}
				n, err := q.NextSequence()
				if err != nil {
					return err
				}
				seq = n
				k := queueKey(r.Priority, n)
				dst := q
				if slotOf != nil {
					var err error
					if dst, err = s.queueBucket(tx, slotOf[i]); err != nil {
						return err
					}
					keySlots = append(keySlots, slotOf[i])
				}
				if err := dst.Put(k[:], bodies[i]); err != nil {
					return err
				}
				keys = append(keys, k)
				added++
			}
			if added == 0 {
				return errNoChange
			}
			if newFps > 0 {
				if err := putCount(meta, metaSeen, s.seen+newFps); err != nil {
					return err
				}
			}
			return putCount(meta, metaPending, s.pending+added)
		})
		if errors.Is(commit, errNoChange) {
			commit = nil
		}
	}
	if commit != nil {
		s.mu.Unlock()
		// Nothing of the transaction was stored: every request that
		// needed it failed; the ones memory answered stand.
		for _, i := range toDisk {
			res[i].Err = fmt.Errorf("enqueue %s: %w", reqs[i].URL, s.writeErr(commit))
		}
		for i := range reqs {
			if dup[i] && res[i].Err == nil {
				s.dups.Filtered(reqs[i])
			}
		}
		return res
	}
	for _, fp := range known {
		s.seenCache.add(fp)
	}
	for i, k := range keys {
		if s.slots != nil {
			s.slotQueued(keySlots[i], k)
		} else {
			s.queued(k)
		}
	}
	s.pending += added
	s.seen += newFps
	s.seq = seq
	s.mu.Unlock()
	s.countLookups(look)

	for i, r := range reqs {
		switch {
		case r == nil:
		case dup[i]:
			s.dups.Filtered(r)
		default:
			res[i].Added = true
		}
	}
	if st := s.opts.Stats; st != nil && added > 0 {
		st.Inc(stats.SchedulerEnqueued, int64(added))
		st.Inc(StatEnqueuedDisk, int64(added))
	}
	return res
}

// enqueueEach is EnqueueBatch one request at a time.
func (s *Scheduler) enqueueEach(ctx context.Context, reqs []*crawl.Request) []scheduler.Enqueued {
	res := make([]scheduler.Enqueued, len(reqs))
	for i, r := range reqs {
		res[i].Added, res[i].Err = s.Enqueue(ctx, r)
	}
	return res
}
