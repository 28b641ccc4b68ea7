package websocket

import "github.com/spiderrun/spiderrun/runtime/settings"

// FromSettings returns the manager options of the settings: TLS_VERIFY,
// WS_END_TAG, WS_IDLE_TIMEOUT, and CONCURRENT_REQUESTS /
// CONCURRENT_REQUESTS_PER_DOMAIN as the caps on open connections (they
// count toward the crawl's concurrency). Dialers, the profile
// (IMPERSONATE, resolved by the caller), compression, stats and the logger
// are the caller's.
//
// Where the zero Options differ from the table's defaults (a test keeps
// the list): they cap no connections; a crawl caps them at 16, 8 per host
// (CONCURRENT_REQUESTS, _PER_DOMAIN). Both verify certificates.
func FromSettings(v *settings.Values) Options {
	return Options{
		Insecure:        !v.TLSVerify,
		EndTag:          v.WSEndTag,
		IdleTimeout:     v.WSIdleTimeout,
		MaxConns:        v.ConcurrentRequests,
		MaxConnsPerHost: v.ConcurrentRequestsPerDomain,
	}
}
