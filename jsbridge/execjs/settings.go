package execjs

import "github.com/spiderrun/spiderrun/runtime/settings"

// FromSettings returns the use_execjs options of the settings: JS_TIMEOUT
// per call, JS_MEMORY_LIMIT (0 = none, as here) and USER_AGENT as
// navigator.userAgent. The logger is the caller's. Where the zero Options
// differ (a test keeps the list): they set no memory limit and a Chrome
// navigator.userAgent (DefaultUserAgent).
func FromSettings(v *settings.Values) Options {
	return Options{Timeout: v.JSTimeout, UserAgent: v.UserAgent, MemoryLimit: v.JSMemoryLimit}
}
