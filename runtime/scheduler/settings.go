package scheduler

import "github.com/spiderrun/spiderrun/runtime/settings"

// MemoryFromSettings returns the in-memory scheduler's options of the
// settings: DUPEFILTER_DEBUG. Stats and the logger are the caller's.
func MemoryFromSettings(v *settings.Values) MemoryOptions {
	return MemoryOptions{Debug: v.DupefilterDebug}
}

// PerSlot reports whether the settings ask for one queue per download
// slot (SCHEDULER_PRIORITY_QUEUE DownloaderAwarePriorityQueue, the
// default): the caller then sets MemoryOptions.SlotKey to the
// downloader's slot key.
func PerSlot(v *settings.Values) bool {
	return v.SchedulerPriorityQueue == settings.SchedulerPriorityQueueDownloaderAware
}
