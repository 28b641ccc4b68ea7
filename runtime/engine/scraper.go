package engine

// The scraper half of the engine (Scrapy's core/scraper.py): a callback's
// or errback's output goes through the spider middlewares; its requests go
// to the scheduler, its items through the pipelines — in emission order —
// into the feeds; spider errors are counted. engine.go is the other half
// (Scrapy's core/engine.py): pulling, fetching, idleness and closing.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

type queuedItem struct {
	seq  uint64 // emission order
	it   *crawl.Item
	task *task
	resp *crawl.Response

	// Set by the pipelines.
	out     *crawl.Item
	outcome pipeline.Outcome
	err     error
}

// callback runs the spider's callback for resp and, for a streamed
// download (a WebSocket: resp.Stream), once more for every further message
// until the stream ends. Meanwhile the request counts as a running
// callback, so an open connection keeps the crawl from going idle. A stream
// error goes to the errback like a download error.
func (e *Engine) callback(resp *crawl.Response, out Output) error {
	ctx := e.workCtx
	err := e.spider.Callback(ctx, resp, out)
	for cur := resp; cur.Stream != nil; {
		next, serr := cur.Stream(ctx)
		if errors.Is(serr, io.EOF) || (serr != nil && ctx.Err() != nil) {
			break
		}
		if serr != nil {
			var f *crawl.Failure
			if !errors.As(serr, &f) {
				f = crawl.NewFailure(crawl.WebSocketError, resp.Request, serr)
			}
			if handled, eerr := e.spider.Errback(ctx, f, out); !handled || eerr != nil {
				out.Error(errors.Join(f, eerr))
			}
			break
		}
		if cerr := e.spider.Callback(ctx, next, out); cerr != nil {
			out.Error(cerr)
		}
		cur = next
	}
	return err
}

func (e *Engine) wrapOutput(resp *crawl.Response, out Output) Output {
	for _, m := range e.opts.SpiderMiddlewares {
		out = m.WrapOutput(resp, out)
	}
	return out
}

// errback runs the spider's errback for f; an unhandled failure is logged
// and counted like Scrapy (HttpError at INFO with httperror/* stats).
func (e *Engine) errback(t *task, f *crawl.Failure) {
	resp := f.Response
	if resp == nil {
		resp = &crawl.Response{URL: f.Request.URL, Request: f.Request}
	}
	base := e.newOutput(t, resp)
	out := e.wrapOutput(resp, base)
	var handled bool
	err := callErr(func() error {
		var err error
		e.enterSpider()
		defer e.leaveSpider()
		handled, err = e.spider.Errback(e.workCtx, f, out)
		return err
	})
	base.flush()
	if err != nil {
		if e.cancelled(err) {
			t.keep(err)
		} else {
			e.spiderError(fmt.Errorf("errback: %w", err), f.Response)
		}
	}
	if handled {
		return
	}
	switch f.Type {
	case crawl.HttpError:
		status := 0
		if f.Response != nil {
			status = f.Response.Status
		}
		e.stats.Inc("httperror/response_ignored_count", 1)
		e.stats.Inc("httperror/response_ignored_status_count/"+strconv.Itoa(status), 1)
		e.log.Info("ignoring response: HTTP status code is not handled or not allowed", "status", status, "url", f.Request.URL)
	case crawl.IgnoreRequest:
		e.log.Debug("request ignored", "url", f.Request.URL, "reason", f.Message)
	default:
		e.stats.Inc("spider_failures/unhandled_count", 1)
		e.log.Error("error downloading", "request", f.Request.GetMethod()+" "+f.Request.URL, "type", string(f.Type), "error", f.Message)
	}
}

// spiderError records an error of spider code (spider_error): logged,
// counted in spider_exceptions/*, and makes the run fail (exit code 1).
func (e *Engine) spiderError(err error, resp *crawl.Response) {
	kind := "Error"
	var f *crawl.Failure
	var typed interface{ ErrorType() string } // a JS error: TypeError, JS_TIMEOUT, ...
	switch {
	case errors.As(err, &f):
		kind = string(f.Type)
	case errors.As(err, &typed) && typed.ErrorType() != "":
		kind = typed.ErrorType()
	}
	e.stats.Inc(stats.SpiderExceptionsCount, 1)
	e.stats.Inc(stats.SpiderExceptions+kind, 1)
	attrs := []any{"error", err}
	if resp != nil {
		attrs = append(attrs, "url", resp.URL)
	}
	e.log.Error("spider error", attrs...)
	var req *crawl.Request
	if resp != nil {
		req = resp.Request
	}
	e.sig.emit(Event{Signal: SpiderError, Err: err, Response: resp, Request: req})
	if n := e.errCount.Add(1); e.opts.CloseSpiderErrorCount > 0 && n >= e.opts.CloseSpiderErrorCount {
		e.requestClose(ReasonErrorCount)
	}
}

// cancelled reports whether err only says that the engine cancelled the
// work (abort, grace period over, stall): not a spider error, and no reason
// for a failed run.
func (e *Engine) cancelled(err error) bool {
	if e.workCtx.Err() == nil {
		return false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		e.log.Debug("callback cancelled at close", "error", err)
		return true
	}
	return false
}

// callErr runs fn, turning a panic into an error: a bug in a Go spider
// must cost one page, not the crawl.
func callErr(fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("panic: %v", v)
		}
	}()
	return fn()
}

// enqueueItem queues it for the pipelines without blocking.
func (e *Engine) enqueueItem(it *crawl.Item, t *task, resp *crawl.Response) {
	if it == nil {
		return
	}
	// Count the item before queueing it, so the idle check never sees it
	// neither queued nor counted.
	e.mu.Lock()
	e.items++
	e.mu.Unlock()
	e.itemMu.Lock()
	if e.itemsClose {
		e.itemMu.Unlock()
		e.mu.Lock()
		e.items--
		e.mu.Unlock()
		e.log.Warn("item emitted after the crawl closed was not written", "url", urlOf(resp))
		return
	}
	if t != nil {
		t.pending.Add(1)
	}
	e.itemQ = append(e.itemQ, queuedItem{seq: e.itemSeq, it: it, task: t, resp: resp})
	e.itemSeq++
	e.itemCond.Signal()
	e.itemMu.Unlock()
}

func urlOf(resp *crawl.Response) string {
	if resp == nil {
		return ""
	}
	return resp.URL
}

// itemWorker runs queued items through the pipelines and into the feeds
// until the queue is closed and empty.
func (e *Engine) itemWorker() {
	for {
		e.itemMu.Lock()
		for len(e.itemQ) == 0 && !e.itemsClose {
			e.itemCond.Wait()
		}
		if len(e.itemQ) == 0 {
			e.itemMu.Unlock()
			return
		}
		q := e.itemQ[0]
		e.itemQ[0] = queuedItem{}
		e.itemQ = e.itemQ[1:]
		e.itemMu.Unlock()

		// runCtx, not workCtx: after an abort the items already emitted
		// must still go through the pipelines rather than fail on a
		// cancelled context. The wait for the item workers is bounded
		// instead.
		// The context carries the request the item came from: a backend
		// that leases requests (Redis) writes the item with the request's
		// ack, so a redelivered request does not duplicate it.
		ctx := e.runCtx
		if q.task != nil {
			ctx = crawl.WithRequest(ctx, q.task.req)
		}
		q.out, q.outcome, q.err = e.runner.Process(ctx, q.it)
		e.commit(q)
	}
}

// commit finishes items in the order they were emitted, whatever order
// parallel workers (ConcurrentItems > 1, e.g. async JS pipelines) finish
// them in: feeds, signals and Acks see emission order, so output is
// deterministic.
func (e *Engine) commit(q queuedItem) {
	e.commitMu.Lock()
	defer e.commitMu.Unlock()
	e.ready[q.seq] = q
	for {
		next, ok := e.ready[e.nextCommit]
		if !ok {
			return
		}
		delete(e.ready, e.nextCommit)
		e.nextCommit++
		e.finishItem(next)
		if next.task != nil {
			next.task.done()
		}
		e.mu.Lock()
		e.items--
		// Wake the loop when this may matter: the crawl may be idle now,
		// or pulling was held back by the item limit.
		wake := e.items == 0 || e.items == e.opts.MaxPendingItems-1
		e.mu.Unlock()
		if wake {
			e.wakeUp()
		}
	}
}

func (e *Engine) finishItem(q queuedItem) {
	it, err := q.out, q.err
	var req *crawl.Request
	if q.resp != nil {
		req = q.resp.Request
	}
	switch q.outcome {
	case pipeline.Dropped:
		e.sig.emit(Event{Signal: ItemDropped, Item: it, Response: q.resp, Request: req, Err: err})
		return
	case pipeline.Failed:
		e.errCount.Add(1)
		e.sig.emit(Event{Signal: ItemError, Item: it, Response: q.resp, Request: req, Err: err})
		return
	}
	for _, f := range e.opts.Feeds {
		if err := f.Export(it); err != nil {
			if !writeFailed(err) {
				// This item cannot be serialized: it alone is lost.
				e.log.Error("writing item to feed", "error", err)
				continue
			}
			e.stats.Inc(stats.ItemWriteFailedCount, 1)
			if q.task != nil {
				q.task.keep(notStored("item", err))
			}
			e.feedFailed(err)
			return
		}
	}
	if e.group != nil {
		e.group.itemExported()
	} else {
		e.stats.Inc(stats.ItemScrapedCount, 1)
	}
	e.lastItem.Store(time.Now().UnixNano())
	if e.log.Enabled(e.runCtx, slog.LevelDebug) {
		e.log.Debug(scrapedLine(q.resp, it))
	}
	e.sig.emit(Event{Signal: ItemScraped, Item: it, Response: q.resp, Request: req})
	if n := e.scraped.Add(1); e.opts.CloseSpiderItemCount > 0 && n >= e.opts.CloseSpiderItemCount {
		e.requestClose(ReasonItemCount)
	}
}

// output is the Output of one callback or errback.
type output struct {
	e     *Engine
	task  *task
	resp  *crawl.Response
	batch *requestBatch // the scheduler enqueues in batches (batch.go)
}

func (o *output) Request(r *crawl.Request) {
	switch {
	case r == nil:
	case o.batch != nil:
		o.batch.add(r)
	default:
		o.e.schedule(r, o.task)
	}
}

func (o *output) Item(it *crawl.Item) { o.e.enqueueItem(it, o.task, o.resp) }

func (o *output) Error(err error) {
	if err != nil {
		o.e.spiderError(err, o.resp)
	}
}

// idleOutput receives what the spider_idle hook emits: requests go straight
// to the scheduler (Scrapy's engine.crawl), without spider middlewares.
type idleOutput struct{ e *Engine }

func (o *idleOutput) Request(r *crawl.Request) {
	if r != nil {
		o.e.schedule(r, nil)
	}
}

func (o *idleOutput) Item(it *crawl.Item) { o.e.enqueueItem(it, nil, nil) }

func (o *idleOutput) Error(err error) {
	if err != nil {
		o.e.spiderError(err, nil)
	}
}

// writeFailed reports an error of the feed's storage (as opposed to an item
// that cannot be serialized); feed errors say so with a WriteFailed method.
func writeFailed(err error) bool {
	var w interface{ WriteFailed() bool }
	return errors.As(err, &w) && w.WriteFailed()
}
