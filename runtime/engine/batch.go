package engine

import (
	"errors"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// Batching of a callback's requests, for schedulers whose Enqueue costs a
// round trip (scheduler.BatchEnqueuer: Redis). A callback's Output only
// collects the requests it emits (request_scheduled is emitted then, as
// before the scheduler sees them); they reach the scheduler in one call
// when the callback returns, before its request can be acknowledged. So
// the callback's goroutine (the JS loop) never waits on the network for a
// request, and a page's ten links cost one script call instead of ten. A
// callback that keeps running (a WebSocket stream, one awaiting timers)
// has its requests sent batchDelay after the first one; batchMax requests
// are sent at once. Without BatchEnqueuer requests go one by one, as
// emitted.
const batchMax = 256

// batchDelay is a variable for the tests: one that counts batches per
// callback must not see a loaded machine's slow callback cut in two.
var batchDelay = 50 * time.Millisecond

// requestBatch holds the requests of one callback not yet sent.
type requestBatch struct {
	e    *Engine
	b    scheduler.BatchEnqueuer
	from *task

	mu    sync.Mutex
	reqs  []*crawl.Request
	timer *time.Timer

	sendMu sync.Mutex // batches reach the scheduler in emission order
}

// newOutput is the Output of one callback or errback of t.
func (e *Engine) newOutput(t *task, resp *crawl.Response) *output {
	o := &output{e: e, task: t, resp: resp}
	if b, ok := e.opts.Scheduler.(scheduler.BatchEnqueuer); ok {
		o.batch = &requestBatch{e: e, b: b, from: t}
	}
	return o
}

// add collects r (request_scheduled is emitted now).
func (rb *requestBatch) add(r *crawl.Request) {
	e := rb.e
	if e.opts.DontFilter {
		r.DontFilter = true
	}
	e.sig.emit(Event{Signal: RequestScheduled, Request: r})
	rb.mu.Lock()
	rb.reqs = append(rb.reqs, r)
	n := len(rb.reqs)
	if n == 1 {
		if rb.timer == nil {
			rb.timer = time.AfterFunc(batchDelay, rb.send)
		} else {
			rb.timer.Reset(batchDelay)
		}
	}
	rb.mu.Unlock()
	if n >= batchMax {
		rb.send()
	}
}

// send hands the collected requests to the scheduler. The engine calls it
// when the callback returned, before the task can be acknowledged.
func (rb *requestBatch) send() {
	rb.sendMu.Lock()
	defer rb.sendMu.Unlock()
	rb.mu.Lock()
	reqs := rb.reqs
	rb.reqs = nil
	if rb.timer != nil {
		rb.timer.Stop()
	}
	rb.mu.Unlock()
	if len(reqs) > 0 {
		rb.e.scheduleBatch(rb.b, reqs, rb.from)
	}
}

// flush sends what o's callback emitted and is not sent yet.
func (o *output) flush() {
	if o.batch != nil {
		o.batch.send()
	}
}

// scheduleBatch is schedule for requests collected from one callback
// (request_scheduled was emitted when each was collected).
func (e *Engine) scheduleBatch(b scheduler.BatchEnqueuer, reqs []*crawl.Request, from *task) {
	res := b.EnqueueBatch(e.runCtx, reqs)
	added := 0
	for i, r := range reqs {
		x := scheduler.Enqueued{Err: errors.New("scheduler: no result for this request of the batch")}
		if i < len(res) {
			x = res[i]
		}
		switch {
		case x.Err != nil:
			if from != nil {
				from.keep(notStored("request "+r.URL, x.Err))
			}
			e.schedulerFailed("scheduling request", x.Err, "url", r.URL)
			e.sig.emit(Event{Signal: RequestDropped, Request: r, Err: x.Err})
		case !x.Added:
			e.sig.emit(Event{Signal: RequestDropped, Request: r})
		default:
			added++
		}
	}
	if added == 0 {
		return
	}
	e.scheduledCount.Add(int64(added))
	e.mu.Lock()
	room := e.fetching < e.opts.ConcurrentRequests
	e.mu.Unlock()
	if room {
		e.wakeUp()
	}
}
