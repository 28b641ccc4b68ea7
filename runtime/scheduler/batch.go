package scheduler

import (
	"context"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// BatchEnqueuer is implemented by schedulers that enqueue many requests in
// one step (Redis: one script call, one round trip). The engine hands it
// the requests a callback emitted, together, when the scheduler implements
// it, and enqueues one by one otherwise: so a backend adds it only when a
// batch is cheaper than its parts.
//
// EnqueueBatch must behave exactly like calling Enqueue for each request
// in order: a request whose fingerprint an earlier request of the same
// batch (or any earlier Enqueue) recorded is a duplicate; requests added
// come out of Next in the order Enqueue would have given them. It returns
// one result per request, in order. A request that could not be stored
// has Err set (the others of the batch may have been stored); the caller
// then treats it like a failed Enqueue.
//
//	res := s.EnqueueBatch(ctx, []*crawl.Request{a, b, a2}) // a2 duplicates a
//	// res[0].Added, res[1].Added == true; res[2].Added == false
type BatchEnqueuer interface {
	EnqueueBatch(ctx context.Context, reqs []*crawl.Request) []Enqueued
}

// Enqueued is the outcome of one request of EnqueueBatch: Added is
// Enqueue's bool, Err its error.
type Enqueued struct {
	Added bool
	Err   error
}

// BatchNexter is implemented by schedulers for which taking many requests
// in one step is cheaper than taking them one by one (the JOBDIR: one
// write transaction instead of one per request). When a group commit or
// finished downloads free several places at once, the engine asks for as
// many requests as it has room for.
//
// NextBatch must return what up to n calls of Next would have returned, in
// the same order (an empty slice when Next would return nil), each with
// its lease. Requests it could take but not decode stay leased (as after
// Next's error) and are reported by the error, after the others.
type BatchNexter interface {
	NextBatch(ctx context.Context, n int) ([]*crawl.Request, error)
}
