package metrics

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spiderrun/spiderrun/runtime/stats"
)

// counter is a metric read from one stat: Stat when Label is "", else
// every stat named Stat+value, with value as the label.
type counter struct {
	Stat  string
	Label string
	desc  *prometheus.Desc
}

func newCounter(name, help, stat, label string) counter {
	var labels []string
	if label != "" {
		labels = []string{label}
	}
	return counter{Stat: stat, Label: label, desc: prometheus.NewDesc(name, help, labels, nil)}
}

// Counters are the metrics read from the stats at scrape time, with the
// stat each one mirrors (Scrapy's names).
var Counters = []counter{
	newCounter("spiderrun_pages_total", "Responses received by the engine (Scrapy's response_received_count).", stats.ResponseReceivedCount, ""),
	newCounter("spiderrun_items_total", "Items scraped: through the pipelines (item_scraped_count).", stats.ItemScrapedCount, ""),
	newCounter("spiderrun_items_dropped_total", "Items dropped by a pipeline (item_dropped_count).", stats.ItemDroppedCount, ""),
	newCounter("spiderrun_item_errors_total", "Items whose pipeline failed (item_error_count).", stats.ItemErrorCount, ""),
	newCounter("spiderrun_requests_total", "Requests sent by the downloader, every attempt (downloader/request_count).", "downloader/request_count", ""),
	newCounter("spiderrun_request_bytes_total", "Bytes of the requests as written on the wire (downloader/request_bytes).", "downloader/request_bytes", ""),
	newCounter("spiderrun_response_bytes_total", "Bytes of the response bodies and headers received (downloader/response_bytes).", "downloader/response_bytes", ""),
	newCounter("spiderrun_responses_total", "Responses by HTTP status (downloader/response_status_count/<status>).", "downloader/response_status_count/", "status"),
	newCounter("spiderrun_download_errors_total", "Downloads that failed without a response, by error type (downloader/exception_type_count/<type>).", "downloader/exception_type_count/", "type"),
	newCounter("spiderrun_spider_errors_total", "Unhandled errors in callbacks, by error type (spider_exceptions/<type>).", stats.SpiderExceptions, "type"),
	newCounter("spiderrun_retries_total", "Requests retried (retry/count).", "retry/count", ""),
	newCounter("spiderrun_blocks_total", "Anti-bot answers recognised, by detector (blocks/detector/<name>).", "blocks/detector/", "detector"),
	newCounter("spiderrun_blocks_gave_up_total", "Requests that failed with a BlockedError after BLOCK_RETRY_TIMES (blocks/gave_up).", "blocks/gave_up", ""),
	newCounter("spiderrun_identities_retired_total", "Session members retired after blocks (blocks/identities_retired).", "blocks/identities_retired", ""),
	newCounter("spiderrun_scheduler_enqueued_total", "Requests enqueued in the scheduler (scheduler/enqueued).", stats.SchedulerEnqueued, ""),
	newCounter("spiderrun_scheduler_dequeued_total", "Requests taken from the scheduler (scheduler/dequeued).", stats.SchedulerDequeued, ""),
	newCounter("spiderrun_dupefilter_filtered_total", "Requests dropped as duplicates (dupefilter/filtered).", stats.DupefilterFiltered, ""),
	newCounter("spiderrun_offsite_filtered_total", "Requests dropped as offsite (offsite/filtered).", stats.OffsiteFiltered, ""),
	newCounter("spiderrun_log_messages_total", "Log messages by level (log_count/<level>).", stats.LogCount, "level"),
}

var (
	startTimeDesc = prometheus.NewDesc("spiderrun_start_time_seconds", "When the crawl started, in seconds since the epoch (start_time).", nil, nil)
	queuedDesc    = prometheus.NewDesc("spiderrun_queued_requests", "Requests waiting in the scheduler.", nil, nil)
	inFlightDesc  = prometheus.NewDesc("spiderrun_requests_in_flight", "Requests being downloaded.", nil, nil)
	callbacksDesc = prometheus.NewDesc("spiderrun_callbacks_running", "Callbacks and errbacks running.", nil, nil)
	pendingDesc   = prometheus.NewDesc("spiderrun_items_pending", "Items queued for or in the pipelines.", nil, nil)
)

// statsCollector exports Counters from a stats snapshot and the engine's
// progress as gauges, both read when scraped.
type statsCollector struct {
	st       stats.Collector
	progress func() Progress
}

// Describe implements prometheus.Collector.
func (c *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range Counters {
		ch <- m.desc
	}
	ch <- startTimeDesc
	if c.progress != nil {
		ch <- queuedDesc
		ch <- inFlightDesc
		ch <- callbacksDesc
		ch <- pendingDesc
	}
}

// Collect implements prometheus.Collector.
func (c *statsCollector) Collect(ch chan<- prometheus.Metric) {
	snap := c.st.Snapshot()
	for _, m := range Counters {
		if m.Label == "" {
			n, _ := snap[m.Stat].(int64)
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(n))
			continue
		}
		for k, v := range snap {
			val, ok := strings.CutPrefix(k, m.Stat)
			n, isInt := v.(int64)
			if !ok || !isInt || val == "" || (m.Stat == stats.SpiderExceptions && val == "count") {
				continue
			}
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(n), val)
		}
	}
	if t, ok := snap[stats.StartTime].(time.Time); ok {
		ch <- prometheus.MustNewConstMetric(startTimeDesc, prometheus.GaugeValue, float64(t.UnixNano())/1e9)
	}
	if c.progress != nil {
		p := c.progress()
		if p.Queued >= 0 {
			ch <- prometheus.MustNewConstMetric(queuedDesc, prometheus.GaugeValue, float64(p.Queued))
		}
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(p.InFlight))
		ch <- prometheus.MustNewConstMetric(callbacksDesc, prometheus.GaugeValue, float64(p.Processing))
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(p.PendingItems))
	}
}
