package impersonate

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// Measured on this machine from Debian Chromium 156.0.8078.79 with
// `spiderrun fingerprint capture` (testdata/chromium156_capture_*.txt).
const (
	chromium156JA4   = "t13d1517h2_8daaf6152771_cb7bf5808d99"
	chromium156JA4H1 = "t13d1516h1_8daaf6152771_5b37b36a67c0" // --disable-http2
	// A resumed connection (pre_shared_key added), measured by making
	// Chromium open a second connection to the same server.
	chromium156JA4Resumed = "t13d1518h2_8daaf6152771_e2d80978ab2e"
	chromeAkamai          = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
)

var chromeHeaderOrder = []string{
	"sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform", "upgrade-insecure-requests",
	"user-agent", "accept", "sec-fetch-site", "sec-fetch-mode", "sec-fetch-user",
	"sec-fetch-dest", "accept-encoding", "accept-language", "priority",
}

var chromeH1HeaderOrder = []string{
	"Host", "Connection", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform",
	"Upgrade-Insecure-Requests", "User-Agent", "Accept", "Sec-Fetch-Site", "Sec-Fetch-Mode",
	"Sec-Fetch-User", "Sec-Fetch-Dest", "Accept-Encoding", "Accept-Language",
}

// fpServer starts a fingerprinting server and a Transport that trusts it and
// dials it for any host name (so requests carry SNI, like a browser's).
func fpServer(t *testing.T, cfg fingerprint.Config) (*fingerprint.Server, *Transport) {
	t.Helper()
	srv, err := fingerprint.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	tr := newTestTransport(t, srv.CertPool(), srv.Addr())
	return srv, tr
}

// newTestTransport returns a Transport trusting roots; when addr is set,
// every dial goes there (a loopback resolver for *.test names).
func newTestTransport(t *testing.T, roots *x509.CertPool, addr string) *Transport {
	t.Helper()
	opts := Options{HandshakeTimeout: 5 * time.Second, RootCAs: roots}
	if addr != "" {
		opts.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	tr, err := NewTransport(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

// fetchCapture does one request and decodes the server's view of it.
func fetchCapture(t *testing.T, tr *Transport, out *downloader.Outgoing) fingerprint.Capture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := tr.RoundTrip(ctx, out)
	if err != nil {
		t.Fatalf("round trip %s: %v", out.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var c fingerprint.Capture
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("decode capture: %v\n%s", err, b)
	}
	return c
}

func mustURL(t testing.TB, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestChrome156Fidelity(t *testing.T) {
	srv, tr := fpServer(t, fingerprint.Config{})
	const conns = 8
	ja3s := map[string]bool{}
	ja3ns := map[string]bool{}
	for i := range conns {
		// A new pool key per request forces a new connection (and a new
		// ClientHello) each time.
		c := fetchCapture(t, tr, &downloader.Outgoing{
			Method: "GET", URL: mustURL(t, srv.URL("localhost", "/")), Impersonate: "chrome_156",
			Verify: true, PoolKey: string(rune('a' + i)),
		})
		if c.JA4 != chromium156JA4 {
			t.Errorf("conn %d: JA4 = %s, want %s (raw %s)", i, c.JA4, chromium156JA4, c.JA4R)
		}
		if c.Akamai != chromeAkamai {
			t.Errorf("conn %d: Akamai = %s, want %s", i, c.Akamai, chromeAkamai)
		}
		if got := c.HeaderNames(); !slices.Equal(got, chromeHeaderOrder) {
			t.Errorf("conn %d: header order\n got %v\nwant %v", i, got, chromeHeaderOrder)
		}
		hp := c.H2.HeadersPriority
		if hp == nil || !hp.Exclusive || hp.DependsOn != 0 || hp.Weight != 256 {
			t.Errorf("conn %d: HEADERS priority = %+v, want exclusive, stream 0, weight 256", i, hp)
		}
		if got := c.Headers.Get("priority"); got != "u=0, i" {
			t.Errorf("priority header = %q", got)
		}
		ja3s[c.JA3] = true
		ja3ns[c.JA3N] = true
	}
	if len(ja3s) < 2 {
		t.Errorf("JA3 identical over %d connections: extensions are not shuffled", conns)
	}
	if len(ja3ns) != 1 {
		t.Errorf("JA3N took %d values over %d connections, want 1", len(ja3ns), conns)
	}
	// The alias resolves to the newest Chrome.
	c := fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: mustURL(t, srv.URL("localhost", "/")), Impersonate: "chrome", Verify: true})
	if c.JA4 != chromium156JA4 {
		t.Errorf("alias chrome: JA4 = %s", c.JA4)
	}
}

func TestChrome156ForcedHTTP1MatchesChromiumDisableHTTP2(t *testing.T) {
	srv, tr := fpServer(t, fingerprint.Config{})
	c := fetchCapture(t, tr, &downloader.Outgoing{
		Method: "GET", URL: mustURL(t, srv.URL("localhost", "/")), Impersonate: "chrome_156",
		HTTPVersion: "1.1", Verify: true,
	})
	if c.HTTPVersion != "1.1" || c.ALPN != "http/1.1" {
		t.Fatalf("http version %s alpn %s, want 1.1", c.HTTPVersion, c.ALPN)
	}
	if c.JA4 != chromium156JA4H1 {
		t.Errorf("JA4 = %s, want %s (Chromium --disable-http2)", c.JA4, chromium156JA4H1)
	}
	if slices.Contains(c.TLS.Extensions, 0x44cd) || slices.Contains(c.TLS.Extensions, 0x4469) {
		t.Errorf("ALPS still offered over HTTP/1.1: %v", c.TLS.Extensions)
	}
	if got := c.HeaderNames(); !slices.Equal(got, chromeH1HeaderOrder) {
		t.Errorf("header order\n got %v\nwant %v", got, chromeH1HeaderOrder)
	}
	if !strings.Contains(c.Headers.Get("user-agent"), "Chrome/156") {
		t.Errorf("user-agent %q", c.Headers.Get("user-agent"))
	}
}

// TestSessionResumption: the first connection of an identity sends the
// captured hello (no pre_shared_key); once the server issued a ticket, a new
// connection of the same identity resumes with pre_shared_key last, as
// Chromium does; another identity does not get the ticket.
func TestSessionResumption(t *testing.T) {
	srv, tr := fpServer(t, fingerprint.Config{})
	u := mustURL(t, srv.URL("localhost", "/"))
	first := fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome_156", Verify: true, PoolKey: "alice"})
	if slices.Contains(first.TLS.Extensions, 41) || first.JA4 != chromium156JA4 {
		t.Fatalf("first hello: JA4 %s extensions %v", first.JA4, first.TLS.Extensions)
	}
	tr.CloseIdleConnections()
	second := fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome_156", Verify: true, PoolKey: "alice"})
	exts := second.TLS.Extensions
	if len(exts) == 0 || exts[len(exts)-1] != 41 {
		t.Fatalf("resumed hello does not end with pre_shared_key: %v", exts)
	}
	if second.JA4 != chromium156JA4Resumed {
		t.Errorf("resumed JA4 = %s, want Chromium's %s", second.JA4, chromium156JA4Resumed)
	}
	if second.Conn == first.Conn {
		t.Error("no new connection was made")
	}
	other := fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome_156", Verify: true, PoolKey: "bob"})
	if slices.Contains(other.TLS.Extensions, 41) {
		t.Error("another session member resumed alice's TLS session")
	}
}
