package middleware

import (
	"log/slog"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Builtins selects and configures the built-in middlewares. A nil pointer
// leaves that middleware out; DefaultBuiltins fills every one with the
// defaults of specs/downloader.md.
type Builtins struct {
	HTTPError *HTTPError
	Robots    *RobotsTxt
	// Sessions is the identity registry (runtime/session; nil = none). It
	// runs before DefaultHeaders, so a member's profile and headers are on
	// the request before defaults are added: USER_AGENT must not land on a
	// request its member impersonates a browser with.
	Sessions       Downloader
	DefaultHeaders *DefaultHeaders
	Retry          *Retry
	// Blocks is BLOCK_DETECTORS / BLOCK_RULES (BlocksFromSettings; nil =
	// off). Its process_response runs after Redirect's and before
	// Retry's, so a challenge answered with 503 or 429 is sent again as
	// another identity rather than retried as a server error.
	Blocks   *Blocks
	Redirect *Redirect
	Cookies  *Cookies
	Stats    *Stats
	// HTTPCache is HTTPCACHE_ENABLED (nil = off); it goes last, closest to
	// the downloader, as Scrapy's HttpCacheMiddleware (900).
	HTTPCache *HTTPCache
}

// DefaultBuiltins returns the built-ins with their defaults; robots.txt is
// off (ROBOTSTXT_OBEY false) until Robots is set.
func DefaultBuiltins(st stats.Collector, log *slog.Logger) Builtins {
	cookies := NewCookies()
	cookies.Logger = log // used only when COOKIES_DEBUG turns Debug on
	return Builtins{
		HTTPError:      &HTTPError{Stats: st},
		DefaultHeaders: &DefaultHeaders{Headers: DefaultRequestHeaders(), UserAgent: DefaultUserAgent},
		Retry:          NewRetry(st, log),
		Redirect:       NewRedirect(log),
		Cookies:        cookies,
		Stats:          &Stats{Stats: st},
	}
}

// Stack returns the middleware list in Scrapy's DOWNLOADER_MIDDLEWARES_BASE
// order, with user middlewares (JS downloader_middlewares, in spec order)
// where Scrapy users put theirs (543: after the User-Agent, before
// retry):
//
//	HTTPError, RobotsTxt, Sessions, DefaultHeaders, user..., Retry, Blocks, Redirect, Cookies, Stats, HTTPCache
//
// process_request runs in that order; process_response and
// process_exception in reverse, so user middlewares see the final
// response after redirects and retries, and Stats sees every attempt.
// A cache hit comes back from HTTPCache's process_request and, as in
// Scrapy, still runs every process_response: Stats counts it, Cookies
// takes its Set-Cookie, Redirect follows a cached redirect.
// HTTPError comes first so it judges what retry and redirect passed on
// (in Scrapy it is a spider middleware, which runs after all of these).
func (b Builtins) Stack(user ...Downloader) []Downloader {
	var out []Downloader
	add := func(ok bool, mw Downloader) {
		if ok {
			out = append(out, mw)
		}
	}
	add(b.HTTPError != nil, b.HTTPError)
	add(b.Robots != nil, b.Robots)
	add(b.Sessions != nil, b.Sessions)
	add(b.DefaultHeaders != nil, b.DefaultHeaders)
	out = append(out, user...)
	add(b.Retry != nil, b.Retry)
	add(b.Blocks != nil, b.Blocks)
	add(b.Redirect != nil, b.Redirect)
	add(b.Cookies != nil, b.Cookies)
	add(b.Stats != nil, b.Stats)
	add(b.HTTPCache != nil, b.HTTPCache)
	return out
}

// CookiesFromMap turns DEFAULT_COOKIES ({name: value}) into cookies in
// name order.
func CookiesFromMap(m map[string]string) []crawl.Cookie {
	out := make([]crawl.Cookie, 0, len(m))
	for k, v := range m {
		out = append(out, crawl.Cookie{Name: k, Value: v})
	}
	sortCookies(out)
	return out
}

func sortCookies(c []crawl.Cookie) {
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j].Name < c[j-1].Name; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
}
