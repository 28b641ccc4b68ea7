package downloader

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// libcResolver resolves the numeric host forms getaddrinfo accepts
// (127.1, 2130706433, 0x7f000001, 0177.0.0.1) and test names, the way a
// permissive system resolver would: the guard must not depend on the URL
// parser rejecting them.
func libcResolver() *testResolver {
	m := map[string]string{
		"127.1": "127.0.0.1", "2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0177.0.0.1": "127.0.0.1",
		"loop.test": "127.0.0.1", "ten.test": "10.1.2.3", "meta.test": "169.254.169.254", "cgnat.test": "100.64.0.1",
		"v6loop.test": "::1", "ula.test": "fd00::1", "linklocal.test": "fe80::1", "ec2v6.test": "fd00:ec2::254",
		"mapped.test": "::ffff:127.0.0.1", "zero.test": "0.0.0.0",
	}
	r := &testResolver{names: map[string][]netip.Addr{}}
	for k, v := range m {
		r.names[k] = []netip.Addr{netip.MustParseAddr(v)}
	}
	return r
}

// K01: the SSRF corpus; no attempt reaches connect(2) for a blocked
// address, and the message says why and how to allow it.
func TestDenyPrivateNetworks(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	port := srv.Port()
	hosts := []struct{ host, reason string }{
		{"127.0.0.1", "loopback"}, {"127.1", "loopback"}, {"2130706433", "loopback"}, {"0x7f000001", "loopback"},
		{"0177.0.0.1", "loopback"}, {"[::1]", "loopback"}, {"[::ffff:127.0.0.1]", "loopback"}, {"0.0.0.0", "unspecified"},
		{"10.1.2.3", "private"}, {"172.16.0.1", "private"}, {"192.168.1.1", "private"}, {"100.64.0.1", "carrier-grade NAT"},
		{"169.254.169.254", "link-local / cloud metadata"}, {"[fd00::1]", "private"}, {"[fe80::1]", "link-local"},
		{"loop.test", "loopback"}, {"ten.test", "private"}, {"meta.test", "cloud metadata"}, {"cgnat.test", "carrier-grade NAT"},
		{"v6loop.test", "loopback"}, {"ula.test", "private"}, {"linklocal.test", "link-local"}, {"ec2v6.test", "cloud metadata"},
		{"mapped.test", "loopback"}, {"zero.test", "unspecified"},
	}
	d := newDownloader(t, srv, func(o *Options) {
		o.HTTP.Resolver = libcResolver()
		o.HTTP.DenyPrivate = true
	})
	tr := d.Transport().(*HTTPTransport)
	for _, h := range hosts {
		t.Run(h.host, func(t *testing.T) {
			resp, err := d.Download(context.Background(), get("http://"+h.host+":"+port+"/ok"))
			mustFail(t, resp, err, crawl.BlockedAddress, "blocked address", h.reason, "NETWORK_ALLOW")
		})
	}
	if srv.Count("") != 0 {
		t.Fatalf("%d requests reached the server", srv.Count(""))
	}
	if b, n := tr.Blocked(), tr.Dials(); b != n || b != int64(len(hosts)) {
		t.Fatalf("blocked %d of %d dial attempts, want all %d", b, n, len(hosts))
	}
}

func TestDenyPrivateAllowList(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	d := newDownloader(t, srv, func(o *Options) {
		o.HTTP.Resolver = libcResolver()
		o.HTTP.DenyPrivate = true
		o.HTTP.Guard.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("169.254.0.0/16")}
	})
	if _, err := d.Download(context.Background(), get(srv.URLFor("loop.test", "/ok"))); err != nil {
		t.Fatalf("allowed address refused: %v", err)
	}
	// A broad allow does not open the metadata address.
	resp, err := d.Download(context.Background(), get("http://meta.test:"+srv.Port()+"/"))
	mustFail(t, resp, err, crawl.BlockedAddress, "cloud metadata")
	g := Guard{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}
	if err := g.Check(netip.MustParseAddr("169.254.169.254")); err != nil {
		t.Fatalf("metadata listed one by one should pass: %v", err)
	}
}

// K02: a resolver alternating between an allowed address and the
// metadata address never gets a connection to the latter.
func TestDNSRebinding(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	var n atomic.Int64
	res := &testResolver{next: func(string) []netip.Addr {
		if n.Add(1)%2 == 0 {
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}
		}
		return loopback()
	}}
	d := newDownloader(t, srv, func(o *Options) {
		o.HTTP.Resolver = res
		o.HTTP.DenyPrivate = true
		o.HTTP.Guard.Allow = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	tr := d.Transport().(*HTTPTransport)
	var ok, blocked atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			// A fresh connection each time, so every request resolves.
			req := get(srv.URLFor("rebind.test", "/ok"))
			req.Headers.Set("Connection", "close")
			_, err := d.Download(context.Background(), req)
			switch {
			case err == nil:
				ok.Add(1)
			case strings.Contains(err.Error(), "BlockedAddress"):
				blocked.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load()+blocked.Load() != 200 || blocked.Load() == 0 || tr.Blocked() != blocked.Load() {
		t.Fatalf("ok %d blocked %d guard count %d", ok.Load(), blocked.Load(), tr.Blocked())
	}
	if srv.Count("/ok") != int(ok.Load()) {
		t.Fatalf("server saw %d, downloads ok %d", srv.Count("/ok"), ok.Load())
	}
}

const canary = "CANARY_PROXY_PW_7f3a"

// K06 + K05: the proxy gets Proxy-Authorization, the target never does,
// and the password appears in no error or log line, whatever fails.
func TestProxyCredentials(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts fixture.Options
	}{{"http-forward", fixture.Options{}}, {"https-connect", fixture.Options{TLS: true}}} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fixture.New(t, tc.opts)
			proxy := fixture.NewProxy(t, "user", canary)
			log, buf := testLogger()
			d := newDownloader(t, srv, func(o *Options) { o.Logger = log })
			req := get(srv.URL + "/echo")
			req.Proxy = strings.Replace(proxy.URL, "http://", "http://user:"+canary+"@", 1)
			// A Proxy-Authorization set by the spider is never sent on.
			req.Headers.Set("Proxy-Authorization", "Basic "+canary)
			resp, err := d.Download(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != 200 {
				t.Fatalf("status %d", resp.Status)
			}
			seen := proxy.Headers()
			if len(seen) == 0 || !strings.HasPrefix(seen[0].Get("Proxy-Authorization"), "Basic ") {
				t.Fatalf("proxy did not get credentials: %v", seen)
			}
			hit := srv.Hits("/echo")[0]
			if hit.Header.Get("Proxy-Authorization") != "" || strings.Contains(string(resp.Body), canary) {
				t.Fatalf("target saw proxy credentials: %v", hit.Header)
			}
			// Wrong password (407) and a dead proxy.
			bad := get(srv.URL + "/ok")
			bad.Proxy = strings.Replace(proxy.URL, "http://", "http://user:"+canary+"x@", 1)
			// Plain http through a proxy gets the proxy's 407 as the
			// response; CONNECT turns it into an error.
			resp1, err1 := d.Download(context.Background(), bad)
			if err1 == nil && resp1.Status != 407 {
				t.Fatalf("wrong proxy password: status %d", resp1.Status)
			}
			dead := get(srv.URL + "/ok")
			dead.Proxy = "http://user:" + canary + "@127.0.0.1:1"
			_, err2 := d.Download(context.Background(), dead)
			if err2 == nil {
				t.Fatal("dead proxy: want an error")
			}
			for _, err := range []error{err1, err2} {
				if err != nil && strings.Contains(err.Error(), canary) {
					t.Fatalf("canary in error: %v", err)
				}
			}
			if strings.Contains(buf.String(), canary) {
				t.Fatalf("canary in logs:\n%s", buf)
			}
		})
	}
}

func TestRedaction(t *testing.T) {
	for in, want := range map[string]string{
		"http://user:secret@proxy:8080":  "http://user:***@proxy:8080",
		"socks5://tokenonly@proxy:1080":  "socks5://***@proxy:1080",
		"http://proxy:8080":              "http://proxy:8080",
		"http://us er:se cret@pro xy:80": "http://***@pro xy:80",
	} {
		if got := weburl.Redact(in); got != want {
			t.Errorf("weburl.Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := New(Options{Proxies: []string{"ftp://u:" + canary + "@x:1"}}); err == nil || strings.Contains(err.Error(), canary) {
		t.Fatalf("bad proxy error: %v", err)
	}
}

func TestProxyRotation(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	p1, p2 := fixture.NewProxy(t, "", ""), fixture.NewProxy(t, "", "")
	d := newDownloader(t, srv, func(o *Options) { o.Proxies = []string{p1.URL, p2.URL} })
	for range 4 {
		if _, err := d.Download(context.Background(), get(srv.URL+"/ok")); err != nil {
			t.Fatal(err)
		}
	}
	if len(p1.Headers()) != 2 || len(p2.Headers()) != 2 {
		t.Fatalf("rotation uneven: %d / %d", len(p1.Headers()), len(p2.Headers()))
	}
}

func TestSOCKS5Proxy(t *testing.T) {
	srv := fixture.New(t, fixture.Options{TLS: true})
	socks := fixture.NewSOCKS5(t, "user", canary)
	d := newDownloader(t, srv, nil)
	req := get(srv.URL + "/ok")
	req.Proxy = "socks5://user:" + canary + "@" + socks.Addr
	resp, err := d.Download(context.Background(), req)
	if err != nil || resp.Status != 200 {
		t.Fatalf("through socks5: %v", err)
	}
	if got := socks.Targets(); len(got) != 1 || got[0] != srv.Addr() {
		t.Fatalf("socks5 targets %v, want [%s]", got, srv.Addr())
	}
	bad := get(srv.URL + "/ok")
	bad.Proxy = "socks5://user:wrong" + canary + "@" + socks.Addr
	_, err = d.Download(context.Background(), bad)
	if err == nil || strings.Contains(err.Error(), canary) {
		t.Fatalf("wrong socks5 password: %v", err)
	}
}

// K08: a TLS peer that never answers is bounded by the download deadline.
func TestSilentTLSPeer(t *testing.T) {
	addr := fixture.Silent(t)
	d := newDownloader(t, nil, func(o *Options) { o.Timeout = 500 * time.Millisecond })
	resp, err := d.Download(context.Background(), get("https://"+addr+"/"))
	mustFail(t, resp, err, crawl.TimeoutError, "timeout after 500ms in TLS handshake with "+addr)
}

// K03: behind a proxy the guard checks the target by name before anything
// is sent; the proxy's own (loopback) address is not blocked.
func TestDenyPrivateBehindProxy(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	proxy := fixture.NewProxy(t, "", "")
	res := libcResolver()
	res.names["public.test"] = []netip.Addr{netip.MustParseAddr("93.184.215.14")}
	d := newDownloader(t, srv, func(o *Options) {
		o.HTTP.Resolver = res
		o.HTTP.DenyPrivate = true
		o.Proxies = []string{proxy.URL}
	})
	resp, err := d.Download(context.Background(), get("http://meta.test/latest/meta-data/"))
	mustFail(t, resp, err, crawl.BlockedAddress, "169.254.169.254")
	if len(proxy.Headers()) != 0 {
		t.Fatalf("the proxy was asked for a blocked target")
	}
	// An allowed target goes through the loopback proxy (which then fails
	// to reach the made-up public address: any non-guard outcome is fine).
	resp, err = d.Download(context.Background(), get("http://public.test/"))
	if err != nil && strings.Contains(err.Error(), "BlockedAddress") {
		t.Fatalf("proxy address itself was blocked: %v", err)
	}
	if len(proxy.Headers()) != 1 {
		t.Fatalf("proxy saw %d requests, want 1", len(proxy.Headers()))
	}
	_ = resp
}

// One Dialer shared with another transport (the impersonating one takes
// DialContext) applies the same guard.
func TestSharedDialerGuardsOtherTransports(t *testing.T) {
	dialer := NewDialer(HTTPOptions{Resolver: libcResolver(), DenyPrivate: true})
	other := &http.Transport{DialContext: dialer.DialContext}
	defer other.CloseIdleConnections()
	_, err := other.RoundTrip(mustReq(t, "http://ten.test/"))
	if err == nil || !strings.Contains(err.Error(), "blocked address 10.1.2.3 (private)") || dialer.Blocked() != 1 {
		t.Fatalf("err %v blocked %d", err, dialer.Blocked())
	}
}

func mustReq(t *testing.T, url string) *http.Request {
	t.Helper()
	r, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// A transport that does not dial through our Dialer (an impersonating one
// wired without it) still cannot reach a blocked target: the downloader
// checks the host before handing the request over.
func TestGuardCoversOtherTransports(t *testing.T) {
	called := 0
	d := newDownloader(t, nil, func(o *Options) {
		o.HTTP.Resolver = libcResolver()
		o.HTTP.DenyPrivate = true
		o.Transports = map[string]Transport{"chrome": transportFunc(func(ctx context.Context, out *Outgoing) (*http.Response, error) {
			called++
			return nil, context.Canceled
		})}
	})
	req := get("http://meta.test/latest/")
	req.Impersonate = "chrome"
	resp, err := d.Download(context.Background(), req)
	mustFail(t, resp, err, crawl.BlockedAddress, "cloud metadata")
	if called != 0 {
		t.Fatal("the transport was called for a blocked target")
	}
}

// NO_PROXY: matching hosts go direct, others through the rotation; a
// request's own proxy wins over NO_PROXY.
func TestNoProxy(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	p := fixture.NewProxy(t, "", "")
	cases := []struct {
		noProxy  []string
		ownProxy bool
		viaProxy bool
	}{
		{nil, false, true},
		{[]string{"127.0.0.1"}, false, false},
		{[]string{"127.0.0.0/8"}, false, false},
		{[]string{"*"}, false, false},
		{[]string{"other.test", ".example.com"}, false, true},
		{[]string{"127.0.0.1"}, true, true},
	}
	for _, c := range cases {
		before := len(p.Headers())
		d := newDownloader(t, srv, func(o *Options) { o.Proxies = []string{p.URL}; o.NoProxy = c.noProxy })
		req := get(srv.URL + "/ok")
		if c.ownProxy {
			req.Proxy = p.URL
		}
		if _, err := d.Download(context.Background(), req); err != nil {
			t.Fatal(err)
		}
		if got := len(p.Headers()) > before; got != c.viaProxy {
			t.Errorf("NO_PROXY %v (own proxy %v): via proxy = %v, want %v", c.noProxy, c.ownProxy, got, c.viaProxy)
		}
	}
	for host, want := range map[string]bool{"a.example.com": true, "example.com": false, "sub.other.test": true, "other.test": true, "xother.test": false} {
		if got := noProxy([]string{".example.com", "other.test"}, host); got != want {
			t.Errorf("noProxy(%s) = %v, want %v", host, got, want)
		}
	}
}

// TestResolveUDPGuard: the QUIC endpoint of an HTTP/3 request is resolved
// and checked like a TCP dial: a name resolving to loopback is refused
// with DENY_PRIVATE_NETWORKS, allowed by NETWORK_ALLOW, and passes when
// the guard is off.
func TestResolveUDPGuard(t *testing.T) {
	res := &testResolver{names: map[string][]netip.Addr{"evil.test": loopback()}}
	ctx := context.Background()
	d := NewDialer(HTTPOptions{Resolver: res, DenyPrivate: true})
	_, err := d.ResolveUDP(ctx, "evil.test:443")
	var b *BlockedError
	if !errors.As(err, &b) || b.Reason != "loopback" || d.Blocked() != 1 {
		t.Fatalf("err %v, blocked %d; want a loopback BlockedError", err, d.Blocked())
	}
	d = NewDialer(HTTPOptions{Resolver: res, DenyPrivate: true, Guard: Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	if ap, err := d.ResolveUDP(ctx, "evil.test:443"); err != nil || ap.Port() != 443 || !ap.Addr().IsLoopback() {
		t.Fatalf("allowed: %v %v", ap, err)
	}
	d = NewDialer(HTTPOptions{Resolver: res})
	if _, err := d.ResolveUDP(ctx, "evil.test:443"); err != nil {
		t.Fatalf("guard off: %v", err)
	}
}
