package middleware

import (
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/referrer"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// sameSiteAttrs remembers the SameSite attribute of the cookies the
// responses set (net/http/cookiejar parses it but neither keeps nor
// applies it), per jar, cookie domain and name. Only Strict and Lax are
// kept: a cookie without the attribute, or with None, goes everywhere
// the jar sends it.
type sameSiteAttrs struct {
	mu sync.Mutex
	m  map[sameSiteKey]http.SameSite
}

type sameSiteKey struct{ jar, domain, name string }

// record notes the attributes of cookies set by a response from u.
func (s *sameSiteAttrs) record(jar string, u *url.URL, cookies []*http.Cookie) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cookies {
		domain := strings.TrimPrefix(strings.ToLower(c.Domain), ".")
		if domain == "" {
			domain = strings.ToLower(u.Hostname())
		}
		k := sameSiteKey{jar, domain, c.Name}
		switch c.SameSite {
		case http.SameSiteStrictMode, http.SameSiteLaxMode:
			if s.m == nil {
				s.m = map[sameSiteKey]http.SameSite{}
			}
			s.m[k] = c.SameSite
		default:
			delete(s.m, k)
		}
	}
}

// mode is the attribute of the cookie name the jar sends to host: the
// one recorded for the most specific domain that domain-matches host.
func (s *sameSiteAttrs) mode(jar, host, name string) http.SameSite {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) == 0 {
		return http.SameSiteDefaultMode
	}
	host = strings.ToLower(host)
	for d := host; d != ""; {
		if m, ok := s.m[sameSiteKey{jar, d, name}]; ok {
			return m
		}
		_, rest, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = rest
	}
	return http.SameSiteDefaultMode
}

// sameSiteAllows reports whether a browser sends a cookie of mode with
// r, by the kind of request r reproduces (crawl.DefaultKind) and the page
// that made it: a fetch or XHR only to the page's own origin (their
// default credentials mode); Strict only to the page's own site, Lax also
// with a top-level navigation by GET or HEAD from another site (a
// followed link, a GET form), not with a cross-site POST form. A request
// without a parent page (a start URL typed by the user, a script of the
// target's own origin) gets them all. Measured in Chromium 148 and Firefox
// ESR 140 by TestRequestKinds' samesite-* steps.
func sameSiteAllows(mode http.SameSite, r *crawl.Request, target *url.URL, chainStrict bool) bool {
	if r.Parent == "" {
		return true
	}
	switch crawl.DefaultKind(r) {
	case crawl.KindFetch, crawl.KindXHR:
		// fetch()'s default credentials mode, same-origin (and XHR without
		// withCredentials), sends no cookie to another origin at all.
		if !pageSameOrigin(r.Parent, target) {
			return false
		}
	}
	if mode != http.SameSiteStrictMode && mode != http.SameSiteLaxMode {
		return true
	}
	if mode == http.SameSiteStrictMode {
		// Firefox also withholds Strict cookies from a navigation that
		// passed through another site (a redirect), Chromium does not:
		// both measured by TestRequestKinds' link-redir-cross step.
		if chainStrict {
			for _, hop := range r.RedirectURLs {
				if u, err := url.Parse(hop); err != nil || !sameSite(r.Parent, u) {
					return false
				}
			}
		}
		return sameSite(r.Parent, target)
	}
	if sameSite(r.Parent, target) {
		return true
	}
	switch crawl.DefaultKind(r) {
	case crawl.KindNavigate, crawl.KindLink, crawl.KindForm:
		m := r.GetMethod()
		return m == "GET" || m == "HEAD"
	}
	return false
}

// sameSite compares the page's site with the target's: scheme and
// registrable domain (schemeful same-site, as Chromium and Firefox do).
func sameSite(page string, target *url.URL) bool {
	p, err := url.Parse(page)
	if err != nil {
		return false
	}
	return strings.EqualFold(p.Scheme, target.Scheme) && weburl.Site(p.Hostname()) == weburl.Site(target.Hostname())
}

func pageSameOrigin(page string, target *url.URL) bool {
	p, err := url.Parse(page)
	return err == nil && referrer.SameOrigin(p, target)
}

// firefoxProfile reports whether the profile name (or file) impersonates
// Firefox; profiles are read once each.
func firefoxProfile(name string) bool {
	if name == "" || name == impersonate.Random {
		return false // random: one of several browsers, Chromium's rule
	}
	if v, ok := profileBrowsers.Load(name); ok {
		return v.(string) == "firefox"
	}
	browser := ""
	if p, err := impersonate.LoadProfile(name); err == nil {
		browser = p.Browser
	}
	profileBrowsers.Store(name, browser)
	return browser == "firefox"
}

var profileBrowsers sync.Map // profile name -> browser
