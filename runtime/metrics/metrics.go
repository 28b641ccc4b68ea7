// Package metrics exposes a running crawl as Prometheus metrics
// (spiderrun_pages_total, spiderrun_download_duration_seconds, ...).
//
// Most series are read from the stats collector when /metrics is scraped,
// so the crawl pays nothing for them: the stats it keeps anyway
// (downloader/response_status_count/200, item_scraped_count, ...) become
// counters, and the engine's progress (queue, in flight) becomes gauges. Only
// what the stats do not hold is recorded per download, through Download:
// the download latency histogram and the per-domain counters (a map lookup
// and a few atomic adds; see BenchmarkDownload).
package metrics

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/http/httptrace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// TopDomains is how many domains get their own series in the per-domain
// counters: the TopDomains domains with the most requests at scrape time;
// the others are summed under domain="other".
const TopDomains = 20

// maxTrackedDomains bounds the memory the per-domain counters take: the
// requests to domains first seen after this many go straight to "other".
const maxTrackedDomains = 10_000

// OtherDomain is the domain label of the requests to the domains outside
// the top TopDomains.
const OtherDomain = "other"

// Progress is the engine's state read at scrape time.
type Progress struct {
	Queued       int // requests waiting in the scheduler (-1 if unknown)
	InFlight     int // requests being downloaded
	Processing   int // callbacks and errbacks running
	PendingItems int // items queued or in the pipelines
}

// Options configure New.
type Options struct {
	// Spider is the spider's name: the spider label of every series.
	Spider string
	// Stats is the crawl's collector, read at scrape time.
	Stats stats.Collector
	// Progress returns the engine's state; nil leaves the gauges out.
	Progress func() Progress
}

// Metrics is one crawl's registry. Download records each download;
// Handler serves the registry in Prometheus's text format.
type Metrics struct {
	reg      *prometheus.Registry
	latency  prometheus.Histogram
	callback *prometheus.HistogramVec
	domains  domains
	progress func() Progress
}

// New builds the registry: the counters read from opts.Stats, the gauges
// from opts.Progress, the latency histogram, the per-domain counters, and
// the standard Go and process collectors (without the spider label: they
// describe the process).
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), progress: opts.Progress}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	crawlReg := prometheus.WrapRegistererWith(prometheus.Labels{"spider": opts.Spider}, m.reg)
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "spiderrun_download_duration_seconds",
		Help: "Time from sending a request (past its download delay and slot wait) to its response or failure, every attempt.",
		// 5 ms to 60 s.
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	})
	m.callback = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "spiderrun_callback_duration_seconds",
		Help: "Time each JavaScript callback, errback, pipeline or middleware method, or hook took, from its first turn to its end (awaits included), by exported function.",
		// 100 µs to 60 s: most callbacks take a millisecond or less; one
		// awaiting network work or a browser can take seconds.
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"callback"})
	crawlReg.MustRegister(m.latency, m.callback, &statsCollector{st: opts.Stats, progress: opts.Progress}, &m.domains)
	return m
}

// Registry is the registry (for tests and for adding collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics in Prometheus's text format (or OpenMetrics
// when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// Callback records one invocation of the exported JavaScript function fn
// that took d (the jsbridge's CallbackTime hook). The caller keeps fn to
// the script's exports, which bounds the label's cardinality.
func (m *Metrics) Callback(fn string, d time.Duration) {
	m.callback.WithLabelValues(fn).Observe(d.Seconds())
}

// sendTrace notes when the downloader reports a request past its waits
// (httptrace's GetConn): the start of its latency.
type sendTrace struct {
	trace httptrace.ClientTrace
	start atomic.Int64 // unix nanoseconds; 0 until GetConn
}

// Download runs next for req and records it: its latency (from the moment
// it left the downloader's waits) and its domain's counters. A request
// cancelled before it was sent (the crawl closing) is not counted, as the
// stats do not count it.
func (m *Metrics) Download(ctx context.Context, req *crawl.Request, next func(context.Context, *crawl.Request) (*crawl.Response, error)) (*crawl.Response, error) {
	st := &sendTrace{}
	st.trace.GetConn = func(string) { st.start.CompareAndSwap(0, time.Now().UnixNano()) }
	resp, err := next(httptrace.WithClientTrace(ctx, &st.trace), req)
	start := st.start.Load()
	if err != nil && start == 0 && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return resp, err
	}
	if start != 0 {
		m.latency.Observe(float64(time.Now().UnixNano()-start) / 1e9)
	}
	d := m.domains.get(Domain(req.URL))
	d.requests.Add(1)
	if err != nil {
		d.errors.Add(1)
	} else {
		d.responses.Add(1)
	}
	return resp, err
}

// Domain is the lower-cased host name of rawURL, without port or user
// information; "" when it has none. It does not allocate for a lower-case
// URL (it runs for every download).
func Domain(rawURL string) string {
	s := rawURL
	if i := strings.Index(s, "://"); i >= 0 {
		s = s[i+3:]
	} else {
		return ""
	}
	if i := strings.IndexAny(s, "/?#"); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	if strings.HasPrefix(s, "[") { // [::1]:8080
		if i := strings.IndexByte(s, ']'); i >= 0 {
			s = s[1:i]
		}
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[:i]
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; 'A' <= c && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// domainCounts are one domain's counters.
type domainCounts struct {
	requests, responses, errors atomic.Int64
}

// domains are the per-domain counters: every domain seen (up to
// maxTrackedDomains) is counted; at scrape time the TopDomains with the
// most requests are exported under their name and the rest as "other".
type domains struct {
	m        sync.Map // string -> *domainCounts
	n        atomic.Int64
	overflow domainCounts // domains beyond maxTrackedDomains
}

func (d *domains) get(name string) *domainCounts {
	if c, ok := d.m.Load(name); ok {
		return c.(*domainCounts)
	}
	if d.n.Load() >= maxTrackedDomains {
		return &d.overflow
	}
	c, loaded := d.m.LoadOrStore(name, &domainCounts{})
	if !loaded {
		d.n.Add(1)
	}
	return c.(*domainCounts)
}

var (
	domainRequestsDesc = prometheus.NewDesc("spiderrun_domain_requests_total",
		"Requests downloaded (every attempt), per domain: the top domains by requests, the rest as domain=\"other\".", []string{"domain"}, nil)
	domainResponsesDesc = prometheus.NewDesc("spiderrun_domain_responses_total",
		"Responses received (any status), per domain.", []string{"domain"}, nil)
	domainErrorsDesc = prometheus.NewDesc("spiderrun_domain_download_errors_total",
		"Downloads that failed without a response (timeouts, connection errors, ...), per domain.", []string{"domain"}, nil)
)

// Describe implements prometheus.Collector.
func (d *domains) Describe(ch chan<- *prometheus.Desc) {
	ch <- domainRequestsDesc
	ch <- domainResponsesDesc
	ch <- domainErrorsDesc
}

type domainRow struct {
	name                        string
	requests, responses, errors int64
}

// Collect implements prometheus.Collector.
func (d *domains) Collect(ch chan<- prometheus.Metric) {
	var rows []domainRow
	d.m.Range(func(k, v any) bool {
		c := v.(*domainCounts)
		rows = append(rows, domainRow{k.(string), c.requests.Load(), c.responses.Load(), c.errors.Load()})
		return true
	})
	slices.SortFunc(rows, func(a, b domainRow) int {
		return cmp.Or(cmp.Compare(b.requests, a.requests), strings.Compare(a.name, b.name))
	})
	other := domainRow{name: OtherDomain, requests: d.overflow.requests.Load(),
		responses: d.overflow.responses.Load(), errors: d.overflow.errors.Load()}
	for i, r := range rows {
		if i < TopDomains && r.name != OtherDomain {
			emitDomain(ch, r)
			continue
		}
		other.requests += r.requests
		other.responses += r.responses
		other.errors += r.errors
	}
	if len(rows) > TopDomains || other.requests > 0 {
		emitDomain(ch, other)
	}
}

func emitDomain(ch chan<- prometheus.Metric, r domainRow) {
	ch <- prometheus.MustNewConstMetric(domainRequestsDesc, prometheus.CounterValue, float64(r.requests), r.name)
	ch <- prometheus.MustNewConstMetric(domainResponsesDesc, prometheus.CounterValue, float64(r.responses), r.name)
	ch <- prometheus.MustNewConstMetric(domainErrorsDesc, prometheus.CounterValue, float64(r.errors), r.name)
}
