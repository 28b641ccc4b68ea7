package impersonate

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// TestThroughTheDownloader plugs the Transport into the real downloader
// (as the crawl wiring does) and checks what a spider gets: the decoded
// response, and failures whose type and message name the reason.
func TestThroughTheDownloader(t *testing.T) {
	fp, _ := fpServer(t, fingerprint.Config{})
	hs := startServer(t, "h2")
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	newDL := func(tr *Transport, timeout time.Duration) *downloader.Downloader {
		opts := downloader.DefaultOptions()
		opts.Timeout = timeout
		opts.RandomizeDelay = false
		opts.TransportFor = func(string) (downloader.Transport, error) { return tr, nil }
		d, err := downloader.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	ctx := context.Background()

	t.Run("chrome response", func(t *testing.T) {
		tr := newTestTransport(t, fp.CertPool(), "")
		resp, err := newDL(tr, 10*time.Second).Download(ctx, &crawl.Request{URL: fp.URL("localhost", "/dl"), Impersonate: "chrome_156"})
		if err != nil {
			t.Fatal(err)
		}
		var c fingerprint.Capture
		if err := json.Unmarshal(resp.Body, &c); err != nil {
			t.Fatal(err)
		}
		if resp.Protocol != "HTTP/2.0" || c.JA4 != chromium156JA4 || c.Akamai != chromeAkamai {
			t.Errorf("protocol %s JA4 %s Akamai %s", resp.Protocol, c.JA4, c.Akamai)
		}
	})
	// The downloader leaves Accept-Encoding to the profile: Firefox does
	// not send zstd, and claiming it would give the client away.
	for profile, want := range map[string]string{"firefox_120": "gzip, deflate, br", "chrome_156": "gzip, deflate, br, zstd"} {
		t.Run("accept-encoding "+profile, func(t *testing.T) {
			tr := newTestTransport(t, fp.CertPool(), "")
			resp, err := newDL(tr, 10*time.Second).Download(ctx, &crawl.Request{URL: fp.URL("localhost", "/ae"), Impersonate: profile})
			if err != nil {
				t.Fatal(err)
			}
			var c fingerprint.Capture
			if err := json.Unmarshal(resp.Body, &c); err != nil {
				t.Fatal(err)
			}
			if got := c.Headers.Get("accept-encoding"); got != want {
				t.Errorf("accept-encoding %q, want %q", got, want)
			}
		})
	}
	failures := []struct {
		name     string
		tr       *Transport
		url      string
		timeout  time.Duration
		wantType crawl.FailureType
		wantMsg  string
	}{
		{"untrusted certificate", newTestTransport(t, nil, ""), hs.URL + "/", 5 * time.Second, crawl.TLSError, "certificate signed by unknown authority"},
		{"silent TLS peer", newTestTransport(t, nil, ""), "https://" + silent.Addr().String() + "/", 300 * time.Millisecond, crawl.TimeoutError, "TLS handshake"},
		{"huge response headers", newTestTransport(t, x509PoolOf(t, hs.Server), ""), hs.URL + "/big-headers", 5 * time.Second, crawl.MaxSizeExceeded, "response headers"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "huge response headers" {
				tc.tr.opts.MaxResponseHeaderBytes = 64 << 10
			}
			_, err := newDL(tc.tr, tc.timeout).Download(ctx, &crawl.Request{URL: tc.url, Impersonate: "chrome"})
			var f *crawl.Failure
			if !errors.As(err, &f) {
				t.Fatalf("err = %v, want a *crawl.Failure", err)
			}
			t.Logf("%s: %s", f.Type, f.Message)
			if f.Type != tc.wantType || !strings.Contains(f.Message, tc.wantMsg) {
				t.Errorf("failure %s %q, want %s containing %q", f.Type, f.Message, tc.wantType, tc.wantMsg)
			}
		})
	}
}
