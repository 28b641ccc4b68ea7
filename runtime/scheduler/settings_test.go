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
	if got := scheduler.MemoryFromSettings(&v); got != (scheduler.MemoryOptions{}) {
		t.Errorf("%+v", got)
	}
	v.DupefilterDebug = true
	if !scheduler.MemoryFromSettings(&v).Debug {
		t.Error("DUPEFILTER_DEBUG not read")
	}
}
