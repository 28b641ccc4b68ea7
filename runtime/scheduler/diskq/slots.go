package diskq

// Per-slot queues (issue #21 part 2, SCHEDULER_PRIORITY_QUEUE
// DownloaderAwarePriorityQueue): with Options.SlotKey each download slot
// has its own queue, a bucket of its own under "slots" (same keys and
// values as the global "queue" bucket: the sequence stays global, so a
// request's key is unique across slots and the in-flight bucket is
// shared). The queue stays on disk; memory holds, per slot, its count, its
// smallest key on disk, and a window of at most ReadAhead requests moved
// to the in-flight bucket and not handed out (all slots' windows together
// at most windowBudget), plus its memory-only requests. The slots are
// ordered by a scheduler.SlotRing, as Memory's are.
//
// The guarantees are the global queue's: a request is always in exactly
// one of its slot's bucket and the in-flight bucket, every move is one
// transaction, Open puts in-flight requests back in their slot's bucket
// (decoding them for their slot key), and a pause puts the windows back.
// A JOBDIR written with the other mode is converted at Open.

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

var bucketSlots = []byte("slots")

// windowBudget bounds the requests all slots' windows hold (their bodies
// in memory, ~300 B each); beyond it a slot's take moves one request.
const windowBudget = nextBatchMax

// diskSlot is one slot's in-memory state. Guarded by Scheduler.mu.
type diskSlot struct {
	key    string
	ondisk int      // requests in its bucket
	head   [16]byte // its bucket's smallest key, when ondisk > 0
	// win holds its requests taken from the bucket (in the in-flight
	// bucket) or kept in memory only, not handed out, in queue order.
	win []slotEntry
}

type slotEntry struct {
	key   [16]byte
	n     uint64 // order among memory-only entries of one key
	body  []byte // a disk request's JSON
	local *localEntry
}

// before orders a slot's entries: by key, and a memory-only request after
// the disk request whose sequence it was keyed with (see Enqueue).
func (a slotEntry) before(b slotEntry) bool {
	if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
		return c < 0
	}
	if (a.local == nil) != (b.local == nil) {
		return a.local == nil
	}
	return a.n < b.n
}

func slotBucketName(key string) []byte { return append([]byte("s"), key...) }

// keyPrio is the priority a queue key was made with (queueKey's inverse).
func keyPrio(k [16]byte) int {
	return int(int64(^binary.BigEndian.Uint64(k[:8]) ^ 1<<63))
}

// headKey is the slot's smallest key, on disk or in its window.
func (sl *diskSlot) headKey() ([16]byte, bool) {
	switch {
	case len(sl.win) > 0 && (sl.ondisk == 0 || bytes.Compare(sl.win[0].key[:], sl.head[:]) < 0):
		return sl.win[0].key, true
	case sl.ondisk > 0:
		return sl.head, true
	}
	return [16]byte{}, false
}

// slotOf returns the slot key of a request (Options.SlotKey).
func (s *Scheduler) slotOf(r *crawl.Request) string { return s.opts.SlotKey(r) }

// queueBucket is the bucket a new request of slot goes to in tx.
func (s *Scheduler) queueBucket(tx *bolt.Tx, slot string) (*bolt.Bucket, error) {
	if s.slots == nil {
		return tx.Bucket(bucketQueue), nil
	}
	b, err := tx.Bucket(bucketSlots).CreateBucketIfNotExists(slotBucketName(slot))
	if err != nil {
		return nil, err
	}
	b.FillPercent = 0.9 // keys grow within a priority, as in the queue
	return b, nil
}

// slotQueued records key put in slot's bucket. Callers hold s.mu.
func (s *Scheduler) slotQueued(slot string, k [16]byte) {
	sl := s.slot(slot)
	if sl.ondisk == 0 || bytes.Compare(k[:], sl.head[:]) < 0 {
		sl.head = k
	}
	sl.ondisk++
	s.slots.Raise(slot, sl, keyPrio(k))
}

func (s *Scheduler) slot(key string) *diskSlot {
	sl, ok := s.slots.Get(key)
	if !ok {
		sl = &diskSlot{key: key}
	}
	return sl
}

// slotLocal queues a memory-only request in its slot's window.
func (s *Scheduler) slotLocal(slot string, e localEntry) {
	sl := s.slot(slot)
	le := e
	se := slotEntry{key: e.key, n: e.n, local: &le}
	i, _ := slices.BinarySearchFunc(sl.win, se, func(a, b slotEntry) int {
		if a.before(b) {
			return -1
		}
		return 1
	})
	sl.win = slices.Insert(sl.win, i, se)
	s.slotLocals++
	s.slots.Raise(slot, sl, keyPrio(e.key))
}

// NextHost implements scheduler.HostNexter. Without per-slot queues it is
// Next.
func (s *Scheduler) NextHost(ctx context.Context, view scheduler.SlotView) (*crawl.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, scheduler.ErrClosed
	}
	if s.slots == nil {
		return s.nextLocked(ReadAhead)
	}
	return s.nextSlotLocked(view)
}

// nextSlotLocked takes the head of the slot HostNexter's rule picks.
// Callers hold s.mu.
func (s *Scheduler) nextSlotLocked(view scheduler.SlotView) (*crawl.Request, error) {
	if s.pending == 0 && s.slotLocals == 0 && s.window == 0 {
		return nil, nil
	}
	key, sl, ok := s.slots.Pick(view)
	if !ok {
		return nil, nil
	}
	if len(sl.win) == 0 || (sl.ondisk > 0 && !sl.win[0].before(slotEntry{key: sl.head})) {
		// The bucket's head goes first: fill an empty window, or move
		// the one head that sorts before the window's (a higher priority
		// enqueued since the window was filled).
		plan := []fill{{sl, 1}}
		if len(sl.win) == 0 {
			plan = s.fillPlan(sl)
		}
		if err := s.fillSlots(plan); err != nil {
			return nil, fmt.Errorf("next: %w", s.writeErr(err))
		}
	}
	e := sl.win[0]
	sl.win[0] = slotEntry{}
	sl.win = sl.win[1:]
	if len(sl.win) == 0 {
		sl.win = nil
	}
	if hk, ok := sl.headKey(); ok {
		s.slots.Served(key, keyPrio(hk), false)
	} else {
		s.slots.Served(key, 0, true)
	}
	if e.local != nil {
		s.slotLocals--
		r := e.local.r
		r.Lease = &lease{key: e.key, local: true, fp: e.local.fp, dedup: !r.DontFilter}
		s.countDequeue(true)
		return r, nil
	}
	s.window--
	r := new(crawl.Request)
	if err := json.Unmarshal(e.body, r); err != nil {
		return nil, fmt.Errorf("jobdir %s: %w %x: %w", s.dir, errDecode, e.key, err)
	}
	r.Lease = &lease{key: e.key}
	s.countDequeue(false)
	return r, nil
}

// fill is how many requests of a slot's bucket one transaction moves to
// its window.
type fill struct {
	sl *diskSlot
	n  int
}

// fillPlan is what the transaction that fills sl's empty window moves:
// ReadAhead requests in all (the windows together never above
// windowBudget), so that takes cost one transaction per ReadAhead however
// the hosts alternate. Each slot gets windowBudget / slots requests
// (between 1 and ReadAhead), sl first, then the slots with empty windows
// that plain takes would reach next (SlotRing.Upcoming).
func (s *Scheduler) fillPlan(sl *diskSlot) []fill {
	per := min(max(windowBudget/max(s.slots.Len(), 1), 1), ReadAhead)
	room := max(min(ReadAhead, windowBudget-s.window), 1)
	plan := []fill{{sl, min(per, sl.ondisk, room)}}
	room -= plan[0].n
	s.slots.Upcoming(func(_ string, o *diskSlot) bool {
		if room <= 0 {
			return false
		}
		if o != sl && len(o.win) == 0 && o.ondisk > 0 {
			n := min(per, o.ondisk, room)
			plan = append(plan, fill{o, n})
			room -= n
		}
		return true
	})
	return plan
}

// fillSlots moves, in one transaction, the first n requests of each
// planned slot's bucket to the in-flight bucket and merges them into its
// window; an emptied bucket is deleted.
func (s *Scheduler) fillSlots(plan []fill) error {
	moved := make([][]slotEntry, len(plan))
	nexts := make([][]byte, len(plan))
	total := 0
	for _, f := range plan {
		total += f.n
	}
	err := s.update(func(tx *bolt.Tx) error {
		slots, inf := tx.Bucket(bucketSlots), tx.Bucket(bucketInflight)
		for i, f := range plan {
			sl := f.sl
			moved[i], nexts[i] = nil, nil
			b := slots.Bucket(slotBucketName(sl.key))
			if b == nil {
				return fmt.Errorf("slot %q has no bucket but a count of %d (corrupt counter)", sl.key, sl.ondisk)
			}
			// Keys and values are copied before the first change: a
			// change may move the pages the cursor reads from.
			c := b.Cursor()
			k, v := c.First()
			for ; k != nil && len(moved[i]) < f.n; k, v = c.Next() {
				e := slotEntry{body: bytes.Clone(v)}
				copy(e.key[:], k)
				moved[i] = append(moved[i], e)
			}
			nexts[i] = bytes.Clone(k)
			if len(moved[i]) < f.n {
				return fmt.Errorf("slot %q holds fewer requests than its count (corrupt counter)", sl.key)
			}
			for _, e := range moved[i] {
				if err := b.Delete(e.key[:]); err != nil {
					return err
				}
				if err := inf.Put(e.key[:], e.body); err != nil {
					return err
				}
			}
			if nexts[i] == nil {
				if err := slots.DeleteBucket(slotBucketName(sl.key)); err != nil {
					return err
				}
			}
		}
		return putCount(tx.Bucket(bucketMeta), metaPending, s.pending-total)
	})
	if err != nil {
		return err
	}
	s.pending -= total
	s.inflight += total
	s.window += total
	for i, f := range plan {
		sl := f.sl
		sl.ondisk -= f.n
		if nexts[i] != nil {
			copy(sl.head[:], nexts[i])
		}
		// Every entry moved sorts before what is left in the bucket;
		// memory-only entries interleave by key.
		sl.win = mergeEntries(moved[i], sl.win)
	}
	return nil
}

func mergeEntries(a, b []slotEntry) []slotEntry {
	out := make([]slotEntry, 0, len(a)+len(b))
	for len(a) > 0 && len(b) > 0 {
		if a[0].before(b[0]) {
			out, a = append(out, a[0]), a[1:]
		} else {
			out, b = append(out, b[0]), b[1:]
		}
	}
	return append(append(out, a...), b...)
}

// nextSlotBatch is NextBatch with per-slot queues: n takes with nothing
// blocked.
func (s *Scheduler) nextSlotBatch(n int) ([]*crawl.Request, error) {
	var (
		out  []*crawl.Request
		errs []error
	)
	for len(out) < n {
		r, err := s.nextSlotLocked(nil)
		if err != nil {
			errs = append(errs, err)
			if r == nil && !errors.Is(err, errDecode) {
				break
			}
		}
		if r == nil {
			if err == nil {
				break
			}
			continue
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// unreadySlots puts the windows' disk requests back in their buckets at a
// pause (as unready does for the global queue). Memory-only requests are
// dropped by the caller.
func (s *Scheduler) unreadySlots() {
	if s.window == 0 {
		return
	}
	var all []*diskSlot
	for key := range s.slots.Keys() {
		if sl, ok := s.slots.Get(key); ok {
			all = append(all, sl)
		}
	}
	n := 0
	err := s.update(func(tx *bolt.Tx) error {
		n = 0
		inf := tx.Bucket(bucketInflight)
		for _, sl := range all {
			for _, e := range sl.win {
				if e.local != nil {
					continue
				}
				b, err := s.queueBucket(tx, sl.key)
				if err != nil {
					return err
				}
				if err := inf.Delete(e.key[:]); err != nil {
					return err
				}
				if err := b.Put(e.key[:], e.body); err != nil {
					return err
				}
				n++
			}
		}
		return putCount(tx.Bucket(bucketMeta), metaPending, s.pending+n)
	})
	if err != nil {
		s.log.Debug("jobdir: prefetched requests stay in flight until the next run", "jobdir", s.dir, "requests", s.window, "error", err)
		return
	}
	s.pending += n
	s.inflight -= n
	s.window = 0
}

// convertQueues converts the directory to the mode of this run: with
// per-slot queues, the global queue's requests (a JOBDIR of the other mode,
// or the in-flight requests Open just put back there) go to their slots'
// buckets; with the global queue, the slots' buckets are emptied into it.
// It returns errNoChange when there was nothing (more) to move.
func (s *Scheduler) convertQueues(tx *bolt.Tx) error {
	q, slots := tx.Bucket(bucketQueue), tx.Bucket(bucketSlots)
	if s.slots == nil {
		// Global queue: the slots' requests back into it, convertChunk
		// per transaction; an emptied slot bucket is deleted.
		var names [][]byte
		if err := slots.ForEachBucket(func(name []byte) error {
			names = append(names, bytes.Clone(name))
			return nil
		}); err != nil {
			return err
		}
		if len(names) == 0 {
			return errNoChange
		}
		moved := 0
		for _, name := range names {
			b := slots.Bucket(name)
			var keys [][]byte
			c := b.Cursor()
			k, v := c.First()
			for ; k != nil && moved < convertChunk; k, v = c.Next() {
				if err := q.Put(k, v); err != nil {
					return err
				}
				keys = append(keys, bytes.Clone(k))
				moved++
			}
			if k == nil {
				if err := slots.DeleteBucket(name); err != nil {
					return err
				}
				continue
			}
			for _, k := range keys {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			break // the chunk is full: the next transaction goes on
		}
		return nil
	}
	// Per-slot queues: the global queue's requests go to their slots,
	// convertChunk per transaction (Open loops) so that a large frontier
	// is never held in memory at once.
	type kv struct{ k, v []byte }
	var moved []kv
	c := q.Cursor()
	for k, v := c.First(); k != nil && len(moved) < convertChunk; k, v = c.Next() {
		moved = append(moved, kv{bytes.Clone(k), bytes.Clone(v)})
	}
	if len(moved) == 0 {
		return errNoChange
	}
	for _, e := range moved {
		slot := ""
		var r crawl.Request
		if json.Unmarshal(e.v, &r) == nil {
			slot = s.slotOf(&r)
		}
		b, err := s.queueBucket(tx, slot)
		if err != nil {
			return err
		}
		if err := b.Put(e.k, e.v); err != nil {
			return err
		}
		if err := q.Delete(e.k); err != nil {
			return err
		}
	}
	return nil
}

// convertChunk is how many requests one conversion transaction moves.
var convertChunk = 10_000 // a variable for TestConvertInChunks

// loadSlots reads each slot bucket's count and head.
func (s *Scheduler) loadSlots() error {
	return s.view(func(tx *bolt.Tx) error {
		slots := tx.Bucket(bucketSlots)
		return slots.ForEachBucket(func(name []byte) error {
			b := slots.Bucket(name)
			k, _ := b.Cursor().First()
			if k == nil {
				return nil
			}
			sl := &diskSlot{key: string(name[1:]), ondisk: b.Stats().KeyN}
			copy(sl.head[:], k)
			s.slots.Raise(sl.key, sl, keyPrio(sl.head))
			return nil
		})
	})
}
