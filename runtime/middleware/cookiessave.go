package middleware

import (
	"cmp"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/idna"
	"golang.org/x/net/publicsuffix"
)

// SavedCookie is one cookie of a jar as a paused crawl keeps it (JOBDIR):
// the jar's entry after RFC 6265 processing, so that setting it again
// rebuilds the same entry.
type SavedCookie struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// Domain is the host that set a host-only cookie, or the cookie's
	// Domain attribute without its leading dot.
	Domain   string `json:"domain"`
	HostOnly bool   `json:"host_only,omitempty"`
	Path     string `json:"path"`
	// Expires is the absolute expiry (Max-Age is converted when the
	// cookie is set); zero for a session cookie.
	Expires  time.Time     `json:"expires,omitzero"`
	Secure   bool          `json:"secure,omitempty"`
	HttpOnly bool          `json:"http_only,omitempty"`
	SameSite http.SameSite `json:"same_site,omitempty"`
	Quoted   bool          `json:"quoted,omitempty"`
}

// Saved returns the cookies of every jar, keyed by session key (""
// is the default jar), in the order they were first set; expired cookies
// and empty jars are left out. Only jars made by the default New can list
// their cookies; a jar from a custom New or SetJar is not included.
func (j *CookieJars) Saved() map[string][]SavedCookie {
	j.mu.Lock()
	jars := make(map[string]http.CookieJar, len(j.jars))
	for k, v := range j.jars {
		jars[k] = v
	}
	j.mu.Unlock()
	now := time.Now()
	out := map[string][]SavedCookie{}
	for k, jar := range jars {
		if c, ok := jar.(*cappedJar); ok {
			jar = c.jar
		}
		sj, ok := jar.(*savingJar)
		if !ok {
			continue
		}
		if cs := sj.saved(now); len(cs) > 0 {
			out[k] = cs
		}
	}
	return out
}

// Restore sets saved cookies into the jars of their session keys
// (creating them), through each jar's own rules: expired cookies, and
// cookies the jar or its caps refuse, are dropped. Call it before the crawl
// sends requests.
func (j *CookieJars) Restore(saved map[string][]SavedCookie) {
	for key, cookies := range saved {
		jar := j.Jar(key)
		for _, c := range cookies {
			u, hc := c.setCookie()
			jar.SetCookies(u, []*http.Cookie{hc})
		}
	}
}

// setCookie returns the URL and the cookie that make a jar hold c: a
// request to c's domain and path (https for a Secure cookie), with a
// Domain attribute for a domain cookie only.
func (c SavedCookie) setCookie() (*url.URL, *http.Cookie) {
	scheme := "http"
	if c.Secure {
		scheme = "https"
	}
	host := c.Domain
	if strings.Contains(host, ":") {
		host = "[" + host + "]" // IPv6
	}
	hc := &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path, Expires: c.Expires,
		Secure: c.Secure, HttpOnly: c.HttpOnly, SameSite: c.SameSite, Quoted: c.Quoted}
	if !c.HostOnly {
		hc.Domain = c.Domain
	}
	return &url.URL{Scheme: scheme, Host: host, Path: c.Path}, hc
}

// savingJar wraps a net/http/cookiejar, which cannot list its cookies, and
// keeps a copy of every entry it holds: what SetCookies stored, under the
// same identity (domain, path, name) and with the same rules (host-only or
// domain cookie, default path, Max-Age and Expires, removal), mirrored from
// net/http/cookiejar's newEntry and domainAndType. Cookies are answered by
// the wrapped jar; the copy only serves Saved.
type savingJar struct {
	jar http.CookieJar

	mu      sync.Mutex
	entries map[string]savedEntry // domain;path;name
	seq     uint64
}

type savedEntry struct {
	c   SavedCookie
	seq uint64 // creation order, kept when the cookie is updated (the jar's order)
}

func newSavingJar(jar http.CookieJar) *savingJar {
	return &savingJar{jar: jar, entries: map[string]savedEntry{}}
}

func (s *savingJar) Cookies(u *url.URL) []*http.Cookie { return s.jar.Cookies(u) }

func (s *savingJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Under s.mu, so that the copy sees concurrent updates in the order
	// the jar applied them.
	s.jar.SetCookies(u, cookies)
	if len(cookies) == 0 || (u.Scheme != "http" && u.Scheme != "https") {
		return
	}
	host, ok := canonicalCookieHost(u.Host)
	if !ok {
		return
	}
	now := time.Now()
	for _, c := range cookies {
		e, remove, ok := savedEntryOf(c, now, defaultCookiePath(u.Path), host)
		if !ok {
			continue
		}
		id := e.Domain + ";" + e.Path + ";" + e.Name
		if remove {
			delete(s.entries, id)
			continue
		}
		old, known := s.entries[id]
		if !known {
			s.seq++
			old.seq = s.seq
		}
		s.entries[id] = savedEntry{c: e, seq: old.seq}
	}
}

// saved lists the unexpired cookies in creation order.
func (s *savingJar) saved(now time.Time) []SavedCookie {
	s.mu.Lock()
	list := make([]savedEntry, 0, len(s.entries))
	for id, e := range s.entries {
		if !e.c.Expires.IsZero() && !e.c.Expires.After(now) {
			delete(s.entries, id)
			continue
		}
		list = append(list, e)
	}
	s.mu.Unlock()
	slices.SortFunc(list, func(a, b savedEntry) int { return cmp.Compare(a.seq, b.seq) })
	out := make([]SavedCookie, len(list))
	for i, e := range list {
		out[i] = e.c
	}
	return out
}

// savedEntryOf mirrors net/http/cookiejar's newEntry: ok is false for a
// cookie the jar rejects, remove true for one that deletes its entry.
func savedEntryOf(c *http.Cookie, now time.Time, defPath, host string) (e SavedCookie, remove, ok bool) {
	e.Name = c.Name
	e.Path = c.Path
	if c.Path == "" || c.Path[0] != '/' {
		e.Path = defPath
	}
	e.Domain, e.HostOnly, ok = cookieDomain(host, c.Domain)
	if !ok {
		return e, false, false
	}
	switch {
	case c.MaxAge < 0:
		return e, true, true
	case c.MaxAge > 0:
		e.Expires = now.Add(time.Duration(c.MaxAge) * time.Second)
	case !c.Expires.IsZero():
		if !c.Expires.After(now) {
			return e, true, true
		}
		e.Expires = c.Expires
	}
	e.Value, e.Quoted, e.Secure, e.HttpOnly, e.SameSite = c.Value, c.Quoted, c.Secure, c.HttpOnly, c.SameSite
	return e, false, true
}

// cookieDomain mirrors net/http/cookiejar's domainAndType (with the public
// suffix list the jars use).
func cookieDomain(host, domain string) (string, bool, bool) {
	if domain == "" {
		return host, true, true
	}
	if net.ParseIP(host) != nil {
		return host, true, host == domain
	}
	domain = strings.TrimPrefix(domain, ".")
	if domain == "" || domain[0] == '.' || domain[len(domain)-1] == '.' {
		return "", false, false
	}
	for i := 0; i < len(domain); i++ {
		if domain[i] >= 0x80 {
			return "", false, false
		}
	}
	domain = strings.ToLower(domain)
	if ps := publicsuffix.List.PublicSuffix(domain); ps != "" && !strings.HasSuffix(domain, "."+ps) {
		return host, true, host == domain
	}
	if host != domain && !strings.HasSuffix(host, "."+domain) {
		return "", false, false
	}
	return domain, false, true
}

// canonicalCookieHost mirrors net/http/cookiejar's canonicalHost: no port,
// no trailing dot, punycode, lower case.
func canonicalCookieHost(host string) (string, bool) {
	if n := strings.Count(host, ":"); n == 1 || (n > 1 && host[0] == '[' && strings.Contains(host, "]:")) {
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			return "", false
		}
		host = h
	}
	host = strings.TrimSuffix(host, ".")
	for i := 0; i < len(host); i++ {
		if host[i] >= 0x80 {
			a, err := idna.Punycode.ToASCII(host)
			if err != nil {
				return "", false
			}
			host = a
			break
		}
	}
	return strings.ToLower(host), true
}

// defaultCookiePath is RFC 6265's default-path of a request path.
func defaultCookiePath(p string) string {
	if p == "" || p[0] != '/' {
		return "/"
	}
	i := strings.LastIndex(p, "/")
	if i == 0 {
		return "/"
	}
	return p[:i]
}
