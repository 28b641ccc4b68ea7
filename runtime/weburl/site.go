package weburl

import (
	"net"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// Site is a host's site as browsers compare them for Sec-Fetch-Site and
// SameSite cookies: its registrable domain (eTLD+1 by the public suffix
// list), or the host itself for an IP address, a public suffix or a name
// without one. Lower-cased, without a trailing dot; ports do not count.
func Site(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if net.ParseIP(host) != nil {
		return host
	}
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return d
	}
	return host
}
