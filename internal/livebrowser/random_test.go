package livebrowser_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// randomConns is how many fresh TLS connections a browser makes for
// TestRandomFields: with Chromium's four ECH GREASE lengths drawn
// uniformly, 40 draws miss one with probability 4·(3/4)^40 ≈ 4e-5.
const randomConns = 40

// browserHellos opens one page that loads an image from each of n servers
// (n origins: localhost on n ports), so the browser makes n first, not
// resumed, TLS connections, and returns their ClientHellos (the page's
// own connection excluded).
func browserHellos(t *testing.T, b livebrowser.Browser, bin string, ca *livebrowser.CA, n int) [][]byte {
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
	return out
}

func TestRandomFieldsExplore(t *testing.T) {
	for _, b := range []livebrowser.Browser{livebrowser.Chromium, livebrowser.Firefox} {
		t.Run(b.Name, func(t *testing.T) {
			bin := livebrowser.Require(t, b)
			ca, err := livebrowser.NewCA()
			if err != nil {
				t.Fatal(err)
			}
			for _, raw := range browserHellos(t, b, bin, ca, randomConns) {
				r, err := impersonate.ParseHelloRandom(raw)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%+v", *r)
				t.Logf("HEX %x", raw)
			}
		})
	}
}
