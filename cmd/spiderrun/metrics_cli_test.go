package main

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/metrics"
)

// metricsSite is a slow local site on several host names: a chain of
// pages on 127.0.0.1 (each yields an item and links to the next), a 404,
// and one page on each of extra loopback addresses (127.0.0.2, ...), so
// that the crawl touches more domains than metrics.TopDomains.
type metricsSite struct {
	main   string // http://127.0.0.1:PORT
	extras []string
	pages  int // responses the crawl receives in all
}

func newMetricsSite(t *testing.T, chain, extraHosts int, delay time.Duration) *metricsSite {
	t.Helper()
	s := &metricsSite{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay)
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		var i int
		if _, err := fmt.Sscanf(r.URL.Path, "/p/%d", &i); err == nil && i+1 < chain {
			fmt.Fprintf(w, `<html><body><a href="/p/%d">next</a></body></html>`, i+1)
			return
		}
		if r.URL.Path == "/" {
			var b strings.Builder
			b.WriteString(`<html><body><a href="/p/0">chain</a><a href="/missing">404</a>`)
			for _, e := range s.extras {
				fmt.Fprintf(&b, `<a href="%s/x">x</a>`, e)
			}
			b.WriteString(`</body></html>`)
			fmt.Fprint(w, b.String())
			return
		}
		fmt.Fprint(w, `<html><body>leaf</body></html>`)
	})
	serve := func(ip string) string {
		l, err := net.Listen("tcp", ip+":0")
		if err != nil {
			t.Fatalf("listen on %s (Linux routes all of 127.0.0.0/8 to loopback): %v", ip, err)
		}
		srv := &http.Server{Handler: h}
		go func() { _ = srv.Serve(l) }()
		t.Cleanup(func() { srv.Close() })
		return "http://" + l.Addr().String()
	}
	s.main = serve("127.0.0.1")
	for i := range extraHosts {
		s.extras = append(s.extras, serve(fmt.Sprintf("127.0.0.%d", i+2)))
	}
	s.pages = 1 + chain + 1 + extraHosts // start page, chain, 404, extras
	return s
}

// metricsSpec writes a spider that yields one item per 200 page and
// follows every link; its spider_idle hook keeps the crawl open (idle)
// for about four seconds (-a keep=N: N), long enough to scrape the final figures.
func metricsSpec(t *testing.T, start string) string {
	t.Helper()
	dir := t.TempDir()
	js := `let idle = 0;
export function* parse(response) {
  if (response.status === 200) yield { url: response.url };
  for (const href of response.css("a::attr(href)").getall()) yield response.follow(href);
}
export function on_idle(spider) {
  console.log("metrics-test idle " + ++idle);
  if (idle <= Number(spider.args.keep ?? 4)) return new DontCloseSpider();
}
`
	yaml := fmt.Sprintf(`name: metered
script: spider.js
start_urls: [%q]
hooks: {spider_idle: on_idle}
settings:
  DENY_PRIVATE_NETWORKS: false
  ROBOTSTXT_OBEY: false
  HTTPERROR_ALLOW_ALL: true
  CONCURRENT_REQUESTS: 4
  LOGSTATS_INTERVAL: 0
`, start+"/")
	writeFile(t, filepath.Join(dir, "spider.js"), js)
	spec := filepath.Join(dir, "spider.yaml")
	writeFile(t, spec, yaml)
	return spec
}

var metricsLine = regexp.MustCompile(`Serving metrics on http://([^/\s]+)/metrics`)

// scrape fetches /metrics and parses it with Prometheus's text parser.
func scrape(addr string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// value is the counter, gauge or untyped value of name with the given
// labels (all of them, spider included), and whether it is there.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		got := map[string]string{}
		for _, l := range m.GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		match := len(got) == len(labels)/2
		for i := 0; match && i+1 < len(labels); i += 2 {
			match = got[labels[i]] == labels[i+1]
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// labelValues maps the value of label in name's series to the series value.
func labelValues(fams map[string]*dto.MetricFamily, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, m := range fams[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// A slow crawl through the real CLI with --metrics-addr: /metrics is
// scraped (Prometheus's text parser) during the crawl and once it is idle
// at its end; the counters there equal the final --stats-json stats
// (pages, items, responses by status, bytes, requests), the per-domain
// counters keep metrics.TopDomains domains and sum the rest as "other",
// and the latency histogram saw every download.
func TestMetricsDuringCrawl(t *testing.T) {
	extra := metrics.TopDomains + 3
	site := newMetricsSite(t, 12, extra, 40*time.Millisecond)
	spec := metricsSpec(t, site.main)
	dir := t.TempDir()
	statsFile := filepath.Join(dir, "stats.json")
	p := startCLI(t, "run", spec, "--metrics-addr", "127.0.0.1:0", "--stats-json", statsFile, "-o", filepath.Join(dir, "items.jsonl"))

	var addr string
	proctest.WaitFor(t, "the metrics address in the log", 20*time.Second, func() bool {
		m := metricsLine.FindStringSubmatch(p.Out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	sp := []string{"spider", "metered"}

	// During the crawl: some pages, not all.
	var mid map[string]*dto.MetricFamily
	proctest.WaitFor(t, "a scrape in the middle of the crawl", 20*time.Second, func() bool {
		fams, err := scrape(addr)
		if err != nil {
			return false
		}
		n, _ := value(fams, "spiderrun_pages_total", sp...)
		if n >= 2 && n < float64(site.pages) {
			mid = fams
			return true
		}
		return false
	})
	if _, ok := value(mid, "spiderrun_requests_in_flight", sp...); !ok {
		t.Errorf("no spiderrun_requests_in_flight during the crawl")
	}
	if _, ok := value(mid, "spiderrun_queued_requests", sp...); !ok {
		t.Errorf("no spiderrun_queued_requests during the crawl")
	}

	// At the end: idle, once spider_idle fired twice (a second apart; its
	// hook keeps the crawl open for four), so the items exported were also
	// committed and counted (item_scraped_count lags the feed by up to the
	// engine's 100 ms commit interval).
	proctest.WaitFor(t, "the spider_idle hook", 30*time.Second, func() bool {
		return strings.Contains(p.Out.String(), "metrics-test idle 2")
	})
	end, err := scrape(addr)
	if err != nil {
		t.Fatalf("scrape of the idle crawl: %v\n%s", err, tail(p.Out.String()))
	}
	for _, g := range []string{"spiderrun_requests_in_flight", "spiderrun_queued_requests", "spiderrun_callbacks_running", "spiderrun_items_pending"} {
		if v, ok := value(end, g, sp...); !ok || v != 0 {
			t.Errorf("idle crawl: %s = %v (present %v), want 0", g, v, ok)
		}
	}
	if err := p.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("run: %v\n%s", err, tail(p.Out.String()))
	}
	st := readStats(t, statsFile)

	for _, c := range []struct{ metric, stat string }{
		{"spiderrun_pages_total", "response_received_count"},
		{"spiderrun_items_total", "item_scraped_count"},
		{"spiderrun_requests_total", "downloader/request_count"},
		{"spiderrun_request_bytes_total", "downloader/request_bytes"},
		{"spiderrun_response_bytes_total", "downloader/response_bytes"},
		{"spiderrun_scheduler_enqueued_total", "scheduler/enqueued"},
	} {
		got, ok := value(end, c.metric, sp...)
		if want := statInt(st, c.stat); !ok || got != float64(want) || want == 0 {
			t.Errorf("%s = %v (present %v), want %s = %d", c.metric, got, ok, c.stat, want)
		}
		if m, _ := value(mid, c.metric, sp...); m > got {
			t.Errorf("%s went down: %v during the crawl, %v at the end", c.metric, m, got)
		}
	}
	if items := statInt(st, "item_scraped_count"); items != site.pages-1 {
		t.Errorf("item_scraped_count %d, want %d (every page but the 404)", items, site.pages-1)
	}

	statuses := labelValues(end, "spiderrun_responses_total", "status")
	wantStatuses := map[string]float64{}
	for k, v := range st {
		if code, ok := strings.CutPrefix(k, "downloader/response_status_count/"); ok {
			wantStatuses[code] = v.(float64)
		}
	}
	if fmt.Sprint(statuses) != fmt.Sprint(wantStatuses) || len(wantStatuses) != 2 {
		t.Errorf("spiderrun_responses_total by status = %v, want the stats' %v (200 and 404)", statuses, wantStatuses)
	}

	// Per domain: TopDomains names plus "other", summing to every request.
	doms := labelValues(end, "spiderrun_domain_requests_total", "domain")
	var sum float64
	for _, v := range doms {
		sum += v
	}
	if len(doms) != metrics.TopDomains+1 || doms[metrics.OtherDomain] == 0 {
		t.Errorf("%d domain series (other: %v), want %d named + other: %v", len(doms), doms[metrics.OtherDomain], metrics.TopDomains, doms)
	}
	if want := float64(statInt(st, "downloader/request_count")); sum != want {
		t.Errorf("per-domain requests sum to %v, want downloader/request_count %v", sum, want)
	}
	if got, want := doms["127.0.0.1"], float64(1+12+1); got != want {
		t.Errorf("domain 127.0.0.1: %v requests, want %v (the most, so named)", got, want)
	}
	if want := float64(extra + 1 - metrics.TopDomains); doms[metrics.OtherDomain] != want {
		t.Errorf("domain other: %v requests, want %v (one per domain beyond the top %d)", doms[metrics.OtherDomain], want, metrics.TopDomains)
	}

	if n, _ := value(end, "spiderrun_download_duration_seconds", sp...); n != float64(statInt(st, "downloader/request_count")) {
		t.Errorf("latency histogram has %v observations, want one per request (%d)", n, statInt(st, "downloader/request_count"))
	}
	if f := end["spiderrun_download_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("spiderrun_download_duration_seconds is %v, want a histogram", f.GetType())
	} else if h := f.GetMetric()[0].GetHistogram(); h.GetSampleSum() < 0.04*float64(h.GetSampleCount()) {
		t.Errorf("latency sum %vs for %d downloads of at least 40ms each", h.GetSampleSum(), h.GetSampleCount())
	}
	// JS callback time: one observation per invocation of each exported
	// function, labelled with its name: parse ran once per response, the
	// spider_idle hook at least twice by the end scrape.
	cbs := map[string]*dto.Histogram{}
	if f := end["spiderrun_callback_duration_seconds"]; f.GetType() != dto.MetricType_HISTOGRAM {
		t.Errorf("spiderrun_callback_duration_seconds is %v, want a histogram", f.GetType())
	} else {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "callback" {
					cbs[l.GetValue()] = m.GetHistogram()
				}
			}
		}
	}
	if len(cbs) != 2 {
		t.Errorf("callback histogram series %v, want parse and on_idle", slices.Sorted(maps.Keys(cbs)))
	}
	if n, want := cbs["parse"].GetSampleCount(), uint64(statInt(st, "response_received_count")); n != want {
		t.Errorf("callback parse: %d observations, want one per response (%d)", n, want)
	}
	if h := cbs["parse"]; h.GetSampleSum() <= 0 || h.GetBucket()[len(h.GetBucket())-1].GetCumulativeCount() != h.GetSampleCount() {
		t.Errorf("callback parse: sum %v, buckets %v: want a positive time and every call under 60 s", h.GetSampleSum(), h.GetBucket())
	}
	if n := cbs["on_idle"].GetSampleCount(); n < 2 {
		t.Errorf("callback on_idle: %d observations, want at least 2 (the hook ran twice before the scrape)", n)
	}
	if n, _ := value(mid, "spiderrun_callback_duration_seconds", append(sp, "callback", "parse")...); n == 0 {
		t.Errorf("no parse observations during the crawl")
	}
	for _, name := range []string{"process_resident_memory_bytes", "go_memstats_heap_alloc_bytes", "go_goroutines"} {
		if v, ok := value(end, name); !ok || v <= 0 {
			t.Errorf("%s = %v (present %v), want the standard collectors", name, v, ok)
		}
	}
}

// A bad --metrics-addr or METRICS_ADDR is a usage error naming the
// address: malformed, or a port already in use.
func TestMetricsAddrErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	site := newMetricsSite(t, 1, 0, 0)
	spec := metricsSpec(t, site.main)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"malformed flag", []string{"--metrics-addr", "localhost:http-alt"}, []string{`--metrics-addr "localhost:http-alt"`, "want HOST:PORT"}},
		{"port out of range", []string{"--metrics-addr", "99999"}, []string{`--metrics-addr "99999"`}},
		{"malformed setting", []string{"-s", "METRICS_ADDR=a:b:c"}, []string{"METRICS_ADDR", `"a:b:c"`, "want HOST:PORT"}},
		{"port in use", []string{"--metrics-addr", busy.Addr().String()}, []string{`metrics address "` + busy.Addr().String() + `"`, "address already in use"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, append([]string{"run", spec}, c.args...)...)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d (usage):\n%s", code, exitUsage, tail(stderr))
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, tail(stderr))
				}
			}
		})
	}
}

// A port alone listens on loopback; an address that is not loopback is
// served with a WARNING that the metrics are unauthenticated.
func TestMetricsAddrLoopbackAndWarning(t *testing.T) {
	site := newMetricsSite(t, 1, 0, 0)
	spec := metricsSpec(t, site.main)
	code, _, stderr := runCLI(t, "run", spec, "-a", "keep=0", "--metrics-addr", "0")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, tail(stderr))
	}
	m := metricsLine.FindStringSubmatch(stderr)
	if m == nil || !strings.HasPrefix(m[1], "127.0.0.1:") || strings.Contains(stderr, "WARNING: Metrics") {
		t.Fatalf("a port alone: want 127.0.0.1 and no warning:\n%s", tail(stderr))
	}
	code, _, stderr = runCLI(t, "run", spec, "-a", "keep=0", "--metrics-addr", "0.0.0.0:0")
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, tail(stderr))
	}
	if !strings.Contains(stderr, "WARNING: Metrics on ") || !strings.Contains(stderr, "without authentication") {
		t.Fatalf("0.0.0.0: want the unauthenticated WARNING:\n%s", tail(stderr))
	}
}
