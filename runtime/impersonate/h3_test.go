package impersonate

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/qpack"
	"github.com/spiderrun/spiderrun/third_party/quic-go"
	"github.com/spiderrun/spiderrun/third_party/quic-go/http3"
	"github.com/spiderrun/spiderrun/third_party/quic-go/quicvarint"

	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// testCert is a self-signed certificate for 127.0.0.1 and its pool.
func testCert(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "spiderrun h3 test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// countingPacketConn records the sizes of the datagrams that start with a
// QUIC v1 Initial packet (long header, type 0) the server received.
type countingPacketConn struct {
	net.PacketConn
	mu          sync.Mutex
	firstFlight []int
}

func (c *countingPacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, a, err := c.PacketConn.ReadFrom(p)
	c.mu.Lock()
	if err == nil && n > 0 && p[0]&0xf0 == 0xc0 {
		c.firstFlight = append(c.firstFlight, n)
	}
	c.mu.Unlock()
	return n, a, err
}

func (c *countingPacketConn) flight() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.firstFlight)
}

// h3Site is quic-go's own HTTP/3 server on loopback.
type h3Site struct {
	addr  netip.AddrPort
	pool  *x509.CertPool
	conn  *countingPacketConn
	srv   *http3.Server
	mu    sync.Mutex
	hello []*tls.ClientHelloInfo
	state []tls.ConnectionState
	reqs  atomic.Int64
}

func startH3Site(t testing.TB, h http.HandlerFunc) *h3Site {
	t.Helper()
	cert, pool := testCert(t)
	return startH3SiteWithCert(t, cert, pool, h)
}

func startH3SiteWithCert(t testing.TB, cert tls.Certificate, pool *x509.CertPool, h http.HandlerFunc) *h3Site {
	t.Helper()
	s := &h3Site{pool: pool}
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s.conn = &countingPacketConn{PacketConn: udp}
	s.addr = udp.LocalAddr().(*net.UDPAddr).AddrPort()
	tc := &tls.Config{
		Certificates:     []tls.Certificate{cert},
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519},
		GetConfigForClient: func(chi *tls.ClientHelloInfo) (*tls.Config, error) {
			s.mu.Lock()
			s.hello = append(s.hello, chi)
			s.mu.Unlock()
			return nil, nil
		},
	}
	s.srv = &http3.Server{TLSConfig: http3.ConfigureTLSConfig(tc), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.reqs.Add(1)
		s.mu.Lock()
		s.state = append(s.state, *r.TLS)
		s.mu.Unlock()
		h(w, r)
	})}
	go s.srv.Serve(s.conn)
	t.Cleanup(func() {
		s.srv.Close()
		udp.Close()
	})
	return s
}

func (s *h3Site) url(path string) *url.URL {
	u, _ := url.Parse("https://" + s.addr.String() + path)
	return u
}

// named is the site's URL under the name localhost, resolved to the
// site's address by the transport's ResolveUDP (so the hello carries SNI).
func (s *h3Site) named(path string) *url.URL {
	u, _ := url.Parse("https://localhost:" + strconv.Itoa(int(s.addr.Port())) + path)
	return u
}

func resolveTo(ap netip.AddrPort) func(*Options) {
	return func(o *Options) {
		o.ResolveUDP = func(ctx context.Context, addr string) (netip.AddrPort, error) {
			_, port, _ := net.SplitHostPort(addr)
			pn, _ := strconv.Atoi(port)
			return netip.AddrPortFrom(ap.Addr(), uint16(pn)), nil
		}
	}
}

func h3Transport(t testing.TB, pool *x509.CertPool, opts ...func(*Options)) *Transport {
	t.Helper()
	o := Options{RootCAs: pool, HandshakeTimeout: 5 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	tr, err := NewTransport(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return string(b)
}

// TestQUICInitialCarriesChromeHello: the chrome profile's QUIC Initial
// (a ≈1.9 KB ClientHello with an X25519MLKEM768 key share, too big for one
// Initial) completes a handshake with quic-go's HTTP/3 server, which sees
// ALPN h3, Chromium's groups, its 3 TLS 1.3 suites and 12 extensions in a
// per-connection order, and agrees on X25519MLKEM768 without a
// HelloRetryRequest (so the key share was in the first flight).
func TestQUICInitialCarriesChromeHello(t *testing.T) {
	site := startH3Site(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "hello over "+r.Proto)
	})
	tr := h3Transport(t, site.pool, resolveTo(site.addr))
	var orders []string
	for i := 0; i < 4; i++ {
		resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: site.named("/x"), Impersonate: "chrome", HTTPVersion: "3", Verify: true, PoolKey: strconv.Itoa(i)})
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 3 {
			t.Fatalf("proto %s", resp.Proto)
		}
		if body := readAll(t, resp); body != "hello over HTTP/3.0" {
			t.Fatalf("body %q", body)
		}
	}
	site.mu.Lock()
	defer site.mu.Unlock()
	if len(site.hello) != 4 {
		t.Fatalf("%d handshakes, want 4", len(site.hello))
	}
	for i, chi := range site.hello {
		if chi.ServerName != "localhost" {
			t.Errorf("hello %d: SNI %q", i, chi.ServerName)
		}
		if !slices.Equal(chi.SupportedProtos, []string{"h3"}) {
			t.Errorf("hello %d: ALPN %v", i, chi.SupportedProtos)
		}
		if want := []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256, tls.CurveP384}; !slices.Equal(chi.SupportedCurves, want) {
			t.Errorf("hello %d: groups %v, want %v", i, chi.SupportedCurves, want)
		}
		if want := []uint16{0x1301, 0x1302, 0x1303}; !slices.Equal(chi.CipherSuites, want) {
			t.Errorf("hello %d: ciphers %x", i, chi.CipherSuites)
		}
		got := slices.Clone(chi.Extensions)
		slices.Sort(got)
		if want := []uint16{0x0000, 0x000a, 0x000d, 0x0010, 0x001b, 0x002b, 0x002d, 0x0033, 0x0039, 0x44cd, 0xca34, 0xfe0d}; !slices.Equal(got, want) {
			t.Errorf("hello %d: extensions %x, want %x", i, got, want)
		}
		orders = append(orders, fmtExt(chi.Extensions))
	}
	if len(slices.Compact(slices.Sorted(slices.Values(orders)))) < 2 {
		t.Errorf("extension order never changed over 4 connections: %v", orders)
	}
	for i, st := range site.state {
		if st.CurveID != tls.X25519MLKEM768 || st.HelloRetryRequest {
			t.Errorf("conn %d: curve %v, HRR %v; want X25519MLKEM768 from the first flight", i, st.CurveID, st.HelloRetryRequest)
		}
		if st.NegotiatedProtocol != "h3" {
			t.Errorf("conn %d: ALPN %q", i, st.NegotiatedProtocol)
		}
	}
	if f := site.conn.flight(); len(f) < 8 || slices.ContainsFunc(f, func(n int) bool { return n != 1250 }) {
		t.Errorf("client Initial datagrams %v, want at least two per connection (the hello does not fit in one), all 1250 bytes", f)
	}
}

func fmtExt(ids []uint16) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(strconv.FormatUint(uint64(id), 16) + ",")
	}
	return b.String()
}

// TestHTTP3PlainGoProfile: the plain client speaks HTTP/3 with Go's own
// crypto/tls hello (the hook is off).
func TestHTTP3PlainGoProfile(t *testing.T) {
	site := startH3Site(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.Method+" "+r.URL.Path) })
	tr := h3Transport(t, site.pool)
	resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: site.url("/p?q=1"), HTTPVersion: "3", Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "GET /p" || resp.ProtoMajor != 3 {
		t.Fatalf("%s %q", resp.Proto, body)
	}
}

// rawH3Server is a minimal HTTP/3 server on quic-go's QUIC that records
// the client's SETTINGS frame and each request's header fields in wire
// order (quic-go's http3 server hands out an unordered http.Header).
type rawH3Server struct {
	addr     netip.AddrPort
	pool     *x509.CertPool
	ln       *quic.Listener
	mu       sync.Mutex
	settings [][]byte
	uniTypes [][]uint64
	fields   [][]qpack.HeaderField
	wg       sync.WaitGroup
	// control, when set, replaces the server's control stream bytes.
	control []byte
	// dynamic makes the server's QPACK encoder insert x-dyn: v1 into its
	// dynamic table and answer with a section referencing it.
	dynamic bool
	decoder []byte // what the client wrote on its QPACK decoder stream
	// stopEarly answers right after the request headers and stops
	// reading the request body (STOP_SENDING with H3_NO_ERROR).
	stopEarly bool
}

func startRawH3(t testing.TB, control []byte) *rawH3Server {
	t.Helper()
	cert, pool := testCert(t)
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h3"}}, &quic.Config{MaxIdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	s := &rawH3Server{addr: ln.Addr().(*net.UDPAddr).AddrPort(), pool: pool, ln: ln, control: control}
	ctx, cancel := context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() { defer s.wg.Done(); s.serve(ctx, c) }()
		}
	}()
	t.Cleanup(func() {
		cancel()
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *rawH3Server) serve(ctx context.Context, c *quic.Conn) {
	defer c.CloseWithError(0, "")
	ctrl, err := c.OpenUniStream()
	if err != nil {
		return
	}
	if s.control != nil {
		ctrl.Write(s.control)
	} else {
		ctrl.Write([]byte{0x00, 0x04, 0x00}) // control stream, empty SETTINGS
	}
	if s.dynamic {
		enc, err := c.OpenUniStream()
		if err != nil {
			return
		}
		// Set Dynamic Table Capacity 220, Insert With Literal Name x-dyn=v1.
		enc.Write([]byte{0x02, 0x3f, 0xbd, 0x01, 0x45, 'x', '-', 'd', 'y', 'n', 0x02, 'v', '1'})
	}
	var types []uint64
	var tmu sync.Mutex
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			u, err := c.AcceptUniStream(ctx)
			if err != nil {
				return
			}
			r := bufio.NewReader(u)
			typ, err := quicvarint.Read(r)
			if err != nil {
				continue
			}
			tmu.Lock()
			types = append(types, typ)
			tmu.Unlock()
			if typ == 0x03 {
				s.wg.Add(1)
				go func() {
					defer s.wg.Done()
					b := make([]byte, 64)
					for {
						n, err := r.Read(b)
						s.mu.Lock()
						s.decoder = append(s.decoder, b[:n]...)
						s.mu.Unlock()
						if err != nil {
							return
						}
					}
				}()
				continue
			}
			if typ == 0 {
				ft, _ := quicvarint.Read(r)
				l, _ := quicvarint.Read(r)
				buf := make([]byte, l)
				io.ReadFull(r, buf)
				if ft == 0x04 {
					s.mu.Lock()
					s.settings = append(s.settings, buf)
					s.mu.Unlock()
				}
			}
		}
	}()
	for {
		str, err := c.AcceptStream(ctx)
		if err != nil {
			break
		}
		if s.control != nil {
			// A hostile control stream: never answer, so the request ends
			// only when the client gives up on the connection.
			continue
		}
		r := bufio.NewReader(str)
		typ, _ := quicvarint.Read(r)
		l, _ := quicvarint.Read(r)
		if typ != 0x01 || l > 1<<16 {
			str.CancelRead(0x101)
			continue
		}
		buf := make([]byte, l)
		if _, err := io.ReadFull(r, buf); err != nil {
			continue
		}
		if s.stopEarly {
			str.CancelRead(0x100)
		}
		var fields []qpack.HeaderField
		next := qpack.NewDecoder().Decode(buf)
		for {
			f, err := next()
			if err != nil {
				break
			}
			fields = append(fields, f)
		}
		s.mu.Lock()
		s.fields = append(s.fields, fields)
		s.mu.Unlock()
		var hb strings.Builder
		if s.dynamic {
			// Required Insert Count 1, Base 1; :status 200 (static 25);
			// dynamic relative index 0 (x-dyn: v1).
			hb.Write([]byte{0x02, 0x00, 0xc0 | 25, 0x80})
		} else {
			enc := qpack.NewEncoder(&hb)
			enc.WriteField(qpack.HeaderField{Name: ":status", Value: "200"})
			enc.WriteField(qpack.HeaderField{Name: "content-type", Value: "text/plain"})
			enc.Close()
		}
		out := appendFrameHeader(nil, 0x01, hb.Len())
		out = append(out, hb.String()...)
		out = appendFrameHeader(out, 0x00, 2)
		out = append(out, "ok"...)
		str.Write(out)
		str.Close()
	}
	tmu.Lock()
	s.mu.Lock()
	s.uniTypes = append(s.uniTypes, types)
	s.mu.Unlock()
	tmu.Unlock()
}

func (s *rawH3Server) url(path string) *url.URL {
	u, _ := url.Parse("https://" + s.addr.String() + path)
	return u
}

// TestHTTP3SettingsAndHeaderOrder: the chrome profile's SETTINGS (ids,
// values and order, with a GREASE setting at its place) and its
// pseudo-header and header order for a navigation reach the server.
func TestHTTP3SettingsAndHeaderOrder(t *testing.T) {
	s := startRawH3(t, nil)
	tr := h3Transport(t, s.pool)
	resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: s.url("/page"), Impersonate: "chrome", HTTPVersion: "3", Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "ok" {
		t.Fatalf("body %q", body)
	}
	// The connection stays open until the server has read our control
	// stream (closing it first may drop streams not yet accepted).
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.settings)
		s.mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.settings) != 1 {
		t.Fatalf("%d SETTINGS frames", len(s.settings))
	}
	var ids, vals []uint64
	b := s.settings[0]
	for len(b) > 0 {
		id, n, err := quicvarint.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		v, m, err := quicvarint.Parse(b[n:])
		if err != nil {
			t.Fatal(err)
		}
		ids, vals = append(ids, id), append(vals, v)
		b = b[n+m:]
	}
	if len(ids) != 5 || !slices.Equal(ids[:4], []uint64{1, 6, 7, 0x33}) || !slices.Equal(vals[:4], []uint64{65536, 262144, 100, 1}) || (ids[4]-0x21)%0x1f != 0 {
		t.Errorf("SETTINGS ids %x values %v; want 1:65536 6:262144 7:100 33:1 then a GREASE id", ids, vals)
	}
	p, _ := LoadProfile("chrome")
	want := []string{":method", ":authority", ":scheme", ":path"}
	for _, h := range p.DefaultHeaders() {
		want = append(want, strings.ToLower(h.Name))
	}
	var got []string
	for _, f := range s.fields[0] {
		got = append(got, f.Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("header order\n got %v\nwant %v", got, want)
	}
	if s.fields[0][0].Value != "GET" || s.fields[0][1].Value != s.addr.String() || s.fields[0][3].Value != "/page" {
		t.Errorf("pseudo-headers %v", s.fields[0][:4])
	}
}

// startTCPSite is a TCP (h2) server answering with the Alt-Svc header
// altSvc (when set), for the HTTP/3 server next to it.
func startTCPSite(t testing.TB, cert tls.Certificate, altSvc string, hits *atomic.Int64) *httptest.Server {
	return startTCPSiteHandler(t, cert, altSvc, hits, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "tcp "+r.Proto) })
}

func startTCPSiteHandler(t testing.TB, cert tls.Certificate, altSvc string, hits *atomic.Int64, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if altSvc != "" {
			w.Header().Set("Alt-Svc", altSvc)
		}
		h(w, r)
	}))
	ts.EnableHTTP2 = true
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func getBody(t *testing.T, tr *Transport, out *downloader.Outgoing) (*http.Response, string) {
	t.Helper()
	resp, err := tr.RoundTrip(context.Background(), out)
	if err != nil {
		t.Fatal(err)
	}
	return resp, readAll(t, resp)
}

// TestAltSvcUpgradesToHTTP3: with http_version "auto" the first request
// to an origin goes over TCP; its Alt-Svc h3 answer moves the next ones
// to QUIC, which the HTTP/3 server sees. TCP waits its default 300 ms
// for QUIC here, far more than a loopback handshake takes.
func TestAltSvcUpgradesToHTTP3(t *testing.T) {
	cert, pool := testCert(t)
	h3 := startH3SiteWithCert(t, cert, pool, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "quic "+r.Proto) })
	var tcpHits atomic.Int64
	ts := startTCPSite(t, cert, `h3=":`+strconv.Itoa(int(h3.addr.Port()))+`"; ma=3600`, &tcpHits)
	tr := h3Transport(t, pool, func(o *Options) { o.Logger = slog.New(slog.NewTextHandler(tLogWriter{t}, nil)) })
	u, _ := url.Parse(ts.URL + "/a")
	out := func() *downloader.Outgoing {
		return &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: "auto", Verify: true}
	}
	if resp, body := getBody(t, tr, out()); body != "tcp HTTP/2.0" || resp.ProtoMajor != 2 {
		t.Fatalf("first request: %s %q", resp.Proto, body)
	}
	if h3.reqs.Load() != 0 {
		t.Fatal("first request went to the HTTP/3 server")
	}
	for i := 0; i < 3; i++ {
		if resp, body := getBody(t, tr, out()); body != "quic HTTP/3.0" || resp.ProtoMajor != 3 {
			t.Fatalf("request %d after Alt-Svc: %s %q", i+2, resp.Proto, body)
		}
	}
	if got := h3.reqs.Load(); got != 3 {
		t.Errorf("HTTP/3 server saw %d requests, want 3", got)
	}
	if got := tcpHits.Load(); got != 1 {
		t.Errorf("TCP server saw %d requests, want 1", got)
	}
}

// TestAltSvcClosedUDPPortFallsBack: Alt-Svc names a UDP port nobody
// listens on; the requests go over TCP without failing (TCP wins the
// race, or carries the request once QUIC gave up), and QUIC is marked
// broken for the origin.
func TestAltSvcClosedUDPPortFallsBack(t *testing.T) {
	cert, pool := testCert(t)
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	port := udp.LocalAddr().(*net.UDPAddr).Port
	udp.Close()
	var tcpHits atomic.Int64
	ts := startTCPSite(t, cert, `h3=":`+strconv.Itoa(port)+`"; ma=3600`, &tcpHits)
	tr := h3Transport(t, pool, func(o *Options) { o.QUICFallbackTimeout = 300 * time.Millisecond })
	u, _ := url.Parse(ts.URL + "/a")
	for i := 0; i < 3; i++ {
		resp, body := getBody(t, tr, &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: "auto", Verify: true})
		if body != "tcp HTTP/2.0" {
			t.Fatalf("request %d: %s %q", i+1, resp.Proto, body)
		}
	}
	// The attempt that lost the race ends in the background.
	waitFor(t, "QUIC marked broken", func() bool { return tr.H3Broken(u) })
	if got := tcpHits.Load(); got != 3 {
		t.Errorf("TCP server saw %d requests, want 3", got)
	}
}

// udpServer answers every datagram with reply(datagram).
func udpServer(t testing.TB, reply func([]byte) [][]byte) netip.AddrPort {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			n, a, err := c.ReadFrom(buf)
			if err != nil {
				return
			}
			for _, r := range reply(buf[:n]) {
				c.WriteTo(r, a)
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func h3Get(tr *Transport, ap netip.AddrPort, version string) error {
	u, _ := url.Parse("https://" + ap.String() + "/hostile")
	resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: version, Verify: true})
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	return err
}

// TestHostileQUICServers: garbage, a version negotiation to an unknown
// version, a stateless reset and a huge SETTINGS frame each fail the
// request with an error naming the URL and the reason, without hanging.
func TestHostileQUICServers(t *testing.T) {
	_, pool := testCert(t)
	tr := h3Transport(t, pool, func(o *Options) { o.HandshakeTimeout = time.Second })

	t.Run("garbage", func(t *testing.T) {
		ap := udpServer(t, func(in []byte) [][]byte {
			g := make([]byte, 1300)
			rand.Read(g)
			g[0] = 0xc0 // looks like a long header
			return [][]byte{g, g[:40]}
		})
		err := h3Get(tr, ap, "3")
		wantErr(t, err, ap, "handshake timeout")
	})
	t.Run("version negotiation to an unknown version", func(t *testing.T) {
		ap := udpServer(t, func(in []byte) [][]byte {
			if len(in) < 7 || in[0]&0x80 == 0 {
				return nil
			}
			dl := int(in[5])
			dcid := in[6 : 6+dl]
			sl := int(in[6+dl])
			scid := in[7+dl : 7+dl+sl]
			vn := []byte{0x80 | 0x2a, 0, 0, 0, 0, byte(len(scid))}
			vn = append(vn, scid...)
			vn = append(vn, byte(len(dcid)))
			vn = append(vn, dcid...)
			vn = append(vn, 0x0a, 0x1a, 0x2a, 0x3a, 0xff, 0x00, 0x00, 0x1d)
			return [][]byte{vn}
		})
		err := h3Get(tr, ap, "3")
		wantErr(t, err, ap, "no compatible QUIC version")
	})
	t.Run("huge SETTINGS frame", func(t *testing.T) {
		ctrl := []byte{0x00, 0x04}
		ctrl = quicvarint.Append(ctrl, 1<<30)
		ctrl = append(ctrl, make([]byte, 64<<10)...)
		s := startRawH3(t, ctrl)
		tr := h3Transport(t, s.pool)
		// The server never answers: the request ends when the client
		// closes the connection over the SETTINGS frame, with that reason.
		err := h3Get(tr, s.addr, "3")
		wantErr(t, err, s.addr, "SETTINGS frame of 1073741824 bytes exceeds")
	})
}

func wantErr(t *testing.T, err error, ap netip.AddrPort, reason string) {
	t.Helper()
	t.Logf("error: %v", err)
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "https://"+ap.String()+"/hostile") || !strings.Contains(err.Error(), reason) {
		t.Fatalf("error %q: want the URL and %q", err, reason)
	}
}

// udpRelay forwards datagrams between clients and a backend that can be
// switched, to stand for a server that lost its connection state.
type udpRelay struct {
	ln      *net.UDPConn
	backend atomic.Pointer[net.UDPAddr]
	mu      sync.Mutex
	ups     map[string]*net.UDPConn
	wg      sync.WaitGroup
}

func startRelay(t testing.TB, to netip.AddrPort) *udpRelay {
	t.Helper()
	ln, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r := &udpRelay{ln: ln, ups: map[string]*net.UDPConn{}}
	r.backend.Store(net.UDPAddrFromAddrPort(to))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := ln.ReadFromUDP(buf)
			if err != nil {
				return
			}
			r.mu.Lock()
			up := r.ups[from.String()]
			if up == nil {
				up, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
				if err != nil {
					r.mu.Unlock()
					return
				}
				r.ups[from.String()] = up
				r.wg.Add(1)
				go func() {
					defer r.wg.Done()
					b := make([]byte, 2048)
					for {
						m, _, err := up.ReadFromUDP(b)
						if err != nil {
							return
						}
						ln.WriteToUDP(b[:m], from)
					}
				}()
			}
			r.mu.Unlock()
			up.WriteToUDP(buf[:n], r.backend.Load())
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		for _, u := range r.ups {
			u.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

// startResettingH3 serves HTTP/3 on a quic.Transport with a fixed
// stateless reset key: a second one with the same key answers packets of
// connections it does not know with a stateless reset.
func startResettingH3(t testing.TB, cert tls.Certificate, key *quic.StatelessResetKey, hits *atomic.Int64) netip.AddrPort {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	qt := &quic.Transport{Conn: udp, StatelessResetKey: key}
	ln, err := qt.Listen(http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}), &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http3.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "served")
	})}
	go srv.ServeListener(ln)
	t.Cleanup(func() { srv.Close(); ln.Close(); qt.Close(); udp.Close() })
	return udp.LocalAddr().(*net.UDPAddr).AddrPort()
}

// TestStatelessReset: the server loses its state (the relay moves to a
// fresh server with the same reset key) and answers our pooled
// connection with a stateless reset. A POST on it fails naming the URL
// and the reset; a GET is retried on a new connection and succeeds.
func TestStatelessReset(t *testing.T) {
	cert, pool := testCert(t)
	var key quic.StatelessResetKey
	rand.Read(key[:])
	var hits1, hits2 atomic.Int64
	s1 := startResettingH3(t, cert, &key, &hits1)
	s2 := startResettingH3(t, cert, &key, &hits2)
	relay := startRelay(t, s1)
	ap := relay.ln.LocalAddr().(*net.UDPAddr).AddrPort()
	tr := h3Transport(t, pool)
	u, _ := url.Parse("https://" + ap.String() + "/hostile")
	if _, body := getBody(t, tr, &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: "3", Verify: true}); body != "served" || hits1.Load() != 1 {
		t.Fatalf("first request: %q, server 1 hits %d", body, hits1.Load())
	}
	relay.backend.Store(net.UDPAddrFromAddrPort(s2))
	_, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "POST", Body: []byte("x"), URL: u, Impersonate: "chrome", HTTPVersion: "3", Verify: true})
	wantErr(t, err, ap, "stateless reset")
	if _, body := getBody(t, tr, &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: "3", Verify: true}); body != "served" || hits2.Load() != 1 {
		t.Fatalf("GET after the reset: %q, server 2 hits %d", body, hits2.Load())
	}
}

// TestHTTP3DynamicTableResponse: a server whose QPACK encoder uses the
// dynamic table we announce (as Google's front ends do): the response
// header from the table is decoded, and our decoder stream carries the
// Insert Count Increment and the Section Acknowledgment of stream 0.
func TestHTTP3DynamicTableResponse(t *testing.T) {
	cert, pool := testCert(t)
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h3"}}, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := &rawH3Server{addr: ln.Addr().(*net.UDPAddr).AddrPort(), pool: pool, ln: ln, dynamic: true}
	ctx, cancel := context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c, err := ln.Accept(ctx)
		if err == nil {
			s.serve(ctx, c)
		}
	}()
	defer func() { cancel(); ln.Close(); s.wg.Wait() }()
	tr := h3Transport(t, pool)
	resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: s.url("/d"), Impersonate: "chrome", HTTPVersion: "3", Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Dyn"); got != "v1" || readAll(t, resp) != "ok" {
		t.Fatalf("x-dyn %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		dec := slices.Clone(s.decoder)
		s.mu.Unlock()
		if bytes.Contains(dec, []byte{0x80}) && bytes.Contains(dec, []byte{0x01}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("decoder stream %x: want Insert Count Increment 01 and Section Acknowledgment 80", dec)
		}
		time.Sleep(10 * time.Millisecond)
	}
	tr.Close()
}

// TestHTTP3ThroughProxyFallsBackToTCP: with an HTTP proxy, http_version
// "3" and "auto" requests go over TCP through the proxy's tunnel (QUIC
// needs UDP, CONNECT-UDP is not implemented), and the transport says so
// once in its log. SOCKS5 proxies carry QUIC: socks5udp_test.go.
func TestHTTP3ThroughProxyFallsBackToTCP(t *testing.T) {
	cert, pool := testCert(t)
	var hits atomic.Int64
	ts := startTCPSite(t, cert, "", &hits)
	proxy := startHTTPProxy(t, "")
	var logBuf strings.Builder
	var logMu sync.Mutex
	tr := h3Transport(t, pool, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logBuf, mu: &logMu}, nil))
	})
	u, _ := url.Parse(ts.URL + "/p")
	pu, _ := url.Parse("http://" + proxy.addr())
	for _, v := range []string{"3", "auto", "3"} {
		resp, body := getBody(t, tr, &downloader.Outgoing{URL: u, Proxy: pu, Impersonate: "chrome", HTTPVersion: v, Verify: true})
		if body != "tcp HTTP/2.0" {
			t.Fatalf("http_version %s: %s %q", v, resp.Proto, body)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if n := strings.Count(logBuf.String(), "HTTP/3 is not used through an http(s) proxy"); n != 1 {
		t.Errorf("%d proxy warnings, want 1:\n%s", n, logBuf.String())
	}
	proxy.mu.Lock()
	defer proxy.mu.Unlock()
	if len(proxy.targets) == 0 {
		t.Error("the proxy saw no CONNECT")
	}
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// tLogWriter sends a transport's log to the test's log.
type tLogWriter struct{ t testing.TB }

func (w tLogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestHTTP3ServerStopsReadingTheBody: the server answers a POST after its
// headers and stops reading the 4 MB body (STOP_SENDING, H3_NO_ERROR),
// as RFC 9114 4.1 allows; the response is still read.
func TestHTTP3ServerStopsReadingTheBody(t *testing.T) {
	cert, pool := testCert(t)
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h3"}}, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := &rawH3Server{addr: ln.Addr().(*net.UDPAddr).AddrPort(), pool: pool, ln: ln, stopEarly: true}
	ctx, cancel := context.WithCancel(context.Background())
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c, err := ln.Accept(ctx)
		if err == nil {
			s.serve(ctx, c)
		}
	}()
	defer func() { cancel(); ln.Close(); s.wg.Wait() }()
	tr := h3Transport(t, pool)
	resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "POST", Body: make([]byte, 4<<20), URL: s.url("/upload"), Impersonate: "chrome", HTTPVersion: "3", Verify: true})
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); body != "ok" || resp.StatusCode != 200 {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	tr.Close()
}
