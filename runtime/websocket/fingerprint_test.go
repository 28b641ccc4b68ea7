package websocket_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/websocket"
)

// The crawl wires its impersonate.Transport in as the Impersonator.
var _ websocket.Impersonator = (*impersonate.Transport)(nil)

// chromium156JA4H1 is real Chromium 156's hello when it offers only
// http/1.1, as browsers do for wss:// (measured with --disable-http2; see
// runtime/impersonate's fidelity tests).
const chromium156JA4H1 = "t13d1516h1_8daaf6152771_5b37b36a67c0"

// reference reads a browser's WebSocket handshake kept under
// testdata/reference (written by the live-browser tests:
// go test ./internal/livebrowser -update), with {port} replaced.
func reference(t *testing.T, file string, port int) crawl.Headers {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "reference", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out crawl.Headers
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, ": ")
		out = append(out, crawl.Header{Name: name, Value: strings.ReplaceAll(value, "{port}", strconv.Itoa(port))})
	}
	return out
}

// capturingServer is a fingerprinting server (HTTP/1.1 only, as a
// WebSocket handshake is) with a self-signed certificate nobody trusts:
// the handshakes below reach it only because verification is off.
func capturingServer(t *testing.T) *fingerprint.Server {
	t.Helper()
	srv, err := fingerprint.Start(fingerprint.Config{NoHTTP2: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// impersonator is an impersonate.Transport with the system roots (so the
// test server's certificate is not trusted).
func impersonator(t *testing.T) func() (websocket.Impersonator, error) {
	t.Helper()
	tr, err := impersonate.NewTransport(impersonate.Options{HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return func() (websocket.Impersonator, error) { return tr, nil }
}

// sendHandshake sends req's upgrade with TLS_VERIFY false and returns what
// the server saw. (The server answers with its capture, not 101, so the
// download itself fails as a refused handshake.)
func sendHandshake(t *testing.T, srv *fingerprint.Server, req *crawl.Request) fingerprint.Capture {
	t.Helper()
	m := websocket.NewManager(websocket.Options{Impersonator: impersonator(t), Compression: true, Insecure: true})
	defer m.Close()
	_, err := m.Download(context.Background(), req)
	if err == nil || !strings.Contains(err.Error(), "HTTP 200") {
		t.Fatalf("download: %v, want the capture server's refusal", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := srv.Next(ctx)
	if err != nil {
		t.Fatalf("no capture: %v", err)
	}
	return c
}

// pageRequest is the WebSocket request of the reference pages: opened from
// https://localhost:PORT/ with two subprotocols and a cookie; the Referer
// middleware has added the page as Referer.
func pageRequest(srv *fingerprint.Server, profile string) *crawl.Request {
	page := srv.URL("localhost", "/")
	return &crawl.Request{
		URL:         "wss://localhost:" + strconv.Itoa(srv.Port()) + "/ws",
		Impersonate: profile,
		Parent:      page,
		Headers: crawl.Headers{{Name: "Sec-WebSocket-Protocol", Value: "chat, v2"}, {Name: "Cookie", Value: "sid=abc"},
			{Name: "Referer", Value: page}},
	}
}

// writeProfile saves a profile with the given browser family and the
// header values of the reference under a name that says nothing about the
// browser.
func writeProfile(t *testing.T, family string, ref crawl.Headers) string {
	t.Helper()
	tlsLine := "tls: {utls: HelloChrome_133}\n"
	if family == "firefox" {
		tlsLine = "tls: {utls: HelloFirefox_120}\n"
	}
	// The version is the browser's major version, from its User-Agent
	// (rv:153.0, Chrome/148.0.0.0): the layout can depend on it.
	version := "1"
	if m := regexp.MustCompile(`(?:rv:|Chrome/)(\d+)`).FindStringSubmatch(ref.Get("User-Agent")); m != nil {
		version = m[1]
	}
	yaml := "name: mybrowser\nbrowser: " + family + "\nversion: \"" + version + "\"\n" + tlsLine +
		"http2: {settings: \"1:65536\", window_update: 0}\nheaders_http1:\n" +
		"  - 'User-Agent: " + ref.Get("User-Agent") + "'\n" +
		"  - 'Accept-Encoding: " + ref.Get("Accept-Encoding") + "'\n" +
		"  - 'Accept-Language: " + ref.Get("Accept-Language") + "'\n"
	file := filepath.Join(t.TempDir(), "mybrowser.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestHandshakeEqualsBrowsers: with a profile of the browser's family and
// values (a file named mybrowser.yaml: the layout follows the profile's
// browser field, not its name), our upgrade request equals what Chromium
// and Firefox sent, header by header: names, order and values, except
// Sec-WebSocket-Key. The Referer the request carries is not sent (neither
// browser sends one), Origin is the page's, and the handshake reaches a
// server whose certificate is not trusted because verification is off
// (TLS_VERIFY false).
func TestHandshakeEqualsBrowsers(t *testing.T) {
	for _, tc := range []struct{ family, file string }{
		{"chrome", "chromium_handshake.txt"},
		{"firefox", "firefox_handshake.txt"},
	} {
		t.Run(tc.family, func(t *testing.T) {
			t.Parallel()
			srv := capturingServer(t)
			want := reference(t, tc.file, srv.Port())
			got := sendHandshake(t, srv, pageRequest(srv, writeProfile(t, tc.family, want))).Headers
			if !slices.Equal(names(got), names(want)) {
				t.Fatalf("header names\n got %v\nwant %v", names(got), names(want))
			}
			for i := range want {
				if want[i].Name != "Sec-WebSocket-Key" && got[i].Value != want[i].Value {
					t.Errorf("%s = %q, browser %q", want[i].Name, got[i].Value, want[i].Value)
				}
			}
		})
	}
}

// TestHandshakeOfShippedProfiles: every shipped browser profile sends its
// family's handshake with its own User-Agent, Accept-Encoding and
// Accept-Language; chrome_156's hello is Chromium's HTTP/1.1 hello.
func TestHandshakeOfShippedProfiles(t *testing.T) {
	for _, tc := range []struct{ profile, file string }{
		{"chrome_156", "chromium_handshake.txt"},
		{"edge_156", "chromium_handshake.txt"},
		{"chrome_100", "chromium_handshake.txt"},
		{"firefox", "firefox_handshake.txt"},
		{"firefox_102", "firefox_handshake.txt"},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			srv := capturingServer(t)
			p, err := impersonate.LoadProfile(tc.profile)
			if err != nil {
				t.Fatal(err)
			}
			c := sendHandshake(t, srv, pageRequest(srv, tc.profile))
			want := reference(t, tc.file, srv.Port())
			if !slices.Equal(names(c.Headers), names(want)) {
				t.Fatalf("header names\n got %v\nwant %v", names(c.Headers), names(want))
			}
			h1 := p.HTTP1Headers()
			for _, name := range []string{"User-Agent", "Accept-Encoding", "Accept-Language"} {
				if got, w := c.Headers.Get(name), h1.Get(name); got != w || w == "" {
					t.Errorf("%s = %q, profile's %q", name, got, w)
				}
			}
			if tc.profile == "chrome_156" && c.JA4 != chromium156JA4H1 {
				t.Errorf("JA4 = %s, want Chromium's http/1.1 hello %s", c.JA4, chromium156JA4H1)
			}
		})
	}
}

// TestHandshakeVerifiesCertificates: without TLS_VERIFY false an
// impersonated wss:// handshake checks the server's certificate.
func TestHandshakeVerifiesCertificates(t *testing.T) {
	srv := capturingServer(t)
	m := websocket.NewManager(websocket.Options{Impersonator: impersonator(t), HandshakeTimeout: 5 * time.Second})
	defer m.Close()
	_, err := m.Download(context.Background(), pageRequest(srv, "chrome_156"))
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("untrusted certificate: %v", err)
	}
	off := false
	req := pageRequest(srv, "chrome_156")
	req.Verify = &off // a request's verify: false wins
	if _, err := m.Download(context.Background(), req); err == nil || !strings.Contains(err.Error(), "HTTP 200") {
		t.Fatalf("verify: false: %v", err)
	}
}

// TestHandshakeSecFetchSite: Firefox's Sec-Fetch-Site follows the page the
// socket was opened from; a request's own Origin and headers win in place.
func TestHandshakeSecFetchSite(t *testing.T) {
	srv := capturingServer(t)
	for _, tc := range []struct {
		parent, origin, want string
	}{
		{parent: "https://www.localhost.test/", want: "cross-site"},
		{parent: "http://localhost:" + strconv.Itoa(srv.Port()) + "/", want: "cross-site"},
		{origin: "https://localhost:" + strconv.Itoa(srv.Port()), want: "same-origin"},
		{origin: "https://localhost", want: "same-site"},
	} {
		req := pageRequest(srv, "firefox")
		req.Parent = tc.parent
		if tc.origin != "" {
			req.Headers.Set("Origin", tc.origin)
		}
		req.Headers.Add("X-Token", "t1")
		req.Headers.Add("Accept-Language", "de")
		c := sendHandshake(t, srv, req)
		wantOrigin := tc.origin
		if wantOrigin == "" {
			wantOrigin = strings.TrimSuffix(tc.parent, "/")
		}
		if got := c.Headers.Get("Sec-Fetch-Site"); got != tc.want || c.Headers.Get("Origin") != wantOrigin {
			t.Errorf("parent %q origin %q: Origin %q Sec-Fetch-Site %q, want %q %q", tc.parent, tc.origin,
				c.Headers.Get("Origin"), got, wantOrigin, tc.want)
		}
		if n := names(c.Headers); n[len(n)-1] != "X-Token" || c.Headers.Get("Accept-Language") != "de" || n[3] != "Accept-Language" {
			t.Errorf("request headers not kept in place: %v", c.Headers)
		}
	}
}

func names(h crawl.Headers) []string {
	out := make([]string, len(h))
	for i, kv := range h {
		out[i] = kv.Name
	}
	return out
}
