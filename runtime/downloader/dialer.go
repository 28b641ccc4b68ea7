package downloader

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// Dialer opens TCP connections for the transports: it resolves names with
// the configured Resolver and connects to the addresses in turn, and with
// DENY_PRIVATE_NETWORKS on it runs the guard in net.Dialer.Control, after
// resolution and just before connect(2), on the very address being
// dialled. The impersonating transport takes its DialContext, so one guard
// covers every transport.
type Dialer struct {
	resolver    Resolver
	dnsTimeout  time.Duration
	denyPrivate bool
	guard       Guard
	blocked     atomic.Int64
	dials       atomic.Int64
}

// NewDialer builds a Dialer from the resolver and guard fields of opts.
func NewDialer(opts HTTPOptions) *Dialer {
	d := &Dialer{resolver: opts.Resolver, dnsTimeout: opts.DNSTimeout, denyPrivate: opts.DenyPrivate, guard: opts.Guard}
	if d.resolver == nil {
		d.resolver = net.DefaultResolver
	}
	if d.dnsTimeout <= 0 {
		d.dnsTimeout = 5 * time.Second
	}
	return d
}

// Blocked is the number of connection attempts the guard refused.
func (t *Dialer) Blocked() int64 { return t.blocked.Load() }

// Dials is the number of connect attempts that reached the Control hook
// (allowed or not).
func (t *Dialer) Dials() int64 { return t.dials.Load() }

// DenyPrivate reports whether the guard is on.
func (t *Dialer) DenyPrivate() bool { return t.denyPrivate }

type proxyKey struct{}

// WithProxy marks ctx as carrying a request through proxy p: the default
// transport routes through it, and the Dialer does not apply the guard to
// the proxy's own address (it is configuration, not a crawled link).
func WithProxy(ctx context.Context, p *url.URL) context.Context {
	return context.WithValue(ctx, proxyKey{}, p)
}

func proxyFrom(ctx context.Context) *url.URL {
	p, _ := ctx.Value(proxyKey{}).(*url.URL)
	return p
}

// DialContext resolves addr with the configured resolver and connects to each
// address in turn; the guard runs in Dialer.Control, after resolution and
// just before connect(2), on the very address being dialled.
func (t *Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("bad port in %q", addr)
	}
	setPhase(ctx, "resolving "+host)
	ips, err := t.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	proxy := proxyFrom(ctx)
	guard := t.denyPrivate && !(proxy != nil && sameHostPort(proxy, host, portStr))
	d := net.Dialer{Control: func(network, address string, _ syscall.RawConn) error {
		t.dials.Add(1)
		if !guard {
			return nil
		}
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("guard: cannot parse %q: %w", address, err)
		}
		if err := t.guard.Check(ap.Addr()); err != nil {
			t.blocked.Add(1)
			return err
		}
		return nil
	}}
	var firstErr error
	for _, ip := range ips {
		target := netip.AddrPortFrom(ip, uint16(port)).String()
		setPhase(ctx, "connecting to "+target)
		c, err := d.DialContext(ctx, network, target)
		if err == nil {
			setPhase(ctx, "waiting for response headers")
			return c, nil
		}
		if firstErr == nil || isBlocked(firstErr) && !isBlocked(err) {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

func isBlocked(err error) bool {
	var b *BlockedError
	return errors.As(err, &b)
}

func sameHostPort(u *url.URL, host, port string) bool {
	p := u.Port()
	if p == "" {
		switch u.Scheme {
		case "http":
			p = "80"
		case "https":
			p = "443"
		case "socks5", "socks5h":
			p = "1080"
		}
	}
	return u.Hostname() == host && p == port
}

func (t *Dialer) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	dctx, cancel := context.WithTimeout(ctx, t.dnsTimeout)
	defer cancel()
	ips, err := t.resolver.LookupNetIP(dctx, "ip", host)
	if err != nil {
		var dnsErr *net.DNSError
		if !errors.As(err, &dnsErr) {
			dnsErr = &net.DNSError{Err: err.Error(), Name: host}
		}
		if dctx.Err() != nil && ctx.Err() == nil {
			dnsErr = &net.DNSError{Err: "timeout", Name: host, IsTimeout: true}
		}
		if dnsErr.Name == "" {
			dnsErr.Name = host
		}
		return nil, dnsErr
	}
	if len(ips) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	return ips, nil
}

// CheckHost resolves host and refuses it when any address is blocked.
func (t *Dialer) CheckHost(ctx context.Context, host string) error {
	ips, err := t.resolve(ctx, host)
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if err := t.guard.Check(ip); err != nil {
			t.blocked.Add(1)
			return err
		}
	}
	return nil
}

// ResolveUDP resolves a QUIC endpoint (host:port) with the configured
// resolver and, with DENY_PRIVATE_NETWORKS on, runs the guard on the
// address the datagrams will go to (the first one the resolver returns),
// so HTTP/3 connections are guarded like TCP ones.
func (t *Dialer) ResolveUDP(ctx context.Context, addr string) (netip.AddrPort, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", addr)
	}
	setPhase(ctx, "resolving "+host)
	ips, err := t.resolve(ctx, host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	ip := ips[0].Unmap()
	t.dials.Add(1)
	if t.denyPrivate {
		if err := t.guard.Check(ip); err != nil {
			t.blocked.Add(1)
			return netip.AddrPort{}, err
		}
	}
	setPhase(ctx, "in QUIC handshake with "+addr)
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
