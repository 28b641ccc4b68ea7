package redisq

import (
	"context"
	"fmt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// ItemWriter writes items to the REDIS_ITEMS_KEY list, one JSON object per
// entry. It has the pipeline.Pipeline method set, so it goes last in the
// item pipeline list.
//
// Exactly once: when the pipeline's context carries the request that
// produced the item (crawl.WithRequest) and that request holds a Redis lease,
// the item is buffered and pushed by Scheduler.Ack in the same atomic step
// that releases the lease. A request delivered twice (its first worker died)
// therefore adds its items once: the dead worker's buffer died with it, and a
// stalled worker's late ack is fenced. Items without a leased request (a
// spider_idle hook's items, a memory-scheduler crawl) are pushed at once:
// at-least-once.
type ItemWriter struct {
	s *Scheduler
}

// Items returns the item writer, or nil when REDIS_ITEMS_KEY is empty.
func (s *Scheduler) Items() *ItemWriter {
	if s.keys.items == "" {
		return nil
	}
	return &ItemWriter{s: s}
}

// Key is the Redis list items go to.
func (w *ItemWriter) Key() string { return w.s.keys.items }

// ProcessItem queues it for its request's ack, or pushes it now. It returns
// the item unchanged.
func (w *ItemWriter) ProcessItem(ctx context.Context, it *crawl.Item) (*crawl.Item, error) {
	b, err := it.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("redisq: item to json: %w", err)
	}
	if r := crawl.RequestFromContext(ctx); r != nil {
		if l, ok := r.Lease.(*Lease); ok && l.s == w.s && l.addItem(b) {
			return it, nil
		}
	}
	err = w.s.retry.do(ctx, "push item", func(ctx context.Context) error {
		return w.s.rdb.RPush(ctx, w.s.keys.items, b).Err()
	})
	if err != nil {
		return nil, err
	}
	if st := w.s.opts.Stats; st != nil {
		st.Inc("redis/items_pushed", 1)
	}
	return it, nil
}
