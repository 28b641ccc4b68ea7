package main

import (
	"bufio"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
)

// connectProxy is a minimal HTTP CONNECT proxy on loopback: one tunnel per
// client TCP connection, over real TCP to the target. It records, for each
// tunnel, the client's address and the address its own connection to the
// target came from — what the target sees as the remote address.
type connectProxy struct {
	name string
	ln   net.Listener

	mu      sync.Mutex
	tunnels map[string]string // upstream local address → client address
	refused []string
}

func newConnectProxy(t *testing.T, name string) *connectProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{name: name, ln: ln, tunnels: map[string]string{}}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(c) })
		}
	})
	return p
}

func (p *connectProxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *connectProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	host, _, _ := net.SplitHostPort(req.Host)
	if req.Method != http.MethodConnect || host != "localhost" {
		p.mu.Lock()
		p.refused = append(p.refused, req.Method+" "+req.Host)
		p.mu.Unlock()
		fmt.Fprint(c, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return
	}
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		fmt.Fprint(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	p.mu.Lock()
	p.tunnels[up.LocalAddr().String()] = c.RemoteAddr().String()
	p.mu.Unlock()
	fmt.Fprint(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); c.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}

// isoConn is what the site knows about one TCP connection: its remote
// address, the JA4 of its ClientHello, the connection whose ticket it
// resumed (0: a full handshake) and the member cookies it carried.
type isoConn struct {
	id          int
	remote      string
	ja4         string
	offeredFrom int // the connection that issued the ticket it offered
	resumed     bool
	members     map[string]int
}

// isoSite is an HTTPS site (HTTP/2, TLS 1.3 with session tickets) that
// tells identities apart from its side only: each ticket it issues names
// the connection it was issued on, each ClientHello is fingerprinted, and
// a `sid` cookie is set on the first request of a jar that has none. Every
// fifth request on a connection is answered with Connection: close (a
// GOAWAY), so clients keep opening connections and resuming sessions.
type isoSite struct {
	ln  net.Listener
	srv *http.Server
	cfg *tls.Config

	mu      sync.Mutex
	conns   []*isoConn // by id-1
	byConn  map[*tls.Conn]*isoConn
	sidFor  map[string]string // sid → member cookie it was set for
	reqs    int
	badReqs []string // a request that did not carry exactly one member cookie
}

func newIsoSite(t *testing.T) *isoSite {
	cert, err := fingerprint.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	s := &isoSite{byConn: map[*tls.Conn]*isoConn{}, sidFor: map[string]string{}}
	s.cfg = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	// One fixed ticket key for every connection's config.
	var key [32]byte
	rand.Read(key[:])
	s.cfg.SetSessionTicketKeys([][32]byte{key})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = &isoListener{Listener: ln, site: s}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.handle)}
	if err := http2.ConfigureServer(s.srv, nil); err != nil {
		t.Fatal(err)
	}
	go s.srv.Serve(s.ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// URL names the site by host name, so clients send SNI as they would to
// a real site (JA4 then matches the profile's evidence exactly).
func (s *isoSite) URL() string {
	return "https://localhost:" + strconv.Itoa(s.ln.Addr().(*net.TCPAddr).Port)
}

type isoListener struct {
	net.Listener
	site *isoSite
}

// Accept reads the ClientHello record before the TLS stack does, to
// fingerprint it, then gives the connection a config whose tickets carry
// the connection's id.
func (l *isoListener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(raw, hdr); err != nil {
			raw.Close()
			continue
		}
		body := make([]byte, int(hdr[3])<<8|int(hdr[4]))
		if _, err := io.ReadFull(raw, body); err != nil {
			raw.Close()
			continue
		}
		record := append(hdr, body...)
		ja4 := "unparsed"
		if ch, err := fingerprint.ParseClientHello(record); err == nil {
			ja4 = ch.JA4()
		}
		s := l.site
		s.mu.Lock()
		c := &isoConn{id: len(s.conns) + 1, remote: raw.RemoteAddr().String(), ja4: ja4, members: map[string]int{}}
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		cfg := s.cfg.Clone()
		cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
			ss.Extra = append(ss.Extra, []byte("issued-on:"+strconv.Itoa(c.id)))
			return s.cfg.EncryptTicket(cs, ss)
		}
		cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
			ss, err := s.cfg.DecryptTicket(identity, cs)
			if ss != nil {
				for _, e := range ss.Extra {
					if id, ok := strings.CutPrefix(string(e), "issued-on:"); ok {
						n, _ := strconv.Atoi(id)
						s.mu.Lock()
						c.offeredFrom = n
						s.mu.Unlock()
					}
				}
			}
			return ss, err
		}
		tc := tls.Server(&prefixedConn{Conn: raw, prefix: record}, cfg)
		s.mu.Lock()
		s.byConn[tc] = c
		s.mu.Unlock()
		return tc, nil
	}
}

// prefixedConn replays the bytes Accept already read.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (s *isoSite) handle(w http.ResponseWriter, r *http.Request) {
	var members, sids []string
	for _, c := range r.Cookies() {
		switch c.Name {
		case "member":
			members = append(members, c.Value)
		case "sid":
			sids = append(sids, c.Value)
		}
	}
	member := strings.Join(members, "+")
	s.mu.Lock()
	var c *isoConn
	for tc, ic := range s.byConn {
		if tc.RemoteAddr().String() == r.RemoteAddr && ic.remote == r.RemoteAddr {
			c = ic
		}
	}
	if c == nil {
		s.mu.Unlock()
		http.Error(w, "unknown connection "+r.RemoteAddr, http.StatusInternalServerError)
		return
	}
	s.reqs++
	if len(members) != 1 {
		s.badReqs = append(s.badReqs, fmt.Sprintf("%s carried member cookies %q", r.URL.Path, members))
	}
	c.members[member]++
	if r.TLS != nil && r.TLS.DidResume {
		c.resumed = true
	}
	n := 0
	for _, k := range c.members {
		n += k
	}
	for _, sid := range sids {
		if s.sidFor[sid] != member {
			s.badReqs = append(s.badReqs, fmt.Sprintf("%s sent as %s carried sid %s set for %s", r.URL.Path, member, sid, s.sidFor[sid]))
		}
	}
	if len(sids) == 0 {
		sid := fmt.Sprintf("s%d", len(s.sidFor)+1)
		s.sidFor[sid] = member
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: sid, Path: "/"})
	}
	echo, _ := json.Marshal(map[string]any{"member": member, "conn": c.id, "ja4": c.ja4})
	s.mu.Unlock()
	if n%5 == 0 {
		w.Header().Set("Connection", "close")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(echo)
}

// evidenceJA4 is the JA4 a profile's fresh and resumed ClientHellos have,
// as recorded in runtime/impersonate's evidence (checked there against the
// browsers' published fingerprints).
func evidenceJA4(t *testing.T, profile string) []string {
	t.Helper()
	var out []string
	for _, kind := range []string{"h2", "resumed"} {
		data, err := os.ReadFile(filepath.Join("..", "..", "runtime", "impersonate", "testdata", "evidence", profile+"_"+kind+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var ev struct {
			JA4 string `json:"ja4"`
		}
		if err := json.Unmarshal(data, &ev); err != nil || ev.JA4 == "" {
			t.Fatalf("evidence %s_%s: no ja4 (%v)", profile, kind, err)
		}
		out = append(out, ev.JA4)
	}
	return out
}

const isolationSpider = `
let sid;
export function* start() {
  sid = spider.hooks.session.register_sessions({
    alice: { cookies: "member=alice", proxy: spider.args.proxy_alice, impersonate: spider.args.profile_alice },
    bob: { cookies: "member=bob", proxy: spider.args.proxy_bob, impersonate: spider.args.profile_bob },
  });
  // One page each first: its connection leaves a ticket for the later
  // ones to resume.
  for (const m of ["alice", "bob"]) yield page(m, 0);
}
function page(m, i) {
  return new Request({ url: spider.args.base + "/" + m + "/" + i, session_id: sid,
    meta: { session_member: m }, callback: parse });
}
export function* parse(response) {
  const echo = JSON.parse(response.text);
  const m = response.meta.session_member;
  yield { sent_as: m, seen_as: echo.member, conn: echo.conn };
  // Both members' pages then go out together, several at a time, so a
  // pool shared by the members would put both on one connection.
  if (response.url.endsWith("/0"))
    for (let i = 1; i < Number(spider.args.pages); i++) yield page(m, i);
}
`

// TestIdentitiesIsolatedThroughProxies: two members of one session group,
// each with its own proxy (two real CONNECT proxies on loopback) and
// browser profile (chrome_148, firefox_140), each with a cookie of its own
// and the sid cookie the site sets, crawl one HTTPS site concurrently
// through `spiderrun run`. From the site's and the proxies' side: every
// connection carries one member only, arrived through that member's proxy
// with that member's profile's JA4; no request carries the other member's
// cookies; no connection resumes a TLS ticket issued on a connection of
// the other member (and both members do resume their own tickets, so
// the test sees resumption).
func TestIdentitiesIsolatedThroughProxies(t *testing.T) {
	t.Parallel()
	a, b := "A", "B"
	for _, tc := range []struct {
		name    string
		proxy   map[string]string // member → proxy name
		profile map[string]string
	}{
		{"two proxies and profiles", map[string]string{"alice": a, "bob": b}, map[string]string{"alice": "chrome_148", "bob": "firefox_140"}},
		// Only the members' own pools then keep them apart.
		{"one proxy and profile", map[string]string{"alice": a, "bob": a}, map[string]string{"alice": "chrome_148", "bob": "chrome_148"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			testIsolation(t, tc.proxy, tc.profile)
		})
	}
}

func testIsolation(t *testing.T, proxyOf, profileOf map[string]string) {
	site := newIsoSite(t)
	proxies := map[string]*connectProxy{"A": newConnectProxy(t, "A"), "B": newConnectProxy(t, "B")}
	wantJA4 := map[string][]string{}
	args := []string{"-a", "base=" + site.URL()}
	for _, m := range []string{"alice", "bob"} {
		wantJA4[m] = evidenceJA4(t, profileOf[m])
		args = append(args, "-a", "proxy_"+m+"="+proxies[proxyOf[m]].URL(), "-a", "profile_"+m+"="+profileOf[m])
	}
	const pages = 30
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), isolationSpider)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, `name: isolation
script: spider.js
settings:
  ROBOTSTXT_OBEY: false
  TLS_VERIFY: false
  CONCURRENT_REQUESTS: 8
  CONCURRENT_REQUESTS_PER_DOMAIN: 8
  RETRY_ENABLED: false
`)
	out := filepath.Join(dir, "items.jsonl")
	code, _, stderr := runCLI(t, append([]string{"run", spec, "-a", fmt.Sprint("pages=", pages), "-o", out}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	perMember := map[string]int{}
	for _, line := range readLines(t, out, "") {
		var it struct {
			SentAs string `json:"sent_as"`
			SeenAs string `json:"seen_as"`
		}
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("item %q: %v", line, err)
		}
		if it.SentAs != it.SeenAs {
			t.Errorf("a request sent as %s reached the site as %s", it.SentAs, it.SeenAs)
		}
		perMember[it.SentAs]++
	}
	if perMember["alice"] != pages || perMember["bob"] != pages {
		t.Fatalf("items per member %v, want %d each\n%s", perMember, pages, stderr)
	}

	site.mu.Lock()
	defer site.mu.Unlock()
	for _, b := range site.badReqs {
		t.Error("cookie crossed identities: " + b)
	}
	// Which proxy each site-side connection came through.
	via := map[string]string{}
	for _, p := range proxies {
		p.mu.Lock()
		for up := range p.tunnels {
			via[up] = p.name
		}
		if len(p.refused) > 0 {
			t.Errorf("proxy %s was asked for %q", p.name, p.refused)
		}
		p.mu.Unlock()
	}
	ownerOf := map[int]string{}
	resumedBy := map[string]int{}
	for _, c := range site.conns {
		if len(c.members) == 0 {
			continue // a connection the client opened and never used
		}
		var ms []string
		for m := range c.members {
			ms = append(ms, m)
		}
		sort.Strings(ms)
		if len(ms) > 1 {
			ownerOf[c.id] = strings.Join(ms, "+")
			t.Errorf("connection %d carried requests of %v", c.id, c.members)
			continue
		}
		m := ms[0]
		ownerOf[c.id] = m
		if via[c.remote] != proxyOf[m] {
			t.Errorf("connection %d of %s came from %s, a tunnel of proxy %q, want %s's", c.id, m, c.remote, via[c.remote], proxyOf[m])
		}
		if !slices.Contains(wantJA4[m], c.ja4) {
			t.Errorf("connection %d of %s has JA4 %s, want one of %v (its profile's)", c.id, m, c.ja4, wantJA4[m])
		}
		t.Logf("conn %d %s ja4=%s offered=%d resumed=%v n=%v", c.id, m, c.ja4, c.offeredFrom, c.resumed, c.members)
		if c.resumed {
			resumedBy[m]++
		}
	}
	for _, c := range site.conns {
		if c.resumed && c.offeredFrom != 0 && ownerOf[c.offeredFrom] != ownerOf[c.id] {
			t.Errorf("connection %d of %s resumed the ticket issued on connection %d of %s",
				c.id, ownerOf[c.id], c.offeredFrom, ownerOf[c.offeredFrom])
		}
	}
	// The site closes every connection after five requests: each member
	// needs several, and comes back with a ticket.
	for _, m := range []string{"alice", "bob"} {
		if resumedBy[m] == 0 {
			t.Errorf("%s never resumed a session of its own: the test could not see a shared ticket", m)
		}
	}
	if site.reqs != 2*pages {
		t.Errorf("site served %d requests, want %d", site.reqs, 2*pages)
	}
}
