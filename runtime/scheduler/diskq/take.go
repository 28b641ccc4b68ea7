package diskq

// Taking requests (issue #20): the engine takes one request each time a
// fetch finishes, and a write transaction per take was ~3 % of a JOBDIR
// crawl's CPU. Next now moves up to ReadAhead requests from the queue to
// the in-flight bucket in one transaction and hands them out from memory
// (the ready buffer) one at a time.
//
// The guarantees stay: a request is in the in-flight bucket before Next
// returns it, so a kill loses nothing (a prefetched request that was never
// handed out goes back to the front of its priority on the next Open, like
// any in-flight one, and it was never fetched, so it is not fetched twice:
// the refetch bound of specs/jobdir.md is unchanged). Order is exactly the
// queue's: a request enqueued after a prefetch with a key below the ready
// buffer's head (a higher priority) is taken from the queue first (qLow).

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// ReadAhead is how many requests one transaction moves to the ready
// buffer (their bodies, ~300 B each, are held in memory). After a kill
// they are among the requests requeued from the in-flight bucket (the
// resume log's requeued_in_flight), though never fetched.
const ReadAhead = 32

// nextBatchMax bounds the requests one NextBatch hands out (and holds
// decoded).
const nextBatchMax = 256

// readyEntry is a request moved to the in-flight bucket and not handed out.
type readyEntry struct {
	key  [16]byte
	body []byte
}

// Next implements scheduler.Scheduler. The request is in the in-flight
// bucket when it is returned; it stays there until Ack.
func (s *Scheduler) Next(ctx context.Context) (*crawl.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, scheduler.ErrClosed
	}
	if s.slots != nil {
		return s.nextSlotLocked(nil)
	}
	return s.nextLocked(ReadAhead)
}

// NextBatch implements scheduler.BatchNexter: up to n requests in Next's
// order, with at most one transaction when the ready buffer is short.
func (s *Scheduler) NextBatch(ctx context.Context, n int) ([]*crawl.Request, error) {
	n = min(n, nextBatchMax)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, scheduler.ErrClosed
	}
	if s.slots != nil {
		return s.nextSlotBatch(n)
	}
	var (
		out  []*crawl.Request
		errs []error
	)
	for len(out) < n {
		r, err := s.nextLocked(max(n-len(out), ReadAhead))
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

// errDecode marks a queued request that could not be decoded: it stays in
// flight (and comes back on the next Open) so that nothing is dropped
// silently; the caller logs the error and may take the next one.
var errDecode = errors.New("decode queued request")

// nextLocked takes the request at the head of the queue: from the
// memory-only heap, the ready buffer or the disk queue, whichever holds the
// lowest key. refill is how many requests to move in one transaction when
// the ready buffer is empty. Callers hold s.mu.
func (s *Scheduler) nextLocked(refill int) (*crawl.Request, error) {
	if s.pending == 0 && len(s.local) == 0 && len(s.ready) == 0 {
		// The engine polls an empty queue often: answer without a
		// transaction.
		return nil, nil
	}
	// The disk side's head is the ready buffer's unless the queue may hold
	// a lower key (enqueued since the buffer was filled).
	fromReady := len(s.ready) > 0 && (s.pending == 0 || !s.qLowSet || bytes.Compare(s.qLow[:], s.ready[0].key[:]) > 0)
	if len(s.local) > 0 {
		var head []byte
		switch {
		case fromReady:
			head = s.ready[0].key[:]
		case s.pending > 0:
			_ = s.view(func(tx *bolt.Tx) error {
				k, _ := tx.Bucket(bucketQueue).Cursor().First()
				head = bytes.Clone(k)
				return nil
			})
		}
		// Equal keys: the disk request has the sequence the local one
		// was keyed with, so it was enqueued first.
		if head == nil || bytes.Compare(s.local[0].key[:], head) < 0 {
			e := heap.Pop(&s.local).(localEntry)
			e.r.Lease = &lease{key: e.key, local: true, fp: e.fp, dedup: !e.r.DontFilter}
			s.countDequeue(true)
			return e.r, nil
		}
	}
	if !fromReady {
		var err error
		if len(s.ready) == 0 {
			err = s.fill(min(max(refill, 1), s.pending))
		} else {
			err = s.takeQueueHead()
		}
		if err != nil {
			return nil, fmt.Errorf("next: %w", s.writeErr(err))
		}
	}
	e := s.ready[0]
	s.ready[0] = readyEntry{}
	s.ready = s.ready[1:]
	r := new(crawl.Request)
	if err := json.Unmarshal(e.body, r); err != nil {
		return nil, fmt.Errorf("jobdir %s: %w %x: %w", s.dir, errDecode, e.key, err)
	}
	r.Lease = &lease{key: e.key}
	s.countDequeue(false)
	return r, nil
}

// fill moves the first n requests of the disk queue (n ≤ s.pending) to the
// in-flight bucket in one transaction and into the empty ready buffer.
func (s *Scheduler) fill(n int) error {
	var entries []readyEntry
	err := s.update(func(tx *bolt.Tx) error {
		entries = entries[:0]
		q, inf := tx.Bucket(bucketQueue), tx.Bucket(bucketInflight)
		// Keys and values are copied before the first change: a change
		// may move the pages the cursor reads from.
		c := q.Cursor()
		for k, v := c.First(); k != nil && len(entries) < n; k, v = c.Next() {
			e := readyEntry{body: bytes.Clone(v)}
			copy(e.key[:], k)
			entries = append(entries, e)
		}
		if len(entries) < n {
			return errors.New("queue holds fewer requests than its count (corrupt counter)")
		}
		for _, e := range entries {
			if err := q.Delete(e.key[:]); err != nil {
				return err
			}
			if err := inf.Put(e.key[:], e.body); err != nil {
				return err
			}
		}
		return putCount(tx.Bucket(bucketMeta), metaPending, s.pending-n)
	})
	if err != nil {
		return err
	}
	s.pending -= n
	s.inflight += n
	s.ready = append(s.ready[:0], entries...)
	// Every key left in the queue sorts after the buffer's.
	s.qLowSet = false
	return nil
}

// takeQueueHead moves the disk queue's head, which sorts before the ready
// buffer's, to the in-flight bucket and the front of the buffer, and
// records the queue's new head as its lower bound.
func (s *Scheduler) takeQueueHead() error {
	var (
		e    readyEntry
		next []byte
	)
	err := s.update(func(tx *bolt.Tx) error {
		q := tx.Bucket(bucketQueue)
		c := q.Cursor()
		k, v := c.First()
		if k == nil {
			return errors.New("queue is empty but its count is not (corrupt counter)")
		}
		copy(e.key[:], k)
		e.body = bytes.Clone(v)
		nk, _ := c.Next()
		next = bytes.Clone(nk)
		if err := q.Delete(e.key[:]); err != nil {
			return err
		}
		if err := tx.Bucket(bucketInflight).Put(e.key[:], e.body); err != nil {
			return err
		}
		return putCount(tx.Bucket(bucketMeta), metaPending, s.pending-1)
	})
	if err != nil {
		return err
	}
	s.pending--
	s.inflight++
	s.ready = append([]readyEntry{e}, s.ready...)
	s.qLowSet = next != nil
	if next != nil {
		copy(s.qLow[:], next)
	}
	return nil
}

// queued records a key put in the disk queue, for nextLocked's order.
// Callers hold s.mu.
func (s *Scheduler) queued(k [16]byte) {
	if len(s.ready) == 0 {
		return // the next take reads the queue itself
	}
	if !s.qLowSet || bytes.Compare(k[:], s.qLow[:]) < 0 {
		s.qLow, s.qLowSet = k, true
	}
}

// unready puts the prefetched requests back in the queue at a pause, so
// the in-flight bucket (and the next run's requeued_in_flight) holds
// exactly the requests that were handed out. Should it fail, they are in
// flight and come back on the next Open all the same.
func (s *Scheduler) unready() {
	n := len(s.ready)
	if n == 0 {
		return
	}
	err := s.update(func(tx *bolt.Tx) error {
		q, inf := tx.Bucket(bucketQueue), tx.Bucket(bucketInflight)
		for _, e := range s.ready {
			if err := inf.Delete(e.key[:]); err != nil {
				return err
			}
			if err := q.Put(e.key[:], e.body); err != nil {
				return err
			}
		}
		return putCount(tx.Bucket(bucketMeta), metaPending, s.pending+n)
	})
	if err != nil {
		s.log.Debug("jobdir: prefetched requests stay in flight until the next run", "jobdir", s.dir, "requests", n, "error", err)
		return
	}
	s.pending += n
	s.inflight -= n
	s.ready = nil
}
