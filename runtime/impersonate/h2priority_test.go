package impersonate

import (
	"context"
	"io"
	"net/url"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// TestChromiumHeadersWeight: a Chromium profile weighs each HEADERS frame
// by the request's priority, as Chromium 148 did in the capture session
// `spiderrun fingerprint check --kinds` replays (cmd/spiderrun's
// TestFingerprintCheckKindsChromium holds it to the live browser): the
// navigation 256, a fetch() 220 (u=1), and the formula's other values;
// a Firefox profile keeps its own.
func TestChromiumHeadersWeight(t *testing.T) {
	for u, want := range []int{256, 220, 183, 147, 110, 74, 37, 1} {
		if got := chromiumWeight(u); got != want {
			t.Errorf("chromiumWeight(%d) = %d, want %d", u, got, want)
		}
	}
	srv, err := fingerprint.Start(fingerprint.Config{CloseAfterResponse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr, err := NewTransport(Options{RootCAs: srv.CertPool(), HandshakeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ff, err := LoadProfile("firefox_140")
	if err != nil {
		t.Fatal(err)
	}
	ffWeight := 0
	if hp := ff.HTTP2.HeadersPriority; hp != nil {
		ffWeight = hp.Weight
	}
	page := srv.URL("localhost", "/")
	for _, c := range []struct {
		profile, kind, path string
		want                int
	}{
		{"chrome_148", crawl.KindNavigate, "/nav", 256},
		{"chrome_148", crawl.KindFetch, "/fetch", 220},
		{"chrome_148", crawl.KindXHR, "/xhr", 220},
		{"firefox_140", crawl.KindFetch, "/ff-fetch", ffWeight},
	} {
		r := &crawl.Request{URL: srv.URL("localhost", c.path), Kind: c.kind, Parent: page}
		if c.kind == crawl.KindNavigate {
			r.Parent = ""
		}
		u, _ := url.Parse(r.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: c.profile, HTTPVersion: "2", Verify: true, Request: r})
		if err != nil {
			cancel()
			t.Fatalf("%s %s: %v", c.profile, c.kind, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got, err := srv.Next(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		weight := 0
		if got.H2 != nil && got.H2.HeadersPriority != nil {
			weight = got.H2.HeadersPriority.Weight
		}
		if weight != c.want {
			t.Errorf("%s %s: HEADERS weight %d, want %d (priority header %q)", c.profile, c.kind, weight, c.want, got.Headers.Get("priority"))
		}
	}
}
