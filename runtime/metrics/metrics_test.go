package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func TestDomain(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ url, want string }{
		{"http://example.com/a", "example.com"},
		{"https://Example.COM:8443/a?b#c", "example.com"},
		{"http://user:pw@host.test:81", "host.test"},
		{"http://[::1]:8080/x", "::1"},
		{"http://127.0.0.2:9/", "127.0.0.2"},
		{"http://h.test?q=a/b", "h.test"},
		{"ws://chat.test/socket", "chat.test"},
		{"not a url", ""},
	} {
		if got := Domain(c.url); got != c.want {
			t.Errorf("Domain(%q) = %q, want %q", c.url, got, c.want)
		}
	}
}

func TestResolveAddr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, want string
		loopback bool
		bad      bool
	}{
		{in: "9090", want: "127.0.0.1:9090", loopback: true},
		{in: ":9090", want: "127.0.0.1:9090", loopback: true},
		{in: "localhost:0", want: "localhost:0", loopback: true},
		{in: "[::1]:9", want: "[::1]:9", loopback: true},
		{in: "0.0.0.0:9090", want: "0.0.0.0:9090"},
		{in: "10.1.2.3:9090", want: "10.1.2.3:9090"},
		{in: "", bad: true},
		{in: "host:http", bad: true},
		{in: "70000", bad: true},
		{in: "a:b:c", bad: true},
	} {
		got, lb, err := ResolveAddr(c.in)
		if c.bad {
			if !errors.Is(err, ErrBadAddr) {
				t.Errorf("ResolveAddr(%q) = %q, %v; want ErrBadAddr", c.in, got, err)
			}
			continue
		}
		if err != nil || got != c.want || lb != c.loopback {
			t.Errorf("ResolveAddr(%q) = %q, %v, %v; want %q, %v", c.in, got, lb, err, c.want, c.loopback)
		}
	}
}

func gather(t *testing.T, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// series maps "label=value" (or "" without labels other than spider) to
// the series' counter or gauge value.
func series(f *dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for _, m := range f.GetMetric() {
		var key []string
		for _, l := range m.GetLabel() {
			if l.GetName() != "spider" {
				key = append(key, l.GetName()+"="+l.GetValue())
			}
		}
		v := m.GetCounter().GetValue()
		if m.Gauge != nil {
			v = m.GetGauge().GetValue()
		}
		out[strings.Join(key, ",")] = v
	}
	return out
}

// The counters are the stats' values at scrape time, under Prometheus
// names with the spider label; labelled ones take the stat's suffix.
func TestStatsCounters(t *testing.T) {
	t.Parallel()
	st := stats.NewMemory()
	st.Inc(stats.ResponseReceivedCount, 7)
	st.Inc(stats.ItemScrapedCount, 5)
	st.Inc("downloader/response_status_count/200", 6)
	st.Inc("downloader/response_status_count/404", 1)
	st.Inc("downloader/response_bytes", 1234)
	st.Inc("downloader/request_bytes", 567)
	st.Inc("downloader/exception_type_count/TimeoutError", 2)
	st.Inc(stats.SpiderExceptionsCount, 3)
	st.Inc(stats.SpiderExceptions+"TypeError", 3)
	st.Inc("blocks/detector/cloudflare", 3)
	st.Inc("blocks/detector/captcha-wall", 1)
	st.Inc("blocks/gave_up", 1)
	st.Inc("blocks/identities_retired", 2)
	st.Set(stats.StartTime, time.Unix(1_700_000_000, 0))
	m := New(Options{Spider: "s1", Stats: st, Progress: func() Progress { return Progress{Queued: 4, InFlight: 2, Processing: 1} }})
	fams := gather(t, m)
	for name, want := range map[string]map[string]float64{
		"spiderrun_pages_total":              {"": 7},
		"spiderrun_items_total":              {"": 5},
		"spiderrun_items_dropped_total":      {"": 0},
		"spiderrun_responses_total":          {"status=200": 6, "status=404": 1},
		"spiderrun_response_bytes_total":     {"": 1234},
		"spiderrun_request_bytes_total":      {"": 567},
		"spiderrun_download_errors_total":    {"type=TimeoutError": 2},
		"spiderrun_spider_errors_total":      {"type=TypeError": 3},
		"spiderrun_blocks_total":             {"detector=captcha-wall": 1, "detector=cloudflare": 3},
		"spiderrun_blocks_gave_up_total":     {"": 1},
		"spiderrun_identities_retired_total": {"": 2},
		"spiderrun_queued_requests":          {"": 4},
		"spiderrun_requests_in_flight":       {"": 2},
		"spiderrun_callbacks_running":        {"": 1},
		"spiderrun_start_time_seconds":       {"": 1_700_000_000},
	} {
		f := fams[name]
		if f == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if got := series(f); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
		spider := ""
		for _, l := range f.GetMetric()[0].GetLabel() {
			if l.GetName() == "spider" {
				spider = l.GetValue()
			}
		}
		if spider != "s1" {
			t.Errorf("%s: labels %v, want spider=s1", name, f.GetMetric()[0].GetLabel())
		}
	}
	st.Inc(stats.ItemScrapedCount, 1) // read again at the next scrape
	if got := series(gather(t, m)["spiderrun_items_total"])[""]; got != 6 {
		t.Errorf("after one more item: %v, want 6", got)
	}
	if fams["process_resident_memory_bytes"] == nil || fams["go_goroutines"] == nil {
		t.Errorf("the Go and process collectors are missing")
	}
}

func ok(ctx context.Context, req *crawl.Request) (*crawl.Response, error) {
	if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.GetConn != nil {
		trace.GetConn("")
	}
	return &crawl.Response{Status: 200}, nil
}

// The per-domain counters name the TopDomains domains with the most
// requests; the rest are summed under "other".
func TestDomainsTopN(t *testing.T) {
	t.Parallel()
	m := New(Options{Spider: "s", Stats: stats.NewMemory()})
	ctx := context.Background()
	fail := func(context.Context, *crawl.Request) (*crawl.Response, error) { return nil, errors.New("refused") }
	for i := range TopDomains + 5 {
		// Domain i gets 100-i requests: d0..d19 are the top ones.
		for range 100 - i {
			if _, err := m.Download(ctx, &crawl.Request{URL: fmt.Sprintf("http://d%d.test/", i)}, ok); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, _ = m.Download(ctx, &crawl.Request{URL: "http://d0.test/x"}, fail)
	fams := gather(t, m)
	reqs := series(fams["spiderrun_domain_requests_total"])
	if len(reqs) != TopDomains+1 {
		t.Fatalf("%d series, want %d + other: %v", len(reqs), TopDomains, reqs)
	}
	if reqs["domain=d0.test"] != 101 || reqs["domain=d19.test"] != 81 || reqs["domain=d20.test"] != 0 {
		t.Errorf("top domains: %v", reqs)
	}
	if want := float64(80 + 79 + 78 + 77 + 76); reqs["domain=other"] != want {
		t.Errorf("other = %v, want %v", reqs["domain=other"], want)
	}
	if e := series(fams["spiderrun_domain_download_errors_total"]); e["domain=d0.test"] != 1 {
		t.Errorf("errors: %v", e)
	}
	if h := fams["spiderrun_download_duration_seconds"].GetMetric()[0].GetHistogram(); h.GetSampleCount() != uint64(sum(reqs)-1) {
		t.Errorf("histogram count %d: one per request that reached GetConn", h.GetSampleCount())
	}
}

func sum(m map[string]float64) (s float64) {
	for _, v := range m {
		s += v
	}
	return s
}

// Domains beyond maxTrackedDomains are counted under "other" without
// growing the map.
func TestDomainsBounded(t *testing.T) {
	t.Parallel()
	var d domains
	for i := range maxTrackedDomains + 10 {
		d.get(fmt.Sprintf("d%d", i)).requests.Add(1)
	}
	if n := d.n.Load(); n != maxTrackedDomains {
		t.Fatalf("%d domains tracked, want %d", n, maxTrackedDomains)
	}
	if got := d.overflow.requests.Load(); got != 10 {
		t.Fatalf("overflow %d, want 10", got)
	}
}

// A request the crawl withdrew before it was sent is not counted (the
// stats do not count it either).
func TestDownloadCancelledNotCounted(t *testing.T) {
	t.Parallel()
	m := New(Options{Spider: "s", Stats: stats.NewMemory()})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := m.Download(ctx, &crawl.Request{URL: "http://a.test/"}, func(ctx context.Context, _ *crawl.Request) (*crawl.Response, error) {
		return nil, ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	if reqs := series(gather(t, m)["spiderrun_domain_requests_total"]); len(reqs) != 0 {
		t.Fatalf("withdrawn request counted: %v", reqs)
	}
}

func TestServe(t *testing.T) {
	t.Parallel()
	m := New(Options{Spider: "s", Stats: stats.NewMemory()})
	srv, err := Serve("127.0.0.1:0", m, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + srv.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `spiderrun_pages_total{spider="s"} 0`) {
		t.Fatalf("body:\n%s", body)
	}
	srv.Close()
	if _, err := http.Get("http://" + srv.Addr + "/metrics"); err == nil {
		t.Fatal("still serving after Close")
	}
}

// The work Download adds to every download (go test -bench Download
// -benchmem): compare with BenchmarkDownloadBare.
func BenchmarkDownload(b *testing.B) {
	m := New(Options{Spider: "s", Stats: stats.NewMemory()})
	ctx := context.Background()
	reqs := make([]*crawl.Request, 50)
	for i := range reqs {
		reqs[i] = &crawl.Request{URL: fmt.Sprintf("https://www.site%d.example/path/page?q=%d", i, i)}
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_, _ = m.Download(ctx, reqs[i%len(reqs)], ok)
			i++
		}
	})
}

func BenchmarkDownloadBare(b *testing.B) {
	ctx := context.Background()
	req := &crawl.Request{URL: "https://www.site1.example/path/page?q=1"}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = ok(ctx, req)
		}
	})
}
