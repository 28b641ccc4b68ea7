package jsbridge

import (
	"context"
	"fmt"
	"github.com/spiderrun/spiderrun/internal/cputime"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// benchSite serves n pages; page i has 10 quotes and links to 20 pages.
func benchSite(b *testing.B, n int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/p/"))
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var sb strings.Builder
		fmt.Fprintf(&sb, "<html><head><title>page %d</title></head><body>", id)
		for q := 0; q < 10; q++ {
			fmt.Fprintf(&sb, `<div class="quote"><span class="text">Quote %d of %d</span><small class="author">Author %d</small><a class="tag" href="/p/%d">t</a></div>`, q, id, q, (id*7+q)%n)
		}
		for l := 0; l < 10; l++ {
			fmt.Fprintf(&sb, `<a href="/p/%d">next</a>`, (id*13+l*31+1)%n)
		}
		sb.WriteString("</body></html>")
		io.WriteString(w, sb.String())
	}))
	b.Cleanup(srv.Close)
	return srv
}

// goQuotes is the same spider written against the Go API: the floor the JS
// spider is compared with.
type goQuotes struct{ start string }

func (g *goQuotes) Name() string { return "go" }
func (g *goQuotes) Start(context.Context) engine.StartIterator {
	return &sliceStart{reqs: []*crawl.Request{{URL: g.start, Start: true}}}
}
func (g *goQuotes) Callback(_ context.Context, resp *crawl.Response, out engine.Output) error {
	root, err := extract.Root(resp)
	if err != nil {
		return err
	}
	quotes, err := root.CSS("div.quote")
	if err != nil {
		return err
	}
	for _, q := range quotes {
		text, _ := q.CSS("span.text::text")
		author, _ := q.CSS("small.author::text")
		tags, _ := q.CSS("a.tag::text")
		href, _ := q.CSS("a::attr(href)")
		tagList := make([]any, 0, 2)
		for _, t := range tags.GetAll() {
			tagList = append(tagList, t)
		}
		out.Item(crawl.NewItem("text", text.Get(), "author", author.Get(), "tags", tagList, "url", href.Get()))
	}
	hrefs, err := root.CSS("a::attr(href)")
	if err != nil {
		return err
	}
	for _, h := range hrefs.GetAll() {
		u, err := extract.URLJoin(resp, h)
		if err != nil {
			return err
		}
		out.Request(&crawl.Request{URL: u})
	}
	return nil
}
func (g *goQuotes) Errback(context.Context, *crawl.Failure, engine.Output) (bool, error) {
	return false, nil
}

type sliceStart struct{ reqs []*crawl.Request }

func (s *sliceStart) Next(context.Context) (*crawl.Request, error) {
	if len(s.reqs) == 0 {
		return nil, io.EOF
	}
	r := s.reqs[0]
	s.reqs = s.reqs[1:]
	return r, nil
}

// BenchmarkCrawl20k crawls 20 000 pages once and reports the process's
// peak RSS (VmHWM; run one sub-benchmark per process:
// -bench 'Crawl20k/js' -benchtime 1x).
func BenchmarkCrawl20k(b *testing.B) {
	for _, kind := range []string{"go", "js"} {
		b.Run(kind, func(b *testing.B) { crawlOnce(b, kind, 20000) })
	}
}

func crawlOnce(b *testing.B, kind string, pages int) {
	srv := benchSite(b, pages)
	var total int64
	var maxLive atomic.Int64
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			metrics.Read(sample)
			if v := int64(sample[0].Value.Uint64()); v > maxLive.Load() {
				maxLive.Store(v)
			}
		}
	}()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		var sp engine.Spider
		if kind == "go" {
			sp = &goQuotes{start: srv.URL + "/p/0"}
		} else {
			s, _ := newSpider(b, "bench.js", func(o *Options) {
				o.StartURLs = []string{srv.URL + "/p/0"}
				o.DefaultCallback = "quotes"
			})
			sp = s
		}
		eng, err := engine.New(engine.Options{Spider: sp, Fetcher: httpFetcher(http.DefaultClient), Feeds: []engine.Exporter{&countFeed{}}})
		if err != nil {
			b.Fatal(err)
		}
		res, err := eng.Run(context.Background())
		if err != nil || res.Reason != engine.ReasonFinished {
			b.Fatalf("%v %s", err, res.Reason)
		}
		n, _ := res.Stats["response_received_count"].(int64)
		if n == 0 {
			n = int64(pages)
		}
		total += n
	}
	cpu := cputime.Process() - cpu0
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(total), "cpu-ms/page")
	b.ReportMetric(float64(total)/cpu.Seconds(), "pages/cpu-s")
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "pages/s")
	b.ReportMetric(float64(maxLive.Load())/(1<<20), "max-live-heap-MB")
	if hwm := stats.PeakRSS("/proc/self/status"); hwm > 0 {
		b.ReportMetric(float64(hwm)/(1<<20), "peak-RSS-MB")
	}
}

// BenchmarkCrawl crawls a 500-page local site with the engine and reports
// pages per CPU-second for the JS spider (testdata/bench.js quotes) and the
// same spider in Go. CPU time, not wall time, because the machine is shared.
func BenchmarkCrawl(b *testing.B) {
	for _, kind := range []string{"go", "js"} {
		b.Run(kind, func(b *testing.B) { crawlOnce(b, kind, 500) })
	}
}

type countFeed struct{ n int }

func (c *countFeed) Export(*crawl.Item) error { c.n++; return nil }
func (c *countFeed) Flush() error             { return nil }
func (c *countFeed) Close() error             { return nil }
