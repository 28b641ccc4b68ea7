package downloader

import (
	"context"
	"fmt"
	"net/netip"
)

// Resolver looks up a host's addresses. *net.Resolver satisfies it; tests
// inject one that maps names to chosen addresses (rebinding, NXDOMAIN,
// slow DNS).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// BlockedError is returned when DENY_PRIVATE_NETWORKS refuses to connect
// to an address. It is raised at connect time, on the address actually
// dialled, so DNS rebinding cannot slip past it.
type BlockedError struct {
	Addr   netip.Addr
	Reason string // "loopback", "private", "link-local / cloud metadata", ...
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("blocked address %s (%s); to allow, add it to NETWORK_ALLOW", e.Addr, e.Reason)
}

var (
	metadataAddrs = []netip.Addr{
		netip.MustParseAddr("169.254.169.254"),
		netip.MustParseAddr("fd00:ec2::254"),
	}
	blockedRanges = []struct {
		p      netip.Prefix
		reason string
	}{
		{netip.MustParsePrefix("0.0.0.0/8"), "unspecified"},
		{netip.MustParsePrefix("10.0.0.0/8"), "private"},
		{netip.MustParsePrefix("100.64.0.0/10"), "carrier-grade NAT"},
		{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
		{netip.MustParsePrefix("169.254.0.0/16"), "link-local"},
		{netip.MustParsePrefix("172.16.0.0/12"), "private"},
		{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol assignments"},
		{netip.MustParsePrefix("192.168.0.0/16"), "private"},
		{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
		{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
		{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
		{netip.MustParsePrefix("::/128"), "unspecified"},
		{netip.MustParsePrefix("::1/128"), "loopback"},
		{netip.MustParsePrefix("64:ff9b::/96"), "NAT64"},
		{netip.MustParsePrefix("fc00::/7"), "private"},
		{netip.MustParsePrefix("fe80::/10"), "link-local"},
		{netip.MustParsePrefix("ff00::/8"), "multicast"},
	}
)

// Guard decides which addresses may be dialled when DENY_PRIVATE_NETWORKS
// is on.
type Guard struct {
	// Allow lists prefixes that are dialled even though they are private
	// (tests allow 127.0.0.1/32 for their own server). The cloud metadata
	// addresses stay blocked unless listed one by one as a /32 or /128: a
	// broad allow such as 169.254.0.0/16 does not open them.
	Allow []netip.Prefix
}

// Check returns a *BlockedError when addr must not be dialled.
func (g *Guard) Check(addr netip.Addr) error {
	addr = addr.Unmap().WithZone("")
	for _, m := range metadataAddrs {
		if addr == m {
			for _, p := range g.Allow {
				if p.IsSingleIP() && p.Addr().Unmap() == m {
					return nil
				}
			}
			return &BlockedError{Addr: addr, Reason: "link-local / cloud metadata"}
		}
	}
	for _, p := range g.Allow {
		if p.Contains(addr) {
			return nil
		}
	}
	for _, r := range blockedRanges {
		if r.p.Contains(addr) {
			return &BlockedError{Addr: addr, Reason: r.reason}
		}
	}
	return nil
}
