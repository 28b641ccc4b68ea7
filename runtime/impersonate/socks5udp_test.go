package impersonate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/testenv"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// TestSOCKS5UDPHeader: the UDP request header of RFC 1928 §7, both ways,
// and the malformed, fragmented or truncated headers a hostile relay may
// send, each refused with its reason.
func TestSOCKS5UDPHeader(t *testing.T) {
	payload := []byte("quic")
	good := []struct {
		name string
		addr socks5Addr
		wire []byte
	}{
		{"ipv4", socks5Addr{ip: netip.MustParseAddr("127.0.0.1"), port: 443}, []byte{0, 0, 0, 1, 127, 0, 0, 1, 0x01, 0xbb}},
		{"ipv4-in-6 as ipv4", socks5Addr{ip: netip.MustParseAddr("::ffff:10.1.2.3"), port: 8443}, []byte{0, 0, 0, 1, 10, 1, 2, 3, 0x20, 0xfb}},
		{"ipv6", socks5Addr{ip: netip.MustParseAddr("::1"), port: 1}, append(append([]byte{0, 0, 0, 4}, netip.MustParseAddr("::1").AsSlice()...), 0, 1)},
		{"name", socks5Addr{name: "example.com", port: 443}, append(append([]byte{0, 0, 0, 3, 11}, "example.com"...), 0x01, 0xbb)},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			b, err := encodeSOCKS5UDP(tc.addr, payload)
			if err != nil {
				t.Fatal(err)
			}
			if want := append(append([]byte{}, tc.wire...), payload...); !bytes.Equal(b, want) {
				t.Fatalf("encoded % x\nwant    % x", b, want)
			}
			a, p, err := decodeSOCKS5UDP(b)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.addr
			if want.ip.Is4In6() {
				want.ip = want.ip.Unmap()
			}
			if a != want || !bytes.Equal(p, payload) {
				t.Errorf("decoded %v %q, want %v %q", a, p, want, payload)
			}
		})
	}
	bad := []struct {
		name, want string
		wire       []byte
	}{
		{"empty", "shorter than its header", nil},
		{"three bytes", "shorter than its header", []byte{0, 0, 0}},
		{"reserved set", "reserved bytes", []byte{0, 1, 0, 1, 127, 0, 0, 1, 0, 1}},
		{"fragment", "FRAG != 0", []byte{0, 0, 1, 1, 127, 0, 0, 1, 0, 1}},
		{"last fragment", "FRAG != 0", []byte{0, 0, 0x81, 1, 127, 0, 0, 1, 0, 1}},
		{"unknown atyp", "unknown address type 0x9", []byte{0, 0, 0, 9, 127, 0, 0, 1, 0, 1}},
		{"short ipv4", "short IPv4", []byte{0, 0, 0, 1, 127, 0, 0}},
		{"short ipv6", "short IPv6", []byte{0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0}},
		{"empty name", "empty host name", []byte{0, 0, 0, 3, 0, 0, 1}},
		{"name past the end", "short or empty host name", []byte{0, 0, 0, 3, 200, 'a', 'b'}},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := decodeSOCKS5UDP(tc.wire)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := encodeSOCKS5UDP(socks5Addr{name: strings.Repeat("a", 256), port: 1}, nil); err == nil || !strings.Contains(err.Error(), "longer than 255") {
		t.Errorf("256-byte name: %v", err)
	}
}

// dante is a Dante SOCKS server (danted) on loopback: it accepts on
// 127.0.0.1 and relays from 127.0.0.2, so a target sees the proxy's
// address, not ours, as the client.
type dante struct {
	url *url.URL
	log *lockedBuffer
}

const danteExternal = "127.0.0.2"

// startDante runs danted with socksmethod (none or username) and the
// extra socks rules before the one that passes everything.
func startDante(t *testing.T, socksmethod, rules string) *dante {
	t.Helper()
	bin := "/usr/sbin/danted"
	if _, err := os.Stat(bin); err != nil {
		testenv.Missing(t, "danted is not installed (apt-get install dante-server; .ci/run installs it): %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	users := ""
	if os.Geteuid() == 0 {
		// danted refuses to run as root without naming whom to drop to.
		users = "user.privileged: root\nuser.unprivileged: nobody\n"
	}
	conf := fmt.Sprintf(`logoutput: stderr
internal: 127.0.0.1 port = %d
external: %s
clientmethod: none
socksmethod: %s
%s
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
%s
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect udpassociate udpreply }
`, port, danteExternal, socksmethod, users, rules)
	path := filepath.Join(dir, "danted.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &dante{log: &lockedBuffer{}}
	cmd := exec.Command(bin, "-f", path, "-p", filepath.Join(dir, "danted.pid"), "-N", "1")
	cmd.Stdout, cmd.Stderr = d.log, d.log
	// danted forks its children: signal the whole group at the end.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			t.Logf("danted log:\n%s", d.log.String())
		}
	})
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("danted exited: %s", d.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("danted does not accept on %s: %v\n%s", addr, err, d.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.url, _ = url.Parse("socks5://" + addr)
	return d
}

func (d *dante) proxy(scheme, userinfo string) *url.URL {
	u := *d.url
	u.Scheme = scheme
	if userinfo != "" {
		user, pw, _ := strings.Cut(userinfo, ":")
		u.User = url.UserPassword(user, pw)
	}
	return &u
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// h3RemoteSite is an HTTP/3 site that answers with the client address it
// sees.
func h3RemoteSite(t *testing.T) *h3Site {
	return startH3Site(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" from "+r.RemoteAddr)
	})
}

// TestHTTP3ThroughDante: http_version "3" through Dante's UDP ASSOCIATE,
// socks5 (we resolve, the header carries the address) and socks5h (the
// header carries the name, Dante resolves it): the request goes over
// HTTP/3, the site sees Dante's relay address (127.0.0.2) as the client,
// and the connection is pooled (one association for three requests).
func TestHTTP3ThroughDante(t *testing.T) {
	d := startDante(t, "none", "")
	site := h3RemoteSite(t)
	for _, scheme := range []string{"socks5", "socks5h"} {
		t.Run(scheme, func(t *testing.T) {
			tr := h3Transport(t, site.pool, resolveTo(site.addr))
			u := site.url("/")
			if scheme == "socks5h" {
				u = site.named("/") // "localhost": Dante resolves it
			}
			before := site.reqs.Load()
			for i := 0; i < 3; i++ {
				resp, body := getBody(t, tr, &downloader.Outgoing{URL: u, Proxy: d.proxy(scheme, ""), Impersonate: "chrome", HTTPVersion: "3", Verify: true})
				if resp.ProtoMajor != 3 || !strings.HasPrefix(body, "HTTP/3.0 from "+danteExternal+":") {
					t.Fatalf("request %d: %s %q, want HTTP/3 from %s", i, resp.Proto, body, danteExternal)
				}
			}
			if got := site.reqs.Load() - before; got != 3 {
				t.Errorf("the HTTP/3 site saw %d requests, want 3", got)
			}
			assocs := socks5Conns(tr)
			if len(assocs) != 1 {
				t.Fatalf("%d pooled SOCKS5 associations, want 1", len(assocs))
			}
			if n := assocs[0].dropped.Load(); n != 0 {
				t.Errorf("Dante's datagrams: %d dropped", n)
			}
		})
	}
}

// TestHTTP3AutoThroughDante: http_version "auto" through Dante: the first
// request goes over TCP (Dante's CONNECT), its Alt-Svc moves the next
// ones to HTTP/3 over Dante's UDP relay; both servers see the proxy.
func TestHTTP3AutoThroughDante(t *testing.T) {
	d := startDante(t, "none", "")
	cert, pool := testCert(t)
	h3 := startH3SiteWithCert(t, cert, pool, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" from "+r.RemoteAddr)
	})
	var tcpHits atomic.Int64
	ts := startTCPSiteHandler(t, cert, `h3=":`+strconv.Itoa(int(h3.addr.Port()))+`"; ma=3600`, &tcpHits, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto+" from "+r.RemoteAddr)
	})
	tr := h3Transport(t, pool)
	// QUIC through the relay (UDP ASSOCIATE, then the handshake) must
	// win its race against the pooled HTTP/2 connection: TCP is held
	// back, as Chromium's test hook does (the race is TestRace*'s).
	hold := time.Hour
	tr.raceDelay = &hold
	u, _ := url.Parse(ts.URL + "/a")
	for i, want := range []string{"HTTP/2.0", "HTTP/3.0", "HTTP/3.0"} {
		_, body := getBody(t, tr, &downloader.Outgoing{URL: u, Proxy: d.proxy("socks5", ""), Impersonate: "chrome", HTTPVersion: "auto", Verify: true})
		if !strings.HasPrefix(body, want+" from "+danteExternal+":") {
			t.Fatalf("request %d: %q, want %s from %s", i, body, want, danteExternal)
		}
	}
	if h3.reqs.Load() != 2 || tcpHits.Load() != 1 {
		t.Errorf("HTTP/3 site %d requests, TCP site %d, want 2 and 1", h3.reqs.Load(), tcpHits.Load())
	}
}

// TestHTTP3ThroughSOCKS5Downloader: PROXIES with a socks5 proxy and
// HTTP_VERSION "3" through the downloader: the response is HTTP/3 and came
// through Dante.
func TestHTTP3ThroughSOCKS5Downloader(t *testing.T) {
	d := startDante(t, "none", "")
	site := h3RemoteSite(t)
	opts := downloader.DefaultOptions()
	opts.Timeout = 10 * time.Second
	opts.RandomizeDelay = false
	opts.HTTPVersion = "3"
	opts.HTTP.RootCAs = site.pool
	opts.Proxies = []string{d.proxy("socks5", "").String()}
	tr := h3Transport(t, site.pool)
	opts.TransportFor = func(string) (downloader.Transport, error) { return tr, nil }
	dl, err := downloader.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := dl.Download(context.Background(), &crawl.Request{URL: site.url("/").String()})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Protocol != "HTTP/3.0" || !strings.HasPrefix(string(resp.Body), "HTTP/3.0 from "+danteExternal+":") {
		t.Errorf("%s %q, want HTTP/3 from %s", resp.Protocol, resp.Body, danteExternal)
	}
}

// socks5Conns are the associations of tr's pooled QUIC connections.
func socks5Conns(tr *Transport) []*socks5UDPConn {
	tr.h3s.mu.Lock()
	defer tr.h3s.mu.Unlock()
	var out []*socks5UDPConn
	for _, c := range tr.h3s.conns {
		if s, ok := c.udp.(*socks5UDPConn); ok {
			out = append(out, s)
		}
	}
	return out
}

// TestChromeHTTP3ThroughDanteMatchesChromium: through Dante, our
// chrome_156 QUIC Initial as the fingerprint server records it still
// equals real Chromium 156's golden field by field (the SOCKS5 header is
// the relay's business, not the target's), and the server sees Dante's
// relay address as every client.
func TestChromeHTTP3ThroughDanteMatchesChromium(t *testing.T) {
	g, err := fingerprint.ReadQUICGolden(chromiumH3Golden)
	if err != nil {
		t.Fatal(err)
	}
	d := startDante(t, "none", "")
	srv := fingerprint.NewQUICServer(t, fingerprint.QUICConfig{})
	caps := sendHTTP3NavigationsVia(t, srv, "chrome_156", h3Connections, d.proxy("socks5", ""))
	if errs := srv.Errors(); len(errs) > 0 {
		t.Errorf("the recorder could not read our Initials: %v", errs)
	}
	for _, c := range caps {
		if host, _, _ := net.SplitHostPort(c.Remote); host != danteExternal {
			t.Fatalf("connection %d came from %s, want the proxy's %s", c.Conn, c.Remote, danteExternal)
		}
	}
	checkHTTP3AsBrowser(t, g.Summary, caps)
}

// TestHTTP3DanteRefuses: Dante refusing UDP ASSOCIATE by rule, or
// refusing our username/password, fails an http_version "3" request with
// the proxy URL (password redacted) and the reason; an "auto" request
// falls back to TCP through the same proxy, with the documented log line.
func TestHTTP3DanteRefuses(t *testing.T) {
	cases := []struct {
		name, method, rules, userinfo, want string
	}{
		{"ruleset", "none", "socks block { from: 0.0.0.0/0 to: 0.0.0.0/0 command: udpassociate }", "", "connection not allowed by ruleset (reply 0x2)"},
		// Dante checks usernames against the system's accounts: this one
		// does not exist.
		{"auth", "username", "", "spiderrun-nobody:secret", "username/password authentication failed"},
		{"auth required", "username", "", "", "accepts none of our authentication methods"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := startDante(t, tc.method, tc.rules)
			site := h3RemoteSite(t)
			pu := d.proxy("socks5", tc.userinfo)
			tr := h3Transport(t, site.pool, resolveTo(site.addr))
			_, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: site.url("/"), Proxy: pu, Impersonate: "chrome", HTTPVersion: "3", Verify: true})
			if err == nil {
				t.Fatal("the request succeeded")
			}
			t.Log(err)
			msg := err.Error()
			if !strings.Contains(msg, "socks5 proxy socks5://") || !strings.Contains(msg, d.url.Host) || !strings.Contains(msg, "UDP ASSOCIATE") || !strings.Contains(msg, tc.want) {
				t.Errorf("error %q, want the proxy URL and %q", msg, tc.want)
			}
			if strings.Contains(msg, "secret") {
				t.Errorf("error %q shows the proxy password", msg)
			}
			if site.reqs.Load() != 0 {
				t.Error("the HTTP/3 site was reached")
			}
		})
	}
	t.Run("auto falls back to TCP", func(t *testing.T) {
		d := startDante(t, "none", "socks block { from: 0.0.0.0/0 to: 0.0.0.0/0 command: udpassociate }")
		cert, pool := testCert(t)
		h3 := startH3SiteWithCert(t, cert, pool, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "quic "+r.Proto) })
		var tcpHits atomic.Int64
		ts := startTCPSite(t, cert, `h3=":`+strconv.Itoa(int(h3.addr.Port()))+`"; ma=3600`, &tcpHits)
		var logBuf lockedBuffer
		tr := h3Transport(t, pool, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(&logBuf, nil)) })
		u, _ := url.Parse(ts.URL + "/a")
		for i := 0; i < 3; i++ {
			resp, body := getBody(t, tr, &downloader.Outgoing{URL: u, Proxy: d.proxy("socks5", ""), Impersonate: "chrome", HTTPVersion: "auto", Verify: true})
			if body != "tcp HTTP/2.0" {
				t.Fatalf("request %d: %s %q", i, resp.Proto, body)
			}
		}
		if h3.reqs.Load() != 0 || tcpHits.Load() != 3 {
			t.Errorf("HTTP/3 site %d requests, TCP site %d, want 0 and 3", h3.reqs.Load(), tcpHits.Load())
		}
		if !tr.H3Broken(u) {
			t.Error("QUIC is not marked broken for the origin")
		}
		log := logBuf.String()
		if !strings.Contains(log, "QUIC failed, using TCP for this origin") || !strings.Contains(log, "connection not allowed by ruleset") {
			t.Errorf("log does not say why QUIC was left:\n%s", log)
		}
	})
}

// testSOCKS5 is a small SOCKS5 server (UDP ASSOCIATE only) for what
// Dante cannot do here: accept a username/password without a system
// account, and relay hostile datagrams on purpose.
type testSOCKS5 struct {
	ln       net.Listener
	user, pw string
	hostile  bool

	dstMu sync.Mutex
	dsts  map[string]bool // targets named in the client's headers

	injected    atomic.Int64 // hostile datagrams sent to the client
	assocs      atomic.Int64
	ctrlClosed  chan struct{}
	closeCtrlMu sync.Mutex
	ctrls       []net.Conn
}

func startTestSOCKS5(t *testing.T, user, pw string, hostile bool) *testSOCKS5 {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testSOCKS5{ln: ln, user: user, pw: pw, hostile: hostile, ctrlClosed: make(chan struct{}, 16)}
	t.Cleanup(func() {
		ln.Close()
		s.closeCtrlMu.Lock()
		for _, c := range s.ctrls {
			c.Close()
		}
		s.closeCtrlMu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.closeCtrlMu.Lock()
			s.ctrls = append(s.ctrls, c)
			s.closeCtrlMu.Unlock()
			go s.serve(t, c)
		}
	}()
	return s
}

func (s *testSOCKS5) url(userinfo string) *url.URL {
	u := &url.URL{Scheme: "socks5", Host: s.ln.Addr().String()}
	if userinfo != "" {
		user, pw, _ := strings.Cut(userinfo, ":")
		u.User = url.UserPassword(user, pw)
	}
	return u
}

func (s *testSOCKS5) serve(t *testing.T, c net.Conn) {
	defer c.Close()
	var hello [2]byte
	if _, err := io.ReadFull(c, hello[:]); err != nil {
		return
	}
	methods := make([]byte, hello[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return
	}
	want := byte(socks5AuthNone)
	if s.user != "" {
		want = socks5AuthUser
	}
	if !bytes.Contains(methods, []byte{want}) {
		c.Write([]byte{5, 0xff})
		return
	}
	c.Write([]byte{5, want})
	if want == socks5AuthUser {
		var h [2]byte
		if _, err := io.ReadFull(c, h[:]); err != nil {
			return
		}
		user := make([]byte, h[1])
		io.ReadFull(c, user)
		var pl [1]byte
		io.ReadFull(c, pl[:])
		pw := make([]byte, pl[0])
		io.ReadFull(c, pw)
		if string(user) != s.user || string(pw) != s.pw {
			c.Write([]byte{1, 1})
			return
		}
		c.Write([]byte{1, 0})
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil {
		return
	}
	rest := make([]byte, 6) // the all-zeros IPv4 address our client sends
	if _, err := io.ReadFull(c, rest); err != nil || req[1] != socks5CmdUDP {
		c.Write([]byte{5, 7, 0, 1, 0, 0, 0, 0, 0, 0})
		return
	}
	relay, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return
	}
	defer relay.Close()
	foreign, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return
	}
	defer foreign.Close()
	s.assocs.Add(1)
	rp := relay.LocalAddr().(*net.UDPAddr)
	// Reply with the unspecified address: "where you reached me".
	c.Write(binary.BigEndian.AppendUint16([]byte{5, 0, 0, 1, 0, 0, 0, 0}, uint16(rp.Port)))
	go func() {
		io.Copy(io.Discard, c)
		relay.Close()
		s.ctrlClosed <- struct{}{}
	}()
	var client *net.UDPAddr
	buf := make([]byte, 65536)
	for {
		n, from, err := relay.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if client == nil || (from.IP.Equal(client.IP) && from.Port == client.Port) {
			dst, payload, err := decodeSOCKS5UDP(buf[:n])
			if err != nil {
				t.Errorf("test relay: client sent a bad header: %v", err)
				continue
			}
			client = from
			s.dstMu.Lock()
			if s.dsts == nil {
				s.dsts = map[string]bool{}
			}
			s.dsts[dst.String()] = true
			s.dstMu.Unlock()
			to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(dst.ip, dst.port))
			if dst.name != "" {
				if to, err = net.ResolveUDPAddr("udp4", dst.String()); err != nil {
					continue
				}
			}
			relay.WriteToUDP(payload, to)
			continue
		}
		src := socks5Addr{ip: from.AddrPort().Addr().Unmap(), port: from.AddrPort().Port()}
		if s.hostile {
			junk := bytes.Repeat([]byte{0x40}, 60) // a short-header QUIC packet that decrypts to nothing
			hdr, _ := encodeSOCKS5UDP(src, junk)
			frag := append([]byte{}, hdr...)
			frag[2] = 1
			rsv := append([]byte{}, hdr...)
			rsv[0] = 0xff
			wrongSrc, _ := encodeSOCKS5UDP(socks5Addr{ip: src.ip, port: src.port + 1}, junk)
			for _, b := range [][]byte{{0, 0}, frag, rsv, {0, 0, 0, 9, 1, 2}, wrongSrc} {
				relay.WriteToUDP(b, client)
				s.injected.Add(1)
			}
			// The right header from the wrong address.
			foreign.WriteToUDP(hdr, client)
			s.injected.Add(1)
		}
		out, _ := encodeSOCKS5UDP(src, buf[:n])
		relay.WriteToUDP(out, client)
	}
}

// TestHTTP3ThroughSOCKS5UsernamePassword: a proxy URL's credentials are
// offered as RFC 1929 username/password; right ones carry the request
// over HTTP/3, wrong ones fail it naming the proxy and the reason.
func TestHTTP3ThroughSOCKS5UsernamePassword(t *testing.T) {
	s := startTestSOCKS5(t, "crawler", "s3cret", false)
	site := h3RemoteSite(t)
	tr := h3Transport(t, site.pool, resolveTo(site.addr))
	resp, body := getBody(t, tr, &downloader.Outgoing{URL: site.url("/"), Proxy: s.url("crawler:s3cret"), Impersonate: "chrome", HTTPVersion: "3", Verify: true})
	if resp.ProtoMajor != 3 || !strings.HasPrefix(body, "HTTP/3.0 from 127.0.0.1:") {
		t.Fatalf("%s %q", resp.Proto, body)
	}
	for _, tc := range []struct{ userinfo, want string }{
		{"crawler:wrong", "username/password authentication failed (status 0x1)"},
		{"", "accepts none of our authentication methods"},
	} {
		_, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: site.url("/"), Proxy: s.url(tc.userinfo), Impersonate: "chrome", HTTPVersion: "3", Verify: true, PoolKey: "other"})
		if err == nil || !strings.Contains(err.Error(), "socks5 proxy socks5://") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("credentials %q: %v, want %q", tc.userinfo, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "wrong") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

// TestSOCKS5HostileRelay: next to every real datagram the relay sends
// junk (too short, FRAG != 0, reserved bytes set, an unknown address
// type, the wrong source address) and the right header from a foreign
// address; every one is dropped (counted), none reaches QUIC, and the
// requests succeed. Closing the connection ends the association (the
// proxy sees its control connection close).
func TestSOCKS5HostileRelay(t *testing.T) {
	s := startTestSOCKS5(t, "", "", true)
	site := h3RemoteSite(t)
	tr := h3Transport(t, site.pool, resolveTo(site.addr))
	for i := 0; i < 3; i++ {
		resp, body := getBody(t, tr, &downloader.Outgoing{URL: site.url("/"), Proxy: s.url(""), Impersonate: "chrome", HTTPVersion: "3", Verify: true})
		if resp.ProtoMajor != 3 {
			t.Fatalf("%s %q", resp.Proto, body)
		}
	}
	assocs := socks5Conns(tr)
	if len(assocs) != 1 {
		t.Fatalf("%d associations, want 1", len(assocs))
	}
	// The junk trails the datagrams the requests needed: wait until all
	// of it was read, then every injected datagram must have been dropped.
	deadline := time.Now().Add(5 * time.Second)
	for assocs[0].dropped.Load() < s.injected.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got, want := assocs[0].dropped.Load(), s.injected.Load(); got != want || want == 0 {
		t.Errorf("dropped %d datagrams, the relay injected %d", got, want)
	}
	tr.Close()
	select {
	case <-s.ctrlClosed:
	case <-time.After(5 * time.Second):
		t.Error("closing the transport did not close the association's control connection")
	}
}

// TestSOCKS5AssociationPerIdentity: two pool keys (session members) and
// two proxies each get their own association, never shared.
func TestSOCKS5AssociationPerIdentity(t *testing.T) {
	a := startTestSOCKS5(t, "", "", false)
	b := startTestSOCKS5(t, "", "", false)
	site := h3RemoteSite(t)
	tr := h3Transport(t, site.pool, resolveTo(site.addr))
	for _, pk := range []string{"m1", "m2"} {
		for _, s := range []*testSOCKS5{a, b} {
			for i := 0; i < 2; i++ {
				resp, body := getBody(t, tr, &downloader.Outgoing{URL: site.url("/"), Proxy: s.url(""), PoolKey: pk, Impersonate: "chrome", HTTPVersion: "3", Verify: true})
				if resp.ProtoMajor != 3 {
					t.Fatalf("%s %q", resp.Proto, body)
				}
			}
		}
	}
	if a.assocs.Load() != 2 || b.assocs.Load() != 2 {
		t.Errorf("associations: proxy a %d, proxy b %d, want 2 each (one per pool key)", a.assocs.Load(), b.assocs.Load())
	}
	if n := len(socks5Conns(tr)); n != 4 {
		t.Errorf("%d pooled associations, want 4", n)
	}
}

// TestSOCKS5ProxyGoesAway: when the proxy closes the control connection
// the association ends, and the next request opens a new one.
func TestSOCKS5ProxyGoesAway(t *testing.T) {
	s := startTestSOCKS5(t, "", "", false)
	site := h3RemoteSite(t)
	tr := h3Transport(t, site.pool, resolveTo(site.addr))
	out := func() *downloader.Outgoing {
		return &downloader.Outgoing{URL: site.url("/"), Proxy: s.url(""), Impersonate: "chrome", HTTPVersion: "3", Verify: true}
	}
	getBody(t, tr, out())
	s.closeCtrlMu.Lock()
	for _, c := range s.ctrls {
		c.Close()
	}
	s.closeCtrlMu.Unlock()
	<-s.ctrlClosed
	c := socks5Conns(tr)
	if len(c) != 1 {
		t.Fatalf("%d associations", len(c))
	}
	// The association's socket closes with its control connection.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := c[0].udp.WriteTo([]byte{0}, c[0].relay)
		if errors.Is(err, net.ErrClosed) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the UDP socket outlived the control connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	resp, body := getBody(t, tr, out())
	if resp.ProtoMajor != 3 || s.assocs.Load() != 2 {
		t.Errorf("after the proxy closed: %s %q, %d associations (want a second)", resp.Proto, body, s.assocs.Load())
	}
}

// TestSOCKS5HSendsTheName: through socks5h:// the header names the
// target by host name (the proxy resolves it); through socks5:// by the
// address we resolved.
func TestSOCKS5HSendsTheName(t *testing.T) {
	site := h3RemoteSite(t)
	port := strconv.Itoa(int(site.addr.Port()))
	for scheme, want := range map[string]string{"socks5h": "localhost:" + port, "socks5": "127.0.0.1:" + port} {
		t.Run(scheme, func(t *testing.T) {
			s := startTestSOCKS5(t, "", "", false)
			tr := h3Transport(t, site.pool, resolveTo(site.addr))
			pu := s.url("")
			pu.Scheme = scheme
			resp, body := getBody(t, tr, &downloader.Outgoing{URL: site.named("/"), Proxy: pu, Impersonate: "chrome", HTTPVersion: "3", Verify: true})
			if resp.ProtoMajor != 3 {
				t.Fatalf("%s %q", resp.Proto, body)
			}
			s.dstMu.Lock()
			defer s.dstMu.Unlock()
			if len(s.dsts) != 1 || !s.dsts[want] {
				t.Errorf("the relay was asked for %v, want only %s", s.dsts, want)
			}
		})
	}
}
