// Package scheduler holds the crawl frontier: a priority queue of pending
// requests and the dupefilter that keeps a request from being fetched twice.
// Scheduler is a plug-in point: the in-memory default lives here, and every
// backend (disk, Redis) must pass the conformance suite in schedulertest.
package scheduler

import (
	"context"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Scheduler is the crawl frontier.
type Scheduler interface {
	// Open prepares the backend (connect, load, flush on start).
	Open(ctx context.Context) error
	// Enqueue adds a request. It returns false, nil when the dupefilter
	// dropped it (a request with DontFilter is never dropped).
	Enqueue(ctx context.Context, r *crawl.Request) (bool, error)
	// Next returns the highest-priority pending request, FIFO among equal
	// priorities, or nil, nil when the queue is empty right now.
	Next(ctx context.Context) (*crawl.Request, error)
	// Ack marks a request returned by Next as fully processed: its callback's
	// output has been committed. Backends that lease requests (Redis) delete
	// the lease here; until then a crashed worker's request comes back.
	Ack(ctx context.Context, r *crawl.Request) error
	// Len is the number of pending requests (not counting leased ones).
	Len(ctx context.Context) (int, error)
	// Close releases the backend. reason is the crawl's close reason; a
	// backend that persists (SCHEDULER_PERSIST) keeps its queue.
	Close(ctx context.Context, reason string) error
}
