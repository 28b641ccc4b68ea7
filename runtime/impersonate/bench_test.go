package impersonate

import (
	"context"
	"io"
	"testing"

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
