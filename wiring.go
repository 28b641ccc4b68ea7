package spiderrun

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/diskq"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/settings"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/websocket"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// newLogger returns the crawl's logger: text lines on w at LOG_LEVEL,
// counted in stats as log_count/<LEVEL>.
func newLogger(w io.Writer, level string, st stats.Collector) *slog.Logger {
	if w == nil {
		w = io.Discard
	}
	var lvl slog.Level
	switch strings.ToUpper(level) {
	case settings.LogLevelDebug:
		lvl = slog.LevelDebug
	case settings.LogLevelWarning, "WARN":
		lvl = slog.LevelWarn
	case settings.LogLevelError, settings.LogLevelCritical:
		lvl = slog.LevelError
	default:
		lvl = slog.LevelInfo
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl})
	return slog.New(stats.NewCountingHandler(h, st))
}

// newScheduler builds the SCHEDULER backend; a spec with redis_key (a
// RedisSpider) always uses Redis, whose leases its tasks need. The *redisq
// result is nil for the memory backend. The returned func releases what the
// backend holds (a Redis connection).
func newScheduler(spec *dsl.Spec, v *settings.Values, logger *slog.Logger, st stats.Collector) (scheduler.Scheduler, *redisq.Scheduler, func(), error) {
	kind := v.Scheduler
	jobdir := v.JobDir
	if jobdir != "" && spec.Settings.Source("JOBDIR") == "spec" && !filepath.IsAbs(jobdir) {
		jobdir = filepath.Join(spec.Dir, jobdir)
	}
	switch {
	case jobdir != "" && (kind == settings.SchedulerRedis || len(spec.RedisKeys) > 0):
		return nil, nil, nil, fmt.Errorf("settings.JOBDIR: a Redis crawl keeps its state in Redis; JOBDIR is for crawls on one machine")
	case jobdir != "":
		kind = settings.SchedulerDisk
	case kind == settings.SchedulerDisk:
		return nil, nil, nil, fmt.Errorf("settings.SCHEDULER: disk needs a directory: set JOBDIR or pass --jobdir DIR")
	}
	if len(spec.RedisKeys) > 0 && kind != settings.SchedulerRedis {
		logger.Info("redis_key makes this a RedisSpider: using SCHEDULER redis", "redis_url", weburl.Redact(v.RedisURL))
		kind = settings.SchedulerRedis
	}
	switch kind {
	case "", settings.SchedulerMemory:
		if v.Dupefilter == settings.DupefilterBloom {
			return nil, nil, nil, fmt.Errorf("settings.DUPEFILTER: bloom needs SCHEDULER: redis (the in-memory dupefilter stores 16-byte fingerprints)")
		}
		mo := scheduler.MemoryFromSettings(v)
		mo.Stats, mo.Logger = st, logger
		return scheduler.NewMemory(mo), nil, nil, nil
	case settings.SchedulerDisk:
		if v.Dupefilter == settings.DupefilterBloom {
			return nil, nil, nil, fmt.Errorf("settings.DUPEFILTER: bloom needs SCHEDULER: redis")
		}
		// The spider's name is checked, not its spec's content: fixing a
		// callback and resuming is what a paused crawl is for.
		do := diskq.FromSettings(v)
		do.Spider, do.Stats, do.Logger = spec.Name, st, logger
		d, err := diskq.Open(jobdir, do)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("jobdir: %w", err)
		}
		return d, nil, nil, nil
	case settings.SchedulerRedis:
		rdb, err := dialRedis(spec.Dir, v)
		if err != nil {
			return nil, nil, nil, err
		}
		ro := redisq.FromSettings(v)
		ro.Client, ro.Name, ro.Logger, ro.Stats = rdb, spec.Name, logger, st
		s, err := redisq.New(ro)
		if err != nil {
			rdb.Close()
			return nil, nil, nil, err
		}
		return s, s, func() { rdb.Close() }, nil
	default:
		return nil, nil, nil, fmt.Errorf("settings.SCHEDULER: %q is not a scheduler (memory, disk or redis)", kind)
	}
}

// sharedImpersonation builds the impersonating transport once per crawl;
// HTTP requests and WebSocket handshakes share it (and its TLS sessions).
// The second func closes it when it was built.
func sharedImpersonation(h downloader.HTTPOptions, dial func(ctx context.Context, network, addr string) (net.Conn, error), logger *slog.Logger) (get func() (*impersonate.Transport, error), release func()) {
	var (
		mu  sync.Mutex
		t   *impersonate.Transport
		err error
	)
	get = func() (*impersonate.Transport, error) {
		mu.Lock()
		defer mu.Unlock()
		if t == nil && err == nil {
			t, err = impersonate.NewTransport(impersonate.Options{RootCAs: h.RootCAs, Logger: logger, DialContext: dial})
		}
		return t, err
	}
	release = func() {
		mu.Lock()
		defer mu.Unlock()
		if t != nil {
			t.Close()
		}
	}
	return get, release
}

// transportFor adapts the shared impersonating transport to the
// downloader's TransportFor: an unknown profile fails the request.
func transportFor(imp func() (*impersonate.Transport, error)) func(string) (downloader.Transport, error) {
	return func(profile string) (downloader.Transport, error) {
		if _, err := impersonate.LoadProfile(profile); err != nil {
			return nil, err
		}
		return imp()
	}
}

// tlsDialer adapts the shared impersonating transport to the WebSocket
// manager's dialer.
func tlsDialer(imp func() (*impersonate.Transport, error)) websocket.DialTLSFunc {
	return func(ctx context.Context, network, addr, profile string, proxy *url.URL, alpn []string) (net.Conn, error) {
		t, err := imp()
		if err != nil {
			return nil, err
		}
		return t.DialTLS(ctx, network, addr, profile, proxy, alpn)
	}
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

// DialRedis returns a client for the spec's REDIS_URL, trusting
// REDIS_TLS_CA_FILE (relative to the spec) for rediss://. It does not
// connect yet.
func DialRedis(spec *dsl.Spec) (*redis.Client, error) {
	v := ResolveSettings(spec.Settings)
	return dialRedis(spec.Dir, &v)
}

func dialRedis(dir string, v *settings.Values) (*redis.Client, error) {
	ca := v.RedisTLSCAFile
	if ca != "" && !filepath.IsAbs(ca) {
		ca = filepath.Join(dir, ca)
	}
	rdb, err := redisq.DialWith(v.RedisURL, redisq.DialOptions{CAFile: ca})
	if err != nil {
		return nil, fmt.Errorf("settings.REDIS_URL: %w", err)
	}
	return rdb, nil
}
