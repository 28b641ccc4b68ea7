package diskq

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// AckBatch acknowledges many requests returned by Next in one transaction
// (the engine's group commit): all of them or, on a write error, none.
// Requests kept in memory only are acked one by one, as by Ack.
func (s *Scheduler) AckBatch(ctx context.Context, reqs []*crawl.Request) error {
	var onDisk []*crawl.Request
	for _, r := range reqs {
		if r == nil {
			continue
		}
		l, ok := r.Lease.(*lease)
		if !ok {
			continue
		}
		if l.local {
			if err := s.Ack(ctx, r); err != nil {
				return err
			}
			continue
		}
		onDisk = append(onDisk, r)
	}
	if len(onDisk) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("ack %d requests: %w", len(onDisk), scheduler.ErrClosed)
	}
	deleted := 0
	err := s.update(func(tx *bolt.Tx) error {
		deleted = 0
		inf := tx.Bucket(bucketInflight)
		for _, r := range onDisk {
			key := r.Lease.(*lease).key
			if inf.Get(key[:]) == nil {
				continue
			}
			if err := inf.Delete(key[:]); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ack %d requests: %w", len(onDisk), s.writeErr(err))
	}
	s.inflight -= deleted
	for _, r := range onDisk {
		r.Lease = nil
	}
	return nil
}
