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
// Alt-Svc cache and the origins where QUIC is broken, as Chromium keeps
// them (net/http/http_server_properties).
type h3State struct {
	mu        sync.Mutex
	conns     map[string]*h3Conn
	dialing   map[string]*h3Dial
	alt       map[string]altSvc     // origin -> h3 alternative
	broken    map[string]brokenQUIC // origin -> until when
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
	count int
}

// brokenBase is how long an origin stays on TCP after its first QUIC
// failure; each further failure doubles it (Chromium: 5 minutes, then
// exponential backoff).
const brokenBase = 5 * time.Minute

func originOf(u *url.URL) string { return u.Scheme + "://" + hostPort(u) }

// parseAltSvc returns the first h3 alternative of an Alt-Svc header
// (RFC 7838), "clear" as clear=true. ma defaults to 24 hours.
func parseAltSvc(v string) (alt altSvc, ok, clear bool) {
	v = strings.TrimSpace(v)
	if v == "clear" {
		return altSvc{}, false, true
	}
	for _, entry := range strings.Split(v, ",") {
		parts := strings.Split(entry, ";")
		proto, auth, found := strings.Cut(strings.TrimSpace(parts[0]), "=")
		if !found || strings.TrimSpace(proto) != "h3" {
			continue
		}
		auth = strings.Trim(strings.TrimSpace(auth), `"`)
		host, port, err := net.SplitHostPort(auth)
		if err != nil {
			continue
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			continue
		}
		ma := 24 * time.Hour
		for _, p := range parts[1:] {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			if strings.TrimSpace(k) == "ma" {
				if n, err := strconv.ParseInt(strings.Trim(strings.TrimSpace(val), `"`), 10, 64); err == nil && n >= 0 {
					ma = time.Duration(n) * time.Second
				}
			}
		}
		return altSvc{host: host, port: port, expires: time.Now().Add(ma)}, true, false
	}
	return altSvc{}, false, false
}

// noteAltSvc records what a TCP response says about HTTP/3 for its origin.
func (t *Transport) noteAltSvc(u *url.URL, h http.Header) {
	v := h.Get("Alt-Svc")
	if v == "" || u.Scheme != "https" {
		return
	}
	alt, ok, clear := parseAltSvc(v)
	s := &t.h3s
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case clear:
		delete(s.alt, originOf(u))
	case ok:
		s.alt[originOf(u)] = alt
		t.log.Debug("impersonate: alt-svc h3", "origin", originOf(u), "port", alt.port, "expires", alt.expires)
	}
}

// h3Target says where an "auto" request goes over QUIC, if anywhere: a
// fresh Alt-Svc entry and QUIC not marked broken for the origin.
func (t *Transport) h3Target(u *url.URL) (string, bool) {
	s := &t.h3s
	s.mu.Lock()
	defer s.mu.Unlock()
	o := originOf(u)
	if b, ok := s.broken[o]; ok && time.Now().Before(b.until) {
		return "", false
	}
	alt, ok := s.alt[o]
	if !ok {
		return "", false
	}
	if time.Now().After(alt.expires) {
		delete(s.alt, o)
		return "", false
	}
	host := alt.host
	if host == "" {
		host = u.Hostname()
	}
	return net.JoinHostPort(host, alt.port), true
}

func (t *Transport) markBroken(u *url.URL, err error) {
	s := &t.h3s
	s.mu.Lock()
	o := originOf(u)
	b := s.broken[o]
	b.count++
	d := brokenBase << min(b.count-1, 10)
	b.until = time.Now().Add(d)
	s.broken[o] = b
	s.mu.Unlock()
	t.log.Info("impersonate: QUIC failed, using TCP for this origin", "origin", o, "for", d, "error", err)
}

// H3Broken reports whether QUIC is marked broken for u's origin (tests
// and fetch --verbose).
func (t *Transport) H3Broken(u *url.URL) bool {
	s := &t.h3s
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.broken[originOf(u)]
	return ok && time.Now().Before(b.until)
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

// h3RoundTrip sends out over HTTP/3 to addr (host:port of the QUIC
// endpoint).
// connected reports whether a QUIC connection existed, so the request may
// have reached the server.
func (t *Transport) h3RoundTrip(ctx context.Context, p *Profile, out *downloader.Outgoing, wr *wireRequest, info RequestInfo, addr string) (resp *http.Response, connected bool, err error) {
	// The proxy is part of the identity: each proxy (and each pool key)
	// has its own connection, hence its own UDP association.
	proxy := ""
	if out.Proxy != nil {
		proxy = out.Proxy.String()
	}
	key := strings.Join([]string{p.Name, out.PoolKey, originOf(out.URL), addr, fmt.Sprint(out.Verify), proxy}, "|")
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

// tryH3 sends the request over HTTP/3 when asked ("3") or when the origin
// announced h3 in Alt-Svc ("auto"). done=false means: go on over TCP. An
// "auto" request whose QUIC attempt fails before the request was sent is
// not failed: the origin is marked broken and TCP carries it, as Chromium
// does.
func (t *Transport) tryH3(ctx context.Context, p *Profile, out *downloader.Outgoing, wr *wireRequest, info RequestInfo) (*http.Response, bool, error) {
	u := out.URL
	var addr string
	switch out.HTTPVersion {
	case "3":
		if u.Scheme != "https" {
			return nil, true, errors.New("http_version 3 needs an https URL")
		}
		if p.h3 == nil {
			return nil, true, fmt.Errorf("http_version 3: profile %s has no http3 section", p.Name)
		}
		addr = hostPort(u)
	case "auto":
		if u.Scheme != "https" || p.h3 == nil {
			return nil, false, nil
		}
		a, ok := t.h3Target(u)
		if !ok {
			return nil, false, nil
		}
		addr = a
	default:
		return nil, false, nil
	}
	if out.Proxy != nil && out.Proxy.Scheme != "socks5" && out.Proxy.Scheme != "socks5h" {
		t.h3s.proxyOnce.Do(func() {
			t.log.Warn("impersonate: HTTP/3 is not used through an http(s) proxy (QUIC needs UDP: only socks5 proxies relay it; CONNECT-UDP is not implemented); those requests go over TCP", "proxy", out.Proxy.Redacted())
		})
		return nil, false, nil
	}
	resp, connected, err := t.h3RoundTrip(ctx, p, out, wr, info, addr)
	if err == nil {
		return resp, true, nil
	}
	if out.HTTPVersion == "auto" && ctx.Err() == nil && (!connected || idempotent(wr.method)) {
		t.markBroken(u, err)
		return nil, false, nil
	}
	return nil, true, err
}
