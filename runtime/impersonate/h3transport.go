package impersonate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/third_party/quic-go"

	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// h3State is the Transport's HTTP/3 side: pooled QUIC connections, the
// Alt-Svc cache and the broken alternative services, as Chromium keeps
// them (net/http/http_server_properties, broken_alternative_services).
type h3State struct {
	mu      sync.Mutex
	conns   map[string]*h3Conn
	dialing map[string]*h3Dial
	alt     map[string]altSvc // origin -> h3 alternative
	// broken holds the alternative services QUIC failed on, by
	// brokenKey. An entry whose until has passed is "recently broken"
	// (Chromium's word): QUIC is tried again, but TCP does not wait for
	// it, until a QUIC connection to it succeeds and removes the entry.
	broken map[string]brokenQUIC
	// srtt is the smoothed RTT of the last QUIC connection to each
	// endpoint (Chromium's ServerNetworkStats): it sets how long TCP
	// waits for QUIC to that endpoint.
	srtt map[string]time.Duration
	// dials counts QUIC connection attempts (tests: whether QUIC was
	// tried).
	dials     int
	proxyOnce sync.Once
}

type h3Dial struct {
	done chan struct{}
	c    *h3Conn
	err  error
}

type altSvc struct {
	host    string // "" = the origin's host
	port    string
	expires time.Time
}

type brokenQUIC struct {
	until time.Time
	// count is how many times the service was marked broken since QUIC
	// last worked on it: the backoff's exponent.
	count int
}

// brokenBase is how long an alternative service stays broken after its
// first failure; each further failure before QUIC works again doubles it,
// up to brokenMax (Chromium's BrokenAlternativeServices: 300 s shifted
// by the broken count, at most 18 shifts, at most 2 days).
const (
	brokenBase     = 5 * time.Minute
	brokenMaxShift = 18
	brokenMax      = 48 * time.Hour
)

func brokenDelay(count int) time.Duration {
	return min(brokenBase<<min(count, brokenMaxShift), brokenMax)
}

func originOf(u *url.URL) string { return u.Scheme + "://" + hostPort(u) }

// brokenKey names an alternative service on a network path: Chromium
// keys brokenness by the alternative service (endpoint), per network; a
// QUIC endpoint that fails through one proxy may work directly.
func brokenKey(out *downloader.Outgoing, addr string) string {
	proxy := ""
	if out.Proxy != nil {
		proxy = out.Proxy.String()
	}
	return proxy + "|" + addr
}

func (t *Transport) now() time.Time {
	if t.clock != nil {
		return t.clock()
	}
	return time.Now()
}

// noteAltSvc records what a response's Alt-Svc header says about HTTP/3
// for its origin. As in Chromium, a header replaces what the origin
// announced before: "clear", or a list without an h3 alternative, forgets
// it; a malformed header changes nothing.
func (t *Transport) noteAltSvc(u *url.URL, h http.Header) {
	v := strings.Join(h.Values("Alt-Svc"), ",")
	if v == "" || u.Scheme != "https" {
		return
	}
	a, err := parseAltSvc(v, t.now())
	if err != nil {
		t.log.Debug("impersonate: ignoring Alt-Svc", "url", u.Redacted(), "value", v, "error", err)
		return
	}
	if a.h3 != nil {
		if ap, err := strconv.Atoi(a.h3.port); err == nil && ap >= restrictedPorts && originPort(u) < restrictedPorts {
			t.log.Debug("impersonate: ignoring Alt-Svc to an unrestricted port", "url", u.Redacted(), "value", v)
			a.h3 = nil
		}
	}
	s := &t.h3s
	s.mu.Lock()
	defer s.mu.Unlock()
	o := originOf(u)
	if a.h3 == nil || !a.h3.expires.After(t.now()) {
		if _, had := s.alt[o]; had {
			t.log.Debug("impersonate: alt-svc h3 cleared", "origin", o, "value", v)
		}
		delete(s.alt, o)
		return
	}
	s.alt[o] = *a.h3
	t.log.Debug("impersonate: alt-svc h3", "origin", o, "port", a.h3.port, "expires", a.h3.expires)
}

func originPort(u *url.URL) int {
	_, p, _ := net.SplitHostPort(hostPort(u))
	n, _ := strconv.Atoi(p)
	return n
}

// h3Target says where an "auto" request may go over QUIC, if anywhere: a
// fresh Alt-Svc entry whose endpoint is not broken on out's path.
func (t *Transport) h3Target(out *downloader.Outgoing) (string, bool) {
	u := out.URL
	s := &t.h3s
	s.mu.Lock()
	defer s.mu.Unlock()
	o := originOf(u)
	alt, ok := s.alt[o]
	if !ok {
		return "", false
	}
	now := t.now()
	if now.After(alt.expires) {
		delete(s.alt, o)
		return "", false
	}
	host := alt.host
	if host == "" {
		host = u.Hostname()
	}
	addr := net.JoinHostPort(host, alt.port)
	if b, ok := s.broken[brokenKey(out, addr)]; ok && now.Before(b.until) {
		return "", false
	}
	return addr, true
}

// markBroken records that QUIC failed on addr (out's alternative
// service), with Chromium's exponential backoff. Failures reported while
// the mark stands (the requests that shared one failed attempt) count
// once.
func (t *Transport) markBroken(out *downloader.Outgoing, addr string, err error) {
	s := &t.h3s
	s.mu.Lock()
	k := brokenKey(out, addr)
	b := s.broken[k]
	now := t.now()
	if now.Before(b.until) {
		s.mu.Unlock()
		return
	}
	d := brokenDelay(b.count)
	b.count++
	b.until = now.Add(d)
	s.broken[k] = b
	s.mu.Unlock()
	t.inc("downloader/http3/broken", 1)
	t.log.Info("impersonate: QUIC failed, using TCP for this origin", "origin", originOf(out.URL), "alternative", addr, "for", d, "error", err)
}

// confirmQUIC records a QUIC connection that worked: the service is no
// longer (recently) broken, and its RTT sets the next races' delay.
func (t *Transport) confirmQUIC(out *downloader.Outgoing, addr string, c *h3Conn) {
	rtt := c.qc.ConnectionStats().SmoothedRTT
	s := &t.h3s
	s.mu.Lock()
	delete(s.broken, brokenKey(out, addr))
	if rtt > 0 {
		s.srtt[addr] = rtt
	}
	s.mu.Unlock()
}

// H3Broken reports whether QUIC is marked broken for the alternative
// service u's origin announced (tests and fetch --verbose).
func (t *Transport) H3Broken(u *url.URL) bool {
	_, ok := t.h3BrokenUntil(u)
	return ok
}

// h3BrokenUntil is when the broken mark of u's alternative service ends,
// on any network path.
func (t *Transport) h3BrokenUntil(u *url.URL) (time.Time, bool) {
	s := &t.h3s
	s.mu.Lock()
	defer s.mu.Unlock()
	alt, ok := s.alt[originOf(u)]
	if !ok {
		return time.Time{}, false
	}
	host := alt.host
	if host == "" {
		host = u.Hostname()
	}
	addr := net.JoinHostPort(host, alt.port)
	now := t.now()
	for k, b := range s.broken {
		if strings.HasSuffix(k, "|"+addr) && now.Before(b.until) {
			return b.until, true
		}
	}
	return time.Time{}, false
}

func (t *Transport) inc(key string, n int64) {
	if t.opts.Stats != nil {
		t.opts.Stats.Inc(key, n)
	}
}

// resolveUDP picks the address a QUIC dial goes to and applies the
// private-network guard when one is configured.
func (t *Transport) resolveUDP(ctx context.Context, addr string) (netip.AddrPort, error) {
	if t.opts.ResolveUDP != nil {
		return t.opts.ResolveUDP(ctx, addr)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	pn, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", addr)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(ip, uint16(pn)), nil
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(pn)), nil
}

// getH3 returns a live pooled connection for key or dials one; concurrent
// requests to one key share a single dial.
func (t *Transport) getH3(ctx context.Context, key, addr string, p *Profile, out *downloader.Outgoing) (*h3Conn, bool, error) {
	s := &t.h3s
	s.mu.Lock()
	if c := s.conns[key]; c != nil {
		if !c.dead() {
			s.mu.Unlock()
			return c, true, nil
		}
		delete(s.conns, key)
		go c.close()
	}
	if d := s.dialing[key]; d != nil {
		s.mu.Unlock()
		select {
		case <-d.done:
			return d.c, false, d.err
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
	d := &h3Dial{done: make(chan struct{})}
	s.dialing[key] = d
	s.dials++
	s.mu.Unlock()

	d.c, d.err = t.dialH3(ctx, addr, p, out)
	s.mu.Lock()
	delete(s.dialing, key)
	if d.err == nil {
		if t.closed {
			d.c.close()
			d.c, d.err = nil, errors.New("transport closed")
		} else {
			s.conns[key] = d.c
		}
	}
	s.mu.Unlock()
	close(d.done)
	return d.c, false, d.err
}

func (t *Transport) dialH3(ctx context.Context, addr string, p *Profile, out *downloader.Outgoing) (*h3Conn, error) {
	timeout := t.handshakeTimeout()
	if out.HTTPVersion == "auto" && t.opts.QUICFallbackTimeout > 0 {
		timeout = t.opts.QUICFallbackTimeout
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tc := &tls.Config{
		ServerName:         out.URL.Hostname(),
		RootCAs:            t.opts.RootCAs,
		InsecureSkipVerify: !out.Verify,
	}
	udp, remote, err := t.quicSocket(hctx, addr, out.Proxy)
	if err != nil {
		if hctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return nil, fmt.Errorf("%w after %s: %w", ErrHandshakeTimeout, timeout, err)
		}
		return nil, err
	}
	c, err := dialQUIC(hctx, p, udp, remote, tc, timeout, t.opts.MaxResponseHeaderBytes, nil)
	if err != nil {
		// quic-go's handshake idle timer and our deadline race; both mean
		// "no usable answer in time".
		var idle *quic.IdleTimeoutError
		var hs *quic.HandshakeTimeoutError
		if (hctx.Err() == context.DeadlineExceeded || errors.As(err, &idle) || errors.As(err, &hs)) && ctx.Err() == nil {
			return nil, fmt.Errorf("%w after %s: %w", ErrHandshakeTimeout, timeout, err)
		}
		return nil, err
	}
	if out.Proxy != nil {
		t.log.Debug("impersonate: connected", "host", addr, "profile", p.Name, "alpn", "h3", "proxy", out.Proxy.Redacted())
	} else {
		t.log.Debug("impersonate: connected", "host", addr, "profile", p.Name, "alpn", "h3")
	}
	return c, nil
}

// quicSocket returns the socket a QUIC connection to addr runs on and the
// address QUIC dials: a UDP socket of our own, or through a SOCKS5 proxy
// a UDP association (socks5: the name resolved here, under the
// private-network guard; socks5h: the proxy resolves it, as for TCP).
func (t *Transport) quicSocket(ctx context.Context, addr string, pu *url.URL) (net.PacketConn, net.Addr, error) {
	if pu != nil && pu.Scheme == "socks5h" {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, nil, fmt.Errorf("quic dial %s: %w", addr, err)
		}
		pn, err := strconv.ParseUint(port, 10, 16)
		if err != nil {
			return nil, nil, fmt.Errorf("quic dial %s: bad port", addr)
		}
		dst := socks5Addr{name: host, port: uint16(pn)}
		if ip, err := netip.ParseAddr(host); err == nil {
			dst = socks5Addr{ip: ip, port: uint16(pn)}
		}
		c, err := t.socks5Associate(ctx, pu, dst, dst)
		if err != nil {
			return nil, nil, err
		}
		return c, dst, nil
	}
	ap, err := t.resolveUDP(ctx, addr)
	if err != nil {
		return nil, nil, fmt.Errorf("quic dial %s: %w", addr, err)
	}
	remote := net.UDPAddrFromAddrPort(ap)
	if pu != nil {
		c, err := t.socks5Associate(ctx, pu, socks5Addr{ip: ap.Addr(), port: ap.Port()}, remote)
		if err != nil {
			return nil, nil, err
		}
		return c, remote, nil
	}
	udp, err := listenUDPFor(ap)
	if err != nil {
		return nil, nil, err
	}
	return udp, remote, nil
}

// h3PoolKey names the QUIC connection out uses to addr. The proxy is
// part of the identity: each proxy (and each pool key) has its own
// connection, hence its own UDP association.
func h3PoolKey(p *Profile, out *downloader.Outgoing, addr string) string {
	proxy := ""
	if out.Proxy != nil {
		proxy = out.Proxy.String()
	}
	return strings.Join([]string{p.Name, out.PoolKey, originOf(out.URL), addr, fmt.Sprint(out.Verify), proxy}, "|")
}

// h3RoundTrip sends out over HTTP/3 to addr (host:port of the QUIC
// endpoint).
// connected reports whether a QUIC connection existed, so the request may
// have reached the server.
func (t *Transport) h3RoundTrip(ctx context.Context, p *Profile, out *downloader.Outgoing, wr *wireRequest, info RequestInfo, addr string) (resp *http.Response, connected bool, err error) {
	key := h3PoolKey(p, out, addr)
	for attempt := 0; ; attempt++ {
		c, reused, err := t.getH3(ctx, key, addr, p, out)
		if err != nil {
			return nil, false, err
		}
		gotConn(ctx, udpConnInfo{c}, reused)
		wr.headers = p.KindHeaders(info, out.Headers, false)
		resp, err := c.roundTrip(ctx, wr)
		if err != nil && reused && attempt < 2 && c.dead() && ctx.Err() == nil && idempotent(wr.method) {
			continue // the pooled connection died meanwhile (idle timeout, GOAWAY)
		}
		if err != nil {
			return nil, true, err
		}
		resp.Request = t.respRequest(out, wr.headers)
		return resp, true, nil
	}
}

// udpConnInfo lets httptrace's GotConn report the QUIC peer's address.
type udpConnInfo struct{ c *h3Conn }

func (u udpConnInfo) Read([]byte) (int, error)         { return 0, errors.New("not a stream") }
func (u udpConnInfo) Write([]byte) (int, error)        { return 0, errors.New("not a stream") }
func (u udpConnInfo) Close() error                     { return nil }
func (u udpConnInfo) LocalAddr() net.Addr              { return u.c.qc.LocalAddr() }
func (u udpConnInfo) RemoteAddr() net.Addr             { return u.c.qc.RemoteAddr() }
func (u udpConnInfo) SetDeadline(time.Time) error      { return nil }
func (u udpConnInfo) SetReadDeadline(time.Time) error  { return nil }
func (u udpConnInfo) SetWriteDeadline(time.Time) error { return nil }

// closeH3 closes pooled QUIC connections (all, or only the idle ones).
func (t *Transport) closeH3(onlyIdle bool) {
	s := &t.h3s
	s.mu.Lock()
	var cs []*h3Conn
	for k, c := range s.conns {
		if !onlyIdle || c.idle(0) || c.dead() {
			cs = append(cs, c)
			delete(s.conns, k)
		}
	}
	s.mu.Unlock()
	for _, c := range cs {
		c.close()
	}
}

// h3Only sends an http_version "3" request: QUIC to the URL's host and
// port, no fallback. done=false means: go over TCP (an http(s) proxy,
// which cannot carry QUIC).
func (t *Transport) h3Only(ctx context.Context, p *Profile, out *downloader.Outgoing, wr *wireRequest, info RequestInfo) (*http.Response, bool, error) {
	if out.URL.Scheme != "https" {
		return nil, true, errors.New("http_version 3 needs an https URL")
	}
	if p.h3 == nil {
		return nil, true, fmt.Errorf("http_version 3: profile %s has no http3 section", p.Name)
	}
	if !quicProxy(out) {
		t.warnHTTPProxy(out)
		return nil, false, nil
	}
	resp, _, err := t.h3RoundTrip(ctx, p, out, wr, info, hostPort(out.URL))
	return resp, true, err
}

// quicProxy: QUIC can go direct or through a SOCKS5 proxy's UDP relay.
func quicProxy(out *downloader.Outgoing) bool {
	return out.Proxy == nil || out.Proxy.Scheme == "socks5" || out.Proxy.Scheme == "socks5h"
}

func (t *Transport) warnHTTPProxy(out *downloader.Outgoing) {
	t.h3s.proxyOnce.Do(func() {
		t.log.Warn("impersonate: HTTP/3 is not used through an http(s) proxy (QUIC needs UDP: only socks5 proxies relay it; CONNECT-UDP is not implemented); those requests go over TCP", "proxy", out.Proxy.Redacted())
	})
}
