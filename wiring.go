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
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/websocket"
)

// newLogger returns the crawl's logger: text lines on w at LOG_LEVEL,
// counted in stats as log_count/<LEVEL>.
func newLogger(w io.Writer, level string, st stats.Collector) *slog.Logger {
	if w == nil {
		w = io.Discard
	}
	var lvl slog.Level
	switch strings.ToUpper(level) {
	case "DEBUG":
		lvl = slog.LevelDebug
	case "WARNING", "WARN":
		lvl = slog.LevelWarn
	case "ERROR", "CRITICAL":
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
func newScheduler(spec *dsl.Spec, set *dsl.Settings, logger *slog.Logger, st stats.Collector) (scheduler.Scheduler, *redisq.Scheduler, func(), error) {
	kind := set.String("SCHEDULER")
	jobdir := set.String("JOBDIR")
	if jobdir != "" && set.Source("JOBDIR") == "spec" && !filepath.IsAbs(jobdir) {
		jobdir = filepath.Join(spec.Dir, jobdir)
	}
	switch {
	case jobdir != "" && (kind == "redis" || len(spec.RedisKeys) > 0):
		return nil, nil, nil, fmt.Errorf("settings.JOBDIR: a Redis crawl keeps its state in Redis; JOBDIR is for crawls on one machine")
	case jobdir != "":
		kind = "disk"
	case kind == "disk":
		return nil, nil, nil, fmt.Errorf("settings.SCHEDULER: disk needs a directory: set JOBDIR or pass --jobdir DIR")
	}
	if len(spec.RedisKeys) > 0 && kind != "redis" {
		logger.Info("redis_key makes this a RedisSpider: using SCHEDULER redis", "redis_url", redisq.RedactURL(set.String("REDIS_URL")))
		kind = "redis"
	}
	switch kind {
	case "", "memory":
		if set.String("DUPEFILTER") == "bloom" {
			return nil, nil, nil, fmt.Errorf("settings.DUPEFILTER: bloom needs SCHEDULER: redis (the in-memory dupefilter stores 16-byte fingerprints)")
		}
		return scheduler.NewMemory(scheduler.MemoryOptions{Stats: st, Logger: logger, Debug: set.Bool("DUPEFILTER_DEBUG")}), nil, nil, nil
	case "disk":
		if set.String("DUPEFILTER") == "bloom" {
			return nil, nil, nil, fmt.Errorf("settings.DUPEFILTER: bloom needs SCHEDULER: redis")
		}
		// The spider's name is checked, not its spec's content: fixing a
		// callback and resuming is what a paused crawl is for.
		d, err := diskq.Open(jobdir, diskq.Options{Spider: spec.Name, Fsync: set.Bool("JOBDIR_FSYNC"),
			Stats: st, Logger: logger, Debug: set.Bool("DUPEFILTER_DEBUG")})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("jobdir: %w", err)
		}
		return d, nil, nil, nil
	case "redis":
		rdb, err := DialRedis(spec)
		if err != nil {
			return nil, nil, nil, err
		}
		s, err := redisq.New(redisq.Options{
			Client:         rdb,
			Name:           spec.Name,
			LeaseTimeout:   set.Duration("REDIS_LEASE_TIMEOUT"),
			Persist:        set.Bool("SCHEDULER_PERSIST"),
			FlushOnStart:   set.Bool("SCHEDULER_FLUSH_ON_START"),
			Dupefilter:     set.String("DUPEFILTER"),
			BloomCapacity:  int64(set.Int("DUPEFILTER_BLOOM_CAPACITY")),
			BloomErrorRate: set.Float("DUPEFILTER_BLOOM_ERROR_RATE"),
			ItemsKey:       redisq.ExpandKey(set.String("REDIS_ITEMS_KEY"), spec.Name),
			Logger:         logger,
			Stats:          st,
		})
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

// redisStartKind maps REDIS_START_URLS_AS_SET / _AS_ZSET to the key type.
func redisStartKind(set *dsl.Settings) string {
	switch {
	case set.Bool("REDIS_START_URLS_AS_ZSET"):
		return redisq.KindZSet
	case set.Bool("REDIS_START_URLS_AS_SET"):
		return redisq.KindSet
	}
	return redisq.KindList
}

// DialRedis returns a client for the spec's REDIS_URL, trusting
// REDIS_TLS_CA_FILE (relative to the spec) for rediss://. It does not
// connect yet.
func DialRedis(spec *dsl.Spec) (*redis.Client, error) {
	ca := spec.Settings.String("REDIS_TLS_CA_FILE")
	if ca != "" && !filepath.IsAbs(ca) {
		ca = filepath.Join(spec.Dir, ca)
	}
	rdb, err := redisq.DialWith(spec.Settings.String("REDIS_URL"), redisq.DialOptions{CAFile: ca})
	if err != nil {
		return nil, fmt.Errorf("settings.REDIS_URL: %w", err)
	}
	return rdb, nil
}
