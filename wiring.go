package spiderrun

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/logging"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/settings"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// newLogger returns the crawl's logger, counted in stats as
// log_count/<LEVEL>: LOG_FORMAT lines at LOG_LEVEL on w, or on LOG_FILE
// when set (the returned func closes it), or nowhere when LOG_ENABLED is
// false.
func newLogger(w io.Writer, v *settings.Values, st stats.Collector) (*slog.Logger, func(), error) {
	if w == nil || !v.LogEnabled {
		w = io.Discard
	}
	closeFile := func() {}
	if v.LogFile != "" && v.LogEnabled {
		f, err := openLogFile(v.LogFile, v.LogFileAppend)
		if err != nil {
			return nil, nil, err
		}
		w, closeFile = f, func() { f.Close() }
	}
	level, err := logging.ParseLevel(v.LogLevel)
	if err != nil {
		closeFile()
		return nil, nil, err
	}
	format := v.LogFormat
	scrapyFormat := strings.Contains(format, "%(")
	if scrapyFormat {
		format = logging.FormatText
	}
	h, err := logging.NewHandler(w, format, level)
	if err != nil {
		closeFile()
		return nil, nil, err
	}
	logger := slog.New(stats.NewCountingHandler(h, st))
	if scrapyFormat {
		logger.Warn("LOG_FORMAT is a Scrapy format string: ignored, lines keep Scrapy's default layout (LOG_FORMAT takes text or json)", "LOG_FORMAT", v.LogFormat)
	}
	return logger, closeFile, nil
}

// openLogFile opens LOG_FILE, creating its directory as Scrapy's
// logging does.
func openLogFile(path string, appendTo bool) (*os.File, error) {
	if dir := filepath.Dir(path); dir != "." {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("LOG_FILE: %w", err)
		}
	}
	flag := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if !appendTo {
		flag = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, 0o644)
	if err != nil {
		return nil, fmt.Errorf("LOG_FILE: %w", err)
	}
	return f, nil
}

// sharedImpersonation builds the impersonating transport once per crawl;
// HTTP requests and WebSocket handshakes share it (and its TLS sessions).
// The second func closes it when it was built.
// resolveUDP resolves and guards QUIC endpoints (downloader.Dialer.ResolveUDP);
// st counts the transport's HTTP/3 races (downloader/http3/...).
func sharedImpersonation(h downloader.HTTPOptions, dial func(ctx context.Context, network, addr string) (net.Conn, error), resolveUDP func(ctx context.Context, addr string) (netip.AddrPort, error), logger *slog.Logger, st stats.Collector) (get func() (*impersonate.Transport, error), release func()) {
	var (
		mu  sync.Mutex
		t   *impersonate.Transport
		err error
	)
	get = func() (*impersonate.Transport, error) {
		mu.Lock()
		defer mu.Unlock()
		if t == nil && err == nil {
			t, err = impersonate.NewTransport(impersonate.Options{RootCAs: h.RootCAs, Logger: logger, DialContext: dial, ResolveUDP: resolveUDP, Stats: st})
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

// DialRedis returns a client for the spec's REDIS_URL, trusting
// REDIS_TLS_CA_FILE (relative to the spec) for rediss://: one server, or
// with REDIS_SENTINELS / REDIS_CLUSTER_NODES a Sentinel-managed primary or
// a Redis Cluster. It does not connect yet.
func DialRedis(spec *dsl.Spec) (redis.UniversalClient, error) {
	v := ResolveSettings(spec.Settings)
	return dialRedis(spec, &v)
}

func dialRedis(spec *dsl.Spec, v *settings.Values) (redis.UniversalClient, error) {
	do := redisq.DialFromSettings(v)
	if _, err := do.Mode(); err != nil {
		return nil, fmt.Errorf("settings: %w", err) // the message names the setting
	}
	if ca := v.RedisTLSCAFile; ca != "" {
		do.CAFile = spec.Path(ca)
	}
	rdb, err := redisq.DialWith(v.RedisURL, do)
	if err != nil {
		return nil, fmt.Errorf("settings.REDIS_URL: %w", err)
	}
	return rdb, nil
}
