package engine

import "github.com/spiderrun/spiderrun/runtime/settings"

// FromSettings returns the engine options of the settings:
// CONCURRENT_REQUESTS, CONCURRENT_ITEMS, SCRAPER_SLOT_MAX_ACTIVE_SIZE,
// SCHEDULER_WAITING_MAX,
// CLOSESPIDER_*, DONT_FILTER, LOGSTATS_INTERVAL, SHUTDOWN_GRACE_PERIOD
// and the MEMUSAGE_* watch. The spider, the
// fetcher, the scheduler and the other collaborators are the caller's, as
// are the limits that depend on the scheduler (MaxActiveRequests,
// MaxLeased, DurableAcks).
//
// Three defaults differ from the zero Options on purpose (a test keeps the
// list): CONCURRENT_ITEMS is 100 (Scrapy's) where a Go caller gets one
// pipeline worker; SCRAPER_SLOT_MAX_ACTIVE_SIZE is 1 MB where a Go
// caller gets Scrapy's 5 MB: JavaScript callbacks run one at a time, so
// responses queued for them beyond that only cost memory; and
// SCHEDULER_WAITING_MAX is 256 where a Go caller gets 0 (the ready-host
// layer also needs Options.Slots, the downloader, which only the caller
// has).
func FromSettings(v *settings.Values) Options {
	o := Options{
		ConcurrentRequests:       v.ConcurrentRequests,
		ConcurrentItems:          v.ConcurrentItems,
		MaxActiveSize:            v.ScraperSlotMaxActiveSize,
		CloseSpiderItemCount:     int64(v.CloseSpiderItemCount),
		CloseSpiderPageCount:     int64(v.CloseSpiderPageCount),
		CloseSpiderErrorCount:    int64(v.CloseSpiderErrorCount),
		CloseSpiderTimeout:       v.CloseSpiderTimeout,
		CloseSpiderTimeoutNoItem: v.CloseSpiderTimeoutNoItem,
		DontFilter:               v.DontFilter,
		LogStatsInterval:         v.LogstatsInterval,
		ShutdownGrace:            v.ShutdownGracePeriod,
		MaxWaiting:               v.SchedulerWaitingMax,
	}
	if o.LogStatsInterval <= 0 {
		o.LogStatsInterval = -1 // LOGSTATS_INTERVAL 0: never (0 in Options is the default)
	}
	return o.WithMemUsage(MemUsageFromSettings(v))
}

// MemUsageFromSettings reads MEMUSAGE_ENABLED, MEMUSAGE_LIMIT_MB,
// MEMUSAGE_WARNING_MB and MEMUSAGE_CHECK_INTERVAL_SECONDS (Scrapy's
// MemoryUsage extension).
func MemUsageFromSettings(v *settings.Values) MemUsage {
	if !v.MemUsageEnabled {
		return MemUsage{Off: true}
	}
	return MemUsage{
		Limit:         int64(v.MemUsageLimitMB) << 20,
		Warning:       int64(v.MemUsageWarningMB) << 20,
		CheckInterval: v.MemUsageCheckIntervalSeconds,
	}
}
