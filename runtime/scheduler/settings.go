package scheduler

import "github.com/spiderrun/spiderrun/runtime/settings"

// MemoryFromSettings returns the in-memory scheduler's options of the
// settings: DUPEFILTER_DEBUG. Stats and the logger are the caller's.
func MemoryFromSettings(v *settings.Values) MemoryOptions {
	return MemoryOptions{Debug: v.DupefilterDebug}
}
