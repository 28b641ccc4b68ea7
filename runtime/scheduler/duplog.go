package scheduler

import (
	"log/slog"
	"sync"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// DuplicateLog counts the requests a dupefilter drops and logs them as
// Scrapy's RFPDupeFilter does: every one with Debug (DUPEFILTER_DEBUG),
// otherwise only the first, with a hint. Safe for concurrent use.
type DuplicateLog struct {
	Stats  stats.Collector // nil: not counted
	Logger *slog.Logger
	Debug  bool

	first sync.Once
}

// Filtered records one dropped request.
func (l *DuplicateLog) Filtered(r *crawl.Request) {
	if l.Stats != nil {
		l.Stats.Inc(stats.DupefilterFiltered, 1)
	}
	// Scrapy's words, so that grep habits carry over.
	if l.Debug {
		l.Logger.Debug("Filtered duplicate request: " + r.String() + " (referer: " + referer(r) + ")")
		return
	}
	l.first.Do(func() {
		l.Logger.Debug("Filtered duplicate request: " + r.String() + " - no more duplicates will be shown (see DUPEFILTER_DEBUG to show all duplicates)")
	})
}

// referer is the request's Referer header, or None as Scrapy writes it.
func referer(r *crawl.Request) string {
	if v := r.Headers.Get("Referer"); v != "" {
		return v
	}
	return "None"
}
