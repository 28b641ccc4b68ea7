package spiderrun

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
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

// newScheduler builds the SCHEDULER backend. The returned func releases
// what the backend holds (a Redis connection).
func newScheduler(spec *dsl.Spec, set *dsl.Settings, logger *slog.Logger, st stats.Collector) (scheduler.Scheduler, func(), error) {
	switch kind := set.String("SCHEDULER"); kind {
	case "", "memory":
		if set.String("DUPEFILTER") == "bloom" {
			return nil, nil, fmt.Errorf("settings.DUPEFILTER: bloom needs SCHEDULER: redis (the in-memory dupefilter stores 16-byte fingerprints)")
		}
		return scheduler.NewMemory(scheduler.MemoryOptions{Stats: st, Logger: logger, Debug: set.Bool("DUPEFILTER_DEBUG")}), nil, nil
	case "redis":
		rdb, err := redisq.Dial(set.String("REDIS_URL"))
		if err != nil {
			return nil, nil, fmt.Errorf("settings.REDIS_URL: %w", err)
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
			ItemsKey:       set.String("REDIS_ITEMS_KEY"),
			Logger:         logger,
			Stats:          st,
		})
		if err != nil {
			rdb.Close()
			return nil, nil, err
		}
		return s, func() { rdb.Close() }, nil
	default:
		return nil, nil, fmt.Errorf("settings.SCHEDULER: %q is not available in this build (memory or redis)", kind)
	}
}

// sharedImpersonation builds the impersonating transport once per crawl;
// HTTP requests and WebSocket handshakes share it (and its TLS sessions).
// The second func closes it when it was built.
func sharedImpersonation(h downloader.HTTPOptions, logger *slog.Logger) (get func() (*impersonate.Transport, error), release func()) {
	var (
		mu  sync.Mutex
		t   *impersonate.Transport
		err error
	)
	get = func() (*impersonate.Transport, error) {
		mu.Lock()
		defer mu.Unlock()
		if t == nil && err == nil {
			t, err = impersonate.NewTransport(impersonate.Options{RootCAs: h.RootCAs, Logger: logger})
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
