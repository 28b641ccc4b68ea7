package engine

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptrace"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Progress is a snapshot of a running crawl, for a progress line or a
// watchdog that reports what is in flight.
type Progress struct {
	Fetching     int // requests inside Fetch
	Processing   int // callbacks and errbacks running
	PendingItems int // items queued or in the pipelines
	Queued       int // requests pending in the scheduler (-1 if unknown)
	// Waiting counts requests taken from the scheduler that wait in the
	// engine for their download slot (Options.MaxWaiting).
	Waiting int
	Pages   int64 // responses received
	Items   int64 // items scraped
	Errors  int64 // spider errors so far
	Reason  string
	// OldestInFlight is how long the oldest request inside Fetch has been
	// there, and OldestURL its URL: what a stuck crawl is waiting for.
	OldestInFlight time.Duration
	OldestURL      string
}

// Progress returns the current state of the crawl. It is safe to call from
// any goroutine while Run runs.
func (e *Engine) Progress() Progress {
	e.mu.Lock()
	p := Progress{Fetching: e.fetching, Processing: e.processing, PendingItems: e.items, Reason: e.reason, Waiting: e.waitingLocked()}
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

// errWithdrawn is the cause of a fetch cancelled by the close while it was
// still waiting in the downloader (DOWNLOAD_DELAY, AutoThrottle, a slot's
// concurrency, a retry backoff): it was never sent, so it is not a failure
// and stays pending (in the JOBDIR or Redis) for a resumed crawl. It is a
// context.Canceled, so the downloader and middlewares see a cancellation.
var errWithdrawn = fmt.Errorf("withdrawn at close before it was sent: %w", context.Canceled)

// fetchWait tracks one fetch until its request leaves the downloader's
// waits. The downloader (and net/http) report that moment through the
// httptrace.ClientTrace GetConn hook of the fetch's context: "about to get
// a connection". A close cancels the fetches still waiting, at once;
// those already past GetConn are in flight and get the grace period.
type fetchWait struct {
	state  atomic.Int32 // waitPending, waitSending or waitWithdrawn
	cancel context.CancelCauseFunc
	// onWaited, when set, runs once: when the request passes the waits,
	// or when the fetch returns without passing them (the ready-host
	// layer's count of requests starting on a slot).
	onWaited func()
	waited   atomic.Bool
}

func (w *fetchWait) passed() {
	if w.onWaited != nil && w.waited.CompareAndSwap(false, true) {
		w.onWaited()
	}
}

const (
	waitPending int32 = iota
	waitSending
	waitWithdrawn
)

// withdraw cancels the fetch if its request is still waiting.
func (w *fetchWait) withdraw() {
	if w.state.CompareAndSwap(waitPending, waitWithdrawn) {
		w.cancel(errWithdrawn)
	}
}

// withdrawn reports whether the close cancelled the fetch before it was
// sent.
func (w *fetchWait) withdrawn() bool { return w.state.Load() == waitWithdrawn }

// fetchContext returns the context for one fetch, derived from workCtx,
// and end, to call when the fetch returned. onWaited (may be nil) runs
// once, when the request passes the downloader's waits or the fetch ends.
func (e *Engine) fetchContext(onWaited func()) (ctx context.Context, w *fetchWait, end func()) {
	ctx, cancel := context.WithCancelCause(e.workCtx)
	w = &fetchWait{cancel: cancel, onWaited: onWaited}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn: func(string) {
			if w.state.CompareAndSwap(waitPending, waitSending) {
				w.passed()
			}
		},
	})
	e.mu.Lock()
	if e.waits == nil {
		e.waits = map[*fetchWait]struct{}{}
	}
	e.waits[w] = struct{}{}
	closing := e.reason != ""
	e.mu.Unlock()
	if closing {
		w.withdraw()
	}
	return ctx, w, func() {
		e.mu.Lock()
		delete(e.waits, w)
		e.mu.Unlock()
		cancel(nil)
		w.passed()
	}
}

// withdrawnLocked counts the fetches withdrawn by the close that have not
// returned yet: they still count in fetching, but are not in flight.
func (e *Engine) withdrawnLocked() int {
	n := 0
	for w := range e.waits {
		if w.withdrawn() {
			n++
		}
	}
	return n
}

// withdrawWaitingLocked cancels every fetch still waiting in the
// downloader; e.mu is held.
func (e *Engine) withdrawWaitingLocked() {
	for w := range e.waits {
		w.withdraw()
	}
}

// startTally counts the start requests for the close summary: how many
// were scheduled, and the final failure of those that failed (after
// retries and redirects, which keep Request.Start).
type startTally struct {
	mu        sync.Mutex
	scheduled int
	failed    map[crawl.FailureType]int
	robots    []string // hosts whose start requests robots.txt refused
}

func (s *startTally) schedule() {
	s.mu.Lock()
	s.scheduled++
	s.mu.Unlock()
}

func (s *startTally) fail(f *crawl.Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failed == nil {
		s.failed = map[crawl.FailureType]int{}
	}
	s.failed[f.Type]++
	if f.Type == crawl.IgnoreRequest && strings.HasPrefix(f.Message, "forbidden by robots.txt") && f.Request != nil {
		if u, err := url.Parse(f.Request.URL); err == nil && !slices.Contains(s.robots, u.Host) {
			s.robots = append(s.robots, u.Host)
		}
	}
}

// zeroPagesReason explains a crawl that closes without a single response:
// every start request failed, or robots.txt could not be fetched and
// ROBOTSTXT_OBEY refused everything. It returns "" when pages were crawled
// or nothing explains it (no start request, or a stop before any failed).
func (e *Engine) zeroPagesReason() string {
	if e.pages.Load() > 0 {
		return ""
	}
	s := &e.starts
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.failed {
		n += c
	}
	if s.scheduled == 0 || n < s.scheduled {
		return ""
	}
	snap := e.stats.Snapshot()
	var robotsErr []string
	for k := range snap {
		if t, ok := strings.CutPrefix(k, "robotstxt/exception_count/"); ok {
			robotsErr = append(robotsErr, failurePhrase(crawl.FailureType(t), 1))
		}
		if code, ok := strings.CutPrefix(k, "robotstxt/response_status_count/"); ok {
			if c, err := strconv.Atoi(code); err == nil && (c >= 500 || c == 429) {
				robotsErr = append(robotsErr, "HTTP "+code)
			}
		}
	}
	slices.Sort(robotsErr)
	if len(s.robots) > 0 && len(robotsErr) > 0 && s.failed[crawl.IgnoreRequest] == n {
		return fmt.Sprintf("0 pages crawled: robots.txt unreachable for %s (%s): every request was refused by ROBOTSTXT_OBEY (set ROBOTSTXT_OBEY: false to crawl without it)",
			strings.Join(s.robots, ", "), strings.Join(slices.Compact(robotsErr), ", "))
	}
	types := slices.Collect(maps.Keys(s.failed))
	slices.SortFunc(types, func(a, b crawl.FailureType) int {
		if c := s.failed[b] - s.failed[a]; c != 0 {
			return c
		}
		return strings.Compare(string(a), string(b))
	})
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("%d %s", s.failed[t], failurePhrase(t, s.failed[t]))
	}
	what := "all %d start requests failed"
	if n == 1 {
		what = "the %d start request failed"
	}
	return fmt.Sprintf("0 pages crawled: "+what+" (%s)", n, strings.Join(parts, ", "))
}

// failurePhrase names a failure type in the close summary.
func failurePhrase(t crawl.FailureType, n int) string {
	plural := func(one, many string) string {
		if n == 1 {
			return one
		}
		return many
	}
	switch t {
	case crawl.DNSLookupError:
		return plural("DNS error", "DNS errors")
	case crawl.ConnectionRefused:
		return "connection refused"
	case crawl.ConnectionReset:
		return "connection reset"
	case crawl.ConnectionError:
		return plural("connection error", "connection errors")
	case crawl.TimeoutError:
		return plural("timeout", "timeouts")
	case crawl.TLSError:
		return plural("TLS error", "TLS errors")
	case crawl.HttpError:
		return plural("HTTP error status", "HTTP error statuses")
	case crawl.BlockedAddress:
		return plural("blocked address", "blocked addresses")
	case crawl.MaxSizeExceeded:
		return plural("response too large", "responses too large")
	case crawl.IgnoreRequest:
		return "ignored (robots.txt, offsite or a middleware)"
	}
	return string(t)
}
