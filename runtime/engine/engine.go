package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Close reasons (stats finish_reason, Result.Reason).
const (
	ReasonFinished   = "finished"
	ReasonItemCount  = "closespider_itemcount"
	ReasonPageCount  = "closespider_pagecount"
	ReasonTimeout    = "closespider_timeout"
	ReasonNoItem     = "closespider_timeout_no_item"
	ReasonMemUsage   = "memusage_exceeded"
	ReasonErrorCount = "closespider_errorcount"
	ReasonShutdown   = "shutdown"
	ReasonCancelled  = "cancelled"
	ReasonStalled    = "stalled"
	// ReasonFeedError: a feed could not be written (no space left, an I/O
	// error); the requests whose items were not written stay pending.
	ReasonFeedError = "feed_error"
	// ReasonJobdirError: the scheduler could not store a change (the
	// JOBDIR's disk is full); the request that produced it stays pending.
	ReasonJobdirError = "jobdir_error"
)

// Result is how a crawl ended.
type Result struct {
	// Reason is the close reason (finished, closespider_*, shutdown,
	// cancelled, stalled, or one given to Crawl.Close).
	Reason string
	// Errors counts callback, errback, pipeline and hook errors that no
	// errback handled: the crawl went on, but the run failed (exit code 1).
	Errors int64
	// Stalled names each callback still waiting when the crawl stalled.
	Stalled []string
	// Aborted is set when the crawl was aborted (Abort: a second Ctrl-C, or
	// the Run context ended) rather than closed gracefully.
	Aborted bool
	// Stats is the final stats snapshot.
	Stats map[string]any
}

// Engine runs one crawl (Scrapy's ExecutionEngine): it pulls requests from
// the scheduler while fewer than ConcurrentRequests are being fetched and
// the callbacks and pipelines keep up, runs each response's callback as soon
// as it arrives, schedules each request a callback emits at once, and sends
// items through the pipelines to the feeds. A crawl closes when it is idle
// (nothing pending, in flight, running or left in the start requests, and
// the spider_idle hook added nothing), on a closespider limit, on Stop,
// Abort, Crawl.Close, or when the Run context ends.
type Engine struct {
	opts   Options
	spider Spider
	log    *slog.Logger
	stats  stats.Collector
	sig    *Signals
	runner *pipeline.Runner
	handle *Crawl
	group  *committer // nil without feeds

	mu          sync.Mutex
	fetching    int                     // requests inside Fetch
	inFetch     map[*task]time.Time     // when each request entered Fetch (watchdog)
	waits       map[*fetchWait]struct{} // fetches not yet past the downloader's waits
	starts      startTally              // start requests, for the close summary
	processing  int                     // responses/failures in callbacks or errbacks
	activeBytes int64                   // bytes of responses held by processing
	items       int                     // items queued or in the pipelines
	// leased counts requests taken from the scheduler and not yet
	// acknowledged (fetching, in callbacks, with items in the pipelines, or
	// waiting for the group commit): what a kill makes the next run fetch
	// again. Options.MaxLeased bounds it.
	leased int
	// hosts is the ready-host layer (ready.go); nil when off.
	hosts *readyHosts
	// boost and boostBytes raise MaxActiveRequests and MaxActiveSize while
	// every active callback waits on results of requests still in the
	// scheduler (see unblockWaiters).
	boost      int
	boostBytes int64
	// inSpider counts responses and failures handed to the spider's
	// Callback or Errback (processing also counts those on their way): a
	// stall can only be declared when nothing is on its way.
	inSpider  int
	startDone bool
	startBusy bool // the start iterator's Next is running
	reason    string
	closeCh   chan struct{} // closed when a close reason is set
	done      chan struct{} // closed when Run returns
	abortCh   chan struct{} // closed by Abort
	aborted   bool
	errCount  atomic.Int64
	pages     atomic.Int64
	scraped   atomic.Int64
	// scheduledCount counts enqueued requests, so the idle hook can tell
	// whether it added any.
	scheduledCount atomic.Int64
	// lastItem is when the last item was scraped (or the crawl started), in
	// Unix nanoseconds, for CloseSpiderTimeoutNoItem.
	lastItem atomic.Int64

	wake      chan struct{}
	needStart chan struct{}

	itemMu   sync.Mutex
	itemCond *sync.Cond
	itemQ    []queuedItem
	itemSeq  uint64 // next emission sequence number (under itemMu)

	commitMu   sync.Mutex
	ready      map[uint64]queuedItem // processed, waiting for earlier items
	nextCommit uint64
	itemsClose bool

	runCtx      context.Context // lives until Run returns
	runCancel   context.CancelFunc
	workCtx     context.Context // cancelled on abort or when the grace ends
	workCancel  context.CancelFunc
	started     atomic.Bool
	feedsClosed atomic.Bool
	wg          sync.WaitGroup // request goroutines
}

// New validates opts and returns an engine ready to Run.
func New(opts Options) (*Engine, error) {
	if opts.Spider == nil {
		return nil, errors.New("engine: Options.Spider is required")
	}
	if opts.Fetcher == nil {
		return nil, errors.New("engine: Options.Fetcher is required")
	}
	opts.setDefaults()
	e := &Engine{
		opts:      opts,
		spider:    opts.Spider,
		log:       opts.Logger.With("spider", opts.Spider.Name()),
		stats:     opts.Stats,
		sig:       opts.Signals,
		closeCh:   make(chan struct{}),
		done:      make(chan struct{}),
		inFetch:   map[*task]time.Time{},
		ready:     map[uint64]queuedItem{},
		abortCh:   make(chan struct{}),
		wake:      make(chan struct{}, 1),
		needStart: make(chan struct{}, 1),
	}
	e.hosts = newReadyHosts(opts.Slots, opts.MaxWaiting, e.wakeUp)
	e.runner = pipeline.NewRunner(opts.Pipelines, opts.Stats, e.log)
	if len(opts.Feeds) > 0 {
		e.group = newCommitter(e, opts.DurableAcks)
	}
	// The contexts exist from New so that Progress and Crawl can be used
	// from other goroutines at any time; Run's own context only triggers a
	// cancellation (reason "cancelled").
	e.runCtx, e.runCancel = context.WithCancel(context.Background())
	e.workCtx, e.workCancel = context.WithCancel(e.runCtx)
	e.itemCond = sync.NewCond(&e.itemMu)
	e.handle = &Crawl{eng: e}
	return e, nil
}

// Crawl returns the handle given to the spider's Open (spider.download,
// spider.crawl, spider.close, spider.stats).
func (e *Engine) Crawl() *Crawl { return e.handle }

// Stats returns the crawl's stats collector.
func (e *Engine) Stats() stats.Collector { return e.stats }

// Signals returns the crawl's signal bus.
func (e *Engine) Signals() *Signals { return e.sig }

// Stop closes the crawl gracefully with reason "shutdown" (first Ctrl-C):
// no new request is pulled, in-flight requests and running callbacks get up
// to ShutdownGrace to finish, every emitted item is written, feeds are
// closed.
func (e *Engine) Stop() { e.requestClose(ReasonShutdown) }

// Abort closes the crawl at once (second Ctrl-C): in-flight requests and
// callbacks are cancelled; items already emitted still go to the feeds,
// which are closed valid. The reason stays "shutdown" (or the reason
// already set).
func (e *Engine) Abort() {
	e.requestClose(ReasonShutdown)
	e.mu.Lock()
	if !e.aborted {
		e.aborted = true
		close(e.abortCh)
	}
	e.mu.Unlock()
}

// requestClose sets the close reason; the first reason wins.
func (e *Engine) requestClose(reason string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.reason != "" {
		return
	}
	e.reason = reason
	close(e.closeCh)
	// Requests still waiting for their download delay or slot are not in
	// flight: they are withdrawn now and stay pending, not fetched during
	// the grace period.
	e.withdrawWaitingLocked()
	if e.hosts != nil {
		if n := e.hosts.withdraw(); n > 0 {
			e.leased -= n
			e.log.Debug("requests waiting for their slot withdrawn: they stay pending for a resumed crawl", "requests", n)
		}
	}
}

func (e *Engine) closing() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reason
}

func (e *Engine) wakeUp() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// Run runs the crawl to its end. The error is for a crawl that could not
// start (scheduler or spider open failed); everything after that is in
// Result.
func (e *Engine) Run(ctx context.Context) (Result, error) {
	if !e.started.CompareAndSwap(false, true) {
		return Result{}, errors.New("engine: Run called twice")
	}
	defer close(e.done)
	runCtx := e.runCtx
	defer e.runCancel()
	defer e.workCancel()
	start := time.Now()
	e.lastItem.Store(start.UnixNano())
	e.stats.Set(stats.StartTime, start.UTC())
	if e.opts.MemUsageInterval > 0 {
		memCtx, memStop := context.WithCancel(runCtx)
		memDone := make(chan struct{})
		go func() { stats.SampleMemory(memCtx, e.stats, e.opts.MemUsageInterval); close(memDone) }()
		defer func() { memStop(); <-memDone }()
	}

	if err := e.opts.Scheduler.Open(runCtx); err != nil {
		e.closeFeeds()
		return Result{}, fmt.Errorf("engine: open scheduler: %w", err)
	}
	e.sig.emit(Event{Signal: EngineStarted})
	if o, ok := e.spider.(Opener); ok {
		if err := o.Open(e.workCtx, e.handle); err != nil {
			_ = e.opts.Scheduler.Close(runCtx, ReasonCancelled)
			e.closeFeeds()
			e.sig.wait()
			return Result{}, fmt.Errorf("engine: open spider %s: %w", e.spider.Name(), err)
		}
	}
	e.sig.emit(Event{Signal: SpiderOpened})
	e.log.Info("Spider opened")

	startCtx, startCancel := context.WithCancel(e.workCtx)
	defer startCancel()
	it := e.spider.Start(startCtx)
	for i := len(e.opts.SpiderMiddlewares) - 1; i >= 0; i-- {
		if w, ok := e.opts.SpiderMiddlewares[i].(StartWrapper); ok && it != nil {
			it = w.WrapStart(it)
		}
	}
	feederDone := make(chan struct{})
	// The first batch of start requests goes at once, not only once the
	// scheduler runs dry: a resumed crawl's queued requests may wait on
	// what start() sets up (the session groups it registers again), and
	// with every fetch place taken by them the scheduler never ran dry — a
	// deadlock until the sessions' wait expired (TestFactoryIdentitiesResume).
	select {
	case e.needStart <- struct{}{}:
	default:
	}
	go e.feedStart(startCtx, it, feederDone)

	if e.group != nil {
		go e.group.run(e.opts.CommitInterval)
	}
	var workers sync.WaitGroup
	for range e.opts.ConcurrentItems {
		workers.Add(1)
		go func() { defer workers.Done(); e.itemWorker() }()
	}
	if d := e.opts.CloseSpiderTimeout; d > 0 {
		t := time.AfterFunc(d, func() { e.requestClose(ReasonTimeout) })
		defer t.Stop()
	}
	go func() {
		select {
		case <-ctx.Done():
			e.requestClose(ReasonCancelled)
			e.Abort()
		case <-runCtx.Done():
		}
	}()

	stalled := e.loop()

	reason := e.closing()
	e.log.Info("Closing spider (" + reason + ")")
	startCancel()
	e.drain(reason == ReasonStalled)
	<-feederDoneOrTimeout(feederDone, e.opts.AbortWait)

	// Items emitted before this point are processed even on abort: a
	// callback's emitted item is never lost.
	e.itemMu.Lock()
	e.itemsClose = true
	e.itemCond.Broadcast()
	e.itemMu.Unlock()
	if !waitTimeout(&workers, e.opts.AbortWait+e.opts.ShutdownGrace) {
		e.log.Error("item pipelines did not finish; some items were not written")
	}
	// The last group commit, then the feeds' closing brackets: a write
	// error in either changes the close reason before the scheduler, which
	// empties a JOBDIR on "finished", sees it.
	if e.group != nil {
		e.group.close()
	}
	e.closeFeeds()
	reason = e.closing()

	closeCtx, closeCancel := context.WithTimeout(runCtx, e.opts.AbortWait+e.opts.ShutdownGrace)
	defer closeCancel()
	if c, ok := e.spider.(Closer); ok {
		if err := callErr(func() error { return c.Close(closeCtx, reason) }); err != nil {
			e.spiderError(fmt.Errorf("spider close: %w", err), nil)
		}
	}
	if err := e.opts.Scheduler.Close(closeCtx, reason); err != nil {
		e.log.Error("closing the scheduler", "error", err)
	}

	end := time.Now()
	e.stats.Set(stats.FinishReason, reason)
	e.stats.Set(stats.FinishTime, end.UTC())
	e.stats.Set(stats.ElapsedTimeSeconds, end.Sub(start).Seconds())
	e.sig.emit(Event{Signal: SpiderClosed, Reason: reason})
	e.sig.wait()
	if why := e.zeroPagesReason(); why != "" {
		e.log.Warn(why)
	}
	e.log.Info("Spider closed (" + reason + ")")
	e.mu.Lock()
	aborted := e.aborted
	e.mu.Unlock()
	return Result{Reason: reason, Errors: e.errCount.Load(), Stalled: stalled, Aborted: aborted, Stats: e.stats.Snapshot()}, nil
}

func feederDoneOrTimeout(done chan struct{}, d time.Duration) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		defer close(out)
		select {
		case <-done:
		case <-time.After(d):
		}
	}()
	return out
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// closeFeeds closes every feed once; an error (the closing bracket could
// not be written) fails the run with feed_error.
func (e *Engine) closeFeeds() {
	if e.feedsClosed.Swap(true) {
		return
	}
	for _, f := range e.opts.Feeds {
		if err := f.Close(); err != nil {
			e.log.Error("closing feed", "error", err)
			e.failClose(ReasonFeedError)
		}
	}
}

// loop is the scheduling loop. It returns when a close reason is set, with
// the stalled callbacks when the reason is "stalled".
func (e *Engine) loop() []string {
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	lastWatch := time.Now()
	logStats := newLogStats(e.opts.LogStatsInterval)
	mem := newMemWatch(e.opts.MemUsage)
	var idleSince, lastIdleFire time.Time
	keptOpen := false
	stallPolls := 0 // unblockWaiters' consecutive observations
	var stallSince time.Time
	for {
		if e.closing() != "" {
			return nil
		}
		e.pull()
		st := e.state()
		switch {
		case st.idle:
			stallPolls, stallSince = 0, time.Time{}
			if lastIdleFire.IsZero() || time.Since(lastIdleFire) >= e.opts.IdleInterval {
				lastIdleFire = time.Now()
				if keptOpen = e.fireIdle(); keptOpen {
					idleSince = time.Time{}
					break
				}
			} else if keptOpen {
				break // DontCloseSpider: wait for the next spider_idle
			}
			if idleSince.IsZero() {
				idleSince = time.Now()
			}
			if time.Since(idleSince) >= e.opts.MaxIdle {
				e.requestClose(e.opts.IdleReason)
				return nil
			}
		case st.onlyCallbacks:
			idleSince, lastIdleFire, keptOpen = time.Time{}, time.Time{}, false
			if r, ok := e.spider.(StallReporter); ok {
				if waiting := callStalled(r); len(waiting) > 0 {
					// The stall must last a whole poll interval: wake-ups
					// can make two polls microseconds apart, and a result
					// being posted between the states we read is not a
					// stall.
					if stallSince.IsZero() {
						stallSince = time.Now()
					}
					if time.Since(stallSince) >= e.opts.PollInterval {
						for _, w := range waiting {
							e.log.Error("callback stalled: nothing can resume it", "callback", w)
						}
						e.requestClose(ReasonStalled)
						return waiting
					}
				} else {
					stallSince = time.Time{}
				}
			}
		default:
			stallSince = time.Time{}
			idleSince, lastIdleFire, keptOpen = time.Time{}, time.Time{}, false
			if e.unblockWaiters(&stallPolls) {
				continue
			}
		}
		if d := e.opts.CloseSpiderTimeoutNoItem; d > 0 && time.Since(time.Unix(0, e.lastItem.Load())) >= d {
			e.requestClose(ReasonNoItem)
			return nil
		}
		if mem.due() && mem.check(e) {
			return nil
		}
		logStats.tick(e, time.Now())
		if w := e.opts.WatchdogInterval; w > 0 && time.Since(lastWatch) >= w {
			lastWatch = time.Now()
			if p := e.Progress(); p.Fetching > 0 {
				e.log.Info("crawl in progress", "in_flight", p.Fetching, "oldest_age", p.OldestInFlight.Round(time.Millisecond),
					"oldest_url", p.OldestURL, "queued", p.Queued, "waiting_for_slot", p.Waiting, "pages", p.Pages, "items", p.Items)
			}
		}
		select {
		case <-e.wake:
		case <-tick.C:
		case <-e.closeCh:
		}
	}
}

func callStalled(r StallReporter) (out []string) {
	defer func() {
		if v := recover(); v != nil {
			out = nil
		}
	}()
	return r.Stalled()
}

type engineState struct {
	idle          bool // nothing pending, in flight, running, or left to start
	onlyCallbacks bool // idle except for callbacks (or the start iterator) still running
}

func (e *Engine) state() engineState {
	e.mu.Lock()
	// A response not yet handed to the spider is progress the spider cannot
	// see yet: not idle, and no stall.
	busy := e.fetching > 0 || e.items > 0 || e.inSpider < e.processing || e.waitingLocked() > 0
	running := e.processing > 0 || e.startBusy
	startDone := e.startDone
	e.mu.Unlock()
	if busy || (!startDone && !running) {
		return engineState{}
	}
	if e.pending() > 0 {
		return engineState{}
	}
	if running {
		return engineState{onlyCallbacks: true}
	}
	return engineState{idle: true}
}

// unblockWaiters keeps the active bounds (MaxActiveRequests,
// MaxActiveSize) from deadlocking callbacks that wait on the results of
// other requests (JS ResultHolders): when pulling is blocked only by those
// bounds, nothing is being fetched, requests are pending, and the spider
// reports every active callback as waiting (two polls in a row), the bounds
// are raised — by ConcurrentRequests requests and MaxActiveSize bytes — so
// the requests they wait for can run. The raise ends once the active
// callbacks are back under the original bounds. It reports whether it
// raised them.
func (e *Engine) unblockWaiters(polls *int) bool {
	e.mu.Lock()
	reqLimit, byteLimit := e.opts.MaxActiveRequests, e.opts.MaxActiveSize
	overReqs := reqLimit > 0 && e.processing >= reqLimit+e.boost
	overBytes := e.activeBytes > byteLimit+e.boostBytes
	// Requests waiting for their slot are leased but not bound by MaxLeased.
	leased := e.leased - e.waitingLocked()
	overLeased := e.opts.MaxLeased > 0 && leased >= e.opts.MaxLeased+e.boost
	blocked := e.fetching == 0 && e.items < e.opts.MaxPendingItems && e.processing > 0 && (overReqs || overBytes || overLeased)
	waiting := e.waitingLocked() // requests the callbacks may wait on, taken but not started
	if (reqLimit <= 0 || e.processing < reqLimit) && e.activeBytes <= byteLimit &&
		(e.opts.MaxLeased <= 0 || leased < e.opts.MaxLeased) {
		e.boost, e.boostBytes = 0, 0
	}
	e.mu.Unlock()
	r, ok := e.spider.(StallReporter)
	if !blocked || !ok || (waiting == 0 && e.pending() == 0) || len(callStalled(r)) == 0 {
		*polls = 0
		return false
	}
	if *polls++; *polls < 2 {
		return false
	}
	*polls = 0
	e.mu.Lock()
	e.boost += e.opts.ConcurrentRequests
	e.boostBytes += byteLimit
	boost, boostBytes := e.boost, e.boostBytes
	e.mu.Unlock()
	e.log.Debug("callbacks wait on results of pending requests: pulling beyond the active bounds",
		"extra_requests", boost, "extra_bytes", boostBytes)
	return true
}

func (e *Engine) enterSpider() { e.mu.Lock(); e.inSpider++; e.mu.Unlock() }
func (e *Engine) leaveSpider() { e.mu.Lock(); e.inSpider--; e.mu.Unlock() }

func (e *Engine) pending() int {
	n, err := e.opts.Scheduler.Len(e.runCtx)
	if err != nil {
		e.log.Error("scheduler length", "error", err)
		return 1 // unknown: not idle
	}
	return n
}

// fireIdle emits spider_idle and runs the spider's IdleHandler, if any. It
// reports whether the crawl must stay open: the hook scheduled requests or
// asked to (DontCloseSpider).
func (e *Engine) fireIdle() bool {
	e.sig.emit(Event{Signal: SpiderIdle})
	h, ok := e.spider.(IdleHandler)
	if !ok {
		return false
	}
	before := e.scheduledCount.Load()
	var keep bool
	err := callErr(func() error {
		var err error
		keep, err = h.Idle(e.workCtx, &idleOutput{e: e})
		return err
	})
	if err != nil {
		e.spiderError(fmt.Errorf("spider_idle: %w", err), nil)
	}
	return keep || e.scheduledCount.Load() != before
}

// pull hands requests from the scheduler to fetch goroutines while there is
// room (Scrapy's needs_backout). With the ready-host layer (ready.go), the
// requests waiting for their slot go first once it can start them, and a
// request just taken whose slot cannot start waits there without taking
// a fetch place.
func (e *Engine) pull() {
	for {
		e.mu.Lock()
		if e.reason != "" || e.fetching >= e.opts.ConcurrentRequests ||
			e.items >= e.opts.MaxPendingItems || e.activeBytes > e.opts.MaxActiveSize+e.boostBytes ||
			(e.opts.MaxActiveRequests > 0 && e.processing+e.fetching >= e.opts.MaxActiveRequests+e.boost) {
			e.mu.Unlock()
			return
		}
		// A waiting request started counts against MaxLeased as a new one
		// does (it will be fetched and then wait for its ack): checked
		// first, or the requests fetched and not acknowledged — what a
		// kill fetches again — outgrow CONCURRENT_REQUESTS.
		if e.opts.MaxLeased > 0 && e.leased-e.waitingLocked() >= e.opts.MaxLeased+e.boost {
			e.mu.Unlock()
			// Requests waiting for the group commit hold the bound: commit
			// now rather than at the next interval.
			if e.group != nil && e.group.waiting() > 0 {
				e.group.nudge()
			}
			return
		}
		if e.hosts != nil {
			if req, h := e.hosts.pop(time.Now()); req != nil {
				e.fetching++
				e.mu.Unlock()
				e.wg.Add(1)
				go e.process(req, h)
				continue
			}
			if e.hosts.full() {
				e.mu.Unlock()
				return // a slot becoming ready or a fetch ending wakes the loop
			}
		}
		if hn, ok := e.opts.Scheduler.(scheduler.HostNexter); ok && e.hosts != nil {
			// Per-slot queues: only a request of a slot that can start
			// it, so one host's backlog never fills the layer.
			view := e.hosts.view(time.Now())
			e.fetching++
			e.leased++
			e.mu.Unlock()
			req, err := hn.NextHost(e.runCtx, view)
			if err != nil || req == nil {
				e.pullEmpty(1, err)
				return
			}
			e.start(req)
			continue
		}
		if bn, ok := e.opts.Scheduler.(scheduler.BatchNexter); ok {
			if n := e.roomLocked(); n > 1 {
				e.fetching += n
				e.leased += n
				e.mu.Unlock()
				if !e.pullBatch(bn, n) {
					return
				}
				continue
			}
		}
		e.fetching++
		e.leased++
		e.mu.Unlock()
		req, err := e.opts.Scheduler.Next(e.runCtx)
		if err != nil || req == nil {
			e.pullEmpty(1, err)
			return
		}
		e.start(req)
	}
}

// waitingLocked is how many requests wait in the ready-host layer.
func (e *Engine) waitingLocked() int {
	if e.hosts == nil {
		return 0
	}
	return e.hosts.waiting
}

// start starts a request just taken from the scheduler, its fetch place
// already counted, or — with the ready-host layer, when its slot cannot
// start it now — gives the place back and leaves it waiting for its slot.
func (e *Engine) start(req *crawl.Request) {
	var h *hostQueue
	if e.hosts != nil {
		e.mu.Lock()
		if e.reason != "" {
			// Closing: like a withdrawn fetch, it was never sent and stays
			// pending.
			e.fetching--
			e.leased--
			e.mu.Unlock()
			return
		}
		h = e.hosts.admit(req, time.Now())
		if h == nil {
			e.fetching--
			e.mu.Unlock()
			return
		}
		e.mu.Unlock()
	}
	e.wg.Add(1)
	go e.process(req, h)
}

// roomLocked is how many requests pull may take at once from a
// scheduler.BatchNexter: the places the count bounds leave. The bounds on
// bytes and items are checked once for the batch, so a batch is taken
// only while they are far from binding. Callers hold e.mu.
func (e *Engine) roomLocked() int {
	if e.items > e.opts.MaxPendingItems/2 || e.activeBytes > e.opts.MaxActiveSize/2 {
		return 1
	}
	n := e.opts.ConcurrentRequests - e.fetching
	if e.opts.MaxLeased > 0 {
		n = min(n, e.opts.MaxLeased+e.boost-e.leased+e.waitingLocked())
	}
	if e.hosts != nil {
		// Each request taken may have to wait: never more than the layer
		// holds.
		n = min(n, e.hosts.room())
	}
	if e.opts.MaxActiveRequests > 0 {
		n = min(n, e.opts.MaxActiveRequests+e.boost-e.processing-e.fetching)
	}
	return max(n, 1)
}

// pullBatch takes up to n requests (their places already counted) and
// starts them; it reports whether the scheduler gave all n.
func (e *Engine) pullBatch(bn scheduler.BatchNexter, n int) bool {
	reqs, err := bn.NextBatch(e.runCtx, n)
	for _, req := range reqs {
		e.start(req)
	}
	if len(reqs) < n || err != nil {
		e.pullEmpty(n-len(reqs), err)
		return false
	}
	return true
}

// pullEmpty gives back n places the scheduler did not fill, and asks for
// start requests when it ran dry.
func (e *Engine) pullEmpty(n int, err error) {
	e.mu.Lock()
	e.fetching -= n
	e.leased -= n
	startDone := e.startDone
	e.mu.Unlock()
	if err != nil {
		e.schedulerFailed("scheduler next", err)
	} else if !startDone {
		select {
		case e.needStart <- struct{}{}:
		default:
		}
	}
}

// feedStart pulls start requests lazily: a batch of up to
// ConcurrentRequests each time the scheduler runs dry, so a start generator
// of millions of requests is never materialised.
func (e *Engine) feedStart(ctx context.Context, it StartIterator, done chan struct{}) {
	defer close(done)
	defer func() {
		e.mu.Lock()
		e.startDone, e.startBusy = true, false
		e.mu.Unlock()
		e.wakeUp()
	}()
	if it == nil {
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.needStart:
		}
		for n := 0; n < e.opts.ConcurrentRequests; {
			e.mu.Lock()
			e.startBusy = true
			e.mu.Unlock()
			req, err := nextStart(ctx, it)
			e.mu.Lock()
			e.startBusy = false
			e.mu.Unlock()
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				if ctx.Err() == nil {
					e.spiderError(fmt.Errorf("start requests: %w", err), nil)
				}
				return
			}
			if req == nil {
				continue
			}
			req.Start = true
			if e.schedule(req, nil) {
				n++
				e.starts.schedule()
			}
		}
	}
}

func nextStart(ctx context.Context, it StartIterator) (req *crawl.Request, err error) {
	defer func() {
		if v := recover(); v != nil {
			req, err = nil, fmt.Errorf("panic: %v", v)
		}
	}()
	return it.Next(ctx)
}

// schedule enqueues r. Like Scrapy, it emits request_scheduled before the
// scheduler sees r (so that no response_received of r can come first) and
// request_dropped after, when the dupefilter rejected it. It reports
// whether r was enqueued. from is the task whose output r is (nil for start
// and idle requests): when r cannot be stored, from is not acknowledged, so
// a persistent scheduler gives it back and r is emitted again.
func (e *Engine) schedule(r *crawl.Request, from *task) bool {
	if e.opts.DontFilter {
		r.DontFilter = true
	}
	e.sig.emit(Event{Signal: RequestScheduled, Request: r})
	ok, err := e.opts.Scheduler.Enqueue(e.runCtx, r)
	if err != nil {
		if from != nil {
			from.keep(notStored("request "+r.URL, err))
		}
		e.schedulerFailed("scheduling request", err, "url", r.URL)
		e.sig.emit(Event{Signal: RequestDropped, Request: r, Err: err})
		return false
	}
	if !ok {
		e.sig.emit(Event{Signal: RequestDropped, Request: r})
		return false
	}
	e.scheduledCount.Add(1)
	// Wake the loop only when it could pull now: with every fetch slot
	// taken, the next finished download refills its slot itself, and ten
	// wake-ups per page cost measurable CPU.
	e.mu.Lock()
	room := e.fetching < e.opts.ConcurrentRequests
	e.mu.Unlock()
	if room {
		e.wakeUp()
	}
	return true
}

// task tracks one request until its callback output is committed: the
// callback returned and each item it emitted went through the pipelines
// into the feeds. Then the scheduler's Ack runs (a leasing backend deletes
// the lease) — with Options.DurableAcks, after the group commit made the
// items durable. A task whose output could not all be stored, or whose
// callback was cancelled at close, is never acknowledged: a persistent
// scheduler gives its request back to the next run.
type task struct {
	e       *Engine
	req     *crawl.Request
	pending atomic.Int32
	kept    atomic.Pointer[error] // why the request is not acknowledged
}

// keep marks the task's request as not to be acknowledged.
func (t *task) keep(why error) { t.kept.CompareAndSwap(nil, &why) }

func (t *task) done() {
	if t.pending.Add(-1) != 0 {
		return
	}
	e := t.e
	if why := t.kept.Load(); why != nil {
		e.log.Debug("request not acknowledged: it stays pending for a resumed crawl", "url", t.req.URL, "reason", *why)
		e.release(1)
		return
	}
	if e.group != nil && e.group.durable {
		e.group.add(t.req)
		return
	}
	e.ackAll([]*crawl.Request{t.req})
}

// process downloads one request and runs its callback or errback.
// h is its slot in the ready-host layer (nil when off).
func (e *Engine) process(req *crawl.Request, h *hostQueue) {
	defer e.wg.Done()
	t := &task{e: e, req: req}
	t.pending.Store(1)
	defer t.done()
	e.mu.Lock()
	e.inFetch[t] = time.Now()
	e.mu.Unlock()
	var onWaited func()
	if h != nil {
		onWaited = func() {
			e.mu.Lock()
			e.hosts.started(h)
			e.mu.Unlock()
			e.wakeUp() // the slot may take its next request
		}
	}
	fctx, wait, endFetch := e.fetchContext(onWaited)
	resp, next, err := e.fetch(fctx, req)
	withdrawn := err != nil && wait.withdrawn()
	endFetch()
	var size int64
	if err == nil && next == nil && resp != nil {
		size = max(int64(len(resp.Body)), 1024)
		if resp.Request == nil {
			resp.Request = req
		}
		// Count the page before the slot is refilled, so that
		// CLOSESPIDER_PAGECOUNT stops the pulling in time.
		e.stats.Inc(stats.ResponseReceivedCount, 1)
		e.sig.emit(Event{Signal: ResponseReceived, Response: resp, Request: resp.Request})
		if n := e.pages.Add(1); e.opts.CloseSpiderPageCount > 0 && n >= e.opts.CloseSpiderPageCount {
			e.requestClose(ReasonPageCount)
		}
		if e.log.Enabled(e.runCtx, slog.LevelDebug) {
			e.log.Debug(crawledLine(resp))
		}
	}
	e.mu.Lock()
	e.fetching--
	if h != nil {
		e.hosts.fetched(h)
	}
	delete(e.inFetch, t)
	e.processing++
	e.activeBytes += size
	e.mu.Unlock()
	// Refill the freed fetch slot from this goroutine rather than waiting
	// for the scheduling loop to be scheduled: on a busy machine that hop
	// costs throughput. (Never from a callback's Output: a JS callback
	// must not wait on the scheduler backend.)
	e.pull()
	defer func() {
		e.mu.Lock()
		e.processing--
		e.activeBytes -= size
		e.mu.Unlock()
		if e.opts.MaxActiveRequests > 0 {
			e.pull() // the slot this request held is free now
		}
		e.wakeUp()
	}()
	switch {
	case withdrawn || (err != nil && e.cancelled(err)):
		// Withdrawn from the downloader's waits by the close, or cut off
		// by it (abort, grace over): not the request's failure. It stays
		// pending for a resumed crawl.
		t.keep(err)
	case err != nil:
		f := asFailure(err, req)
		if req.Start {
			e.starts.fail(f)
		}
		e.errback(t, f)
	case next != nil:
		e.schedule(next, t)
	case resp != nil:
		base := e.newOutput(t, resp)
		out := e.wrapOutput(resp, base)
		e.enterSpider()
		defer e.leaveSpider()
		if err := callErr(func() error { return e.callback(resp, out) }); err != nil {
			if e.cancelled(err) {
				t.keep(err) // its output may be incomplete
			} else {
				e.spiderError(err, resp)
			}
		}
		base.flush() // before t.done: the requests are stored before the ack
	default:
		e.errback(t, crawl.NewFailure(crawl.UnknownError, req, errors.New("fetcher returned neither a response nor a request")))
	}
}

func (e *Engine) fetch(ctx context.Context, req *crawl.Request) (resp *crawl.Response, next *crawl.Request, err error) {
	defer func() {
		if v := recover(); v != nil {
			resp, next, err = nil, nil, crawl.NewFailure(crawl.UnknownError, req, fmt.Errorf("panic in downloader: %v", v))
		}
	}()
	return e.opts.Fetcher.Fetch(ctx, req)
}

func asFailure(err error, req *crawl.Request) *crawl.Failure {
	var f *crawl.Failure
	if errors.As(err, &f) {
		if f.Request == nil {
			f.Request = req
		}
		return f
	}
	t := crawl.UnknownError
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t = crawl.IgnoreRequest
	}
	return crawl.NewFailure(t, req, err)
}

// drain waits for in-flight work after a close reason was set: up to
// ShutdownGrace for a graceful close, not at all after Abort (or a stall,
// whose callbacks can never finish); then cancels what is left and waits up
// to AbortWait for it to return.
func (e *Engine) drain(stalled bool) {
	busy := func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		return e.fetching > 0 || e.processing > 0 || e.items > 0
	}
	grace := time.NewTimer(e.opts.ShutdownGrace)
	defer grace.Stop()
	tick := time.NewTicker(e.opts.PollInterval)
	defer tick.Stop()
	if !stalled {
		e.mu.Lock()
		n := e.fetching + e.processing - e.withdrawnLocked()
		e.mu.Unlock()
		if n > 0 {
			e.log.Info("waiting for in-flight requests", "in_flight", n, "grace", e.opts.ShutdownGrace)
		}
	wait:
		for busy() {
			select {
			case <-e.wake:
			case <-tick.C:
			case <-grace.C:
				e.log.Warn("shutdown grace period over; cancelling in-flight requests")
				break wait
			case <-e.abortCh:
				break wait
			}
		}
	}
	e.workCancel()
	if !waitTimeout(&e.wg, e.opts.AbortWait) {
		e.log.Error("some callbacks did not return after cancellation; closing anyway")
	}
}

// fetchCtx is fetch for inline downloads, with the caller's context bounded
// by the crawl's.
func (e *Engine) fetchCtx(ctx context.Context, req *crawl.Request) (resp *crawl.Response, next *crawl.Request, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(e.workCtx, cancel)
	defer stop()
	defer func() {
		if v := recover(); v != nil {
			resp, next, err = nil, nil, crawl.NewFailure(crawl.UnknownError, req, fmt.Errorf("panic in downloader: %v", v))
		}
	}()
	return e.opts.Fetcher.Fetch(ctx, req)
}
