package impersonate

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// countStats is a stats sink for the transport's race counters.
type countStats struct {
	mu sync.Mutex
	m  map[string]int64
}

func (c *countStats) Inc(key string, n int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int64{}
	}
	c.m[key] += n
}

func (c *countStats) get(key string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[key]
}

// fakeClock is the transport's clock for Alt-Svc ages and broken marks.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// silentUDP is a UDP socket that reads every datagram and answers none:
// a QUIC endpoint behind a firewall that drops UDP.
func silentUDP(t testing.TB) (netip.AddrPort, *atomic.Int64) {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 2048)
		for {
			if _, _, err := c.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return c.LocalAddr().(*net.UDPAddr).AddrPort(), &n
}

func (tr *Transport) quicDials() int {
	tr.h3s.mu.Lock()
	defer tr.h3s.mu.Unlock()
	return tr.h3s.dials
}

func (tr *Transport) quicDialing() int {
	tr.h3s.mu.Lock()
	defer tr.h3s.mu.Unlock()
	return len(tr.h3s.dialing)
}

func autoGet(t *testing.T, tr *Transport, u *url.URL) (*http.Response, string) {
	t.Helper()
	return getBody(t, tr, &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: "auto", Verify: true})
}

// waitFor polls cond (the QUIC attempts run in the background); the bound
// only keeps a broken build from hanging.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRaceQUICWins: the origin announces h3 and QUIC answers: the first
// request goes over TCP, the next ones over HTTP/3; the one that raced
// was won by QUIC, and each request reached exactly one server once. TCP
// is held back (as Chromium's test hook does) so that QUIC must win.
func TestRaceQUICWins(t *testing.T) {
	cert, pool := testCert(t)
	h3 := startH3SiteWithCert(t, cert, pool, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "quic "+r.Proto) })
	var tcpHits atomic.Int64
	ts := startTCPSite(t, cert, `h3=":`+strconv.Itoa(int(h3.addr.Port()))+`"; ma=3600`, &tcpHits)
	st := &countStats{}
	tr := h3Transport(t, pool, func(o *Options) { o.Stats = st })
	hold := time.Hour
	tr.raceDelay = &hold
	u, _ := url.Parse(ts.URL + "/a")
	if resp, body := autoGet(t, tr, u); body != "tcp HTTP/2.0" {
		t.Fatalf("first request: %s %q", resp.Proto, body)
	}
	for i := 0; i < 3; i++ {
		if resp, body := autoGet(t, tr, u); body != "quic HTTP/3.0" {
			t.Fatalf("request %d: %s %q", i+2, resp.Proto, body)
		}
	}
	if h3.reqs.Load() != 3 || tcpHits.Load() != 1 {
		t.Errorf("HTTP/3 server %d requests, TCP server %d; want 3 and 1", h3.reqs.Load(), tcpHits.Load())
	}
	if q, c := st.get("downloader/http3/race_won_quic"), st.get("downloader/http3/race_won_tcp"); q != 1 || c != 0 {
		t.Errorf("races won by QUIC %d, by TCP %d; want 1 and 0 (one race, then the QUIC connection is reused)", q, c)
	}
	if tr.quicDials() != 1 {
		t.Errorf("%d QUIC connection attempts, want 1", tr.quicDials())
	}
}

// TestRaceTCPWinsQUICKeptForLater: TCP does not wait (the delay is 0) and
// the QUIC handshake cannot finish yet (its datagrams go nowhere): TCP's
// pooled HTTP/2 connection carries the request. The QUIC attempt goes on
// and, once its datagrams reach the server, its connection carries the
// next requests, as Chromium's orphaned alternative job does.
func TestRaceTCPWinsQUICKeptForLater(t *testing.T) {
	cert, pool := testCert(t)
	h3 := startH3SiteWithCert(t, cert, pool, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "quic "+r.Proto) })
	nowhere, _ := silentUDP(t)
	relay := startRelay(t, nowhere)
	relayPort := relay.ln.LocalAddr().(*net.UDPAddr).Port
	var tcpHits atomic.Int64
	ts := startTCPSite(t, cert, `h3=":`+strconv.Itoa(relayPort)+`"; ma=3600`, &tcpHits)
	st := &countStats{}
	tr := h3Transport(t, pool, func(o *Options) { o.Stats = st; o.QUICFallbackTimeout = time.Minute })
	var zero time.Duration
	tr.raceDelay = &zero
	u, _ := url.Parse(ts.URL + "/a")
	for i := 0; i < 2; i++ {
		if resp, body := autoGet(t, tr, u); body != "tcp HTTP/2.0" {
			t.Fatalf("request %d: %s %q", i+1, resp.Proto, body)
		}
	}
	if tr.quicDialing() != 1 || tr.H3Broken(u) {
		t.Fatalf("QUIC attempts in flight %d, broken %v; want the attempt still going", tr.quicDialing(), tr.H3Broken(u))
	}
	relay.backend.Store(net.UDPAddrFromAddrPort(h3.addr))
	waitFor(t, "the QUIC connection", func() bool { return tr.quicDialing() == 0 })
	for i := 0; i < 2; i++ {
		if resp, body := autoGet(t, tr, u); body != "quic HTTP/3.0" {
			t.Fatalf("request %d after the handshake: %s %q", i+3, resp.Proto, body)
		}
	}
	if h3.reqs.Load() != 2 || tcpHits.Load() != 2 {
		t.Errorf("HTTP/3 server %d requests, TCP server %d; want 2 and 2", h3.reqs.Load(), tcpHits.Load())
	}
	if q, c := st.get("downloader/http3/race_won_quic"), st.get("downloader/http3/race_won_tcp"); q != 0 || c != 1 {
		t.Errorf("races won by QUIC %d, by TCP %d; want 0 and 1", q, c)
	}
	if tr.H3Broken(u) || tr.quicDials() != 1 {
		t.Errorf("broken %v, %d QUIC attempts; want not broken, 1", tr.H3Broken(u), tr.quicDials())
	}
}

// TestRaceSilentUDPPort: the origin announces h3 on a UDP port that reads
// and drops everything. The request after the upgrade goes over TCP while
// the QUIC handshake is still waiting (the race does not wait for its
// timeout); when the handshake gives up, QUIC is marked broken for 5
// minutes and later requests go straight to TCP without trying QUIC.
// When the mark expires (on the injected clock) QUIC is tried again, TCP
// no longer waits for it, and the next failure doubles the backoff.
func TestRaceSilentUDPPort(t *testing.T) {
	cert, pool := testCert(t)
	udp, datagrams := silentUDP(t)
	var tcpHits atomic.Int64
	ts := startTCPSite(t, cert, `h3=":`+strconv.Itoa(int(udp.Port()))+`"; ma=86400`, &tcpHits)
	st := &countStats{}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	// The handshake timeout is far longer than TCP's wait (300 ms): a
	// request that came back over TCP before the attempt ended did not
	// wait for it.
	tr := h3Transport(t, pool, func(o *Options) { o.Stats = st; o.QUICFallbackTimeout = 3 * time.Second })
	tr.clock = clock.Now
	u, _ := url.Parse(ts.URL + "/a")
	out := &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: "auto", Verify: true}

	if _, body := autoGet(t, tr, u); body != "tcp HTTP/2.0" {
		t.Fatalf("first request: %q", body)
	}
	// Three requests at once: they share one QUIC attempt, whose failure
	// then counts once in the backoff.
	var wg sync.WaitGroup
	bodies := make([]string, 3)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: "auto", Verify: true})
			if err != nil {
				bodies[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			bodies[i] = resp.Proto + " " + string(b)
		}()
	}
	wg.Wait()
	for i, b := range bodies {
		if b != "HTTP/2.0 tcp HTTP/2.0" {
			t.Fatalf("request %d after the upgrade: %q", i, b)
		}
	}
	if tr.quicDialing() != 1 || tr.quicDials() != 1 || tr.H3Broken(u) {
		t.Fatalf("after the TCP answer: QUIC attempts in flight %d, broken %v; want the handshake still waiting (TCP did not wait for it)", tr.quicDialing(), tr.H3Broken(u))
	}
	if datagrams.Load() == 0 {
		waitFor(t, "the QUIC Initial", func() bool { return datagrams.Load() > 0 })
	}
	if st.get("downloader/http3/race_won_tcp") != 3 {
		t.Errorf("races won by TCP: %d, want 3", st.get("downloader/http3/race_won_tcp"))
	}
	waitFor(t, "QUIC marked broken", func() bool { return tr.H3Broken(u) })
	if until, _ := tr.h3BrokenUntil(u); !until.Equal(clock.Now().Add(5 * time.Minute)) {
		t.Errorf("broken until %v, want now + 5m", until)
	}

	for i := 0; i < 2; i++ {
		if _, body := autoGet(t, tr, u); body != "tcp HTTP/2.0" {
			t.Fatalf("request while broken: %q", body)
		}
	}
	if tr.quicDials() != 1 {
		t.Errorf("%d QUIC attempts while broken, want 1", tr.quicDials())
	}

	clock.advance(5*time.Minute + time.Second)
	if tr.H3Broken(u) {
		t.Fatal("still broken after 5 minutes")
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(udp.Port())))
	if d := tr.mainJobDelay(out, addr); d != 0 {
		t.Errorf("TCP waits %v for a recently broken QUIC endpoint, want 0", d)
	}
	if _, body := autoGet(t, tr, u); body != "tcp HTTP/2.0" {
		t.Fatalf("request after the backoff: %q", body)
	}
	if tr.quicDials() != 2 {
		t.Fatalf("%d QUIC attempts after the backoff, want 2 (tried again)", tr.quicDials())
	}
	waitFor(t, "QUIC marked broken again", func() bool { return tr.H3Broken(u) })
	if until, _ := tr.h3BrokenUntil(u); !until.Equal(clock.Now().Add(10 * time.Minute)) {
		t.Errorf("broken again until %v, want now + 10m (doubled once: the three requests' shared failure counted once)", until)
	}
	clock.advance(6 * time.Minute)
	if _, body := autoGet(t, tr, u); body != "tcp HTTP/2.0" || tr.quicDials() != 2 {
		t.Errorf("6 minutes into the second backoff: %q, %d QUIC attempts; want TCP and still 2", body, tr.quicDials())
	}
	if got := tcpHits.Load(); got != 8 {
		t.Errorf("TCP server saw %d requests, want 8 (each request once)", got)
	}
	if b := st.get("downloader/http3/broken"); b != 2 {
		t.Errorf("downloader/http3/broken = %d, want 2", b)
	}
}

// TestAltSvcClear: an HTTP/3 response's "Alt-Svc: clear" forgets the
// alternative: the next request goes over TCP. A TCP answer's clear does
// the same, and so does a header naming no h3 alternative.
func TestAltSvcClear(t *testing.T) {
	cert, pool := testCert(t)
	var clear atomic.Bool
	h3 := startH3SiteWithCert(t, cert, pool, func(w http.ResponseWriter, r *http.Request) {
		if clear.Load() {
			w.Header().Set("Alt-Svc", "clear")
		}
		io.WriteString(w, "quic "+r.Proto)
	})
	var tcpHits atomic.Int64
	var tcpAlt atomic.Value
	announce := `h3=":` + strconv.Itoa(int(h3.addr.Port())) + `"; ma=3600`
	tcpAlt.Store(announce)
	ts := startTCPSiteHandler(t, cert, "", &tcpHits, func(w http.ResponseWriter, r *http.Request) {
		if v := tcpAlt.Load().(string); v != "" {
			w.Header().Set("Alt-Svc", v)
		}
		io.WriteString(w, "tcp "+r.Proto)
	})
	tr := h3Transport(t, pool)
	hold := time.Hour
	tr.raceDelay = &hold
	u, _ := url.Parse(ts.URL + "/a")
	out := &downloader.Outgoing{URL: u}
	want := func(step, body string) {
		t.Helper()
		if _, got := autoGet(t, tr, u); got != body {
			t.Fatalf("%s: %q, want %q", step, got, body)
		}
	}
	want("first", "tcp HTTP/2.0")
	want("after Alt-Svc h3", "quic HTTP/3.0")
	clear.Store(true)
	tcpAlt.Store("")
	want("the HTTP/3 answer says clear", "quic HTTP/3.0")
	if _, ok := tr.h3Target(out); ok {
		t.Fatal("the alternative survived Alt-Svc: clear")
	}
	want("after clear", "tcp HTTP/2.0")

	for _, v := range []string{"clear", `h2=":443", h3-29=":8443"`, `h3=":` + strconv.Itoa(int(h3.addr.Port())) + `"; ma=0`} {
		tr.noteAltSvc(u, http.Header{"Alt-Svc": {announce}})
		if _, ok := tr.h3Target(out); !ok {
			t.Fatal("h3 not learned")
		}
		tr.noteAltSvc(u, http.Header{"Alt-Svc": {v}})
		if _, ok := tr.h3Target(out); ok {
			t.Errorf("Alt-Svc %q left the h3 alternative in place", v)
		}
	}
}

// TestAltSvcGarbageIgnored: a malformed Alt-Svc header fails nothing and
// changes nothing (a debug line says why); the alternative learned before
// stays.
func TestAltSvcGarbageIgnored(t *testing.T) {
	cert, pool := testCert(t)
	var tcpHits atomic.Int64
	var alt atomic.Value
	alt.Store(`h3=":4433"; ma=3600`)
	ts := startTCPSiteHandler(t, cert, "", &tcpHits, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Alt-Svc", alt.Load().(string))
		io.WriteString(w, "tcp "+r.Proto)
	})
	var log lockedBuffer
	tr := h3Transport(t, pool, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	u, _ := url.Parse(ts.URL + "/a")
	// Requests are "2" (TCP only) so that no QUIC attempt starts; their
	// answers go through what an "auto" answer goes through.
	tr.noteAltSvc(u, http.Header{"Alt-Svc": {alt.Load().(string)}})
	for _, g := range []string{`h3=:4433`, `h3="nohost"`, `h3=":99999"`, `h3=":443"; ma=soon`, `"unterminated`, `=":443"`, "\x00\xff"} {
		alt.Store(g)
		resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: "2", Verify: true})
		if err != nil {
			t.Fatalf("Alt-Svc %q: %v", g, err)
		}
		readAll(t, resp)
		tr.noteAltSvc(u, resp.Header)
		if a, ok := tr.h3Target(&downloader.Outgoing{URL: u}); !ok || !strings.HasSuffix(a, ":4433") {
			t.Errorf("Alt-Svc %q: alternative %q %v, want the one learned before", g, a, ok)
		}
		if !strings.Contains(log.String(), "ignoring Alt-Svc") {
			t.Errorf("Alt-Svc %q: no debug line", g)
		}
	}
}

func TestParseAltSvc(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := []struct {
		in          string
		host, port  string
		ma          time.Duration
		clear, none bool
		bad         bool
	}{
		{in: `h3=":443"`, port: "443", ma: 24 * time.Hour},
		{in: `h3=":443"; ma=3600`, port: "443", ma: time.Hour},
		{in: `h3="alt.example:8443"; ma=60; persist=1`, host: "alt.example", port: "8443", ma: time.Minute},
		{in: `h2=":443", h3=":4433"; ma="120"`, port: "4433", ma: 2 * time.Minute},
		{in: `h3=":443"; ma=10, h3=":444"`, port: "443", ma: 10 * time.Second},
		{in: `h3-29=":443"; ma=60, h2=":443"`, none: true},
		{in: `clear`, clear: true},
		{in: ` clear `, clear: true},
		{in: `h3=":443", , h2=":1"`, port: "443", ma: 24 * time.Hour},
		{in: `h3=":443"; ma=-1`, bad: true},
		{in: `h3=443`, bad: true},
		{in: `h3=":0"`, bad: true},
		{in: `h3`, bad: true},
		{in: ``, bad: true},
		{in: `clear, h3=":443"`, bad: true},
	}
	for _, c := range cases {
		a, err := parseAltSvc(c.in, now)
		if c.bad {
			if err == nil {
				t.Errorf("%q: no error", c.in)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.in, err)
			continue
		}
		if a.clear != c.clear {
			t.Errorf("%q: clear %v", c.in, a.clear)
		}
		if c.clear || c.none {
			if a.h3 != nil {
				t.Errorf("%q: h3 %+v, want none", c.in, *a.h3)
			}
			continue
		}
		if a.h3 == nil || a.h3.host != c.host || a.h3.port != c.port || !a.h3.expires.Equal(now.Add(c.ma)) {
			t.Errorf("%q: %+v, want host %q port %s ma %v", c.in, a.h3, c.host, c.port, c.ma)
		}
	}
}

// TestBrokenBackoff pins Chromium's schedule: 5 minutes, doubling per
// failure since QUIC last worked, at most 2 days.
func TestBrokenBackoff(t *testing.T) {
	want := []time.Duration{5 * time.Minute, 10 * time.Minute, 20 * time.Minute, 40 * time.Minute}
	for i, w := range want {
		if got := brokenDelay(i); got != w {
			t.Errorf("failure %d: %v, want %v", i+1, got, w)
		}
	}
	if got := brokenDelay(100); got != 48*time.Hour {
		t.Errorf("after many failures: %v, want 48h", got)
	}
}

// TestRaceBothFailNotBroken: when TCP fails as well, the request fails
// with TCP's error naming the URL, and QUIC is not marked broken (a dead
// server says nothing about QUIC, as in Chromium).
func TestRaceBothFailNotBroken(t *testing.T) {
	_, pool := testCert(t)
	udp, _ := silentUDP(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tcpAddr := ln.Addr().String()
	ln.Close() // nothing listens there now: connections are refused
	tr := h3Transport(t, pool, func(o *Options) { o.QUICFallbackTimeout = 300 * time.Millisecond })
	var zero time.Duration
	tr.raceDelay = &zero
	u, _ := url.Parse("https://" + tcpAddr + "/gone")
	tr.noteAltSvc(u, http.Header{"Alt-Svc": {`h3=":` + strconv.Itoa(int(udp.Port())) + `"`}})
	_, err = tr.RoundTrip(context.Background(), &downloader.Outgoing{URL: u, Impersonate: "chrome", HTTPVersion: "auto", Verify: true})
	if err == nil || !strings.Contains(err.Error(), u.String()) || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("error %v: want the URL and TCP's connection refused", err)
	}
	waitFor(t, "the QUIC attempt to end", func() bool { return tr.quicDialing() == 0 })
	tr.h3s.mu.Lock()
	n := len(tr.h3s.broken)
	tr.h3s.mu.Unlock()
	if n != 0 || tr.H3Broken(u) {
		t.Errorf("QUIC marked broken (%d entries) although TCP failed too", n)
	}
}

// TestAltSvcUnrestrictedPortIgnored: as in Chromium, an origin on a
// restricted port (< 1024) cannot be moved to an unrestricted one: a user
// of a shared host could otherwise take a site over from their own port.
func TestAltSvcUnrestrictedPortIgnored(t *testing.T) {
	tr := h3Transport(t, nil)
	for _, c := range []struct {
		origin, alt string
		ok          bool
	}{
		{"https://example.test/", `h3=":8443"`, false},
		{"https://example.test/", `h3=":443"`, true},
		{"https://example.test/", `h3="alt.example.test:443"`, true},
		{"https://example.test:8443/", `h3=":9443"`, true},
		{"https://example.test:8443/", `h3=":443"`, true},
	} {
		u, _ := url.Parse(c.origin)
		tr.noteAltSvc(u, http.Header{"Alt-Svc": {"clear"}})
		tr.noteAltSvc(u, http.Header{"Alt-Svc": {c.alt}})
		if _, ok := tr.h3Target(&downloader.Outgoing{URL: u}); ok != c.ok {
			t.Errorf("%s with Alt-Svc %s: used %v, want %v", c.origin, c.alt, ok, c.ok)
		}
	}
}
