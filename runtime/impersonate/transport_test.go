package impersonate

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// echoHandler answers with what it received; /gzip answers with a gzip body
// and Content-Encoding, /big?n= streams n bytes, /slow-body hangs after the
// headers.
func echoHandler(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/gzip":
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		io.WriteString(zw, "hello compressed")
		zw.Close()
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(b.Bytes())
		return
	case "/big":
		var n int
		fmt.Sscan(r.URL.Query().Get("n"), &n)
		w.Header().Set("Content-Length", fmt.Sprint(n))
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for n > 0 {
			k := min(n, len(chunk))
			w.Write(chunk[:k])
			n -= k
		}
		return
	case "/big-headers":
		for i := range 200 {
			w.Header().Set(fmt.Sprintf("X-Filler-%d", i), strings.Repeat("v", 1000))
		}
		io.WriteString(w, "ok")
		return
	case "/early":
		// Answer without reading the upload.
		w.WriteHeader(http.StatusRequestEntityTooLarge)
		io.WriteString(w, "too large")
		return
	case "/abort":
		panic(http.ErrAbortHandler)
	case "/abort-body":
		w.Write([]byte("partial"))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	case "/slow-body":
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	body, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s body=%d len=%d host=%s ua=%s x=%s", r.Proto, r.Method, r.URL.RequestURI(), len(body), r.ContentLength, r.Host, r.Header.Get("User-Agent"), r.Header.Get("X-Test"))
}

type countingServer struct {
	*httptest.Server
	conns atomic.Int32
}

func startServer(t testing.TB, kind string) *countingServer {
	t.Helper()
	s := &countingServer{}
	ts := httptest.NewUnstartedServer(http.HandlerFunc(echoHandler))
	// Handshake failures are what some tests provoke; keep them out of
	// the test log.
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Server = ts
	switch kind {
	case "h2":
		ts.EnableHTTP2 = true
		ts.StartTLS()
	case "h1":
		ts.StartTLS()
	case "plain":
		ts.Start()
	}
	t.Cleanup(ts.Close)
	return s
}

func get(t *testing.T, tr *Transport, out *downloader.Outgoing) (*http.Response, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if out.Method == "" {
		out.Method = "GET"
	}
	resp, err := tr.RoundTrip(ctx, out)
	if err != nil {
		t.Fatalf("%s: %v", out.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s: read body: %v", out.URL, err)
	}
	return resp, string(b)
}

func TestFetchAgainstHTTPTestServers(t *testing.T) {
	servers := map[string]*countingServer{"h2": startServer(t, "h2"), "h1": startServer(t, "h1"), "plain": startServer(t, "plain")}
	cases := []struct {
		server, version, profile, wantProto string
	}{
		{"h2", "", "chrome", "HTTP/2.0"},
		{"h2", "", "firefox", "HTTP/2.0"},
		{"h2", "", "safari", "HTTP/2.0"},
		{"h2", "", "edge", "HTTP/2.0"},
		{"h2", "", "", "HTTP/2.0"},
		{"h2", "2", "chrome_133", "HTTP/2.0"},
		{"h2", "1.1", "chrome", "HTTP/1.1"},
		{"h1", "", "chrome", "HTTP/1.1"},
		{"h1", "", "firefox", "HTTP/1.1"},
		{"h1", "", "", "HTTP/1.1"},
		{"plain", "", "chrome", "HTTP/1.1"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s-%s-%s", tc.server, tc.version, tc.profile), func(t *testing.T) {
			s := servers[tc.server]
			pool := x509PoolOf(t, s.Server)
			tr := newTestTransport(t, pool, "")
			u := mustURL(t, s.URL+"/echo?q=1")
			resp, body := get(t, tr, &downloader.Outgoing{
				URL: u, Impersonate: tc.profile, HTTPVersion: tc.version, Verify: true,
				Headers: crawl.Headers{{Name: "X-Test", Value: "yes"}},
			})
			if resp.StatusCode != 200 || resp.Proto != tc.wantProto {
				t.Fatalf("status %d proto %s, want 200 %s", resp.StatusCode, resp.Proto, tc.wantProto)
			}
			if !strings.HasPrefix(body, tc.wantProto+" GET /echo?q=1 body=0 len=0 host="+u.Host+" ") || !strings.HasSuffix(body, " x=yes") {
				t.Errorf("body = %q", body)
			}
			if tc.profile != "" {
				p, _ := LoadProfile(tc.profile)
				if !strings.Contains(body, "ua="+p.UserAgent()) {
					t.Errorf("server saw another user-agent: %q", body)
				}
			}
			if resp.Request == nil || resp.Request.URL.String() != u.String() {
				t.Errorf("resp.Request = %+v", resp.Request)
			}
		})
	}
}

func x509PoolOf(t testing.TB, s *httptest.Server) *x509.CertPool {
	t.Helper()
	if s.TLS == nil {
		return nil
	}
	return s.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func TestBodiesAndFlowControl(t *testing.T) {
	for _, version := range []string{"2", "1.1"} {
		t.Run(version, func(t *testing.T) {
			s := startServer(t, "h2")
			tr := newTestTransport(t, x509PoolOf(t, s.Server), "")
			// 3 MiB up: more than the server's initial windows, so the
			// sender must wait for WINDOW_UPDATEs.
			up := bytes.Repeat([]byte("u"), 3<<20)
			resp, body := get(t, tr, &downloader.Outgoing{Method: "POST", URL: mustURL(t, s.URL+"/post"), Body: up, Impersonate: "chrome", HTTPVersion: version, Verify: true})
			if !strings.Contains(body, fmt.Sprintf("POST /post body=%d len=%d", len(up), len(up))) {
				t.Errorf("upload: %d %q", resp.StatusCode, body)
			}
			// An answer before the upload is read is still the answer.
			resp, early := get(t, tr, &downloader.Outgoing{Method: "POST", URL: mustURL(t, s.URL+"/early"), Body: up, Impersonate: "chrome", HTTPVersion: version, Verify: true})
			if resp.StatusCode != 413 || early != "too large" {
				t.Errorf("early answer: %d %q", resp.StatusCode, early)
			}
			// 20 MiB down: more than chrome's 15 MiB connection window.
			_, big := get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/big?n=20971520"), Impersonate: "chrome", HTTPVersion: version, Verify: true})
			if len(big) != 20<<20 {
				t.Errorf("download: %d bytes, want %d", len(big), 20<<20)
			}
			// Content-Encoding is passed through, not decoded.
			resp, gz := get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/gzip"), Impersonate: "chrome", HTTPVersion: version, Verify: true})
			if resp.Header.Get("Content-Encoding") != "gzip" || !strings.HasPrefix(gz, "\x1f\x8b") {
				t.Errorf("gzip body decoded or header lost: %q %q", resp.Header.Get("Content-Encoding"), gz[:min(len(gz), 8)])
			}
		})
	}
}

func TestConnectionReuse(t *testing.T) {
	t.Run("http2 multiplexes concurrent requests on one connection", func(t *testing.T) {
		s := startServer(t, "h2")
		tr := newTestTransport(t, x509PoolOf(t, s.Server), "")
		// Warm up so every later request finds the connection.
		get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/0"), Impersonate: "chrome", Verify: true})
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: mustURL(t, fmt.Sprintf("%s/%d", s.URL, i)), Impersonate: "chrome", Verify: true})
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := s.conns.Load(); n != 1 {
			t.Errorf("server saw %d connections, want 1", n)
		}
	})
	t.Run("http1.1 keeps alive; pool keys and profiles separate connections", func(t *testing.T) {
		s := startServer(t, "h1")
		tr := newTestTransport(t, x509PoolOf(t, s.Server), "")
		for range 5 {
			get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/a"), Impersonate: "chrome", Verify: true, PoolKey: "s1"})
		}
		if n := s.conns.Load(); n != 1 {
			t.Errorf("5 sequential requests used %d connections, want 1", n)
		}
		get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/a"), Impersonate: "chrome", Verify: true, PoolKey: "s2"})
		get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/a"), Impersonate: "firefox", Verify: true, PoolKey: "s1"})
		if n := s.conns.Load(); n != 3 {
			t.Errorf("another session and another profile: %d connections, want 3", n)
		}
		// A body closed before its end makes the connection unusable.
		resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: mustURL(t, s.URL+"/big?n=1000000"), Impersonate: "chrome", Verify: true, PoolKey: "s1"})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/a"), Impersonate: "chrome", Verify: true, PoolKey: "s1"})
		if n := s.conns.Load(); n != 4 {
			t.Errorf("after an abandoned body: %d connections, want 4", n)
		}
	})
}

func TestTLSVerificationAndTimeouts(t *testing.T) {
	s := startServer(t, "h2")
	ctx := context.Background()
	t.Run("unknown authority", func(t *testing.T) {
		tr := newTestTransport(t, nil, "")
		_, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: mustURL(t, s.URL), Impersonate: "chrome", Verify: true})
		if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "GET "+s.URL) {
			t.Errorf("error does not name the URL: %v", err)
		}
	})
	t.Run("wrong host name", func(t *testing.T) {
		tr := newTestTransport(t, x509PoolOf(t, s.Server), s.Listener.Addr().String())
		_, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: mustURL(t, "https://evil.test/"), Impersonate: "chrome", Verify: true})
		if err == nil || !strings.Contains(err.Error(), "not evil.test") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("verify off", func(t *testing.T) {
		tr := newTestTransport(t, nil, "")
		resp, _ := get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL), Impersonate: "chrome", Verify: false})
		if resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
	})
	t.Run("silent TLS peer", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		var held []net.Conn
		var mu sync.Mutex
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				held = append(held, c)
				mu.Unlock()
			}
		}()
		defer func() {
			mu.Lock()
			for _, c := range held {
				c.Close()
			}
			mu.Unlock()
		}()
		tr, _ := NewTransport(Options{HandshakeTimeout: 200 * time.Millisecond})
		defer tr.Close()
		_, err = tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: mustURL(t, "https://"+ln.Addr().String()+"/"), Impersonate: "chrome", Verify: true})
		if err == nil || !strings.Contains(err.Error(), "tls handshake timeout after 200ms") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("timeout bounds the body", func(t *testing.T) {
		for _, v := range []string{"2", "1.1"} {
			tr := newTestTransport(t, x509PoolOf(t, s.Server), "")
			resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: mustURL(t, s.URL+"/slow-body"), Impersonate: "chrome", HTTPVersion: v, Verify: true, Timeout: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				t.Errorf("http %s: body of a hanging response read without error", v)
			}
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		tr := newTestTransport(t, x509PoolOf(t, s.Server), "")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := tr.RoundTrip(cctx, &downloader.Outgoing{Method: "GET", URL: mustURL(t, s.URL), Impersonate: "chrome", Verify: true})
		if err == nil {
			t.Fatal("cancelled request succeeded")
		}
	})
	t.Run("bad input", func(t *testing.T) {
		tr := newTestTransport(t, nil, "")
		for _, out := range []*downloader.Outgoing{
			{Method: "GET", URL: mustURL(t, "ftp://x.test/")},
			{Method: "GET", URL: mustURL(t, "https://x.test/"), HTTPVersion: "3"},
			{Method: "GET", URL: mustURL(t, "https://x.test/"), Impersonate: "netscape"},
			{Method: "GET"},
		} {
			if _, err := tr.RoundTrip(ctx, out); err == nil {
				t.Errorf("%+v: no error", out)
			}
		}
	})
}

// TestHostHeaderNamesTheVirtualHost: an explicit Host header becomes
// :authority (HTTP/2) or the Host line (HTTP/1.1).
func TestHostHeaderNamesTheVirtualHost(t *testing.T) {
	s := startServer(t, "h2")
	tr := newTestTransport(t, x509PoolOf(t, s.Server), "")
	for _, v := range []string{"2", "1.1"} {
		_, body := get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/vh"), Impersonate: "chrome", HTTPVersion: v, Verify: true,
			Headers: crawl.Headers{{Name: "Host", Value: "vhost.test"}}})
		if !strings.Contains(body, " host=vhost.test ") {
			t.Errorf("http %s: %q", v, body)
		}
	}
}

// TestResponseHeaderLimit: a 200 KB header block against a 64 KiB limit
// fails cleanly on both protocols (RELIABILITY D10), and the connection
// pool stays usable.
func TestResponseHeaderLimit(t *testing.T) {
	s := startServer(t, "h2")
	tr, err := NewTransport(Options{RootCAs: x509PoolOf(t, s.Server), MaxResponseHeaderBytes: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, v := range []string{"2", "1.1"} {
		_, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: mustURL(t, s.URL+"/big-headers"), Impersonate: "chrome", HTTPVersion: v, Verify: true})
		if err == nil || !errors.Is(err, ErrHeadersTooLarge) {
			t.Errorf("http %s: err = %v, want ErrHeadersTooLarge", v, err)
		}
		_, body := get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/after"), Impersonate: "chrome", HTTPVersion: v, Verify: true})
		if !strings.Contains(body, "GET /after") {
			t.Errorf("http %s: next request: %q", v, body)
		}
	}
}

// TestServerResets: an aborted handler resets the HTTP/2 stream (before or
// after the headers) or cuts the HTTP/1.1 connection; the caller gets an
// error, never a silently short body, and the next request works.
func TestServerResets(t *testing.T) {
	s := startServer(t, "h2")
	tr := newTestTransport(t, x509PoolOf(t, s.Server), "")
	for _, v := range []string{"2", "1.1"} {
		_, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: mustURL(t, s.URL+"/abort"), Impersonate: "chrome", HTTPVersion: v, Verify: true})
		if err == nil {
			t.Errorf("http %s: aborted response without error", v)
		}
		resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: mustURL(t, s.URL+"/abort-body"), Impersonate: "chrome", HTTPVersion: v, Verify: true})
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Errorf("http %s: body cut by the server read without error", v)
		}
		if v == "2" {
			var se *StreamError
			if !errors.As(err, &se) {
				t.Errorf("http 2: err = %v, want a StreamError", err)
			}
		}
		_, body := get(t, tr, &downloader.Outgoing{URL: mustURL(t, s.URL+"/after"), Impersonate: "chrome", HTTPVersion: v, Verify: true})
		if !strings.Contains(body, "GET /after") {
			t.Errorf("http %s: next request: %q", v, body)
		}
	}
}

// TestProxiesCarryTheSameClientHello compares the fingerprint server's view
// of direct and proxied connections: the tunnel must not change the TLS.
func TestProxiesCarryTheSameClientHello(t *testing.T) {
	srv, err := fingerprint.Start(fingerprint.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	const user, pass = "bob", "CANARY_PROXY_PW_7f3a"
	httpProxy := startHTTPProxy(t, "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+pass)))
	socksAddr, socksTargets := startSOCKS5(t, user, pass)
	tr := newTestTransport(t, srv.CertPool(), "")
	target := mustURL(t, srv.URL("localhost", "/"))
	proxies := map[string]*url.URL{
		"direct":  nil,
		"connect": mustURL(t, "http://"+user+":"+pass+"@"+httpProxy.addr()),
		"socks5":  mustURL(t, "socks5://"+user+":"+pass+"@"+socksAddr),
	}
	for _, profile := range []string{"chrome_156", "firefox_120"} {
		got := map[string]fingerprint.Capture{}
		for name, pu := range proxies {
			got[name] = fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: target, Proxy: pu, Impersonate: profile, Verify: true})
		}
		d := got["direct"]
		for _, name := range []string{"connect", "socks5"} {
			c := got[name]
			if c.JA4 != d.JA4 || c.JA3N != d.JA3N || c.Akamai != d.Akamai || c.TLS.ServerName != d.TLS.ServerName {
				t.Errorf("%s via %s: JA4 %s JA3N %s Akamai %s SNI %s; direct: %s %s %s %s", profile, name, c.JA4, c.JA3NHash, c.Akamai, c.TLS.ServerName, d.JA4, d.JA3NHash, d.Akamai, d.TLS.ServerName)
			}
			// Firefox does not shuffle: the whole hello is the same.
			if profile == "firefox_120" && c.JA3 != d.JA3 {
				t.Errorf("firefox via %s: JA3 %s, direct %s", name, c.JA3, d.JA3)
			}
			if c.Headers.Has("proxy-authorization") {
				t.Errorf("%s via %s: the target saw Proxy-Authorization", profile, name)
			}
		}
	}
	if len(httpProxy.targets) == 0 || httpProxy.targets[0] != "localhost:"+fmt.Sprint(srv.Port()) {
		t.Errorf("CONNECT targets = %v", httpProxy.targets)
	}
	if ts := socksTargets(); len(ts) == 0 || ts[0] != "localhost:"+fmt.Sprint(srv.Port()) {
		t.Errorf("SOCKS5 targets = %v (the proxy should resolve the name)", ts)
	}

	t.Run("proxy refuses credentials", func(t *testing.T) {
		bad := mustURL(t, "http://"+user+":wrong-CANARY@"+httpProxy.addr())
		_, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: target, Proxy: bad, Impersonate: "chrome", Verify: true})
		if err == nil || !strings.Contains(err.Error(), "407") {
			t.Fatalf("err = %v", err)
		}
		if strings.Contains(err.Error(), "wrong-CANARY") {
			t.Errorf("error leaks the proxy password: %v", err)
		}
	})
	t.Run("plain http through an HTTP proxy is forwarded in absolute form", func(t *testing.T) {
		pu := mustURL(t, "http://"+user+":"+pass+"@"+httpProxy.addr())
		_, body := get(t, tr, &downloader.Outgoing{URL: mustURL(t, "http://site.test/page?a=1"), Proxy: pu, Impersonate: "chrome", Verify: true})
		if body != "proxied http://site.test/page?a=1 target-saw-proxy-auth=true" {
			t.Errorf("body = %q", body)
		}
	})
}

func TestRandomIsPerSession(t *testing.T) {
	tr := newTestTransport(t, nil, "")
	first, err := tr.Profile("random", "member-1")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		p, _ := tr.Profile("random", "member-1")
		if p.Name != first.Name {
			t.Fatalf("random changed within a session: %s then %s", first.Name, p.Name)
		}
	}
	seen := map[string]bool{}
	for i := range 64 {
		p, err := tr.Profile("random", fmt.Sprint("m", i))
		if err != nil {
			t.Fatal(err)
		}
		if p.Name == PlainGo {
			t.Fatal("random chose the plain Go client")
		}
		seen[p.Name] = true
	}
	if len(seen) < 2 {
		t.Errorf("64 sessions all got %v", seen)
	}
}

func TestDialTLSForWebSockets(t *testing.T) {
	srv, err := fingerprint.Start(fingerprint.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr := newTestTransport(t, srv.CertPool(), "")
	conn, err := tr.DialTLS(context.Background(), "tcp", "localhost:"+fmt.Sprint(srv.Port()), "chrome_156", nil, []string{"http/1.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(conn)
	if !strings.Contains(string(b), `"ja4": "`+chromium156JA4H1+`"`) {
		t.Errorf("wss dial hello is not Chromium's HTTP/1.1 hello:\n%s", b)
	}
	if _, err := tr.DialTLS(context.Background(), "udp", "localhost:1", "chrome", nil, nil); err == nil {
		t.Error("udp accepted")
	}
}

var _ = tls.VersionTLS13

// TestServerClosingAfterEachResponse: a server that sends GOAWAY (or
// Connection: close) after every answer; pooled connections it closed are
// never reused for a failure, and every request succeeds on a new one.
func TestServerClosingAfterEachResponse(t *testing.T) {
	srv, tr := fpServer(t, fingerprint.Config{CloseAfterResponse: true})
	for _, v := range []string{"2", "1.1"} {
		for i := range 5 {
			c := fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: mustURL(t, srv.URL("localhost", fmt.Sprintf("/%s/%d", v, i))), Impersonate: "chrome", HTTPVersion: v, Verify: true})
			if c.HTTPVersion != v {
				t.Fatalf("HTTP/%s, want %s", c.HTTPVersion, v)
			}
		}
	}
}
