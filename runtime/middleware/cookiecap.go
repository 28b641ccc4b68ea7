package middleware

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"
)

// Browser-like cookie limits (C04). Go's cookiejar has none, so a site
// that sets new cookies on every page would grow the jar without bound
// and make requests fail with 431 once the Cookie header gets too big.
const (
	maxCookiesPerDomain = 180
	maxCookiesTotal     = 3000
	maxCookieHeader     = 8 << 10
)

// cappedJar wraps a jar and refuses cookies past the per-domain and total
// caps (new cookies are refused; existing ones keep being updated).
// Cookies whose Domain attribute the jar would reject anyway (a public
// suffix, or a domain the host is not in) are dropped here so they cannot
// use up the caps.
type cappedJar struct {
	jar       http.CookieJar
	perDomain int
	total     int

	mu      sync.Mutex
	keys    map[string]map[string]struct{} // domain -> name|path
	n       int
	dropped int
}

func newCappedJar(jar http.CookieJar) *cappedJar {
	return &cappedJar{jar: jar, perDomain: maxCookiesPerDomain, total: maxCookiesTotal, keys: map[string]map[string]struct{}{}}
}

func (c *cappedJar) Cookies(u *url.URL) []*http.Cookie { return c.jar.Cookies(u) }

func (c *cappedJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	host := strings.ToLower(u.Hostname())
	now := time.Now()
	keep := make([]*http.Cookie, 0, len(cookies))
	c.mu.Lock()
	for _, ck := range cookies {
		dom := strings.TrimPrefix(strings.ToLower(ck.Domain), ".")
		if dom == "" {
			dom = host
		} else if !domainMatches(host, dom) {
			c.dropped++
			continue
		}
		key := ck.Name + "|" + ck.Path
		set := c.keys[dom]
		_, known := set[key]
		if ck.MaxAge < 0 || (!ck.Expires.IsZero() && ck.Expires.Before(now)) {
			if known {
				delete(set, key)
				c.n--
			}
			keep = append(keep, ck)
			continue
		}
		if !known {
			if len(set) >= c.perDomain || c.n >= c.total {
				c.dropped++
				continue
			}
			if set == nil {
				set = map[string]struct{}{}
				c.keys[dom] = set
			}
			set[key] = struct{}{}
			c.n++
		}
		keep = append(keep, ck)
	}
	c.mu.Unlock()
	if len(keep) > 0 {
		c.jar.SetCookies(u, keep)
	}
}

// Dropped is the number of cookies refused so far.
func (c *cappedJar) Dropped() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.dropped
}

// domainMatches reports whether a Domain attribute is acceptable for host:
// host is dom or a subdomain of it, and dom is not a public suffix (an IP
// host only accepts itself).
func domainMatches(host, dom string) bool {
	if host != dom && !strings.HasSuffix(host, "."+dom) {
		return false
	}
	if ps, _ := publicsuffix.PublicSuffix(dom); ps == dom && host != dom {
		return false
	}
	return true
}
