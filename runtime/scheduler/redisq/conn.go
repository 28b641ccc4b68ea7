package redisq

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Dial returns a client for a redis:// or rediss:// URL with the settings
// the backend relies on: no hidden retries inside the client (retry() below
// owns retrying, with logging), and short dial/read timeouts so an outage is
// noticed quickly.
func Dial(rawURL string) (*redis.Client, error) { return DialWith(rawURL, DialOptions{}) }

// DialOptions tunes DialWith.
type DialOptions struct {
	// CAFile is a PEM file of the certificate authorities to trust for a
	// rediss:// server instead of the system's (a private CA or a
	// self-signed server). Verification itself is never turned off.
	CAFile string
}

// quietClientLog silences go-redis's own logger, which prints connection
// errors straight to stderr: a library must not print, and the retry loop
// below already reports outages through the crawl's logger.
var quietClientLog sync.Once

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// DialWith is Dial with options.
func DialWith(rawURL string, do DialOptions) (*redis.Client, error) {
	quietClientLog.Do(func() { redis.SetLogger(discardLogger{}) })
	o, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url %s: %w", weburl.Redact(rawURL), err)
	}
	if do.CAFile != "" {
		if o.TLSConfig == nil {
			return nil, fmt.Errorf("redis url %s: a CA file needs a rediss:// url", weburl.Redact(rawURL))
		}
		pem, err := os.ReadFile(do.CAFile)
		if err != nil {
			return nil, fmt.Errorf("redis tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("redis tls ca %s: no PEM certificate found", do.CAFile)
		}
		o.TLSConfig.RootCAs = pool
	}
	o.MaxRetries = -1
	o.DialerRetries = 1 // one dial per attempt: retry() backs off and logs
	o.DialTimeout = 2 * time.Second
	o.ReadTimeout = 10 * time.Second
	o.WriteTimeout = 10 * time.Second
	// RESP2: the Debian 7.0 server speaks RESP3 too, but RESP2 keeps Lua
	// replies in the plain shapes the scripts are written for.
	o.Protocol = 2
	o.DisableIdentity = true
	return redis.NewClient(o), nil
}

// retryer runs Redis operations through outages: a network error, a server
// that is still loading its AOF, or a full server (OOM under noeviction)
// pauses the caller, which retries with capped exponential backoff until the
// server answers again or ctx ends. It logs once when the outage starts, every
// 30 s while it lasts, and once when it ends.
type retryer struct {
	log        *slog.Logger
	maxBackoff time.Duration

	mu        sync.Mutex
	downSince time.Time
	lastLog   time.Time
}

func (r *retryer) do(ctx context.Context, op string, f func(ctx context.Context) error) error {
	backoff := 50 * time.Millisecond
	for {
		err := f(ctx)
		if err == nil || errors.Is(err, redis.Nil) {
			r.up(op)
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("redis %s: %w", op, ctx.Err())
		}
		if !retryable(err) {
			return fmt.Errorf("redis %s: %w", op, err)
		}
		r.down(op, err)
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return fmt.Errorf("redis %s: %w (while waiting for redis: %v)", op, ctx.Err(), err)
		case <-time.After(wait):
		}
		backoff = min(backoff*2, r.maxBackoff)
	}
}

func (r *retryer) down(op string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := time.Now()
	if r.downSince.IsZero() {
		r.downSince, r.lastLog = now, now
		lvl := slog.LevelWarn
		if isOOM(err) {
			// A full server drops nothing silently: writes pause until
			// memory is freed; say so loudly.
			lvl = slog.LevelError
		}
		r.log.Log(context.Background(), lvl, "redis unavailable; pausing and retrying with backoff", "op", op, "error", err)
		return
	}
	if now.Sub(r.lastLog) >= 30*time.Second {
		r.lastLog = now
		r.log.Warn("redis still unavailable", "op", op, "for", now.Sub(r.downSince).Round(time.Second), "error", err)
	}
}

func (r *retryer) up(op string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.downSince.IsZero() {
		r.log.Info("redis is reachable again; continuing", "op", op, "outage", time.Since(r.downSince).Round(time.Millisecond))
		r.downSince = time.Time{}
	}
}

func isOOM(err error) bool { return strings.HasPrefix(err.Error(), "OOM ") }

// retryable tells outages (wait and retry) from errors a retry cannot fix
// (a wrong key type, a script bug, bad credentials).
func retryable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, redis.ErrPoolTimeout) {
		return true
	}
	msg := err.Error()
	for _, p := range []string{"LOADING ", "OOM ", "BUSY ", "TRYAGAIN", "MASTERDOWN", "READONLY ", "CLUSTERDOWN"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	for _, s := range []string{"connection refused", "connection reset", "broken pipe", "i/o timeout", "use of closed network connection", "EOF"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}
