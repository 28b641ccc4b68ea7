package impersonate

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	utls "github.com/refraction-networking/utls"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Options configures a Transport.
type Options struct {
	// DialContext opens TCP connections (to targets and to proxies); nil
	// uses a net.Dialer. Tests and the SSRF guard hook in here.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs verifies servers (nil = the system roots). Tests pass their
	// server's pool; verification is never switched off implicitly.
	RootCAs *x509.CertPool
	// Logger receives debug lines about connections (nil = discard).
	Logger *slog.Logger
	// HandshakeTimeout bounds each TLS handshake (default 10s).
	HandshakeTimeout time.Duration
	// IdleTimeout closes pooled connections unused for this long
	// (default 90s, like browsers and net/http).
	IdleTimeout time.Duration
	// MaxIdlePerKey caps idle HTTP/1.1 connections per pool key (default 6,
	// Chromium's per-host limit).
	MaxIdlePerKey int
	// MaxResponseHeaderBytes bounds a response's header block (default
	// 1 MiB; net/http's 10 MiB lets a hostile server pin memory).
	MaxResponseHeaderBytes int
	// DisableResumption turns TLS session resumption off (every handshake
	// is a full one). Browsers resume, so it is on by default.
	DisableResumption bool
	// ResolveUDP resolves a QUIC endpoint (host:port) and applies the
	// private-network guard; nil resolves with net.DefaultResolver and no
	// guard. downloader.Dialer.ResolveUDP is the one the crawl uses.
	ResolveUDP func(ctx context.Context, addr string) (netip.AddrPort, error)
	// QUICFallbackTimeout bounds the QUIC handshake of an http_version
	// "auto" connection attempt (default 3s; an explicit "3" waits
	// HandshakeTimeout). Requests do not wait for it: TCP races QUIC (see
	// autoRoundTrip); it says when a silent QUIC endpoint is given up and
	// marked broken.
	QUICFallbackTimeout time.Duration
	// Stats, when set, counts what the transport decides by itself:
	// downloader/http3/race_won_quic and race_won_tcp (which connection
	// carried an "auto" request that raced QUIC against TCP) and
	// downloader/http3/broken (alternative services marked broken).
	Stats interface{ Inc(key string, n int64) }
}

// Transport sends requests as the chosen browser profile. It implements
// downloader.Transport. Connections are pooled per (proxy, profile, pool
// key, scheme+host+port, HTTP version choice, verification), so two session
// members or two identities never share a connection; HTTP/2 connections
// are multiplexed.
type Transport struct {
	opts Options
	log  *slog.Logger

	mu       sync.Mutex
	closed   bool
	h2       map[string][]*h2Conn
	h1       map[string][]*h1Conn
	random   map[string]string
	profiles map[string]*Profile
	// preflights are the CORS preflight answers still fresh.
	preflights preflightCache
	sessions   map[string]utls.ClientSessionCache
	h3s        h3State

	// bg outlives requests: a QUIC connection attempt that lost its race
	// goes on under it (Chromium's orphaned job), until Close.
	bg       context.Context
	bgCancel context.CancelFunc
	// clock replaces time.Now for Alt-Svc ages and broken marks (tests).
	clock func() time.Time
	// raceDelay, when set, replaces how long TCP waits for QUIC (tests;
	// Chromium's SetTimeDelayForWaitingJobForTesting).
	raceDelay *time.Duration
}

var _ downloader.Transport = (*Transport)(nil)

// NewTransport returns a Transport.
func NewTransport(opts Options) (*Transport, error) {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 90 * time.Second
	}
	if opts.MaxIdlePerKey <= 0 {
		opts.MaxIdlePerKey = 6
	}
	if opts.MaxResponseHeaderBytes <= 0 {
		opts.MaxResponseHeaderBytes = 1 << 20
	}
	if opts.QUICFallbackTimeout <= 0 {
		opts.QUICFallbackTimeout = 3 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	bg, bgCancel := context.WithCancel(context.Background())
	return &Transport{
		bg:       bg,
		bgCancel: bgCancel,
		opts:     opts,
		log:      log,
		h2:       map[string][]*h2Conn{},
		h1:       map[string][]*h1Conn{},
		random:   map[string]string{},
		profiles: map[string]*Profile{},
		sessions: map[string]utls.ClientSessionCache{},
		h3s: h3State{
			conns:   map[string]*h3Conn{},
			dialing: map[string]*h3Dial{},
			alt:     map[string]altSvc{},
			broken:  map[string]brokenQUIC{},
			srtt:    map[string]time.Duration{},
		},
	}, nil
}

func (t *Transport) handshakeTimeout() time.Duration {
	if t.opts.HandshakeTimeout > 0 {
		return t.opts.HandshakeTimeout
	}
	return 10 * time.Second
}

func (t *Transport) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if t.opts.DialContext != nil {
		return t.opts.DialContext(ctx, network, addr)
	}
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// Profile resolves a profile name (or file path) for a session: "random"
// picks one shipped browser profile per pool key and keeps it. Profiles are
// parsed once and cached.
func (t *Transport) Profile(name, poolKey string) (*Profile, error) {
	t.mu.Lock()
	if strings.EqualFold(strings.TrimSpace(name), Random) {
		chosen, ok := t.random[poolKey]
		if !ok {
			all := randomProfiles()
			chosen = all[rand.IntN(len(all))]
			t.random[poolKey] = chosen
		}
		name = chosen
	}
	p := t.profiles[name]
	t.mu.Unlock()
	if p != nil {
		return p, nil
	}
	p, err := LoadProfile(name)
	if err != nil {
		return nil, err
	}
	t.mu.Lock()
	t.profiles[name] = p
	t.mu.Unlock()
	return p, nil
}

// RoundTrip sends out and returns the raw response: the body streams and is
// not decompressed. The caller must close the body. out.Timeout, when set,
// bounds the whole exchange including the body.
func (t *Transport) RoundTrip(ctx context.Context, out *downloader.Outgoing) (*http.Response, error) {
	if out == nil || out.URL == nil {
		return nil, errors.New("impersonate: request without URL")
	}
	u := out.URL
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("impersonate: %s: unsupported scheme %q", weburl.RedactURL(u), u.Scheme)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("impersonate: %s: no host", weburl.RedactURL(u))
	}
	switch out.HTTPVersion {
	case "", "1.1", "2", "3", "auto":
	default:
		return nil, fmt.Errorf("impersonate: http_version %q: want \"\", \"1.1\", \"2\", \"3\" or \"auto\"", out.HTTPVersion)
	}
	p, err := t.Profile(out.Impersonate, out.PoolKey)
	if err != nil {
		return nil, err
	}
	cancel := func() {}
	if out.Timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, out.Timeout)
	}
	err = t.preflight(ctx, p, out)
	var resp *http.Response
	if err == nil {
		resp, err = t.roundTrip(ctx, p, out, nil)
	}
	if err != nil {
		cancel()
		if ctx.Err() == context.DeadlineExceeded && out.Timeout > 0 {
			return nil, fmt.Errorf("%s %s: timeout after %s: %w", method(out), weburl.RedactURL(u), out.Timeout, err)
		}
		return nil, fmt.Errorf("%s %s: %w", method(out), weburl.RedactURL(u), err)
	}
	if out.HTTPVersion == "auto" {
		t.noteAltSvc(u, resp.Header)
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

func method(out *downloader.Outgoing) string {
	if out.Method == "" {
		return http.MethodGet
	}
	return strings.ToUpper(out.Method)
}

type cancelBody struct {
	io.ReadCloser
	cancel func()
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return net.JoinHostPort(u.Hostname(), u.Port())
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// roundTrip sends out; with pre, as the CORS preflight of that request.
func (t *Transport) roundTrip(ctx context.Context, p *Profile, out *downloader.Outgoing, pre *Preflight) (*http.Response, error) {
	u := out.URL
	proxyKey := ""
	if out.Proxy != nil {
		proxyKey = out.Proxy.String()
	}
	key := strings.Join([]string{proxyKey, p.Name, out.PoolKey, u.Scheme + "://" + hostPort(u), out.HTTPVersion, fmt.Sprint(out.Verify)}, "|")
	path := u.RequestURI()
	if u.Opaque == "" && u.RawPath == "" && u.Path == "" {
		path = "/" + strings.TrimPrefix(path, "/")
	}
	authority := u.Host
	if h := out.Headers.Get("host"); h != "" {
		authority = h // an explicit Host header names the virtual host
	}
	wr := &wireRequest{method: method(out), scheme: u.Scheme, authority: authority, path: path, body: out.Body}
	info := InfoOf(out.Request, wr.method, u, len(out.Body))
	info.Preflight = pre

	switch out.HTTPVersion {
	case "3":
		if resp, done, err := t.h3Only(ctx, p, out, wr, info); done {
			return resp, err
		}
	case "auto":
		return t.autoRoundTrip(ctx, p, out, wr, info, key)
	}
	return t.tcpRoundTrip(ctx, p, out, wr, info, key, nil)
}

// tcpConn is a TCP connection ready to carry a request: a pooled HTTP/2
// one with room, an idle HTTP/1.1 one, or a newly dialled one.
type tcpConn struct {
	h2     *h2Conn
	h1     *h1Conn
	reused bool
}

// getTCP returns a connection for key: a pooled one first (when reuse),
// else a new one. A new HTTP/2 connection joins the pool at once. retried
// says the request already went out on a kept-alive connection that
// closed under it: a new connection is then a retry, which Firefox says
// in its hello (tlsParams.retry).
func (t *Transport) getTCP(ctx context.Context, p *Profile, out *downloader.Outgoing, key string, reuse, retried bool) (*tcpConn, error) {
	if reuse {
		if cc := t.getH2(key); cc != nil {
			return &tcpConn{h2: cc, reused: true}, nil
		}
		if c := t.getH1(key); c != nil {
			return &tcpConn{h1: c, reused: true}, nil
		}
	}
	conn, proto, forward, err := t.dial(ctx, p, out, retried)
	if err != nil {
		return nil, err
	}
	if proto == "h2" {
		if out.HTTPVersion == "1.1" {
			conn.Close()
			return nil, errors.New("server negotiated h2 although only http/1.1 was offered")
		}
		cc, err := newH2Conn(conn, p, uint32(t.opts.MaxResponseHeaderBytes))
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("http2 preface: %w", err)
		}
		t.mu.Lock()
		t.h2[key] = append(t.h2[key], cc)
		t.mu.Unlock()
		return &tcpConn{h2: cc}, nil
	}
	if out.HTTPVersion == "2" && out.URL.Scheme == "https" {
		conn.Close()
		return nil, fmt.Errorf("http_version 2 asked for, but the server negotiated %q", proto)
	}
	c := newH1Conn(conn, forward, int64(t.opts.MaxResponseHeaderBytes))
	if forward {
		c.proxyAuth = proxyAuthorization(out.Proxy)
	}
	return &tcpConn{h1: c}, nil
}

// keepTCP pools a connection that was set up but carried nothing (it lost
// a race): an HTTP/2 one is pooled already, an HTTP/1.1 one goes idle.
func (t *Transport) keepTCP(key string, c *tcpConn) {
	if c.h1 != nil {
		c.h1.idleSince = time.Now()
		t.putH1(key, c.h1)
	}
}

// tcpRoundTrip sends out over TCP (HTTP/2 or HTTP/1.1 by ALPN) on first,
// when given, else on a pooled or new connection. A request that finds a
// reused connection closed before any response header is sent again on
// another one, whatever its method, as Chromium
// (HttpNetworkTransaction::ShouldResendRequest: a reused connection and no
// response headers) and Firefox (a reused connection restarts any
// transaction) do; net/http resends idempotent requests only.
func (t *Transport) tcpRoundTrip(ctx context.Context, p *Profile, out *downloader.Outgoing, wr *wireRequest, info RequestInfo, key string, first *tcpConn) (*http.Response, error) {
	retried := false
	for attempt := 0; ; attempt++ {
		c := first
		first = nil
		if c == nil {
			var err error
			// After three stale pooled connections, a new one.
			if c, err = t.getTCP(ctx, p, out, key, attempt < 3, retried); err != nil {
				return nil, err
			}
		}
		if c.h2 != nil {
			gotConn(ctx, c.h2.nc, c.reused)
			wr.headers = p.KindHeaders(info, out.Headers, false)
			resp, err := c.h2.roundTrip(ctx, wr)
			if c.reused && errors.Is(err, errConnUnusable) {
				continue
			}
			if c.reused && errors.Is(err, errConnLost) && ctx.Err() == nil {
				retried = true
				continue
			}
			if err != nil {
				return nil, err
			}
			resp.Request = t.respRequest(out, wr.headers)
			return resp, nil
		}
		gotConn(ctx, c.h1.nc, c.reused)
		wr.headers = p.KindHeaders(info, out.Headers, true)
		resp, err := t.h1RoundTrip(ctx, key, c.h1, wr, out)
		if err != nil && c.reused && ctx.Err() == nil && isStaleConn(err) {
			retried = true
			continue // the server closed a kept-alive connection meanwhile
		}
		return resp, err
	}
}

// gotConn reports the connection to an httptrace.ClientTrace in ctx, as
// net/http does, so callers can tell "in TLS handshake" from "waiting for
// response headers" in timeout messages.
func gotConn(ctx context.Context, c net.Conn, reused bool) {
	if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{Conn: c, Reused: reused})
	}
}

// idempotent methods (RFC 9110 9.2.2) may be sent again where a request
// may already have been acted on (a QUIC connection that carried it, a
// race it lost).
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isStaleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func (t *Transport) h1RoundTrip(ctx context.Context, key string, c *h1Conn, wr *wireRequest, out *downloader.Outgoing) (*http.Response, error) {
	target := wr.path
	if c.forward {
		target = out.URL.String()
	}
	resp, release, err := c.roundTrip(ctx, wr, target)
	if err != nil {
		c.nc.Close()
		return nil, err
	}
	resp.Body = &h1Body{rc: resp.Body, release: func(reusable bool) {
		if release(reusable) {
			t.putH1(key, c)
		}
	}}
	resp.Request = t.respRequest(out, wr.headers)
	return resp, nil
}

func (t *Transport) respRequest(out *downloader.Outgoing, h crawl.Headers) *http.Request {
	return &http.Request{Method: method(out), URL: out.URL, Header: h.HTTP(), Host: out.URL.Host}
}

func (t *Transport) getH2(key string) *h2Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	conns := t.h2[key]
	kept := conns[:0]
	var pick *h2Conn
	for _, cc := range conns {
		if cc.dead() || cc.idle(t.opts.IdleTimeout) {
			go cc.close()
			continue
		}
		kept = append(kept, cc)
		if pick == nil && cc.usable() {
			pick = cc
		}
	}
	if len(kept) == 0 {
		delete(t.h2, key)
	} else {
		t.h2[key] = kept
	}
	return pick
}

func (t *Transport) getH1(key string) *h1Conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	conns := t.h1[key]
	for len(conns) > 0 {
		c := conns[len(conns)-1]
		conns = conns[:len(conns)-1]
		if time.Since(c.idleSince) > t.opts.IdleTimeout {
			c.nc.Close()
			continue
		}
		t.h1[key] = conns
		c.reused = true
		return c
	}
	delete(t.h1, key)
	return nil
}

func (t *Transport) putH1(key string, c *h1Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || len(t.h1[key]) >= t.opts.MaxIdlePerKey {
		c.nc.Close()
		return
	}
	t.h1[key] = append(t.h1[key], c)
}

// CloseIdleConnections closes pooled connections that carry no request.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	var h2s []*h2Conn
	for key, conns := range t.h2 {
		kept := conns[:0]
		for _, cc := range conns {
			if cc.idle(0) {
				h2s = append(h2s, cc)
			} else {
				kept = append(kept, cc)
			}
		}
		t.h2[key] = kept
	}
	for key, conns := range t.h1 {
		for _, c := range conns {
			c.nc.Close()
		}
		delete(t.h1, key)
	}
	t.mu.Unlock()
	t.closeH3(true)
	for _, cc := range h2s {
		cc.close()
	}
}

// Close closes every connection; in-flight requests fail.
func (t *Transport) Close() error {
	t.bgCancel()
	t.mu.Lock()
	t.closed = true
	var h2s []*h2Conn
	for _, conns := range t.h2 {
		h2s = append(h2s, conns...)
	}
	for _, conns := range t.h1 {
		for _, c := range conns {
			c.nc.Close()
		}
	}
	t.h2, t.h1 = map[string][]*h2Conn{}, map[string][]*h1Conn{}
	t.mu.Unlock()
	t.closeH3(false)
	for _, cc := range h2s {
		cc.close()
	}
	return nil
}

// dial connects for out: direct or through the proxy, then the profile's
// TLS for https. It returns the negotiated protocol ("h2" or "http/1.1")
// and whether the connection is to an HTTP proxy in forwarding mode
// (plain-http target: absolute-form request line, no tunnel).
func (t *Transport) dial(ctx context.Context, p *Profile, out *downloader.Outgoing, retry bool) (net.Conn, string, bool, error) {
	u := out.URL
	addr := hostPort(u)
	forceH1 := out.HTTPVersion == "1.1"
	if u.Scheme == "http" {
		if out.Proxy != nil && (out.Proxy.Scheme == "http" || out.Proxy.Scheme == "https") {
			conn, err := t.dialProxy(ctx, out.Proxy)
			return conn, "http/1.1", true, err
		}
		conn, err := t.rawDial(ctx, out.Proxy, addr)
		if err != nil {
			return nil, "", false, err
		}
		if out.HTTPVersion == "2" {
			return conn, "h2", false, nil // h2c with prior knowledge
		}
		return conn, "http/1.1", false, nil
	}
	conn, err := t.rawDial(ctx, out.Proxy, addr)
	if err != nil {
		return nil, "", false, err
	}
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil && trace.TLSHandshakeStart != nil {
		trace.TLSHandshakeStart()
	}
	sessions := t.sessionCache(p, out.PoolKey, out.Proxy)
	if retry && p.Browser == "firefox" && sessions != nil {
		// Firefox ESR 140 offers no session on the connection of a request
		// sent again after a kept-alive connection closed under it: the
		// failed connection's ticket, the one cached, is forgotten
		// (TestFirefoxRetryHello; one ticket per connection measured).
		sessions.Put(u.Hostname(), nil)
	}
	uc, err := handshake(ctx, conn, p, tlsParams{
		serverName: u.Hostname(),
		verify:     out.Verify,
		roots:      t.opts.RootCAs,
		forceH1:    forceH1,
		timeout:    t.handshakeTimeout(),
		sessions:   sessions,
		retry:      retry,
	})
	if err != nil {
		conn.Close()
		return nil, "", false, err
	}
	proto := uc.ConnectionState().NegotiatedProtocol
	if proto == "" {
		proto = "http/1.1"
	}
	t.log.Debug("impersonate: connected", "host", addr, "profile", p.Name, "alpn", proto, "proxied", out.Proxy != nil)
	return uc, proto, false, nil
}

// rawDial returns a TCP stream to addr, through the proxy's tunnel when set.
func (t *Transport) rawDial(ctx context.Context, pu *url.URL, addr string) (net.Conn, error) {
	if pu != nil {
		return t.tunnel(ctx, pu, addr)
	}
	conn, err := t.dialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return conn, nil
}

// sessionCache returns the TLS session cache of one identity (profile,
// session member and proxy): tickets are never shared between identities,
// since a resumed session links them for the server.
func (t *Transport) sessionCache(p *Profile, poolKey string, proxy *url.URL) utls.ClientSessionCache {
	if t.opts.DisableResumption {
		return nil
	}
	key := p.Name + "|" + poolKey
	if proxy != nil {
		key += "|" + proxy.String()
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.sessions[key]
	if c == nil {
		c = utls.NewLRUClientSessionCache(64)
		t.sessions[key] = c
	}
	return c
}

// DialTLSOptions are the choices of a raw impersonated TLS dial.
type DialTLSOptions struct {
	// Profile is a profile name or file ("" = plain Go TLS).
	Profile string
	// PoolKey selects the session for "random".
	PoolKey string
	Proxy   *url.URL
	// ALPN replaces the profile's ALPN list (WebSocket: ["http/1.1"]).
	ALPN []string
	// InsecureSkipVerify turns certificate verification off; the zero
	// value verifies.
	InsecureSkipVerify bool
	// Retry says the connection carries a request sent again after the
	// one it first went out on failed: a Firefox profile's hello then has
	// no compress_certificate extension, as Firefox's (its session, if
	// cached, is still offered).
	Retry bool
}

// DialTLS opens a TLS connection to addr (host:port) with the profile's
// ClientHello, through proxy when set, and verifies the certificate. It is
// the building block for wss:// (pass alpn ["http/1.1"]).
func (t *Transport) DialTLS(ctx context.Context, network, addr, profile string, proxy *url.URL, alpn []string) (net.Conn, error) {
	return t.DialTLSWith(ctx, network, addr, DialTLSOptions{Profile: profile, Proxy: proxy, ALPN: alpn})
}

// DialTLSWith is DialTLS with every option.
func (t *Transport) DialTLSWith(ctx context.Context, network, addr string, o DialTLSOptions) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" && network != "tcp6" {
		return nil, fmt.Errorf("impersonate: dial tls: network %q unsupported", network)
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("impersonate: dial tls %s: %w", addr, err)
	}
	p, err := t.Profile(o.Profile, o.PoolKey)
	if err != nil {
		return nil, err
	}
	conn, err := t.rawDial(ctx, o.Proxy, addr)
	if err != nil {
		return nil, err
	}
	forceH1 := len(o.ALPN) == 1 && o.ALPN[0] == "http/1.1"
	uc, err := handshake(ctx, conn, p, tlsParams{
		serverName: host, verify: !o.InsecureSkipVerify, roots: t.opts.RootCAs,
		forceH1: forceH1, alpn: o.ALPN, timeout: t.handshakeTimeout(),
		sessions: t.sessionCache(p, o.PoolKey, o.Proxy), retry: o.Retry,
	})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("impersonate: dial tls %s: %w", addr, err)
	}
	return uc, nil
}
