package impersonate

import (
	"context"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// BenchmarkRoundTrip measures requests over one pooled connection to a
// loopback httptest server: this client over HTTP/2 and HTTP/1.1, and Go's
// net/http (x/net/http2) for comparison. Run with -benchtime=2000x.
func BenchmarkRoundTrip(b *testing.B) {
	s := startServer(b, "h2")
	pool := x509PoolOf(b, s.Server)
	for _, v := range []string{"2", "1.1"} {
		b.Run("impersonate-chrome-http"+v, func(b *testing.B) {
			tr, _ := NewTransport(Options{RootCAs: pool})
			defer tr.Close()
			u := mustURL(b, s.URL+"/b")
			b.ReportAllocs()
			for b.Loop() {
				resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome", HTTPVersion: v, Verify: true})
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	b.Run("net/http-http2", func(b *testing.B) {
		c := s.Client()
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Get(s.URL + "/b")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		c.CloseIdleConnections()
	})
	b.Run("impersonate-chrome-new-connection", func(b *testing.B) {
		tr, _ := NewTransport(Options{RootCAs: pool, DisableResumption: true})
		defer tr.Close()
		u := mustURL(b, s.URL+"/b")
		for b.Loop() {
			resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome", Verify: true})
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			tr.CloseIdleConnections()
		}
	})
}

// BenchmarkPagesHTTP3vsHTTP2 fetches 23 KB pages with the chrome profile,
// 8 requests in flight, over HTTP/3 (quic-go's server) and over HTTP/2
// (net/http's), both on loopback; it reports pages/s. Run with
// go test -run X -bench PagesHTTP3vsHTTP2 -benchtime 4000x ./runtime/impersonate
func BenchmarkPagesHTTP3vsHTTP2(b *testing.B) {
	page := strings.Repeat("<p>spiderrun</p>\n", 23<<10/17)
	h := func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, page) }
	cert, pool := testCert(b)
	h3 := startH3SiteWithCert(b, cert, pool, h)
	var hits atomic.Int64
	tcp := startTCPSiteHandler(b, cert, "", &hits, h)
	for _, tc := range []struct{ name, url, version string }{
		{"http3", "https://" + h3.addr.String() + "/p", "3"},
		{"http2", tcp.URL + "/p", "2"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			tr, _ := NewTransport(Options{RootCAs: pool})
			defer tr.Close()
			u := mustURL(b, tc.url)
			b.SetParallelism(8 / runtime.GOMAXPROCS(0))
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome", HTTPVersion: tc.version, Verify: true})
					if err != nil {
						b.Error(err)
						return
					}
					n, _ := io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if n != int64(len(page)) {
						b.Errorf("page of %d bytes", n)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pages/s")
		})
	}
}
