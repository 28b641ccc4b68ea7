package engine

import (
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestShutdownGraceSetting: SHUTDOWN_GRACE_PERIOD is Options.ShutdownGrace;
// the table's default is the engine's own (10s).
func TestShutdownGraceSetting(t *testing.T) {
	t.Parallel()
	v := settings.Defaults()
	got, zero := FromSettings(&v), Options{}
	got.setDefaults()
	zero.setDefaults()
	if got.ShutdownGrace != zero.ShutdownGrace || got.ShutdownGrace != 10*time.Second {
		t.Errorf("default grace: table %s, zero Options %s", got.ShutdownGrace, zero.ShutdownGrace)
	}
	v.ShutdownGracePeriod = 1500 * time.Millisecond
	if o := FromSettings(&v); o.ShutdownGrace != 1500*time.Millisecond {
		t.Errorf("SHUTDOWN_GRACE_PERIOD 1.5s gives %s", o.ShutdownGrace)
	}
}
