package jsbridge

import (
	"time"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// FromSettings returns the spider options of the settings: the limits
// JS_TIMEOUT, JS_MEMORY_LIMIT and CALLBACK_TIMEOUT, whose 0 ("no limit")
// is a negative value here (0 here is the default). The program, the
// spec's names and hooks, and Settings (the spider.settings view) are the
// caller's. FromSettings(settings.Defaults()) gives the limits New uses
// for zero options (a test checks).
func FromSettings(v *settings.Values) Options {
	return Options{
		JSTimeout:       v.JSTimeout,
		JSMemoryLimit:   zeroIsOff(v.JSMemoryLimit),
		CallbackTimeout: zeroIsOff(v.CallbackTimeout),
		MaxLinks:        v.LinkExtractorMaxLinks,
	}
}

// zeroIsOff maps a setting's "0 = no limit" onto the options', where 0
// means the default and a negative value means none.
func zeroIsOff[T int64 | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}
