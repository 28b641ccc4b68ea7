package livebrowser_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/fpcheck"
	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// browserCase is what differs between the two browsers' tests.
type browserCase struct {
	browser livebrowser.Browser
	// family is the profile browser field the capture must produce.
	family string
	// shipped is the shipped profile whose version-independent fields must
	// equal the installed browser's (its version may differ).
	shipped string
	// reference is the file name of the WebSocket handshake kept for the
	// runtime/websocket unit tests.
	reference string
	// resumed: compare our resumed connection's hello with the browser's
	// (both browsers now: Firefox's drops session_ticket and grows its ECH
	// GREASE, and so does ours).
	resumed bool
}

// TestChromium holds spiderrun to the machine's Chromium (headless=new):
// a profile captured from it, replayed by our client, equals it at every
// layer on a first and a resumed connection, over HTTP/2 and HTTP/1.1; the
// shipped chrome_156 equals it wherever the version does not matter; and
// our WebSocket handshake equals the browser's header by header.
func TestChromium(t *testing.T) {
	t.Parallel()
	runBrowser(t, browserCase{browser: livebrowser.Chromium, family: "chrome", shipped: "chrome_156",
		reference: "chromium_handshake.txt", resumed: true})
}

// TestFirefox is TestChromium for Firefox ESR (headless, its profile's
// NSS database trusting the test CA); the shipped firefox alias is held to
// what does not depend on the version.
func TestFirefox(t *testing.T) {
	t.Parallel()
	runBrowser(t, browserCase{browser: livebrowser.Firefox, family: "firefox", shipped: "firefox",
		reference: "firefox_handshake.txt", resumed: true})
}

func runBrowser(t *testing.T, bc browserCase) {
	start := time.Now()
	bin := livebrowser.Require(t, bc.browser)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	version, err := livebrowser.Version(ctx, bin)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := livebrowser.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	h2, h1 := browseBoth(t, bc.browser, bin, ca)
	t.Logf("%s %s: JA4 %s (http/1.1 %s), Akamai %s; visits done after %s", bc.browser.Name, version, h2.nav.JA4, h1.nav.JA4,
		h2.nav.Akamai, time.Since(start).Round(time.Millisecond))
	if h2.nav.HTTPVersion != "2" || h1.nav.HTTPVersion != "1.1" {
		t.Fatalf("navigations over HTTP/%s and HTTP/%s, want 2 and 1.1", h2.nav.HTTPVersion, h1.nav.HTTPVersion)
	}
	for _, v := range []*visit{h2, h1} {
		t.Logf("HTTP/%s: navigation JA4 %s JA3N %s; image connections JA4 %s %s; WebSocket connection JA4 %s",
			v.nav.HTTPVersion, v.nav.JA4, v.nav.JA3NHash, v.images[0].JA4, v.images[1].JA4, v.ws.JA4)
	}
	profile := captureProfile(t, h2.nav, h1.nav)
	p, err := impersonate.LoadProfile(profile)
	if err != nil {
		t.Fatal(err)
	}
	major, _, _ := strings.Cut(version, ".")
	if p.Browser != bc.family || p.Version != major {
		t.Errorf("captured profile is %s %s, want %s %s", p.Browser, p.Version, bc.family, major)
	}

	if golden.Update() { // -update: keep the browser's captures as a profile's evidence
		writeEvidence(t, bc.family+"_"+major, h2, h1)
	}
	for _, v := range []struct {
		version string
		visit   *visit
	}{{"2", h2}, {"1.1", h1}} {
		t.Run("replay_http"+v.version, func(t *testing.T) {
			first, resumed := replay(t, ca, profile, v.version)
			b := v.visit
			compareConn(t, "first connection", first, b.nav)
			if v.version == "2" {
				if first.Akamai != b.nav.Akamai {
					t.Errorf("Akamai %s, browser %s", first.Akamai, b.nav.Akamai)
				}
				if g, w := first.H2.HeadersPriority, b.nav.H2.HeadersPriority; (g == nil) != (w == nil) || (g != nil && *g != *w) {
					t.Errorf("HEADERS priority %+v, browser %+v", g, w)
				}
			}
			diffHeaders(t, "navigation headers", first.Headers, unheadless(b.nav.Headers), "Host")
			if testing.Verbose() {
				t.Logf("browser HTTP/%s navigation %v\nits WebSocket handshake %v", v.version, b.nav.Headers, b.ws.Headers)
			}
			if !bc.resumed {
				return
			}
			i := slices.IndexFunc(b.images, func(c fingerprint.Capture) bool { return slices.Contains(c.TLS.Extensions, 41) })
			if i < 0 && v.version == "1.1" {
				// Over HTTP/1.1 Chromium may open the image's socket before
				// the first connection has its ticket; the HTTP/2 visit is
				// the one that must resume.
				t.Logf("%s did not resume over HTTP/1.1 this time: resumed hello compared over HTTP/2 only", bc.browser.Name)
				return
			}
			if i < 0 {
				t.Fatalf("%s never resumed its TLS session over %d connections", bc.browser.Name, len(b.images)+1)
			}
			if !slices.Contains(resumed.TLS.Extensions, 41) {
				t.Errorf("ours did not resume: %v", resumed.TLS.Extensions)
			}
			compareConn(t, "resumed connection", resumed, b.images[i])
		})
	}

	// The shipped profile of this browser may be of another version: what
	// does not depend on the version must still be the browser's.
	t.Run("shipped_"+bc.shipped, func(t *testing.T) {
		ours, _ := replay(t, ca, bc.shipped, "2")
		if g, w := ours.Akamai, h2.nav.Akamai; g != w {
			t.Errorf("Akamai %s, browser %s", g, w)
		}
		if g, w := ours.H2.HeadersPriority, h2.nav.H2.HeadersPriority; (g == nil) != (w == nil) || (g != nil && *g != *w) {
			t.Errorf("HEADERS priority %+v, browser %+v", g, w)
		}
		if bc.family == "chrome" {
			// Chromium: the cipher suites and the navigation's header
			// names, in both HTTP versions, are the same from 148 to 156.
			if g, w := ja4Ciphers(ours.JA4), ja4Ciphers(h2.nav.JA4); g != w {
				t.Errorf("JA4 ciphers %s, browser %s", g, w)
			}
			if g, w := names(ours.Headers), names(h2.nav.Headers); !slices.Equal(g, w) {
				t.Errorf("navigation header names\n got %v\nwant %v", g, w)
			}
			ours1, _ := replay(t, ca, bc.shipped, "1.1")
			if g, w := names(ours1.Headers), names(h1.nav.Headers); !slices.Equal(g, w) {
				t.Errorf("HTTP/1.1 navigation header names\n got %v\nwant %v", g, w)
			}
		}
	})

	t.Run("websocket", func(t *testing.T) {
		browser := unheadless(h2.ws.Headers)
		t.Logf("%s sends %d handshake headers: %v", bc.browser.Name, len(browser), names(browser))
		// Whether the browser's handshake connection resumed the page's
		// TLS session varies (Firefox: from run to run); ours does the same.
		resumed := slices.Contains(h2.ws.TLS.Extensions, 41)
		ours := handshake(t, ca, h2, profile, resumed)
		diffHeaders(t, "captured profile", ours.Headers, browser, "Sec-WebSocket-Key")
		t.Logf("handshake connection ALPN: ours %v, %s %v", ours.TLS.ALPN, bc.browser.Name, h2.ws.TLS.ALPN)
		if !slices.Equal(ours.TLS.ALPN, h2.ws.TLS.ALPN) {
			t.Errorf("handshake connection ALPN %v, browser %v", ours.TLS.ALPN, h2.ws.TLS.ALPN)
		}
		switch {
		case resumed && !bc.resumed:
			t.Logf("%s resumed its TLS session for the handshake (JA4 %s, ours %s): resumed hellos are held equal for Chromium only",
				bc.browser.Name, h2.ws.JA4, ours.JA4)
		case bc.family == "firefox" && !slices.Contains(h2.ws.TLS.Extensions, 27):
			// Firefox sent the handshake again on a new connection
			// (4 runs in 20 on a loaded machine, after the HTTP/2 visit:
			// specs/impersonation.md): a restarted transaction's socket
			// is IS_RETRY, whose hello has no compress_certificate. Ours,
			// dialled as a retry, must then be that hello.
			retried := retryHello(t, ca, h2, profile, resumed)
			t.Logf("Firefox's handshake went out as a retry this time (JA4 %s, resumed %v); ours as a retry: %s", h2.ws.JA4, resumed, retried.JA4)
			if retried.JA4 != h2.ws.JA4 || !slices.Equal(retried.TLS.Extensions, h2.ws.TLS.Extensions) {
				t.Errorf("retried handshake connection JA4 %s, browser %s\n ours    %v\n browser %v", retried.JA4, h2.ws.JA4, retried.TLS.Extensions, h2.ws.TLS.Extensions)
			}
		case ours.JA4 != h2.ws.JA4:
			t.Errorf("handshake connection JA4 %s, browser %s (resumed: %v)\n ours    %v\n browser %v", ours.JA4, h2.ws.JA4, resumed, ours.TLS.Extensions, h2.ws.TLS.Extensions)
		}
		// The shipped profile: the same headers, with its own version's
		// User-Agent.
		shipped := handshake(t, ca, h2, bc.shipped, false)
		// User-Agent and Accept-Encoding change with the version (Firefox
		// 126 added zstd).
		diffHeaders(t, bc.shipped, shipped.Headers, browser, "Sec-WebSocket-Key", "User-Agent", "Accept-Encoding")
		if golden.Update() { // -update: rewrite the references from the browsers
			writeReference(t, bc.reference, bc.browser.Name+" "+version, h2)
		}
	})
	t.Logf("%s: %s", bc.browser.Name, time.Since(start).Round(time.Millisecond))
}

// compareConn holds one of our connections to the browser's: the TLS
// fingerprints that do not vary per connection (fpcheck.Conn, less
// resumption, which the callers choose).
func compareConn(t *testing.T, what string, ours, browser fingerprint.Capture) {
	t.Helper()
	diffs, err := fpcheck.Conn(ours, browser)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, d := range diffs {
		if d.Field != "resumed" {
			t.Errorf("%s: %s", what, d)
		}
	}
}

func helloRandom(t *testing.T, c fingerprint.Capture) *impersonate.HelloRandom {
	t.Helper()
	raw, err := hex.DecodeString(c.ClientHello)
	if err != nil {
		t.Fatal(err)
	}
	h, err := impersonate.ParseHelloRandom(raw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// evidenceDir holds, per captured profile, what the browser sent
// (runtime/impersonate's TestProfileEvidence rebuilds the shipped profile
// from it and replays our client against it, without a browser).
const evidenceDir = "../../runtime/impersonate/testdata/evidence"

// writeEvidence writes the browser's navigations over HTTP/2 and
// HTTP/1.1 and its first resumed HTTP/2 connection as
// <name>_{h2,h1,resumed}.json (the fingerprinting server's JSON view, raw
// ClientHello included).
func writeEvidence(t *testing.T, name string, h2, h1 *visit) {
	t.Helper()
	files := map[string]fingerprint.Capture{"h2": h2.nav, "h1": h1.nav}
	if i := slices.IndexFunc(h2.images, func(c fingerprint.Capture) bool { return slices.Contains(c.TLS.Extensions, 41) }); i >= 0 {
		files["resumed"] = h2.images[i]
	}
	if err := os.MkdirAll(evidenceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for kind, c := range files {
		c.Remote = "" // the browser's ephemeral port
		b, err := json.MarshalIndent(c, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(evidenceDir, name+"_"+kind+".json"), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// retryHello makes the connection of a WebSocket handshake that our
// client sends again (impersonate.DialTLSOptions.Retry) to the visit's
// server, after loading its page when resume (so that it offers the
// page's session), and returns what the server saw of it.
func retryHello(t *testing.T, ca *livebrowser.CA, v *visit, profile string, resume bool) fingerprint.Capture {
	t.Helper()
	tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: ca.Pool, HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resume {
		u, _ := url.Parse(v.srv.URL("localhost", "/"))
		resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: profile, Verify: true})
		if err != nil {
			t.Fatalf("loading the page: %v", err)
		}
		resp.Body.Close()
	}
	addr := "localhost:" + strconv.Itoa(v.srv.Port())
	conn, err := tr.DialTLSWith(ctx, "tcp", addr, impersonate.DialTLSOptions{Profile: profile, ALPN: []string{"http/1.1"}, Retry: true})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	before := len(v.srv.Captures())
	fmt.Fprintf(conn, "GET /ws-retry HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
	_, _ = io.Copy(io.Discard, conn) // the server closes after one answer
	for _, c := range waitCaptures(t, v.srv, "/ws-retry")[before:] {
		if c.Path == "/ws-retry" {
			return c
		}
	}
	t.Fatal("our retried connection never reached the server")
	return fingerprint.Capture{}
}

// openPage starts b on r and waits until r.URL has loaded; the caller
// closes the session.
func openPage(t *testing.T, ctx context.Context, b livebrowser.Browser, bin string, ca *livebrowser.CA, r livebrowser.Run) *livebrowser.Session {
	t.Helper()
	s, err := livebrowser.Start(ctx, b, bin, ca, r)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitLoaded(ctx, r.URL); err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s
}
