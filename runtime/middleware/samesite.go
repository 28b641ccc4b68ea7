package middleware

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/referrer"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// sameSiteAttrs remembers the SameSite attribute of the cookies the
// responses set (net/http/cookiejar parses it but neither keeps nor
// applies it), per jar, cookie domain and name, and when each cookie was
// created (Chromium's Lax-by-default exception depends on its age).
type sameSiteAttrs struct {
	mu sync.Mutex
	m  map[sameSiteKey]cookieAttr
}

type sameSiteKey struct{ jar, domain, name string }

type cookieAttr struct {
	mode    http.SameSite
	value   string
	created time.Time
}

// record notes the attributes of cookies set by a response from u at now.
// A cookie set again with the same value keeps its creation time, as
// Chromium's cookie store does.
func (s *sameSiteAttrs) record(jar string, u *url.URL, cookies []*http.Cookie, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cookies {
		domain := strings.TrimPrefix(strings.ToLower(c.Domain), ".")
		if domain == "" {
			domain = strings.ToLower(u.Hostname())
		}
		k := sameSiteKey{jar, domain, c.Name}
		if s.m == nil {
			s.m = map[sameSiteKey]cookieAttr{}
		}
		created := now
		if old, ok := s.m[k]; ok && old.value == c.Value {
			created = old.created
		}
		if len(s.m) > 1<<16 {
			clear(s.m) // a bound: the attributes of a runaway jar are forgotten, not its cookies
		}
		s.m[k] = cookieAttr{mode: c.SameSite, value: c.Value, created: created}
	}
}

// attr is what was recorded of the cookie name the jar sends to host: the
// entry for the most specific domain that domain-matches host.
func (s *sameSiteAttrs) attr(jar, host, name string) (cookieAttr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) == 0 {
		return cookieAttr{}, false
	}
	host = strings.ToLower(host)
	for d := host; d != ""; {
		if a, ok := s.m[sameSiteKey{jar, d, name}]; ok {
			return a, true
		}
		_, rest, ok := strings.Cut(d, ".")
		if !ok {
			break
		}
		d = rest
	}
	return cookieAttr{}, false
}

// cookieRules are the browser's rules that differ between engines.
type cookieRules struct {
	// chainCrossSite: a navigation that went through another site is
	// cross-site for SameSite cookies (Firefox ESR 140, which withholds
	// Strict cookies after a redirect through another site and Lax ones
	// from a POST that did; Chromium 148 looks at the last hop only).
	chainCrossSite bool
	// laxByDefault: a cookie without SameSite is Lax, except on a
	// top-level cross-site POST while it is younger than laxAllowUnsafe
	// (Chromium; Firefox ESR 140 sends it like None).
	laxByDefault   bool
	laxAllowUnsafe time.Duration
	// thirdParty: a credentialed fetch or XHR to another site sends the
	// cookies SameSite allows there (Firefox ESR 153, measured after the
	// crawl had visited that site first-party: its storage access was
	// "active"); Chromium 148 blocks third-party cookies and Firefox ESR
	// 140 partitioned them, so neither sent any.
	thirdParty bool
}

// DefaultLaxAllowUnsafeMaxAge is Chromium's "Lax+POST" window: a cookie
// without SameSite, younger than this, still goes with a top-level
// cross-site POST.
const DefaultLaxAllowUnsafeMaxAge = 2 * time.Minute

// sameSiteAllows reports whether a browser sends a cookie with attributes
// a (known: recorded from its Set-Cookie) with r at now, by the kind of
// request r reproduces (crawl.DefaultKind), its credentials mode and the
// page that made it:
//
//   - a fetch or XHR sends cookies with credentials "same-origin" (the
//     default) only when it stays on the page's origin (redirects
//     included), with "omit" never, and with "include" to any origin of
//     the page's own site (to another site Chromium 148 sends none: it
//     blocks third-party cookies, nor did Firefox ESR 140, which
//     partitioned them; Firefox ESR 153 sends those SameSite allows:
//     cookieRules.thirdParty);
//   - Strict only to the page's own site, Lax also with a top-level
//     navigation by GET or HEAD from another site (a followed link, a GET
//     form), not with a cross-site POST form.
//
// A request without a parent page (a start URL typed by the user, a
// script of the target's own origin) gets them all. Measured in Chromium
// 148 and Firefox ESR 140 by TestRequestKinds' samesite-*, cors-cred-*
// and *-redir-* steps and TestLaxByDefault.
func sameSiteAllows(a cookieAttr, known bool, r *crawl.Request, target *url.URL, rules cookieRules, now time.Time) bool {
	if r.Parent == "" {
		return true
	}
	kind := crawl.DefaultKind(r)
	switch kind {
	case crawl.KindFetch, crawl.KindXHR:
		switch r.Credentials {
		case crawl.CredentialsOmit:
			return false
		case crawl.CredentialsInclude:
			if !rules.thirdParty && !sameSite(r.Parent, target) {
				return false
			}
		default:
			if !pageSameOrigin(r.Parent, target) {
				return false
			}
			for _, hop := range r.RedirectURLs {
				if u, err := url.Parse(hop); err != nil || !pageSameOrigin(r.Parent, u) {
					return false
				}
			}
		}
	}
	mode := a.mode
	laxDefault := false
	if known && rules.laxByDefault && mode != http.SameSiteStrictMode && mode != http.SameSiteLaxMode && mode != http.SameSiteNoneMode {
		mode, laxDefault = http.SameSiteLaxMode, true
	}
	if mode != http.SameSiteStrictMode && mode != http.SameSiteLaxMode {
		return true
	}
	siteSame := sameSite(r.Parent, target)
	if siteSame && rules.chainCrossSite {
		for _, hop := range r.RedirectURLs {
			if u, err := url.Parse(hop); err != nil || !sameSite(r.Parent, u) {
				siteSame = false
			}
		}
	}
	if siteSame {
		return true
	}
	if mode == http.SameSiteStrictMode {
		return false
	}
	switch kind {
	case crawl.KindNavigate, crawl.KindLink, crawl.KindForm:
		m := r.GetMethod()
		if m == "GET" || m == "HEAD" {
			return true
		}
		// Chromium's Lax+POST: a cookie Lax only by default, and young.
		return laxDefault && now.Sub(a.created) < rules.laxAllowUnsafe
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

// profileBrowser is the browser the profile name (or file) impersonates
// ("" for none, random and unreadable profiles) and its major version (0
// when unknown); profiles are read once each.
func profileBrowser(name string) (string, int) {
	if name == "" || name == impersonate.Random {
		return "", 0 // random: one of several browsers, Chromium's rules
	}
	if v, ok := profileBrowsers.Load(name); ok {
		b := v.(browserVersion)
		return b.browser, b.major
	}
	var b browserVersion
	if p, err := impersonate.LoadProfile(name); err == nil {
		b.browser = p.Browser
		major, _, _ := strings.Cut(p.Version, ".")
		b.major, _ = strconv.Atoi(major)
	}
	profileBrowsers.Store(name, b)
	return b.browser, b.major
}

type browserVersion struct {
	browser string
	major   int
}

// rulesFor are the cookie rules of the profile's browser: Firefox's for
// Firefox, Chromium's for Chromium, Edge, random and a bare SameSite
// switch; Safari's are not measured and get neither engine's quirks.
func (m *Cookies) rulesFor(profile string) cookieRules {
	unsafeAge := m.LaxAllowUnsafeMaxAge
	if unsafeAge <= 0 {
		unsafeAge = DefaultLaxAllowUnsafeMaxAge
	}
	switch browser, major := profileBrowser(profile); browser {
	case "firefox":
		return cookieRules{chainCrossSite: true, thirdParty: major >= 153}
	case "safari":
		return cookieRules{}
	}
	return cookieRules{laxByDefault: true, laxAllowUnsafe: unsafeAge}
}

var profileBrowsers sync.Map // profile name -> browser
