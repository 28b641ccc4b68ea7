package impersonate

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// TestHTTP3ThroughTheDownloader: HTTP_VERSION "3" as the downloader's
// default, without a profile (the plain client carries it), with the
// crawl's limits: DOWNLOAD_MAXSIZE, the download timeout, request headers
// (cookies are headers) and DENY_PRIVATE_NETWORKS at the QUIC endpoint.
func TestHTTP3ThroughTheDownloader(t *testing.T) {
	site := startH3Site(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			chunk := strings.Repeat("x", 64<<10)
			for i := 0; i < 64; i++ {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
		case "/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
		default:
			io.WriteString(w, "cookie="+r.Header.Get("Cookie"))
		}
	})
	newDL := func(t *testing.T, mod func(*downloader.Options), trOpts ...func(*Options)) *downloader.Downloader {
		opts := downloader.DefaultOptions()
		opts.Timeout = 5 * time.Second
		opts.RandomizeDelay = false
		opts.HTTPVersion = "3"
		opts.HTTP.RootCAs = site.pool
		if mod != nil {
			mod(&opts)
		}
		var d *downloader.Downloader
		tr := h3Transport(t, site.pool, append(trOpts, func(o *Options) {
			o.ResolveUDP = func(ctx context.Context, addr string) (netip.AddrPort, error) {
				return d.Dialer().ResolveUDP(ctx, addr)
			}
		})...)
		opts.TransportFor = func(string) (downloader.Transport, error) { return tr, nil }
		var err error
		if d, err = downloader.New(opts); err != nil {
			t.Fatal(err)
		}
		return d
	}
	ctx := context.Background()
	t.Run("response", func(t *testing.T) {
		resp, err := newDL(t, nil).Download(ctx, &crawl.Request{URL: site.url("/c").String(), Headers: crawl.Headers{{Name: "Cookie", Value: "a=1"}}})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Protocol != "HTTP/3.0" || string(resp.Body) != "cookie=a=1" {
			t.Errorf("%s %q", resp.Protocol, resp.Body)
		}
	})
	fails := []struct {
		name, path string
		mod        func(*downloader.Options)
		wantType   crawl.FailureType
		wantMsg    string
	}{
		{"maxsize", "/big", func(o *downloader.Options) { o.MaxSize = 1 << 20 }, crawl.MaxSizeExceeded, ""},
		{"timeout", "/slow", func(o *downloader.Options) { o.Timeout = 300 * time.Millisecond }, crawl.TimeoutError, "300ms"},
		{"guard", "/c", func(o *downloader.Options) { o.HTTP.DenyPrivate = true }, crawl.BlockedAddress, "loopback"},
	}
	for _, tc := range fails {
		t.Run(tc.name, func(t *testing.T) {
			u := site.url(tc.path).String()
			_, err := newDL(t, tc.mod).Download(ctx, &crawl.Request{URL: u})
			var f *crawl.Failure
			if !errors.As(err, &f) {
				t.Fatalf("err = %v, want a *crawl.Failure", err)
			}
			t.Logf("%s: %s", f.Type, f.Message)
			if f.Type != tc.wantType || !strings.Contains(f.Message, tc.wantMsg) || !strings.Contains(f.Message+f.Request.URL, u) {
				t.Errorf("failure %s %q, want %s containing %q", f.Type, f.Message, tc.wantType, tc.wantMsg)
			}
		})
	}
}
