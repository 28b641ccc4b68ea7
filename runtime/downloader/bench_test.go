package downloader

import (
	"context"
	"fmt"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
)

// BenchmarkDownload measures the downloader's own cost per 20 KB page on
// loopback (run with -benchmem; compare allocs/op when changing the read
// path).
func BenchmarkDownload(b *testing.B) {
	srv := fixture.New(b, fixture.Options{Pages: 1000, PageSize: 20 << 10})
	o := DefaultOptions()
	o.ConcurrentPerDomain = 64
	d, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Transport().(*HTTPTransport).CloseIdleConnections()
	b.ReportAllocs()
	b.SetParallelism(32) // 64 downloads in flight on 2 cores, like the crawl benchmark
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			resp, err := d.Download(context.Background(), get(fmt.Sprintf("%s/site/%d", srv.URL, i%1000)))
			if err != nil || len(resp.Body) < 20000 {
				b.Fatal(err)
			}
		}
	})
	// Connections opened: near the parallelism when idle connections are
	// reused, growing with b.N when they are not.
	b.ReportMetric(float64(srv.Conns()), "conns")
}
