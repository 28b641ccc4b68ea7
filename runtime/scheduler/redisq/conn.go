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
	"strconv"
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
func Dial(rawURL string) (redis.UniversalClient, error) { return DialWith(rawURL, DialOptions{}) }

// DialOptions tunes DialWith.
type DialOptions struct {
	// CAFile is a PEM file of the certificate authorities to trust for a
	// rediss:// server instead of the system's (a private CA or a
	// self-signed server). Verification itself is never turned off.
	CAFile string
	// Sentinels (REDIS_SENTINELS) are the host:port addresses of Redis
	// Sentinels watching the primary MasterName (REDIS_MASTER_NAME): the
	// client asks them for the current primary and follows a failover.
	// The URL then gives only the credentials, database and TLS of the
	// data nodes; its host is not used.
	Sentinels  []string
	MasterName string
	// SentinelPassword (REDIS_SENTINEL_PASSWORD) authenticates to the
	// Sentinels themselves, when they require it.
	SentinelPassword string
	// ClusterNodes (REDIS_CLUSTER_NODES) are host:port addresses of some
	// nodes of a Redis Cluster (seeds: the client discovers the others and
	// follows MOVED/ASK redirections and failovers). The URL then gives
	// only the credentials and TLS; its host is not used and its database
	// must be 0 (a cluster has no other).
	ClusterNodes []string
}

// Mode is how the client reaches Redis.
type Mode int

// Modes of DialOptions.
const (
	ModeStandalone Mode = iota // one server (REDIS_URL)
	ModeSentinel               // the primary named by Sentinels (REDIS_SENTINELS)
	ModeCluster                // a Redis Cluster (REDIS_CLUSTER_NODES)
)

// Mode reports the mode the options select, or an error naming the
// setting at fault when they contradict each other.
func (do DialOptions) Mode() (Mode, error) {
	sentinels, nodes := splitAddrs(do.Sentinels), splitAddrs(do.ClusterNodes)
	switch {
	case len(sentinels) > 0 && len(nodes) > 0:
		return 0, errors.New("REDIS_SENTINELS and REDIS_CLUSTER_NODES are both set: a crawl uses either Sentinel or Cluster")
	case len(sentinels) > 0:
		if do.MasterName == "" {
			return 0, errors.New("REDIS_SENTINELS is set but REDIS_MASTER_NAME is empty: name the primary the Sentinels monitor (sentinel monitor <name> ...)")
		}
		if err := checkAddrs("REDIS_SENTINELS", sentinels); err != nil {
			return 0, err
		}
		return ModeSentinel, nil
	case len(nodes) > 0:
		if do.MasterName != "" {
			return 0, errors.New("REDIS_MASTER_NAME is set with REDIS_CLUSTER_NODES: a master name is for Sentinel (REDIS_SENTINELS)")
		}
		if err := checkAddrs("REDIS_CLUSTER_NODES", nodes); err != nil {
			return 0, err
		}
		return ModeCluster, nil
	case do.MasterName != "":
		return 0, errors.New("REDIS_MASTER_NAME is set but REDIS_SENTINELS is empty: list the Sentinels' host:port addresses")
	}
	return ModeStandalone, nil
}

// splitAddrs flattens a list whose elements may themselves be
// comma-separated (-s REDIS_CLUSTER_NODES=a:1,b:2 on the command line).
func splitAddrs(in []string) []string {
	var out []string
	for _, s := range in {
		for _, a := range strings.Split(s, ",") {
			if a = strings.TrimSpace(a); a != "" {
				out = append(out, a)
			}
		}
	}
	return out
}

func checkAddrs(setting string, addrs []string) error {
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil || host == "" || port == "" {
			return fmt.Errorf("%s: %q is not host:port", setting, a)
		}
		if p, err := strconv.Atoi(port); err != nil || p <= 0 || p > 65535 {
			return fmt.Errorf("%s: %q: port %q is not a number from 1 to 65535", setting, a, port)
		}
	}
	return nil
}

// quietClientLog silences go-redis's own logger, which prints connection
// errors straight to stderr: a library must not print, and the retry loop
// below already reports outages through the crawl's logger.
var quietClientLog sync.Once

type discardLogger struct{}

func (discardLogger) Printf(context.Context, string, ...any) {}

// DialWith is Dial with options: a *redis.Client for one server or a
// Sentinel-managed primary, a *redis.ClusterClient for a cluster.
func DialWith(rawURL string, do DialOptions) (redis.UniversalClient, error) {
	quietClientLog.Do(func() { redis.SetLogger(discardLogger{}) })
	mode, err := do.Mode()
	if err != nil {
		return nil, err
	}
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
	const (
		dialTimeout = 2 * time.Second
		ioTimeout   = 10 * time.Second
	)
	switch mode {
	case ModeSentinel:
		fo := &redis.FailoverOptions{
			MasterName: do.MasterName, SentinelAddrs: splitAddrs(do.Sentinels), SentinelPassword: do.SentinelPassword,
			Username: o.Username, Password: o.Password, DB: o.DB, TLSConfig: o.TLSConfig,
			MaxRetries: -1, DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
			Protocol: 2, DisableIdentity: true,
		}
		if o.TLSConfig != nil {
			// The certificate is checked against the primary's address,
			// which only the Sentinels know.
			fo.TLSConfig.ServerName = ""
		}
		return redis.NewFailoverClient(fo), nil
	case ModeCluster:
		if o.DB != 0 {
			return nil, fmt.Errorf("redis url %s: database %d with REDIS_CLUSTER_NODES: a Redis Cluster has only database 0", weburl.Redact(rawURL), o.DB)
		}
		if o.TLSConfig != nil {
			o.TLSConfig.ServerName = ""
		}
		return redis.NewClusterClient(&redis.ClusterOptions{
			Addrs: splitAddrs(do.ClusterNodes), Username: o.Username, Password: o.Password, TLSConfig: o.TLSConfig,
			// Redirections (MOVED/ASK) and the retry of a command whose
			// node went away during a failover are the cluster
			// client's; longer outages are retry()'s.
			MaxRedirects: 8,
			MaxRetries:   -1, DialTimeout: dialTimeout, ReadTimeout: ioTimeout, WriteTimeout: ioTimeout,
			Protocol: 2, DisableIdentity: true,
		}), nil
	}
	o.MaxRetries = -1
	o.DialerRetries = 1 // one dial per attempt: retry() backs off and logs
	o.DialTimeout = dialTimeout
	o.ReadTimeout = ioTimeout
	o.WriteTimeout = ioTimeout
	// RESP2: the Debian 7.0 server speaks RESP3 too, but RESP2 keeps Lua
	// replies in the plain shapes the scripts are written for.
	o.Protocol = 2
	o.DisableIdentity = true
	return redis.NewClient(o), nil
}

// IsCluster reports whether rdb talks to a Redis Cluster: its keys are then
// hash-tagged (see KeyPrefix).
func IsCluster(rdb redis.UniversalClient) bool {
	_, ok := rdb.(*redis.ClusterClient)
	return ok
}

// PrefixFor is KeyPrefix for a client of mode m (before dialling).
func PrefixFor(m Mode, name string) string {
	if m == ModeCluster {
		return "{" + name + "}"
	}
	return name
}

// KeyPrefix is the prefix of a crawl's keys and what "{name}" expands to in
// key settings: the spider's name, or on a Redis Cluster the name as a hash
// tag ("{name}"), so that every key of the crawl lives in one slot and each
// Lua script touches a single slot. Different crawls spread over the
// cluster's slots.
func KeyPrefix(rdb redis.UniversalClient, name string) string {
	if IsCluster(rdb) {
		return "{" + name + "}"
	}
	return name
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
	for _, p := range []string{"LOADING ", "OOM ", "BUSY ", "TRYAGAIN", "MASTERDOWN", "READONLY ", "CLUSTERDOWN", "MOVED ", "ASK ", "NOREPLICAS", "UNBLOCKED"} {
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
