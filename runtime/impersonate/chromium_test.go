package impersonate

import (
	"context"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// TestAgainstLiveChromium is a differential test against the machine's own
// Chromium (apt-get install chromium), when there is one: both clients visit
// a fingerprinting server that answers with a page needing two more
// resources and closes every connection after one answer, so each client
// also shows its resumed-session ClientHello. The shipped chrome_156 must
// match what Chromium sends at every layer. Without Chromium the constants
// in the other tests (measured the same way) still hold the line.
func TestAgainstLiveChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Log("chromium not installed: live differential test not run")
		return
	}
	page := func(c fingerprint.Capture) (string, []byte) {
		if c.Path == "/" {
			return "text/html", []byte(`<html><body><img src="/a.png"><img src="/b.png"></body></html>`)
		}
		return "image/png", []byte("x")
	}
	for _, version := range []string{"2", "1.1"} {
		t.Run("http"+version, func(t *testing.T) {
			browser, err := fingerprint.Start(fingerprint.Config{CloseAfterResponse: true, Respond: page})
			if err != nil {
				t.Fatal(err)
			}
			defer browser.Close()
			args := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
				"--disable-background-networking", "--disable-component-update", "--disable-sync",
				"--ignore-certificate-errors", "--user-data-dir=" + t.TempDir()}
			if version == "1.1" {
				args = append(args, "--disable-http2")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if out, err := exec.CommandContext(ctx, bin, append(args, "--dump-dom", browser.URL("localhost", "/"))...).CombinedOutput(); err != nil {
				t.Fatalf("chromium: %v\n%s", err, out)
			}
			// Captures are recorded once the answer is written: collect
			// them through Next rather than racing the server goroutines.
			collect := func(srv *fingerprint.Server, n int) []fingerprint.Capture {
				var out []fingerprint.Capture
				for len(out) < n {
					c, err := srv.Next(ctx)
					if err != nil {
						t.Fatalf("after %d captures: %v", len(out), err)
					}
					if c.Path != "/favicon.ico" {
						out = append(out, c)
					}
				}
				return out
			}
			want := collect(browser, 3)

			ours, tr := fpServer(t, fingerprint.Config{CloseAfterResponse: true, Respond: page})
			for _, path := range []string{"/", "/a.png"} {
				resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: mustURL(t, ours.URL("localhost", path)), Impersonate: "chrome_156", HTTPVersion: version, Verify: true})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			}
			got := collect(ours, 2)
			if len(want) < 2 || len(got) < 2 {
				t.Fatalf("captures: chromium %d, ours %d", len(want), len(got))
			}
			// Chromium may open a spare connection before the first one
			// has its ticket (HTTP/1.1 fetches images in parallel): compare
			// its first resumed hello, whichever connection carried it.
			resumed := slices.IndexFunc(want, func(c fingerprint.Capture) bool { return slices.Contains(c.TLS.Extensions, 41) })
			if resumed < 0 {
				t.Fatalf("Chromium never resumed its TLS session: %d connections", len(want))
			}
			if !slices.Contains(got[1].TLS.Extensions, 41) {
				t.Errorf("ours did not resume: %v", got[1].TLS.Extensions)
			}
			for _, pair := range []struct {
				what string
				g, w fingerprint.Capture
			}{{"first connection", got[0], want[0]}, {"resumed connection", got[1], want[resumed]}} {
				if pair.g.JA4 != pair.w.JA4 || pair.g.JA3N != pair.w.JA3N {
					t.Errorf("%s: JA4 %s JA3N %s, Chromium %s %s", pair.what, pair.g.JA4, pair.g.JA3NHash, pair.w.JA4, pair.w.JA3NHash)
				}
				if pair.g.Akamai != pair.w.Akamai {
					t.Errorf("%s: Akamai %s, Chromium %s", pair.what, pair.g.Akamai, pair.w.Akamai)
				}
			}
			if g, w := got[0].HeaderNames(), want[0].HeaderNames(); !slices.Equal(g, w) {
				t.Errorf("navigation header order\n got %v\nwant %v", g, w)
			}
		})
	}
}
