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

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/settings"
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

// DialRedis returns a client for the spec's REDIS_URL, trusting
// REDIS_TLS_CA_FILE (relative to the spec) for rediss://. It does not
// connect yet.
func DialRedis(spec *dsl.Spec) (*redis.Client, error) {
	v := ResolveSettings(spec.Settings)
	return dialRedis(spec, &v)
}

func dialRedis(spec *dsl.Spec, v *settings.Values) (*redis.Client, error) {
	ca := v.RedisTLSCAFile
	if ca != "" {
		ca = spec.Path(ca)
	}
	rdb, err := redisq.DialWith(v.RedisURL, redisq.DialOptions{CAFile: ca})
	if err != nil {
		return nil, fmt.Errorf("settings.REDIS_URL: %w", err)
	}
	return rdb, nil
}
