package jsbridge

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's defaults are the limits New gives
// zero options, and a setting's 0 turns a limit off.
func TestFromSettingsDefaults(t *testing.T) {
	v := settings.Defaults()
	o := FromSettings(&v)
	if o.JSTimeout != DefaultJSTimeout || o.JSMemoryLimit != DefaultJSMemoryLimit || o.CallbackTimeout != DefaultCallbackTimeout {
		t.Errorf("table: %v %d %v; New's defaults: %v %d %v", o.JSTimeout, o.JSMemoryLimit, o.CallbackTimeout,
			DefaultJSTimeout, DefaultJSMemoryLimit, DefaultCallbackTimeout)
	}
	v.JSMemoryLimit, v.CallbackTimeout = 0, 0
	if o := FromSettings(&v); o.JSMemoryLimit >= 0 || o.CallbackTimeout >= 0 {
		t.Errorf("0 = no limit: %d %v", o.JSMemoryLimit, o.CallbackTimeout)
	}
}
