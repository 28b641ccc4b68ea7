package stats

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Well-known stat names (Scrapy's spelling). Per-value stats append a suffix:
// downloader/response_status_count/200, log_count/ERROR, ...
const (
	StartTime          = "start_time"
	FinishTime         = "finish_time"
	FinishReason       = "finish_reason"
	ElapsedTimeSeconds = "elapsed_time_seconds"
	MemUsageStartup    = "memusage/startup"
	MemUsageMax        = "memusage/max"

	ResponseReceivedCount = "response_received_count"
	ItemScrapedCount      = "item_scraped_count"
	// ItemWriteFailedCount counts items that passed the pipelines but could
	// not be written to a feed (the crawl then closes with feed_error).
	ItemWriteFailedCount = "item_write_failed_count"
	ItemDroppedCount     = "item_dropped_count"
	ItemDroppedReasons   = "item_dropped_reasons_count/" // + reason
	ItemErrorCount       = "item_error_count"

	SchedulerEnqueued       = "scheduler/enqueued"
	SchedulerEnqueuedMemory = "scheduler/enqueued/memory"
	SchedulerDequeued       = "scheduler/dequeued"
	SchedulerDequeuedMemory = "scheduler/dequeued/memory"
	DupefilterFiltered      = "dupefilter/filtered"

	SpiderExceptionsCount = "spider_exceptions/count"
	SpiderExceptions      = "spider_exceptions/" // + error type
	LogCount              = "log_count/"         // + DEBUG, INFO, WARNING, ERROR

	RequestDepthMax   = "request_depth_max"
	RequestDepthCount = "request_depth_count/" // + depth
	OffsiteDomains    = "offsite/domains"
	OffsiteFiltered   = "offsite/filtered"
)

// Format renders a snapshot as the end-of-run block: one "key: value" line
// per stat, sorted by key, times in RFC 3339 UTC. It is what `spiderrun run`
// prints to stderr.
func Format(snap map[string]any) string {
	keys := make([]string, 0, len(snap))
	for k := range snap {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	b.WriteString("Dumping spiderrun stats:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "  %s: %s\n", k, formatValue(snap[k]))
	}
	return b.String()
}

func formatValue(v any) string {
	switch x := v.(type) {
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case string:
		return strconv.Quote(x)
	default:
		return fmt.Sprint(x)
	}
}

// WriteJSON writes a snapshot as one JSON object with sorted keys (Go's
// encoder sorts map keys); times are RFC 3339 strings.
func WriteJSON(w io.Writer, snap map[string]any) error {
	out := make(map[string]any, len(snap))
	for k, v := range snap {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		out[k] = v
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("stats: encode json: %w", err)
	}
	return nil
}

// WriteJSONFile writes a snapshot to path (--stats-json), replacing it.
func WriteJSONFile(path string, snap map[string]any) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	defer func() {
		if cerr := f.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("stats: close %s: %w", path, cerr)
		}
	}()
	bw := bufio.NewWriter(f)
	if err := WriteJSON(bw, snap); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("stats: write %s: %w", path, err)
	}
	return nil
}

// countingHandler counts every record it sees under log_count/<LEVEL>
// before handing it on, as Scrapy's LogCounterHandler does.
type countingHandler struct {
	next slog.Handler
	c    Collector
}

// NewCountingHandler wraps h so that every log record enabled by h is counted
// in c under log_count/DEBUG, log_count/INFO, log_count/WARNING or
// log_count/ERROR (Scrapy's names).
func NewCountingHandler(h slog.Handler, c Collector) slog.Handler {
	return &countingHandler{next: h, c: c}
}

func (h *countingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.next.Enabled(ctx, l)
}

func (h *countingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.c.Inc(LogCount+LevelName(r.Level), 1)
	return h.next.Handle(ctx, r)
}

func (h *countingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &countingHandler{next: h.next.WithAttrs(as), c: h.c}
}

func (h *countingHandler) WithGroup(name string) slog.Handler {
	return &countingHandler{next: h.next.WithGroup(name), c: h.c}
}

// LevelName maps a slog level to Scrapy's level names.
func LevelName(l slog.Level) string {
	switch {
	case l >= slog.LevelError:
		return "ERROR"
	case l >= slog.LevelWarn:
		return "WARNING"
	case l >= slog.LevelInfo:
		return "INFO"
	default:
		return "DEBUG"
	}
}

// PeakRSS returns the peak resident set size (VmHWM) in bytes of the
// process whose /proc status file is statusPath ("/proc/self/status",
// "/proc/PID/status"), or 0 when it cannot be read (not Linux, or the
// process is gone).
func PeakRSS(statusPath string) int64 {
	data, err := os.ReadFile(statusPath)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// RSS returns the process's resident set size in bytes. On Linux it reads
// /proc/self/statm (what Scrapy's MemoryUsage extension reports); elsewhere
// it falls back to the memory the Go runtime obtained from the OS.
func RSS() int64 {
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			if pages, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				return pages * int64(os.Getpagesize())
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys)
}

// SampleMemory records memusage/startup now and keeps memusage/max up to
// date every interval until ctx ends; it records a last sample on return.
func SampleMemory(ctx context.Context, c Collector, interval time.Duration) {
	rss := RSS()
	c.Set(MemUsageStartup, rss)
	c.Max(MemUsageMax, rss)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Max(MemUsageMax, RSS())
			return
		case <-t.C:
			c.Max(MemUsageMax, RSS())
		}
	}
}
