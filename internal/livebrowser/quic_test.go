package livebrowser_test

import (
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// quicGolden is Chromium's HTTP/3 fingerprint as measured here, regenerated
// by `go test ./internal/livebrowser -run TestChromiumHTTP3 -update`.
const quicGolden = "testdata/chromium_h3.json"

// quicPage makes the browser send two request kinds over the connection:
// the navigation and an image.
const quicPage = `<!doctype html><html><head><link rel="icon" href="data:,"></head><body><img src="/img.png"></body></html>`

// quicConnections is how many connections (each from a fresh browser) the
// capture looks at: enough that a field Chromium randomises per
// connection shows as random, never by chance as fixed.
const quicConnections = 3

// ourQUICConnections is how many connections our client makes for the
// comparison: enough that its random Initial layouts (chaos protection,
// as Chromium's) are seen to spread over Chromium's ranges
// (fingerprint.LayoutSpread needs 16). Before chaos protection quic-go's
// 5 layouts repeated over 3 connections 7 % of the time and looked fixed
// (a CI failure). Connections of our client cost milliseconds.
const ourQUICConnections = 16

// ChromiumQUICArgs are the flags that make Debian's Chromium talk HTTP/3 to
// a loopback server without Alt-Svc discovery: QUIC forced for the origin
// and the leaf trusted by its key (plain --ignore-certificate-errors fails
// with ERR_QUIC_PROTOCOL_ERROR); localhost mapped to 127.0.0.1 (it would
// resolve to ::1 first) and every other name to nothing, and background
// services off, so the browser stays on loopback.
func chromiumQUICArgs(ca *livebrowser.CA, port int, dir, url string) []string {
	origin := "localhost:" + strconv.Itoa(port)
	return []string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--enable-quic", "--no-first-run",
		"--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--disable-default-apps", "--disable-breakpad",
		"--disable-features=OptimizationHints,MediaRouter,Translate,InterestFeedContentSuggestions,DnsOverHttps",
		"--host-resolver-rules=MAP localhost 127.0.0.1, MAP * ~NOTFOUND",
		"--origin-to-force-quic-on=" + origin,
		"--ignore-certificate-errors-spki-list=" + ca.LeafSPKI,
		"--user-data-dir=" + dir, "--lang=en-US", "--dump-dom", url,
	}
}

// TestChromiumHTTP3 loads a page over HTTP/3 in real Chromium, each time
// in a fresh browser (so on a new QUIC connection), records what the
// browser sends with the QUIC fingerprint server, and compares its summary
// (fixed fields, and which fields are random) with the golden file: a
// Chromium update that changes its HTTP/3 fingerprint fails here.
func TestChromiumHTTP3(t *testing.T) {
	bin := livebrowser.Require(t, livebrowser.Chromium)
	ca, err := livebrowser.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv := fingerprint.NewQUICServer(t, fingerprint.QUICConfig{
		Certificate: &ca.Leaf,
		Respond: func(c fingerprint.Capture) (string, []byte) {
			if c.Path == "/" {
				return "text/html", []byte(quicPage)
			}
			return "image/png", []byte("x")
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	version, err := livebrowser.Version(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < quicConnections; i++ {
		cmd := exec.CommandContext(ctx, bin, chromiumQUICArgs(ca, srv.Port(), t.TempDir(), srv.URL("localhost", "/"))...)
		cmd.WaitDelay = 2 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), `<img src="/img.png">`) {
			t.Fatalf("chromium visit %d: %v\n%s", i+1, err, tailOf(out))
		}
		waitQUICCaptures(t, srv, 2*(i+1))
	}
	caps := srv.Captures()
	for _, c := range caps {
		if c.HTTPVersion != "3" || c.ALPN != "h3" {
			t.Fatalf("%s went over HTTP/%s (ALPN %q)", c.Path, c.HTTPVersion, c.ALPN)
		}
	}
	if errs := srv.Errors(); len(errs) > 0 {
		t.Errorf("the recorder could not read Chromium's Initials: %v", errs)
	}
	for _, c := range caps {
		if c.Path != "/" {
			continue
		}
		var pns []uint64
		for _, p := range c.QUIC.Packets {
			pns = append(pns, p.PacketNumber)
		}
		ech := 0
		if i := slices.Index(c.QUIC.TLS.Extensions, 0xfe0d); i >= 0 {
			ech = c.QUIC.ExtensionLengths[i]
		}
		t.Logf("connection %d: Initial packet numbers %v, datagrams %v, GREASE ECH %d bytes, transport parameters %v",
			c.Conn, pns, c.QUIC.Datagrams, ech, c.QUIC.TransportParameterIDs())
	}
	// Over HTTP/3 the navigation sends the headers, in order and value,
	// that it sends over HTTP/2 (the reference TestRequestKinds keeps).
	var h2ref struct {
		Typed crawl.Headers `json:"typed"`
	}
	if b, err := os.ReadFile(kindsReferenceDir + "/kinds_chromium_h2.json"); err != nil {
		t.Error(err)
	} else if err := json.Unmarshal(b, &h2ref); err != nil {
		t.Error(err)
	} else {
		for _, c := range caps {
			if c.Path == "/" && !slices.Equal(c.Headers, h2ref.Typed) {
				t.Errorf("HTTP/3 navigation headers differ from HTTP/2's:\n h3 %v\n h2 %v", c.Headers, h2ref.Typed)
			}
		}
	}
	sum, err := fingerprint.SummarizeQUIC(caps)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Connections != quicConnections {
		t.Fatalf("%d connections, want one per visit (%d)", sum.Connections, quicConnections)
	}
	// What Chromium randomises per connection, whatever the golden says:
	// a summary that lost one of these would hide a client that does not.
	for _, f := range []string{"tls.extension_order", "quic.transport_parameter_order", "quic.grease_transport_parameter", "h3.grease_setting"} {
		if !slices.Contains(sum.Random, f) {
			t.Errorf("%s did not vary over %d connections", f, quicConnections)
		}
	}
	major, _, _ := strings.Cut(version, ".")
	profile := "chrome_" + major
	if golden.Update() {
		writeH3Evidence(t, profile, caps)
	}
	compareOurHTTP3(t, srv, ca, profile, sum)
	if !golden.Update() {
		// Field-by-field first, then the file byte for byte.
		if g, err := fingerprint.ReadQUICGolden(quicGolden); err == nil {
			for _, d := range g.Summary.Diff(sum) {
				t.Errorf("Chromium's HTTP/3 fingerprint changed: %s", d)
			}
		}
	}
	golden.CheckJSON(t, quicGolden, fingerprint.QUICGolden{
		Browser: "chromium " + major + " (Debian, headless)",
		Capture: "go test ./internal/livebrowser -run TestChromiumHTTP3 -update",
		Summary: sum,
	})
}

// compareOurHTTP3 points our HTTP/3 client with the browser's profile at
// the server that just recorded the browser, on ourQUICConnections new connections,
// and compares the two summaries field by field (impersonate.HTTP3Diff):
// what the browser sent in this run, not only the golden file, is what
// our client must send. Only the navigation is compared (a crawl has no
// image request kind); anything else is a difference. The Initials'
// random layout is compared as ranges (initial_layout) and our draws'
// spread is checked.
func compareOurHTTP3(t *testing.T, srv *fingerprint.QUICServer, ca *livebrowser.CA, profile string, browser *fingerprint.QUICSummary) {
	t.Helper()
	tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: ca.Pool, HandshakeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	before := len(srv.Captures())
	for i := 0; i < ourQUICConnections; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		u, _ := url.Parse(srv.URL("localhost", "/"))
		resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: profile, HTTPVersion: "3", Verify: true, PoolKey: "ours" + strconv.Itoa(i)})
		if err != nil {
			cancel()
			t.Fatalf("our %s client over HTTP/3: %v", profile, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
	}
	// The control stream (SETTINGS, GREASE frame) may trail the answer.
	var ours []fingerprint.Capture
	deadline := time.Now().Add(5 * time.Second)
	for {
		ours = srv.Captures()[before:]
		ready := len(ours) == ourQUICConnections && !slices.ContainsFunc(ours, func(c fingerprint.Capture) bool {
			return c.H3 == nil || c.H3.Settings == nil || len(c.H3.ControlFrames) == 0
		})
		if ready || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	sum, err := fingerprint.SummarizeQUIC(ours)
	if err != nil {
		t.Fatalf("our %s client: %v", profile, err)
	}
	diffs, approx := impersonate.HTTP3Diff(browser, sum)
	for _, d := range diffs {
		t.Errorf("our %s client over HTTP/3 differs from the browser: %s", profile, d)
	}
	want := []string{
		"requests[/img.png]: the browser's, not compared (our client did not send that request)",
	}
	if !slices.Equal(approx, want) {
		t.Errorf("approximated fields:\n got %q\nwant %q", approx, want)
	}
	// Chromium's Initial layouts are random per connection (chaos
	// protection): compared above as ranges; ours must also spread over
	// them, and both distributions are logged.
	if err := fingerprint.LayoutSpread(ours); err != nil {
		t.Errorf("our %s client: %v", profile, err)
	}
	t.Logf("Initial layouts, browser: %s", fingerprint.LayoutDistribution(srv.Captures()[:before]))
	t.Logf("Initial layouts, ours: %s", fingerprint.LayoutDistribution(ours))
	t.Logf("our %s client over HTTP/3 (%d connections): %d summary fields compared with the browser's (%d connections); approximated: %q", profile, ourQUICConnections, len(quicSummaryFields), quicConnections, approx)
}

// quicSummaryFields counts the fields QUICSummary.Diff compares.
var quicSummaryFields = func() []string {
	b, _ := json.Marshal(fingerprint.QUICSummary{})
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	delete(m, "connections")
	return slices.Collect(maps.Keys(m))
}()

// writeH3Evidence keeps the browser's HTTP/3 captures as
// <profile>_h3.json next to the TCP evidence: runtime/impersonate's
// TestProfileEvidence derives the profile's http3 section from it.
func writeH3Evidence(t *testing.T, profile string, caps []fingerprint.Capture) {
	t.Helper()
	caps = slices.Clone(caps)
	for i := range caps {
		caps[i].Remote = "" // the browser's ephemeral port
	}
	b, err := json.MarshalIndent(caps, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(evidenceDir, profile+"_h3.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitQUICCaptures waits until srv recorded n requests (captures are
// recorded once answered, which may trail the browser's exit).
func waitQUICCaptures(t *testing.T, srv *fingerprint.QUICServer, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Captures()) < n {
		if time.Now().After(deadline) {
			var got []string
			for _, c := range srv.Captures() {
				got = append(got, c.Path)
			}
			t.Fatalf("the browser sent %v, want %d requests", got, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tailOf(b []byte) string {
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
