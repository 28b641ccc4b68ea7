package diskq_test

import (
	"reflect"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/scheduler/diskq"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's defaults are the zero options (no
// fsync per commit, only the first duplicate logged).
func TestFromSettingsDefaults(t *testing.T) {
	v := settings.Defaults()
	if got := diskq.FromSettings(&v); !reflect.DeepEqual(got, diskq.Options{}) {
		t.Errorf("%+v", got)
	}
	v.JobDirFsync, v.DupefilterDebug = true, true
	if got := diskq.FromSettings(&v); !got.Fsync || !got.Debug {
		t.Errorf("%+v", got)
	}
}
