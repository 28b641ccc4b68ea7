package spiderrun

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/diskq"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/session"
	"github.com/spiderrun/spiderrun/runtime/settings"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// backend is one SCHEDULER backend (memory, disk, Redis) with everything a
// crawl takes from it besides the queue. New wires whichever backend the
// spec chose through these fields alone: what differs between a crawl in
// memory, one kept in a JOBDIR and a worker of a shared Redis crawl is
// decided by the constructor of its backend (memoryBackend, diskBackend,
// redisBackend), never by a check on the backend's type.
type backend struct {
	// Scheduler is the frontier and dupefilter. The engine opens and
	// closes it.
	Scheduler scheduler.Scheduler
	// Sinks are item pipelines run after the spec's pipelines (the Redis
	// items list, REDIS_ITEMS_KEY).
	Sinks []pipeline.Pipeline
	// Gate is the downloader's politeness gate shared with other processes
	// (per-domain delays across every Redis worker); nil for none.
	Gate downloader.SlotGate
	// Middlewares are spider middlewares added after the built-in ones (the
	// Redis task source, the start wrapper of every Redis worker).
	Middlewares []engine.SpiderMiddleware
	// IdleReason is the close reason of an idle crawl (engine.Options).
	IdleReason string
	// MaxActive bounds the requests held at once (engine.Options
	// MaxActiveRequests); 0 bounds only their bytes.
	MaxActive int
	// Durable acknowledges requests only once their items are on disk
	// (engine.Options DurableAcks): the frontier outlives the process.
	Durable bool
	// MaxLeased bounds the requests handed out and not yet acknowledged
	// (engine.Options MaxLeased): what a killed crawl fetches again. The
	// persistent backends use unackedBound.
	MaxLeased int
	// Resumed reports a crawl resumed from a JOBDIR that had already seen
	// requests: its feeds are continued, not overwritten.
	Resumed bool
	// Close releases what the backend holds besides its scheduler (the
	// Redis connection). It is never nil.
	Close func()
	// WorkerID and PublishStats, in a Redis crawl, name this worker and
	// store its periodic stats snapshot in Redis for `spiderrun status`
	// (statsnap.Writer.Publish); nil otherwise.
	WorkerID     string
	PublishStats func(b []byte, final bool) error
}

// backendOptions is what the backends are built from. The JavaScript
// spider, the cookie jars and the sessions are there for the disk backend
// (which restores and saves them: jobstate.go) and the Redis task source
// (make_request_from_data, callbacks named by tasks).
type backendOptions struct {
	Spec     *dsl.Spec
	Values   *settings.Values
	JS       *jsbridge.Spider
	Jars     *middleware.CookieJars
	Sessions *session.Registry
	Logger   *slog.Logger
	Stats    stats.Collector
}

// newBackend builds the SCHEDULER backend planScheduler selects (check.go:
// JOBDIR makes it disk, redis_key a RedisSpider on Redis).
func newBackend(o backendOptions) (*backend, error) {
	// The combination was checked (CheckSettings, which New runs first);
	// the error here is defensive.
	plan, perr := planScheduler(o.Spec, o.Values)
	if perr != nil {
		return nil, fmt.Errorf("settings.%s: %s", perr.setting, perr.msg)
	}
	if plan.implicitRedis {
		o.Logger.Info("redis_key makes this a RedisSpider: using SCHEDULER redis", "redis_url", weburl.Redact(o.Values.RedisURL))
	}
	switch plan.kind {
	case settings.SchedulerDisk:
		if plan.jobdir == "" {
			return tempDiskBackend(o)
		}
		return diskBackend(o, plan.jobdir)
	case settings.SchedulerRedis:
		return redisBackend(o)
	default:
		return memoryBackend(o)
	}
}

// memoryBackend is a crawl held in this process: nothing outlives it, so
// requests are acknowledged at once and only their bytes are bounded.
func memoryBackend(o backendOptions) (*backend, error) {
	mo := scheduler.MemoryFromSettings(o.Values)
	mo.Stats, mo.Logger = o.Stats, o.Logger
	if scheduler.PerSlot(o.Values) {
		// The engine's ready-host layer and the downloader key slots so:
		// the queues must agree with them.
		mo.SlotKey = downloader.SlotKey
	}
	return &backend{
		Scheduler:  scheduler.NewMemory(mo),
		IdleReason: engine.ReasonFinished,
		Close:      func() {},
	}, nil
}

// diskBackend is a crawl kept in a JOBDIR: the frontier, and beside it the
// cookies, the register_sessions state and spider.state (jobState). A
// killed crawl fetches again at most CONCURRENT_REQUESTS requests.
func diskBackend(o backendOptions, jobdir string) (*backend, error) {
	v := o.Values
	// The spider's name is checked, not its spec's content: fixing a
	// callback and resuming is what a paused crawl is for.
	do := diskq.FromSettings(v)
	do.Spider, do.Stats, do.Logger = o.Spec.Name, o.Stats, o.Logger
	if scheduler.PerSlot(v) {
		do.SlotKey = downloader.SlotKey // as for memory: the engine's and downloader's slots
	}
	d, err := diskq.Open(jobdir, do)
	if err != nil {
		return nil, fmt.Errorf("jobdir: %w", err)
	}
	j, err := withJobState(d, o.Jars, o.Sessions, o.JS, o.Logger)
	if err != nil {
		return nil, err
	}
	return &backend{
		Scheduler:  j,
		IdleReason: engine.ReasonFinished,
		Durable:    true,
		MaxLeased:  unackedBound(v),
		Resumed:    d.Seen() > 0,
		Close:      func() {},
	}, nil
}

// tempDiskBackend is SCHEDULER: disk without a JOBDIR: the disk frontier
// in a temporary directory, for a crawl whose frontier would not fit in
// memory (specs/benchmarks.md: 460 MB peak RSS at 10 M URLs seen against
// ~340 B per queued URL in memory). Nothing is resumable: the directory
// is removed when the crawl closes (a kill -9 leaves it in TMPDIR, named
// in the log).
func tempDiskBackend(o backendOptions) (*backend, error) {
	dir, err := os.MkdirTemp("", "spiderrun-frontier-")
	if err != nil {
		return nil, fmt.Errorf("SCHEDULER disk without JOBDIR: temporary directory: %w", err)
	}
	b, err := diskBackend(o, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	o.Logger.Info("disk frontier in a temporary directory, removed when the crawl closes (set JOBDIR to pause and resume)", "dir", dir)
	// Nothing resumes from it: acknowledgements need not wait on the
	// feeds (and compressed feeds are allowed), as in memory mode.
	b.Resumed, b.Durable = false, false
	closeDisk := b.Close
	b.Close = func() {
		closeDisk()
		if err := os.RemoveAll(dir); err != nil {
			o.Logger.Warn("could not remove the temporary disk frontier", "dir", dir, "error", err)
		}
	}
	return b, nil
}

// redisBackend is one worker of a crawl shared through Redis: the frontier,
// the dupefilter, the politeness delays and (with REDIS_ITEMS_KEY) the
// items live in Redis. Every worker goes through the task source: with
// redis_key it pulls tasks, and in all cases it closes only when the whole
// crawl is idle (no queue, no lease held by any worker), with reason
// "idle".
//
// Each request a worker holds (fetching, in or waiting for its callback,
// waiting for the group commit) is a lease, and a worker that dies hands
// all of its leases back to be fetched again. Two bounds keep that small
// (specs/distributed.md, "Leases and refetches"): the engine takes at most
// 2 × CONCURRENT_REQUESTS requests it has not acknowledged (MaxLeased,
// unackedBound), and the scheduler never holds more than 3 ×
// CONCURRENT_REQUESTS leases in all (redisq.Options.MaxLeases, from
// redisq.FromSettings): the engine's requests plus task entries read
// ahead, and whatever the engine takes beyond MaxLeased while callbacks
// wait on one another. A SIGKILL thus refetches at most 2 ×
// CONCURRENT_REQUESTS pages (3 × while callbacks wait on one another). The requests waiting in
// the engine for their slot (up to SCHEDULER_WAITING_MAX) are leased on
// top of both bounds and handed back too, but were never fetched. MaxActive is looser
// than MaxLeased and never binds first; it stays as a second fence.
// unackedBound is the persistent backends' MaxLeased: 2 ×
// CONCURRENT_REQUESTS requests taken from the scheduler and not yet
// acknowledged — CONCURRENT_REQUESTS being fetched, and as many in or
// waiting for their callback or for the group commit. With only
// CONCURRENT_REQUESTS the requests waiting for a callback or a commit took
// fetch places: a --jobdir crawl ran at 60 % of memory mode's pages/s,
// at 85 % with this bound (specs/benchmarks.md). It is also what a kill
// -9 fetches again, at most.
func unackedBound(v *settings.Values) int { return 2 * max(v.ConcurrentRequests, 1) }

func redisBackend(o backendOptions) (*backend, error) {
	spec, v, js := o.Spec, o.Values, o.JS
	rdb, err := dialRedis(spec, v)
	if err != nil {
		return nil, err
	}
	ro := redisq.FromSettings(v)
	ro.Client, ro.Name, ro.Logger, ro.Stats = rdb, spec.Name, o.Logger, o.Stats
	if ro.MaxLeases > 0 {
		// Requests waiting in the engine for their download slot
		// (SCHEDULER_WAITING_MAX) are leased too: without room for them a
		// slow host's waiting requests would use up the bound and starve
		// the other hosts. A kill hands them back; they were never fetched.
		ro.MaxLeases += v.SchedulerWaitingMax
	}
	s, err := redisq.New(ro)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	b := &backend{
		Scheduler:  s,
		Gate:       s.Gate(),
		IdleReason: "idle",
		MaxActive:  4 * max(v.ConcurrentRequests, 1),
		Durable:    true,
		MaxLeased:  unackedBound(v),
		Close:      func() { rdb.Close() },
	}
	if w := s.Items(); w != nil {
		b.Sinks = append(b.Sinks, w)
	}
	b.WorkerID = s.WorkerID()
	b.PublishStats = func(snap []byte, final bool) error {
		// A live snapshot outlives a few missed intervals, so a slow write
		// does not make a worker vanish from status, and then expires:
		// a killed worker's figures go away by themselves. The last one
		// stays an hour, so status shows how each worker ended.
		ttl := max(3*v.StatsSnapshotInterval, 15*time.Second)
		if final {
			ttl = time.Hour
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.PublishStats(ctx, snap, ttl)
	}
	to := redisq.TasksFromSettings(v)
	to.Keys = spec.RedisKeys
	// A RedisSpider waits MAX_IDLE_TIME_BEFORE_CLOSE with no work anywhere
	// (0 = forever, waiting for pushed tasks, as in scrapy-redis); a crawl
	// without redis_key closes as soon as the shared crawl is idle (no
	// queued request, no lease, no worker still queuing its own start
	// requests), or after the setting's time when it is set.
	to.KnownCallback = js.HasExport
	if js.HasExport("make_request_from_data") {
		to.MakeRequests = func(ctx context.Context, data []byte) ([]*crawl.Request, error) {
			reqs, _, err := js.MakeRequestsFromData(ctx, data)
			return reqs, err
		}
	}
	b.Middlewares = append(b.Middlewares, &redisTasks{sched: s, opts: to})
	return b, nil
}

// redisTasks is the start wrapper (a spider middleware) of every worker of
// a Redis crawl: the spider's own start requests first, then tasks pulled
// from redis_key (when set) under backpressure, until the shared crawl has
// been idle for the task source's MaxIdle; the engine then closes with
// reason "idle".
type redisTasks struct {
	sched *redisq.Scheduler
	opts  redisq.TaskOptions
}

func (r *redisTasks) WrapOutput(_ *crawl.Response, next engine.Output) engine.Output { return next }

func (r *redisTasks) WrapStart(start engine.StartIterator) engine.StartIterator {
	o := r.opts
	o.Inner = start
	return r.sched.Tasks(o)
}
