package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/publicsuffix"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// CookieJars holds one cookie jar per session key. Jars follow RFC 6265
// with the public suffix list, so evil.co.uk cannot set a cookie for
// co.uk, and are capped like a browser's: 180 cookies per domain, 3,000 in
// all (new cookies past a cap are refused), and a Cookie header of at most
// 8 KiB. The sessions feature plugs identity-specific jars in with
// SetJar, or replaces New.
type CookieJars struct {
	// New makes a jar for a key seen for the first time (default: a
	// net/http/cookiejar with publicsuffix.List).
	New func(key string) http.CookieJar

	mu   sync.Mutex
	jars map[string]http.CookieJar
}

// NewCookieJars returns an empty set of jars.
func NewCookieJars() *CookieJars { return &CookieJars{jars: map[string]http.CookieJar{}} }

// Jar returns the jar of sessionKey, creating it on first use.
func (j *CookieJars) Jar(sessionKey string) http.CookieJar {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.jars == nil {
		j.jars = map[string]http.CookieJar{}
	}
	if jar, ok := j.jars[sessionKey]; ok {
		return jar
	}
	var jar http.CookieJar
	if j.New != nil {
		jar = j.New(sessionKey)
	} else {
		// cookiejar.New never fails with publicsuffix.List. The caps keep a
		// cookie-spamming site from growing the jar without bound; the
		// saving jar lets Saved list the cookies (JOBDIR).
		j0, _ := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
		jar = newCappedJar(newSavingJar(j0))
	}
	j.jars[sessionKey] = jar
	return jar
}

// SetJar installs jar for sessionKey.
func (j *CookieJars) SetJar(sessionKey string, jar http.CookieJar) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.jars == nil {
		j.jars = map[string]http.CookieJar{}
	}
	j.jars[sessionKey] = jar
}

// metaCookiesAdded remembers which part of the Cookie header came from the
// jar, so a later pass (redirect, retry) rebuilds it instead of
// duplicating it, and a manually set Cookie header keeps its own rules.
const metaCookiesAdded = "_cookies_from_jar"

// Cookies keeps cookies per session (Scrapy's CookiesMiddleware): the jar
// is chosen by meta cookiejar, else Request.SessionID. Request.Cookies
// and DEFAULT_COOKIES go into the jar for the request's URL (host-only,
// path "/", unless they name a domain or path) and the jar's cookies for
// the URL are sent; Set-Cookie updates the jar. meta dont_merge_cookies
// skips both directions. ws:// and wss:// use the http:// and https://
// cookies.
type Cookies struct {
	Enabled  bool
	Jars     *CookieJars
	Defaults []crawl.Cookie
	// Debug is COOKIES_DEBUG: log, at debug level on Logger, the Cookie
	// header of every request that carries one and the Set-Cookie lines
	// of every response, as Scrapy does. The cookies are logged in full
	// (that is what the setting asks for); URL credentials are redacted.
	Debug  bool
	Logger *slog.Logger
	// SameSite applies the SameSite attribute of the cookies as a browser
	// does (sameSiteAllows); it is on for impersonated requests (IMPERSONATE
	// or the request's impersonate) and off otherwise, as in Scrapy, which
	// ignores the attribute.
	SameSite bool
	// Impersonate is the spider's profile (IMPERSONATE), for the rules
	// that differ between browsers; a request's own impersonate wins.
	Impersonate string
	// LaxAllowUnsafeMaxAge is the age under which a cookie without
	// SameSite still goes with a top-level cross-site POST under
	// Chromium's Lax-by-default rule (0 = DefaultLaxAllowUnsafeMaxAge,
	// Chromium's 2 minutes).
	LaxAllowUnsafeMaxAge time.Duration
	// Now is the clock of cookie ages (nil = time.Now).
	Now func() time.Time

	sameSite sameSiteAttrs
}

func (m *Cookies) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// NewCookies returns an enabled middleware with fresh jars.
func NewCookies() *Cookies { return &Cookies{Enabled: true, Jars: NewCookieJars()} }

func jarKey(r *crawl.Request) string {
	if v, ok := r.Meta["cookiejar"]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return r.SessionID
}

// cookieURL maps ws/wss to http/https for jar lookups.
func cookieURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	switch u.Scheme {
	case "ws":
		c := *u
		c.Scheme = "http"
		return &c, nil
	case "wss":
		c := *u
		c.Scheme = "https"
		return &c, nil
	}
	return u, nil
}

// ProcessRequest implements RequestProcessor.
func (m *Cookies) ProcessRequest(ctx context.Context, r *crawl.Request) (Result, error) {
	if !m.Enabled || r.MetaBool("dont_merge_cookies") {
		return Result{}, nil
	}
	u, err := cookieURL(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Result{}, nil
	}
	jar := m.Jars.Jar(jarKey(r))
	var add []*http.Cookie
	for _, c := range append(append([]crawl.Cookie(nil), m.Defaults...), r.Cookies...) {
		hc := &http.Cookie{Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path}
		if hc.Path == "" {
			hc.Path = "/"
		}
		add = append(add, hc)
	}
	if len(add) > 0 {
		jar.SetCookies(u, add)
	}
	manual := r.Headers.Get("Cookie")
	if prev, ok := r.Meta[metaCookiesAdded].(string); ok && prev != "" {
		switch {
		case manual == prev:
			manual = ""
		case strings.HasSuffix(manual, "; "+prev):
			manual = strings.TrimSuffix(manual, "; "+prev)
		}
	}
	var parts []string
	size := len(manual)
	browser := m.SameSite || r.Impersonate != ""
	profile := r.Impersonate
	if profile == "" {
		profile = m.Impersonate
	}
	var rules cookieRules
	if browser {
		rules = m.rulesFor(profile)
	}
	now := m.now()
	for _, c := range jar.Cookies(u) {
		if browser {
			a, known := m.sameSite.attr(jarKey(r), u.Hostname(), c.Name)
			if !sameSiteAllows(a, known, r, u, rules, now) {
				continue
			}
		}
		// Keep the Cookie header under 8 KiB (servers answer 431 above
		// their limit); the jar lists longer paths and older cookies first.
		if size += len(c.Name) + len(c.Value) + 3; size > maxCookieHeader {
			break
		}
		parts = append(parts, c.Name+"="+c.Value)
	}
	fromJar := strings.Join(parts, "; ")
	r.Headers.Del("Cookie")
	switch {
	case manual != "" && fromJar != "":
		r.Headers.Add("Cookie", manual+"; "+fromJar)
	case manual != "":
		r.Headers.Add("Cookie", manual)
	case fromJar != "":
		r.Headers.Add("Cookie", fromJar)
	}
	if fromJar != "" {
		r.SetMeta(metaCookiesAdded, fromJar)
	} else if r.Meta != nil {
		delete(r.Meta, metaCookiesAdded)
	}
	m.debug(ctx, "Sending cookies to: <"+r.GetMethod()+" "+weburl.Redact(r.URL)+">", "Cookie", r.Headers.Values("Cookie"))
	return Result{}, nil
}

// ProcessResponse implements ResponseProcessor.
func (m *Cookies) ProcessResponse(ctx context.Context, r *crawl.Request, resp *crawl.Response) (Result, error) {
	if !m.Enabled || r.MetaBool("dont_merge_cookies") {
		return Result{}, nil
	}
	lines := resp.Headers.Values("Set-Cookie")
	if len(lines) == 0 {
		return Result{}, nil
	}
	raw := resp.URL
	if raw == "" {
		raw = r.URL
	}
	m.debug(ctx, "Received cookies from: <"+strconv.Itoa(resp.Status)+" "+weburl.Redact(raw)+">", "Set-Cookie", lines)
	u, err := cookieURL(raw)
	if err != nil {
		return Result{}, nil
	}
	cookies := (&http.Response{Header: http.Header{"Set-Cookie": lines}}).Cookies()
	if len(cookies) > 0 {
		m.Jars.Jar(jarKey(r)).SetCookies(u, cookies)
		m.sameSite.record(jarKey(r), u, cookies, m.now())
	}
	return Result{}, nil
}

// debug logs COOKIES_DEBUG's message: the request or response, then one
// "name: value" line per header value, Scrapy's format.
func (m *Cookies) debug(ctx context.Context, head, name string, values []string) {
	if !m.Debug || m.Logger == nil || len(values) == 0 || !m.Logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	var b strings.Builder
	b.WriteString(head)
	for _, v := range values {
		b.WriteString("\n" + name + ": " + v)
	}
	m.Logger.DebugContext(ctx, b.String())
}
