package engine

import (
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's defaults give what New does with
// zero Options, field by field, except the differences FromSettings
// documents.
func TestFromSettingsDefaults(t *testing.T) {
	v := settings.Defaults()
	got, zero := FromSettings(&v), Options{}
	got.setDefaults()
	zero.setDefaults()
	// A zero CheckInterval is a minute (memusage.go).
	if zero.MemUsage.CheckInterval == 0 {
		zero.MemUsage.CheckInterval = time.Minute
	}
	for _, f := range []struct {
		name      string
		got, want any
	}{
		{"ConcurrentRequests", got.ConcurrentRequests, zero.ConcurrentRequests},
		{"CloseSpiderItemCount", got.CloseSpiderItemCount, zero.CloseSpiderItemCount},
		{"CloseSpiderPageCount", got.CloseSpiderPageCount, zero.CloseSpiderPageCount},
		{"CloseSpiderErrorCount", got.CloseSpiderErrorCount, zero.CloseSpiderErrorCount},
		{"CloseSpiderTimeout", got.CloseSpiderTimeout, zero.CloseSpiderTimeout},
		{"CloseSpiderTimeoutNoItem", got.CloseSpiderTimeoutNoItem, zero.CloseSpiderTimeoutNoItem},
		{"DontFilter", got.DontFilter, zero.DontFilter},
		{"MemUsage", got.MemUsage, zero.MemUsage},
		{"MemUsageInterval", got.MemUsageInterval, zero.MemUsageInterval},
	} {
		if f.got != f.want {
			t.Errorf("%s: the table's default gives %v, zero Options %v", f.name, f.got, f.want)
		}
	}
	// The documented differences (see FromSettings).
	if got.ConcurrentItems != 100 || zero.ConcurrentItems != 1 {
		t.Errorf("ConcurrentItems: table %d, zero Options %d", got.ConcurrentItems, zero.ConcurrentItems)
	}
	if got.MaxActiveSize != 1_000_000 || zero.MaxActiveSize != 5_000_000 {
		t.Errorf("MaxActiveSize: table %d, zero Options %d", got.MaxActiveSize, zero.MaxActiveSize)
	}
	if got.MaxWaiting != 256 || zero.MaxWaiting != 0 {
		t.Errorf("MaxWaiting: table %d, zero Options %d", got.MaxWaiting, zero.MaxWaiting)
	}
}

func TestMemUsageFromSettings(t *testing.T) {
	v := settings.Defaults()
	v.MemUsageLimitMB, v.MemUsageWarningMB = 2, 1
	if m := MemUsageFromSettings(&v); m.Limit != 2<<20 || m.Warning != 1<<20 || m.Off {
		t.Errorf("%+v", m)
	}
	v.MemUsageEnabled = false
	if o := FromSettings(&v); !o.MemUsage.Off || o.MemUsageInterval >= 0 {
		t.Errorf("MEMUSAGE_ENABLED false: %+v, interval %v", o.MemUsage, o.MemUsageInterval)
	}
}
