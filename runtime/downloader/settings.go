package downloader

import (
	"fmt"
	"net/netip"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// FromSettings returns the downloader options of the settings: slots and
// delays (CONCURRENT_REQUESTS_PER_DOMAIN, DOWNLOAD_DELAY,
// RANDOMIZE_DOWNLOAD_DELAY, AUTOTHROTTLE_*, SESSION_DOMAIN_*), limits (DOWNLOAD_TIMEOUT,
// DOWNLOAD_MAXSIZE, DOWNLOAD_WARNSIZE, DOWNLOAD_MEMORY_BUDGET,
// DOWNLOAD_FAIL_ON_DATALOSS), TLS_VERIFY, HTTP_VERSION, PROXIES, NO_PROXY, and on top of
// http (the caller's transport options: root CAs, a resolver) DNS_TIMEOUT
// and the private-network guard (DENY_PRIVATE_NETWORKS, NETWORK_ALLOW).
// The rest starts from DefaultOptions; transports, the profile
// (IMPERSONATE, resolved by the caller) and the logger are the caller's.
// FromSettings(settings.Defaults()) is DefaultOptions (a test checks).
func FromSettings(v *settings.Values, http HTTPOptions) (Options, error) {
	o := DefaultOptions()
	o.HTTP = http
	o.HTTP.DenyPrivate = v.DenyPrivateNetworks
	for _, p := range v.NetworkAllow {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return o, fmt.Errorf("settings.NETWORK_ALLOW: %w", err)
		}
		o.HTTP.Guard.Allow = append(o.HTTP.Guard.Allow, prefix)
	}
	if v.DNSTimeout > 0 {
		o.HTTP.DNSTimeout = v.DNSTimeout
	}
	o.ConcurrentPerDomain = v.ConcurrentRequestsPerDomain
	o.Delay = v.DownloadDelay
	o.RandomizeDelay = v.RandomizeDownloadDelay
	o.AutoThrottle.Enabled = v.AutoThrottleEnabled
	o.AutoThrottle.StartDelay = v.AutoThrottleStartDelay
	o.AutoThrottle.MaxDelay = v.AutoThrottleMaxDelay
	o.AutoThrottle.TargetConcurrency = v.AutoThrottleTargetConcurrency
	o.AutoThrottle.Debug = v.AutoThrottleDebug
	o.Domain = DomainLimit{Concurrency: v.SessionDomainConcurrency, Delay: v.SessionDomainDelay}
	o.Timeout = v.DownloadTimeout
	o.MaxSize = v.DownloadMaxSize
	o.WarnSize = v.DownloadWarnSize
	o.MemoryBudget = v.DownloadMemoryBudget
	o.FailOnDataLoss = v.DownloadFailOnDataLoss
	o.Verify = v.TLSVerify
	o.HTTPVersion = v.HTTPVersion
	o.Proxies = v.Proxies
	o.NoProxy = v.NoProxy
	return o, nil
}
