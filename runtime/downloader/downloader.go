package downloader

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Options configures a Downloader. Start from DefaultOptions(), which holds
// the defaults of the settings table (dsl/settings_table.go, documented in
// specs/settings.md; a test in the root package keeps the two equal); New
// fills zero numeric fields from it but leaves booleans, MaxSize, WarnSize
// and MemoryBudget (where 0 means off) as given.
type Options struct {
	// Transport is the default transport (Outgoing.Impersonate == "").
	// nil builds an HTTPTransport from HTTP.
	Transport Transport
	// HTTP configures the default transport when Transport is nil.
	HTTP HTTPOptions
	// Transports selects the transport for a non-empty Impersonate profile
	// name; TransportFor is asked for a profile missing from the map (the
	// impersonation package plugs in here). A profile neither knows fails
	// the request.
	Transports   map[string]Transport
	TransportFor func(profile string) (Transport, error)
	// Impersonate is the default profile (IMPERSONATE); a request's own
	// Impersonate wins.
	Impersonate string
	// HTTPVersion is the default http_version (HTTP_VERSION): "", "1.1",
	// "2", "3" or "auto"; a request's own wins.
	HTTPVersion string

	// ConcurrentPerDomain bounds downloads per slot
	// (CONCURRENT_REQUESTS_PER_DOMAIN, 8).
	ConcurrentPerDomain int
	// Delay is the pause between two downloads of a slot (DOWNLOAD_DELAY).
	Delay time.Duration
	// RandomizeDelay multiplies each delay by 0.5–1.5
	// (RANDOMIZE_DOWNLOAD_DELAY).
	RandomizeDelay bool
	AutoThrottle   AutoThrottle
	// Domain bounds each host as a whole, over all its slots
	// (SESSION_DOMAIN_CONCURRENCY, SESSION_DOMAIN_DELAY).
	Domain DomainLimit

	// Timeout bounds a whole download, headers and body (DOWNLOAD_TIMEOUT).
	Timeout time.Duration
	// MaxSize and WarnSize apply to the decoded body
	// (DOWNLOAD_MAXSIZE, DOWNLOAD_WARNSIZE; 0 = no limit / no warning).
	MaxSize  int64
	WarnSize int64
	// MemoryBudget bounds the bytes held by the bodies of all downloads
	// in progress at once (DOWNLOAD_MEMORY_BUDGET; 0 = no bound). A body
	// that would exceed it waits; one that never can fails with
	// MaxSizeExceeded. See memBudget.
	MemoryBudget int64
	// SpoolDir is where a body of unknown size (chunked, compressed) past
	// 1 MiB is kept while it arrives, in an unlinked file, so that joining
	// it costs its size once, not twice; "" is os.TempDir() ($TMPDIR). When
	// no file can be made there (or the disk is full) the body stays in
	// memory. A tmpfs there is memory too: point TMPDIR at a disk.
	SpoolDir string
	// FailOnDataLoss fails truncated bodies (DOWNLOAD_FAIL_ON_DATALOSS);
	// when false they are returned flagged "dataloss".
	FailOnDataLoss bool
	// Verify is TLS_VERIFY; a request's Verify wins.
	Verify bool
	// Proxies are used in turn for requests without their own proxy
	// (PROXIES). http, https, socks5 and socks5h URLs, with credentials.
	Proxies []string
	// NoProxy lists hosts reached directly in spite of Proxies (NO_PROXY):
	// "example.com" (and its subdomains), ".example.com" (subdomains
	// only), an IP or CIDR prefix, or "*". A request's own proxy wins.
	NoProxy []string

	// Gate is consulted per download for shared politeness (nil = none).
	Gate   SlotGate
	Logger *slog.Logger
}

// DefaultOptions returns the documented defaults.
func DefaultOptions() Options {
	return Options{
		ConcurrentPerDomain: 8,
		RandomizeDelay:      true,
		AutoThrottle: AutoThrottle{
			StartDelay:        5 * time.Second,
			MaxDelay:          60 * time.Second,
			TargetConcurrency: 1,
			MaxRetryAfter:     60 * time.Second,
		},
		Timeout:        30 * time.Second,
		MaxSize:        32 << 20,
		WarnSize:       8 << 20,
		MemoryBudget:   256 << 20,
		FailOnDataLoss: true,
		Verify:         true,
		HTTP:           HTTPOptions{DNSTimeout: 60 * time.Second},
	}
}

// Downloader downloads one request at a time per call, enforcing per-slot
// concurrency and delays, the download deadline and the body limits. It is
// the innermost handler of the middleware chain and safe for concurrent
// use.
type Downloader struct {
	opts    Options
	dialer  *Dialer
	proxies []*url.URL
	next    atomic.Uint64
	log     *slog.Logger
	budget  *memBudget
	// spoolDir is Options.SpoolDir resolved.
	spoolDir string

	slotsMu   sync.Mutex
	slots     map[string]*slot
	slotCalls int

	active   atomic.Int64
	inflight sync.Map // *InFlight -> struct{}
}

// InFlight describes one download holding a slot.
type InFlight struct {
	URL   string // credentials redacted
	Slot  string
	Since time.Time
}

// InFlight lists the downloads holding a slot, oldest first: what a
// watchdog line prints when a crawl seems stuck.
func (d *Downloader) InFlight() []InFlight {
	var out []InFlight
	d.inflight.Range(func(k, _ any) bool {
		out = append(out, *k.(*InFlight))
		return true
	})
	slices.SortFunc(out, func(a, b InFlight) int { return a.Since.Compare(b.Since) })
	return out
}

// New builds a Downloader.
func New(opts Options) (*Downloader, error) {
	def := DefaultOptions()
	if opts.ConcurrentPerDomain <= 0 {
		opts.ConcurrentPerDomain = def.ConcurrentPerDomain
	}
	if opts.Timeout <= 0 {
		opts.Timeout = def.Timeout
	}
	at := &opts.AutoThrottle
	if at.StartDelay <= 0 {
		at.StartDelay = def.AutoThrottle.StartDelay
	}
	if at.MaxDelay <= 0 {
		at.MaxDelay = def.AutoThrottle.MaxDelay
	}
	if at.TargetConcurrency <= 0 {
		at.TargetConcurrency = def.AutoThrottle.TargetConcurrency
	}
	if at.MaxRetryAfter <= 0 {
		at.MaxRetryAfter = def.AutoThrottle.MaxRetryAfter
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.HTTP.MaxIdleConnsPerHost <= 0 {
		// Keep as many idle connections per host as may be in flight to
		// it, or every download above the pool size pays a new dial (and
		// leaves a TIME_WAIT socket) at high per-domain concurrency.
		opts.HTTP.MaxIdleConnsPerHost = max(opts.ConcurrentPerDomain, 16)
	}
	if opts.HTTP.Dialer == nil {
		opts.HTTP.Dialer = NewDialer(opts.HTTP)
	}
	if opts.Transport == nil {
		if opts.HTTP.Logger == nil {
			opts.HTTP.Logger = opts.Logger
		}
		opts.Transport = NewHTTPTransport(opts.HTTP)
	}
	d := &Downloader{opts: opts, log: opts.Logger, slots: map[string]*slot{}, dialer: opts.HTTP.Dialer, budget: newMemBudget(opts.MemoryBudget)}
	if d.spoolDir = opts.SpoolDir; d.spoolDir == "" {
		d.spoolDir = os.TempDir()
	}
	// A complete body of unknown size is joined while up to spillAt of it
	// (all of it when smaller) is still in pieces: the most one body needs.
	if opts.MemoryBudget > 0 && (opts.MaxSize <= 0 || opts.MaxSize+min(opts.MaxSize, spillAt) > opts.MemoryBudget) {
		maxSize := "no limit"
		if opts.MaxSize > 0 {
			maxSize = humanBytes(opts.MaxSize)
		}
		d.log.Warn("DOWNLOAD_MEMORY_BUDGET is under DOWNLOAD_MAXSIZE plus 1 MiB (twice DOWNLOAD_MAXSIZE when that is under 1 MiB): a body over the budget, or of unknown size (chunked, compressed) that needs more while it is joined, will fail",
			"maxsize", maxSize, "memory_budget", humanBytes(opts.MemoryBudget))
	}
	for _, p := range opts.Proxies {
		u, err := parseProxy(p)
		if err != nil {
			return nil, err
		}
		d.proxies = append(d.proxies, u)
	}
	return d, nil
}

func parseProxy(p string) (*url.URL, error) {
	u, err := url.Parse(p)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: invalid URL", weburl.Redact(p))
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("proxy %s: unsupported scheme %q (want http, https, socks5 or socks5h)", weburl.RedactURL(u), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("proxy %s: missing host", weburl.RedactURL(u))
	}
	return u, nil
}

// Dialer returns the guarded dialer (Options.HTTP.Dialer or the one built
// from Options.HTTP).
func (d *Downloader) Dialer() *Dialer { return d.dialer }

// Transport returns the default transport (to close idle connections or
// read guard counters).
func (d *Downloader) Transport() Transport { return d.opts.Transport }

// Active is the number of downloads holding a slot right now.
func (d *Downloader) Active() int64 { return d.active.Load() }

// Meta keys the downloader reads (Scrapy's names where Scrapy has them).
const (
	MetaDownloadSlot    = "download_slot"
	MetaDownloadTimeout = "download_timeout" // seconds (number) or a Go duration string
	MetaMaxSize         = "download_maxsize"
	MetaWarnSize        = "download_warnsize"
	MetaFailOnDataLoss  = "download_fail_on_dataloss"
	MetaProxy           = "proxy"
	// MetaNotBefore (unix milliseconds) delays the download until then,
	// without holding a slot: the retry middleware's backoff.
	MetaNotBefore = "download_not_before"
	// MetaTruncate keeps the first MaxSize bytes instead of failing (the
	// robots.txt fetch reads at most 500 KiB this way).
	MetaTruncate = "download_truncate"
)

// Download fetches req: waits for its slot, sends it through the selected
// transport, reads and decodes the body within the limits. Errors are
// *crawl.Failure.
func (d *Downloader) Download(ctx context.Context, req *crawl.Request) (*crawl.Response, error) {
	u, err := url.Parse(req.URL)
	if err != nil {
		return nil, &crawl.Failure{Type: crawl.IgnoreRequest, Message: fmt.Sprintf("invalid URL: %v", err), Request: req, Err: err}
	}
	switch u.Scheme {
	case "http", "https":
	case "file":
		return d.downloadFile(ctx, req, u)
	default:
		return nil, &crawl.Failure{Type: crawl.IgnoreRequest, Message: fmt.Sprintf("unsupported URL scheme %q", u.Scheme), Request: req}
	}
	if at, ok := metaInt(req.Meta[MetaNotBefore]); ok {
		if err := sleepCtx(ctx, time.Until(time.UnixMilli(at))); err != nil {
			return nil, classify(ctx, req, err, 0, "waiting for retry backoff", -1)
		}
	}
	s := d.getSlot(SlotKey(req))
	release, sent, err := d.acquire(ctx, s, d.domainSlot(req))
	if err != nil {
		return nil, classify(ctx, req, err, 0, "waiting for a download slot", -1)
	}
	// The request is past its waits (retry backoff, slot concurrency,
	// DOWNLOAD_DELAY / AutoThrottle): report it as httptrace's GetConn,
	// "about to get a connection". The engine withdraws the requests that
	// have not got here when the crawl closes; they were never sent.
	if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.GetConn != nil {
		trace.GetConn(u.Host)
	}
	d.active.Add(1)
	entry := &InFlight{URL: weburl.Redact(req.URL), Slot: s.key, Since: time.Now()}
	d.inflight.Store(entry, struct{}{})
	defer func() {
		d.inflight.Delete(entry)
		d.active.Add(-1)
		release()
	}()
	ctx, wire := withWireCount(ctx)
	resp, err := d.fetch(ctx, req, u, sent)
	if err != nil {
		return nil, wire.wrap(err)
	}
	wire.attach(resp)
	d.throttle(s, resp)
	return resp, nil
}

func (d *Downloader) outgoing(req *crawl.Request, u *url.URL) (*Outgoing, error) {
	out := &Outgoing{
		Method:      req.GetMethod(),
		URL:         u,
		Headers:     req.Headers.Clone(),
		Body:        req.Body,
		Impersonate: req.Impersonate,
		HTTPVersion: req.HTTPVersion,
		Verify:      d.opts.Verify,
		PoolKey:     req.SessionID,
		Timeout:     d.opts.Timeout,
		Request:     req,
	}
	if out.Impersonate == "" {
		out.Impersonate = d.opts.Impersonate
	}
	if req.Verify != nil {
		out.Verify = *req.Verify
	}
	if pk, ok := req.Meta["pool_key"].(string); ok {
		out.PoolKey = pk
	}
	switch {
	case req.Timeout > 0:
		out.Timeout = req.Timeout
	default:
		if t, ok := metaDuration(req.Meta[MetaDownloadTimeout]); ok && t > 0 {
			out.Timeout = t
		}
	}
	proxy := req.Proxy
	if p, ok := req.Meta[MetaProxy].(string); ok && proxy == "" {
		proxy = p
	}
	switch {
	case proxy != "":
		p, err := parseProxy(proxy)
		if err != nil {
			return nil, err
		}
		out.Proxy = p
	case len(d.proxies) > 0 && !noProxy(d.opts.NoProxy, u.Hostname()):
		out.Proxy = d.proxies[(d.next.Add(1)-1)%uint64(len(d.proxies))]
	}
	// The downloader decodes every encoding it advertises. With a browser
	// profile the profile's own Accept-Encoding is used (Firefox 120 and
	// Safari do not send zstd; claiming it would give the client away).
	if out.Impersonate == "" {
		out.Headers.SetDefault("Accept-Encoding", "gzip, deflate, br, zstd")
	}
	if out.HTTPVersion == "" {
		out.HTTPVersion = d.opts.HTTPVersion
	}
	if (out.HTTPVersion == "3" || out.HTTPVersion == "auto") && out.Impersonate == "" {
		// The default transport (net/http) has no HTTP/3: the impersonating
		// transport's plain Go client ("go" profile) carries these requests.
		out.Impersonate = PlainProfile
	}
	return out, nil
}

// PlainProfile is the impersonation profile of the plain Go client, used
// for HTTP/3 requests without a browser profile.
const PlainProfile = "go"

func (d *Downloader) transportFor(profile string) (Transport, error) {
	if profile == "" {
		return d.opts.Transport, nil
	}
	if t, ok := d.opts.Transports[profile]; ok {
		return t, nil
	}
	if d.opts.TransportFor != nil {
		return d.opts.TransportFor(profile)
	}
	return nil, fmt.Errorf("impersonate %q: no impersonating transport configured", profile)
}

// phaseState records what a download is doing, for timeout messages.
type phaseState struct {
	mu sync.Mutex
	s  string
}

type phaseKey struct{}

func setPhase(ctx context.Context, s string) {
	if p, ok := ctx.Value(phaseKey{}).(*phaseState); ok {
		p.mu.Lock()
		p.s = s
		p.mu.Unlock()
	}
}

func (p *phaseState) get() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.s
}

// fetch sends req and reads the response; sent is called once the request
// has been written (when the transport reports it through httptrace).
func (d *Downloader) fetch(ctx context.Context, req *crawl.Request, u *url.URL, sent func()) (*crawl.Response, error) {
	out, err := d.outgoing(req, u)
	if err != nil {
		return nil, &crawl.Failure{Type: crawl.IgnoreRequest, Message: err.Error(), Request: req, Err: err}
	}
	tr, err := d.transportFor(out.Impersonate)
	if err != nil {
		return nil, &crawl.Failure{Type: crawl.IgnoreRequest, Message: err.Error(), Request: req, Err: err}
	}
	if hc, ok := tr.(HeaderChecker); ok {
		if err := hc.CheckHeaders(out); err != nil {
			return nil, &crawl.Failure{Type: crawl.IgnoreRequest, Message: "identity: " + err.Error(), Request: req, Err: err}
		}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, out.Timeout, errDownloadTimeout)
	defer cancel()
	if out.Proxy != nil {
		ctx = WithProxy(ctx, out.Proxy)
	}
	if d.dialer.DenyPrivate() && (out.Proxy != nil || tr != d.opts.Transport) {
		// Behind a proxy the proxy resolves the name, and another
		// transport may dial without our Dialer: in both cases the guard
		// also checks the target by resolving it here first. This is a
		// host-name-level check (a rebinding DNS may answer differently
		// later); the connect-time check needs the transport to dial
		// through Dialer.DialContext. See specs/downloader.md.
		if err := d.dialer.CheckHost(ctx, u.Hostname()); err != nil {
			return nil, classify(ctx, req, err, out.Timeout, "resolving "+u.Hostname(), -1)
		}
	}
	phase := &phaseState{s: "waiting for response headers"}
	ctx = context.WithValue(ctx, phaseKey{}, phase)
	hostPort := u.Host
	var remote atomic.Value // string: the peer's address, for Response.IP
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		TLSHandshakeStart: func() { setPhase(ctx, "in TLS handshake with "+hostPort) },
		GotConn: func(info httptrace.GotConnInfo) {
			setPhase(ctx, "waiting for response headers")
			if info.Conn != nil {
				remote.Store(info.Conn.RemoteAddr().String())
			}
		},
		WroteRequest: func(httptrace.WroteRequestInfo) { sent() },
	})
	timings := crawl.Timings{Start: time.Now()}
	hr, err := tr.RoundTrip(ctx, out)
	if err != nil {
		return nil, classify(ctx, req, err, out.Timeout, phase.get(), -1)
	}
	timings.Headers = time.Now()
	lim := d.limits(req)
	hold := &budgetHold{}
	// The body's bytes leave the budget when the download ends: from here
	// the response is the engine's.
	defer d.budget.release(hold)
	body, flags, decoded, received, err := d.readBody(ctx, req, hr, lim, hold)
	if err != nil {
		return nil, classify(ctx, req, err, out.Timeout, "reading the body", received)
	}
	timings.Done = time.Now()
	ip, _ := remote.Load().(string)
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	headers := crawl.FromHTTP(hr.Header)
	if decoded {
		headers.Del("Content-Encoding")
	}
	return &crawl.Response{
		URL:      req.URL,
		Status:   hr.StatusCode,
		Headers:  headers,
		Body:     body,
		Protocol: hr.Proto,
		Request:  req,
		IP:       ip,
		Flags:    flags,
		Timings:  timings,
	}, nil
}

type limits struct {
	max, warn      int64
	failOnDataLoss bool
	truncate       bool
}

func (d *Downloader) limits(req *crawl.Request) limits {
	l := limits{max: d.opts.MaxSize, warn: d.opts.WarnSize, failOnDataLoss: d.opts.FailOnDataLoss}
	if n, ok := metaInt(req.Meta[MetaMaxSize]); ok {
		l.max = n
	}
	if n, ok := metaInt(req.Meta[MetaWarnSize]); ok {
		l.warn = n
	}
	if b, ok := req.Meta[MetaFailOnDataLoss].(bool); ok {
		l.failOnDataLoss = b
	}
	l.truncate = req.MetaBool(MetaTruncate)
	return l
}

// metaInt reads an integer meta value as Go, JSON (float64) or a Redis
// round-trip (json.Number / string) may have left it.
func metaInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(n), true
	case interface{ Int64() (int64, error) }:
		i, err := n.Int64()
		return i, err == nil
	case string:
		i, err := strconv.ParseInt(n, 10, 64)
		return i, err == nil
	}
	return 0, false
}

// metaDuration reads seconds (Scrapy's float) or a Go duration string.
func metaDuration(v any) (time.Duration, bool) {
	switch n := v.(type) {
	case time.Duration:
		return n, true
	case int:
		return time.Duration(n) * time.Second, true
	case int64:
		return time.Duration(n) * time.Second, true
	case float64:
		return time.Duration(n * float64(time.Second)), true
	case string:
		if dd, err := time.ParseDuration(n); err == nil {
			return dd, true
		}
		if f, err := strconv.ParseFloat(n, 64); err == nil {
			return time.Duration(f * float64(time.Second)), true
		}
	}
	return 0, false
}

// Close closes idle connections of the transports that can (call it when
// the crawl ends so no connection goroutines outlive it).
func (d *Downloader) Close() {
	closeIdle := func(t Transport) {
		if c, ok := t.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	}
	closeIdle(d.opts.Transport)
	for _, t := range d.opts.Transports {
		closeIdle(t)
	}
}

// noProxy reports whether host matches a NO_PROXY entry.
func noProxy(entries []string, host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	addr, addrErr := netip.ParseAddr(host)
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		switch {
		case e == "":
		case e == "*":
			return true
		case strings.Contains(e, "/"):
			if p, err := netip.ParsePrefix(e); err == nil && addrErr == nil && p.Contains(addr) {
				return true
			}
		case strings.HasPrefix(e, "."):
			if strings.HasSuffix(host, e) {
				return true
			}
		case host == e || strings.HasSuffix(host, "."+e):
			return true
		}
	}
	return false
}
