package impersonate

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/cputime"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// BenchmarkHTTP3VsHTTP2 is issue 17's benchmark row: pages of the crawl
// benchmark's size (20 KB) fetched by the chrome profile from one local
// site over HTTP/2 (TLS, one pooled connection) and over HTTP/3 (QUIC, one
// connection), 16 requests at a time, as a crawl's downloader sends them.
// It reports pages/s and CPU (user+system of the whole process: client and
// server share it) per page:
//
//	go test -run '^$' -bench HTTP3VsHTTP2 -benchtime 5000x ./runtime/impersonate
func BenchmarkHTTP3VsHTTP2(b *testing.B) {
	cert, pool := testCert(b)
	page := strings.Repeat("<p>spiderrun benchmark page</p>\n", 20480/32)
	handler := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, page)
	}
	var hits atomic.Int64
	tcp := startTCPSiteHandler(b, cert, "", &hits, handler)
	quic := startH3SiteWithCert(b, cert, pool, handler)
	for _, c := range []struct {
		version string
		url     *url.URL
	}{
		{"2", mustURL(b, tcp.URL+"/p")},
		{"3", quic.url("/p")},
	} {
		b.Run("http"+c.version, func(b *testing.B) {
			tr := h3Transport(b, pool)
			get := func() error {
				resp, err := tr.RoundTrip(context.Background(), &downloader.Outgoing{Method: "GET", URL: c.url,
					Impersonate: "chrome", HTTPVersion: c.version, Verify: true})
				if err != nil {
					return err
				}
				defer resp.Body.Close()
				n, err := io.Copy(io.Discard, resp.Body)
				if err == nil && n != int64(len(page)) {
					b.Errorf("HTTP/%s: %d bytes, want %d", c.version, n, len(page))
				}
				return err
			}
			if err := get(); err != nil { // the connection, outside the timing
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetParallelism(8) // 16 requests at a time on 2 cores
			cpu0 := cputime.Process()
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := get(); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "pages/s")
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/page")
		})
	}
}
