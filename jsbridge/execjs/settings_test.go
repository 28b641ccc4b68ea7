package execjs

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's JS_TIMEOUT is the zero Options'
// timeout; the memory limit and the user agent are the documented
// differences.
func TestFromSettingsDefaults(t *testing.T) {
	v := settings.Defaults()
	got, zero := FromSettings(&v), Options{}
	if got.timeout() != zero.timeout() {
		t.Errorf("timeout: table %v, zero Options %v", got.timeout(), zero.timeout())
	}
	if got.MemoryLimit != 512<<20 || zero.MemoryLimit != 0 {
		t.Errorf("memory limit: table %d, zero Options %d", got.MemoryLimit, zero.MemoryLimit)
	}
	if got.UserAgent != v.UserAgent || zero.UserAgent != "" {
		t.Errorf("user agent: table %q, zero Options %q", got.UserAgent, zero.UserAgent)
	}
}
