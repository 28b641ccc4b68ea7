package engine

import (
	"time"

	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Stats of the memory watcher (Scrapy's MemoryUsage extension names).
const (
	statMemLimitReached   = "memusage/limit_reached"
	statMemWarningReached = "memusage/warning_reached"
)

// memWatch applies Options.MemUsage from the engine's poll loop.
type memWatch struct {
	o      MemUsage
	next   time.Time
	warned bool
}

func newMemWatch(o MemUsage) *memWatch {
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Minute
	}
	return &memWatch{o: o, next: time.Now().Add(o.CheckInterval)}
}

// due tells whether a check is on: limits set and the interval elapsed.
func (m *memWatch) due() bool {
	if m.o.Off || m.o.Limit <= 0 && m.o.Warning <= 0 {
		return false
	}
	if time.Now().Before(m.next) {
		return false
	}
	m.next = time.Now().Add(m.o.CheckInterval)
	return true
}

// check reads the process's memory, warns once past Warning, and closes
// the crawl past Limit (it returns true then).
func (m *memWatch) check(e *Engine) bool {
	rss := stats.RSS()
	e.stats.Max(stats.MemUsageMax, rss)
	if m.o.Limit > 0 && rss > m.o.Limit {
		e.stats.Set(statMemLimitReached, 1)
		e.log.Error("memory usage exceeded MEMUSAGE_LIMIT_MB; closing the spider",
			"memusage_mb", rss>>20, "limit_mb", m.o.Limit>>20)
		e.requestClose(ReasonMemUsage)
		return true
	}
	if m.o.Warning > 0 && rss > m.o.Warning && !m.warned {
		m.warned = true
		e.stats.Set(statMemWarningReached, 1)
		e.log.Warn("memory usage reached MEMUSAGE_WARNING_MB",
			"memusage_mb", rss>>20, "warning_mb", m.o.Warning>>20)
	}
	return false
}
