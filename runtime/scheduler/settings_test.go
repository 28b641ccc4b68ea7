package scheduler_test

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's defaults are the zero options
// (only the first duplicate is logged).
func TestFromSettingsDefaults(t *testing.T) {
	v := settings.Defaults()
	if got := scheduler.MemoryFromSettings(&v); got.Debug || got.SlotKey != nil || got.DupeFilter != nil {
		t.Errorf("%+v", got)
	}
	if !scheduler.PerSlot(&v) {
		t.Error("the default SCHEDULER_PRIORITY_QUEUE is not per slot")
	}
	v.SchedulerPriorityQueue = settings.SchedulerPriorityQueueScrapy
	if scheduler.PerSlot(&v) {
		t.Error("ScrapyPriorityQueue read as per slot")
	}
	v.DupefilterDebug = true
	if !scheduler.MemoryFromSettings(&v).Debug {
		t.Error("DUPEFILTER_DEBUG not read")
	}
}
