package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Syncer is implemented by exporters that can make what they exported
// durable: flushed to the file and fsynced (*feed.Feed, *feed.Set). An
// exporter without it is flushed only.
type Syncer interface {
	Sync() error
}

// BatchAcker is implemented by schedulers that acknowledge many requests in
// one transaction (the JOBDIR backend): a group commit acks its whole batch
// at once.
type BatchAcker interface {
	AckBatch(ctx context.Context, reqs []*crawl.Request) error
}

// committer flushes the feeds every CommitInterval and counts an item as
// scraped once its flush succeeded. With Options.DurableAcks it is also the
// group commit: a request whose output is complete (callback returned,
// every item through the pipelines and handed to the feeds) waits here;
// every CommitInterval, or at once when the lease bound holds pulling back,
// the committer flushes and fsyncs every feed and only then acknowledges
// the waiting requests to the scheduler. So an acknowledged request's
// items are on disk: a kill at any moment loses no item of a request the
// scheduler will not give back, and the cost of an fsync is shared by
// every request of the interval.
type committer struct {
	e       *Engine
	durable bool // fsync, and acknowledge requests only after it

	mu       sync.Mutex
	acks     []*crawl.Request // complete, waiting for the next commit
	exported int64            // items handed to the feeds since the last commit
	failed   error            // first feed write error: nothing is acked after it

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newCommitter(e *Engine, durable bool) *committer {
	return &committer{e: e, durable: durable, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
}

// run commits every interval until close.
func (c *committer) run(interval time.Duration) {
	defer close(c.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		case <-c.kick:
		}
		c.commit()
	}
}

// add queues a complete request for the next commit.
func (c *committer) add(r *crawl.Request) {
	c.mu.Lock()
	c.acks = append(c.acks, r)
	c.mu.Unlock()
}

// itemExported counts an item handed to every feed; it is counted as
// scraped once a commit made it durable.
func (c *committer) itemExported() {
	c.mu.Lock()
	c.exported++
	c.mu.Unlock()
}

// waiting is the number of requests waiting for a commit.
func (c *committer) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.acks)
}

// nudge asks for a commit now (the lease bound is reached).
func (c *committer) nudge() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// close stops the periodic commits and runs the last one. The engine
// calls it after the item workers finished and before the scheduler
// closes.
func (c *committer) close() {
	close(c.stop)
	<-c.done
	c.commit()
}

// commit makes the exported items durable, then acknowledges the requests
// that were complete before the sync started. After a feed error nothing is
// acknowledged again: those requests stay leased in the scheduler (the
// JOBDIR's in-flight set), so a resumed crawl fetches them again.
func (c *committer) commit() {
	c.mu.Lock()
	batch, n, failed := c.acks, c.exported, c.failed
	c.acks, c.exported = nil, 0
	c.mu.Unlock()
	if len(batch) == 0 && n == 0 {
		return
	}
	e := c.e
	if failed == nil {
		failed = syncFeeds(e.opts.Feeds, c.durable)
		if failed != nil {
			c.mu.Lock()
			c.failed = failed
			c.mu.Unlock()
			e.feedFailed(failed)
		}
	}
	if failed != nil {
		e.stats.Inc(stats.ItemWriteFailedCount, n)
		e.release(len(batch))
		return
	}
	e.stats.Inc(stats.ItemScrapedCount, n)
	e.ackAll(batch)
}

// syncFeeds flushes every feed, and fsyncs those that can when durable.
func syncFeeds(feeds []Exporter, durable bool) error {
	var errs []error
	for _, f := range feeds {
		if s, ok := f.(Syncer); ok && durable {
			errs = append(errs, s.Sync())
		} else {
			errs = append(errs, f.Flush())
		}
	}
	return errors.Join(errs...)
}

// ackAll acknowledges reqs to the scheduler, in one transaction when it can.
func (e *Engine) ackAll(reqs []*crawl.Request) {
	defer e.release(len(reqs))
	if len(reqs) == 0 {
		return
	}
	if b, ok := e.opts.Scheduler.(BatchAcker); ok && len(reqs) > 1 {
		if err := b.AckBatch(e.runCtx, reqs); err != nil {
			e.schedulerFailed("acknowledging requests", err, "requests", len(reqs))
		}
		return
	}
	for _, r := range reqs {
		if err := e.opts.Scheduler.Ack(e.runCtx, r); err != nil {
			e.schedulerFailed("scheduler ack", err, "url", r.URL)
		}
	}
}

// release gives back the lease slots of n requests that are done with:
// acknowledged, or left unacknowledged for good after a write error.
func (e *Engine) release(n int) {
	if n == 0 {
		return
	}
	e.mu.Lock()
	e.leased -= n
	e.mu.Unlock()
	e.wakeUp()
}

// feedFailed closes the crawl after a feed write error (no space left, an
// I/O error, a read-only file): items can no longer be stored, so going on
// would only fetch pages whose items are lost.
func (e *Engine) feedFailed(err error) {
	e.log.Error("writing to the feed failed; closing the spider (the requests whose items were not written stay pending in the jobdir or Redis and are fetched again on resume)", "error", err)
	e.failClose(ReasonFeedError)
}

// schedulerFailed logs a scheduler error and, when it is a write error of
// a persistent scheduler (the JOBDIR's disk is full), closes the crawl:
// nothing more can be stored, and what could not be is kept pending by not
// acknowledging the request that produced it.
func (e *Engine) schedulerFailed(msg string, err error, attrs ...any) {
	e.log.Error(msg, append(attrs, "error", err)...)
	if errors.Is(err, scheduler.ErrWrite) {
		e.failClose(ReasonJobdirError)
	}
}

// failClose sets a failure close reason. Unlike requestClose it replaces a
// close reason that is already set (a shutdown the user asked for, a
// closespider limit): the run must report that data could not be stored.
func (e *Engine) failClose(reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch e.reason {
	case "":
		e.reason = reason
		close(e.closeCh)
	case ReasonFeedError, ReasonJobdirError:
	default:
		e.reason = reason
	}
}

// errNotStored marks a task whose output could not all be stored.
var errNotStored = errors.New("output not stored")

func notStored(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", errNotStored, what, err)
}
