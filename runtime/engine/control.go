package engine

import (
	"os"
	"time"

	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Progress is a snapshot of a running crawl, for a progress line or a
// watchdog that reports what is in flight.
type Progress struct {
	Fetching     int   // requests inside Fetch
	Processing   int   // callbacks and errbacks running
	PendingItems int   // items queued or in the pipelines
	Queued       int   // requests pending in the scheduler (-1 if unknown)
	Pages        int64 // responses received
	Items        int64 // items scraped
	Errors       int64 // spider errors so far
	Reason       string
	// OldestInFlight is how long the oldest request inside Fetch has been
	// there, and OldestURL its URL: what a stuck crawl is waiting for.
	OldestInFlight time.Duration
	OldestURL      string
}

// Progress returns the current state of the crawl. It is safe to call from
// any goroutine while Run runs.
func (e *Engine) Progress() Progress {
	e.mu.Lock()
	p := Progress{Fetching: e.fetching, Processing: e.processing, PendingItems: e.items, Reason: e.reason}
	now := time.Now()
	for t, at := range e.inFetch {
		if age := now.Sub(at); age > p.OldestInFlight {
			p.OldestInFlight, p.OldestURL = age, t.req.URL
		}
	}
	e.mu.Unlock()
	p.Queued = -1
	if n, err := e.opts.Scheduler.Len(e.runCtx); err == nil {
		p.Queued = n
	}
	p.Pages = e.pages.Load()
	p.Items = stats.Int(e.stats, stats.ItemScrapedCount)
	p.Errors = e.errCount.Load()
	return p
}

// StopOnSignals implements the Ctrl-C contract: the first value received
// from ch stops the crawl gracefully (Stop), the second aborts it (Abort).
// It returns when ch is closed, after the second value, or when Run has
// returned. The caller owns signal.Notify/Stop.
func (e *Engine) StopOnSignals(ch <-chan os.Signal) {
	n := 0
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
			n++
			if n == 1 {
				e.log.Warn("received a stop signal: stopping gracefully, finishing in-flight requests (send it again to abort)")
				e.Stop()
				continue
			}
			e.log.Warn("received a second stop signal: aborting (in-flight requests stay pending in a JOBDIR or Redis)")
			e.Abort()
			return
		case <-e.done:
			return
		}
	}
}
