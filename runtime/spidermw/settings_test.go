package spidermw

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's defaults give NewDepth's zero
// configuration (no limit, no priority change, no per-depth stats), and
// the Referer header on (REFERER_ENABLED: true; a zero Referer only
// records Request.Parent).
func TestFromSettingsDefaults(t *testing.T) {
	v := settings.Defaults()
	got, want := DepthFromSettings(&v, nil, nil), NewDepth(0, 0, false, nil, nil)
	if got.Limit != want.Limit || got.Priority != want.Priority || got.Verbose != want.Verbose {
		t.Errorf("depth %+v, want %+v", got, want)
	}
	if r := RefererFromSettings(&v); !r.SetHeader {
		t.Error("REFERER_ENABLED is on by default")
	}
}
