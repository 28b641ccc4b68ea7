package impersonate

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// chromiumH3Golden is real Chromium 148's HTTP/3 fingerprint, kept by
// internal/livebrowser's TestChromiumHTTP3.
const chromiumH3Golden = "../../internal/livebrowser/testdata/chromium_h3.json"

// h3Connections is how many connections a client test summarises: enough
// that each per-connection random field shows as random and that the
// Initials' random layout (chaos protection) can be checked to spread as
// Chromium's draws do (fingerprint.LayoutSpread needs 16).
const h3Connections = 16

// SendHTTP3Navigations makes n navigations of profile to srv's "/", each
// on a new QUIC connection, and returns what srv recorded of them.
func sendHTTP3Navigations(t *testing.T, srv *fingerprint.QUICServer, profile string, n int) []fingerprint.Capture {
	return sendHTTP3NavigationsVia(t, srv, profile, n, nil)
}

// sendHTTP3NavigationsVia is sendHTTP3Navigations through a proxy (nil:
// direct).
func sendHTTP3NavigationsVia(t *testing.T, srv *fingerprint.QUICServer, profile string, n int, proxy *url.URL) []fingerprint.Capture {
	t.Helper()
	tr, err := NewTransport(Options{RootCAs: srv.CertPool(), HandshakeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	before := len(srv.Captures())
	for i := 0; i < n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		u, _ := url.Parse(srv.URL("localhost", "/"))
		resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: profile, HTTPVersion: "3", Verify: true, PoolKey: "conn" + strconv.Itoa(i), Proxy: proxy})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
	}
	// A capture is recorded once answered; its control stream (SETTINGS,
	// the GREASE frame) may trail the answer: wait for both.
	deadline := time.Now().Add(5 * time.Second)
	for {
		caps := srv.Captures()[before:]
		ready := len(caps) == n && !slices.ContainsFunc(caps, func(c fingerprint.Capture) bool {
			return c.H3 == nil || c.H3.Settings == nil || len(c.H3.ControlFrames) == 0
		})
		if ready || time.Now().After(deadline) {
			return caps
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestChromeHTTP3MatchesChromium: our chrome_156 client over HTTP/3,
// pointed at the QUIC fingerprint server on several connections, equals
// real Chromium 156's golden (internal/livebrowser/testdata/chromium_h3.json,
// which TestChromiumHTTP3 keeps current against the browser CI runs)
// field by field: every fixed field (QUIC version, connection IDs,
// datagram sizes, the Initials' frame kinds and layout ranges — Chromium's
// chaos protection, with our draws' spread checked —, JA4, extensions and their lengths, groups, signature
// algorithms, the 13 transport parameters and their values,
// version_information with a GREASE version, SETTINGS with the GREASE
// setting, the GREASE frame after SETTINGS, the uni streams, the
// navigation's pseudo-header and header order and values) and the list
// of fields that vary per connection. The random fields stay within the
// browser's values: GREASE transport parameter ids of the 31*N+27 form in
// 8-byte varints (quiche's 62-bit draw) and at most 15 bytes, GREASE ECH
// lengths from BoringSSL's set (SummarizeQUIC refuses others). No browser
// is needed: this runs in CI.
func TestChromeHTTP3MatchesChromium(t *testing.T) {
	g, err := fingerprint.ReadQUICGolden(chromiumH3Golden)
	if err != nil {
		t.Fatal(err)
	}
	srv := fingerprint.NewQUICServer(t, fingerprint.QUICConfig{})
	caps := sendHTTP3Navigations(t, srv, "chrome_156", h3Connections)
	if errs := srv.Errors(); len(errs) > 0 {
		t.Errorf("the recorder could not read our Initials: %v", errs)
	}
	checkHTTP3AsBrowser(t, g.Summary, caps)
}

// h3Approximated is what HTTP3Diff sets aside for our Chromium profiles,
// exactly: a fix (or a new gap) shows here.
var h3Approximated = []string{
	"requests[/img.png]: the browser's, not compared (our client did not send that request)",
}

// checkHTTP3AsBrowser compares our captures over several connections with
// a browser's summary field by field, and the random fields with the
// browser's range.
func checkHTTP3AsBrowser(t *testing.T, browser *fingerprint.QUICSummary, caps []fingerprint.Capture) {
	t.Helper()
	sum, err := fingerprint.SummarizeQUIC(caps)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Connections != h3Connections {
		t.Fatalf("%d connections, want %d", sum.Connections, h3Connections)
	}
	diffs, approx := HTTP3Diff(browser, sum)
	for _, d := range diffs {
		t.Errorf("HTTP/3 differs from the browser: %s", d)
	}
	if !slices.Equal(approx, h3Approximated) {
		t.Errorf("approximated fields:\n got %q\nwant %q", approx, h3Approximated)
	}
	// The Initials' layout is random per connection (chaos protection):
	// beyond the ranges compared above, our draws must spread as
	// Chromium's do.
	if err := fingerprint.LayoutSpread(caps); err != nil {
		t.Error(err)
	}
	t.Logf("our Initial layouts: %s", fingerprint.LayoutDistribution(caps))
	for _, c := range caps {
		for _, p := range c.QUIC.TransportParameters {
			if p.GREASE && (p.ID < 1<<30 || len(p.Hex)/2 >= greaseLengthMax) {
				t.Errorf("connection %d: GREASE transport parameter id %d with %d bytes, want a 62-bit id and under %d bytes as Chromium's", c.Conn, p.ID, len(p.Hex)/2, greaseLengthMax)
			}
		}
		if !strings.HasPrefix(c.JA4, "q13d") {
			t.Errorf("connection %d: JA4 %s", c.Conn, c.JA4)
		}
	}
}

// TestCompareHTTP3NamesTheFields: the http3 section read back from
// Chromium 148's captures equals chrome_148's field by field, and against
// chrome_156's (Chromium 156: ca34, google_version, fixed GREASE length,
// no GREASE frame) exactly the fields that differ are named. Captures of
// one connection cannot tell random from fixed and are refused.
func TestCompareHTTP3NamesTheFields(t *testing.T) {
	b, err := os.ReadFile("testdata/evidence/chrome_148_h3.json")
	if err != nil {
		t.Fatal(err)
	}
	var caps []fingerprint.Capture
	if err := json.Unmarshal(b, &caps); err != nil {
		t.Fatal(err)
	}
	sent, err := HTTP3FromQUIC(caps)
	if err != nil {
		t.Fatal(err)
	}
	differing := func(profile string) []string {
		p, err := LoadProfile(profile)
		if err != nil {
			t.Fatal(err)
		}
		fields, err := CompareHTTP3(p.HTTP3, sent)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, f := range fields {
			if f.Profile != f.Sent {
				out = append(out, f.Name)
			}
		}
		return out
	}
	if d := differing("chrome_148"); len(d) != 0 {
		t.Errorf("chrome_148 vs its own evidence: %v differ", d)
	}
	// Chromium 156 adds the ALPS codepoint ca34 and the google connection
	// options "ORIG" (both captured: testdata/evidence/chrome_156_h3.json).
	if d, want := differing("chrome_156"), []string{"extensions", "transport params"}; !slices.Equal(d, want) {
		t.Errorf("chrome_156 vs Chromium 148: %v differ, want %v", d, want)
	}
	var one []fingerprint.Capture
	for _, c := range caps {
		if c.Conn == caps[0].Conn {
			one = append(one, c)
		}
	}
	if _, err := HTTP3FromQUIC(one); err == nil || !strings.Contains(err.Error(), "at least two") {
		t.Errorf("one connection: %v", err)
	}
}
