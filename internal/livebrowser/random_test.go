package livebrowser_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// randomConns is how many fresh TLS connections a browser makes for
// TestRandomFields: with Chromium's four ECH GREASE lengths drawn
// uniformly, 40 draws miss one with probability 4·(3/4)^40 ≈ 4e-5.
const randomConns = 40

// browserHellos opens one page that loads an image from each of n servers
// (n origins: localhost on n ports), so the browser makes n first, not
// resumed, TLS connections, and returns the page's capture and the n
// connections' ClientHellos.
func browserHellos(t *testing.T, b livebrowser.Browser, bin string, ca *livebrowser.CA, n int) (fingerprint.Capture, [][]byte) {
	t.Helper()
	var imgs strings.Builder
	srvs := make([]*fingerprint.Server, n)
	for i := range srvs {
		srv, err := fingerprint.Start(fingerprint.Config{Certificate: &ca.Leaf,
			Respond: func(fingerprint.Capture) (string, []byte) { return "image/png", []byte("x") }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { srv.Close() })
		srvs[i] = srv
		fmt.Fprintf(&imgs, "<img src=%q>", srv.URL("localhost", fmt.Sprintf("/r%d.png", i)))
	}
	page := `<!doctype html><html><head><link rel="icon" href="data:,"></head><body>` + imgs.String() + `</body></html>`
	main, err := fingerprint.Start(fingerprint.Config{Certificate: &ca.Leaf,
		Respond: func(fingerprint.Capture) (string, []byte) { return "text/html", []byte(page) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { main.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r := livebrowser.Run{URL: main.URL("localhost", "/"), Dir: t.TempDir()}
	if b == livebrowser.Chromium {
		err = livebrowser.RunChromium(ctx, bin, ca, r)
	} else {
		err = livebrowser.RunFirefox(ctx, bin, ca, r)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for i, srv := range srvs {
		caps := waitCaptures(t, srv, fmt.Sprintf("/r%d.png", i))
		raw, err := hex.DecodeString(caps[0].ClientHello)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return waitCaptures(t, main, "/")[0], out
}

// TestRandomFields holds what a browser draws afresh on every TLS
// connection (GREASE values, the ECH GREASE length, the extension order)
// to our client's, as distributions: 40 first connections of the browser,
// 40 of our client replaying a profile captured from the browser's page
// load, compared field by field by impersonate.RandomDiff (a field the
// browser varies must vary in ours, within the browser's values; a field
// it keeps fixed must be the same in ours). The browser's own sample is
// also held to what specs/impersonation.md says it is.
func TestRandomFields(t *testing.T) {
	t.Parallel()
	for _, b := range []livebrowser.Browser{livebrowser.Chromium, livebrowser.Firefox} {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			bin := livebrowser.Require(t, b)
			ca, err := livebrowser.NewCA()
			if err != nil {
				t.Fatal(err)
			}
			page, raws := browserHellos(t, b, bin, ca, randomConns)
			var browser []*impersonate.HelloRandom
			for _, raw := range raws {
				h, err := impersonate.ParseHelloRandom(raw)
				if err != nil {
					t.Fatal(err)
				}
				browser = append(browser, h)
			}
			profile := captureProfile(t, page, page)
			ours := ourHellos(t, ca, profile, randomConns)
			for _, d := range impersonate.RandomDiff(browser, ours) {
				t.Error(d)
			}
			ech := map[int]int{}
			orders := map[string]bool{}
			for _, h := range browser {
				ech[h.ECHLen]++
				orders[fmt.Sprint(h.Order)] = true
			}
			t.Logf("%s: ECH lengths %v, %d extension orders in %d connections", b.Name, ech, len(orders), len(browser))
			if b == livebrowser.Chromium && (len(ech) < 3 || len(orders) < 2) {
				t.Errorf("Chromium: ECH GREASE lengths %v and %d extension orders over %d connections: specs/impersonation.md says four lengths and a shuffle", ech, len(orders), len(browser))
			}
			if b == livebrowser.Firefox && (len(ech) != 1 || len(orders) != 1) {
				t.Errorf("Firefox: ECH lengths %v and %d extension orders: specs/impersonation.md says one of each", ech, len(orders))
			}
		})
	}
}

// ourHellos makes n first connections with profile (a fresh Transport each
// time: no resumption) and returns their ClientHellos.
func ourHellos(t *testing.T, ca *livebrowser.CA, profile string, n int) []*impersonate.HelloRandom {
	t.Helper()
	srv, err := fingerprint.Start(fingerprint.Config{Certificate: &ca.Leaf})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var out []*impersonate.HelloRandom
	for i := range n {
		tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: ca.Pool, HandshakeTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		u, _ := url.Parse(srv.URL("localhost", fmt.Sprintf("/%d", i)))
		resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: profile, Verify: true})
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		resp.Body.Close()
		cancel()
		tr.Close()
		c := waitCaptures(t, srv, fmt.Sprintf("/%d", i))
		for _, c := range c {
			if c.Path != fmt.Sprintf("/%d", i) {
				continue
			}
			raw, err := hex.DecodeString(c.ClientHello)
			if err != nil {
				t.Fatal(err)
			}
			h, err := impersonate.ParseHelloRandom(raw)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, h)
		}
	}
	return out
}
