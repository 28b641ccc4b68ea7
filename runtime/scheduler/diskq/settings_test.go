package diskq_test

import (
	"reflect"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/scheduler/diskq"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's defaults are the options' defaults
// (no fsync per commit, only the first duplicate logged, the filter sized
// by DefaultExpectedURLs and DefaultFPRate).
func TestFromSettingsDefaults(t *testing.T) {
	v := settings.Defaults()
	want := diskq.Options{ExpectedURLs: diskq.DefaultExpectedURLs, FPRate: diskq.DefaultFPRate}
	if got := diskq.FromSettings(&v); !reflect.DeepEqual(got, want) {
		t.Errorf("%+v, want %+v", got, want)
	}
	v.JobDirFsync, v.DupefilterDebug = true, true
	v.DupefilterExpectedURLs, v.DupefilterFpRate = 5, 0.5
	if got := diskq.FromSettings(&v); !got.Fsync || !got.Debug || got.ExpectedURLs != 5 || got.FPRate != 0.5 {
		t.Errorf("%+v", got)
	}
}
