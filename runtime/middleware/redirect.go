package middleware

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/referrer"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Redirect follows 301/302/303/307/308 and HTML meta refresh by returning
// the next request to schedule (Scrapy's RedirectMiddleware and
// MetaRefreshMiddleware), with these rules:
//
//   - REDIRECT_MAX_TIMES (or Request.MaxRedirects, or what meta
//     redirect_ttl has left) hops at most, then a TooManyRedirects failure
//     naming the chain; a hop back to a URL of the chain without a
//     Set-Cookie on the way is a cycle, failed at once.
//   - The next request carries Scrapy's bookkeeping: RedirectTimes and
//     RedirectURLs (meta redirect_times, redirect_urls), meta
//     redirect_reasons (the status as an int, or "meta refresh") and
//     redirect_ttl; dont_filter is the original's. Meta
//     redirect_referrer_policies lists each redirect response's
//     Referrer-Policy ("" for none), for the impersonating transport.
//   - 301/302 after POST and 303 after anything but HEAD become GET without
//     body; 307/308 keep method and body (RFC 9110 §15.4).
//   - Only http and https targets: Location to file:, ftp:, data:,
//     javascript: ... is refused.
//   - Authorization, Proxy-Authorization and SensitiveHeaders are dropped
//     when the origin (scheme, host, port) changes; a Cookie header is
//     dropped when the host changes or https goes to http (Scrapy's
//     test_cross_origin_header_dropping). Dropped headers never come back
//     on later hops. Request.Cookies are not carried over (the jar has
//     them, scoped to their origin).
type Redirect struct {
	Enabled  bool
	MaxTimes int
	// PriorityAdjust is added to the redirected request's priority
	// (REDIRECT_PRIORITY_ADJUST, +2).
	PriorityAdjust int
	// MetaRefresh follows <meta http-equiv="refresh"> (METAREFRESH_ENABLED)
	// with a delay up to MetaRefreshMaxDelay (METAREFRESH_MAXDELAY, 100s).
	MetaRefresh         bool
	MetaRefreshMaxDelay time.Duration
	// MetaRefreshIgnoreTags are elements whose content is not searched for
	// a meta refresh (METAREFRESH_IGNORE_TAGS; Scrapy's default, none:
	// a refresh inside <noscript> is followed, as a browser without
	// JavaScript would).
	MetaRefreshIgnoreTags []string
	// SensitiveHeaders are extra credential headers (X-Api-Key, ...)
	// dropped on any origin change.
	SensitiveHeaders []string
	// MaxURLLength refuses redirect targets longer than this
	// (URLLENGTH_LIMIT, 2083; 0 = no limit), which also bounds endless
	// unique-redirect traps.
	MaxURLLength int
	Logger       *slog.Logger
}

// NewRedirect returns a Redirect with Scrapy's defaults.
func NewRedirect(log *slog.Logger) *Redirect {
	return &Redirect{Enabled: true, MaxTimes: 20, PriorityAdjust: 2, MetaRefresh: true, MetaRefreshMaxDelay: 100 * time.Second, MaxURLLength: 2083, Logger: log}
}

// ProcessResponse implements ResponseProcessor.
func (m *Redirect) ProcessResponse(_ context.Context, r *crawl.Request, resp *crawl.Response) (Result, error) {
	if !m.Enabled || r.MetaBool("dont_redirect") || (r.AllowRedirects != nil && !*r.AllowRedirects) {
		return Result{}, nil
	}
	var loc string
	var reason any // the status (int) or "meta refresh", as Scrapy's redirect_reasons
	toGet := false
	switch resp.Status {
	case 301, 302, 303, 307, 308:
		// handle_httpstatus_list/_all keep a status redirect for the
		// callback; a meta refresh is followed regardless (Scrapy's
		// MetaRefreshMiddleware does not look at them).
		if r.MetaBool("handle_httpstatus_all") {
			return Result{}, nil
		}
		if list, ok := metaIntList(r.Meta["handle_httpstatus_list"]); ok && slices.Contains(list, resp.Status) {
			return Result{}, nil
		}
		loc = resp.Headers.Get("Location")
		if loc == "" {
			return Result{}, nil
		}
		reason = resp.Status
		method := r.GetMethod()
		toGet = (resp.Status == 303 && method != "HEAD") || ((resp.Status == 301 || resp.Status == 302) && method == "POST")
	default:
		if !m.MetaRefresh || r.GetMethod() == "HEAD" || !isHTML(resp) {
			return Result{}, nil
		}
		delay, target, ok := metaRefresh(resp.Body, m.MetaRefreshIgnoreTags)
		// Scrapy follows a refresh only below METAREFRESH_MAXDELAY.
		if !ok || delay >= m.MetaRefreshMaxDelay {
			return Result{}, nil
		}
		loc, reason, toGet = target, "meta refresh", true
	}
	next, err := m.build(r, resp, loc, toGet)
	if err != nil {
		return Result{}, err
	}
	reasons, _ := r.Meta["redirect_reasons"].([]any)
	next.SetMeta("redirect_reasons", append(slices.Clip(reasons), reason))
	m.log().Debug("redirecting", "reason", reason, "to", weburl.Redact(next.URL), "from", weburl.Redact(r.URL))
	return Result{Request: next}, nil
}

func (m *Redirect) build(r *crawl.Request, resp *crawl.Response, loc string, toGet bool) (*crawl.Request, error) {
	base, err := url.Parse(resp.URL)
	if err != nil {
		base, err = url.Parse(r.URL)
		if err != nil {
			return nil, Ignore(r, "redirect from unparsable URL")
		}
	}
	ref, err := url.Parse(strings.TrimSpace(loc))
	if err != nil {
		return nil, Ignore(r, "redirect to invalid Location %q: %v", loc, err)
	}
	target := base.ResolveReference(ref)
	// Like w3lib's safe_url_string: what is not allowed in a URL
	// (spaces, non-ASCII, quotes, ...) is percent-encoded in the query too.
	target.RawQuery = escapeUnsafe(target.RawQuery)
	if target.Scheme != "http" && target.Scheme != "https" {
		return nil, Ignore(r, "redirect to disallowed scheme %s: %s", target.Scheme, weburl.RedactURL(target))
	}
	newURL := target.String()
	if m.MaxURLLength > 0 && len(newURL) > m.MaxURLLength {
		return nil, Ignore(r, "redirect URL of %d characters exceeds URLLENGTH_LIMIT %d", len(newURL), m.MaxURLLength)
	}
	chain := append(append([]string(nil), r.RedirectURLs...), r.URL)
	limit := m.MaxTimes
	if r.MaxRedirects > 0 {
		limit = r.MaxRedirects
	}
	// Scrapy's redirect_ttl: hops left, from meta (default: the limit);
	// 0 stops, like the limit itself.
	ttl := limit
	if v, ok := metaNumber(r.Meta["redirect_ttl"]); ok {
		ttl = v
	}
	if ttl == 0 || r.RedirectTimes+1 > limit {
		what := fmt.Sprintf("too many redirects (%d)", limit)
		if ttl == 0 && r.RedirectTimes+1 <= limit {
			what = "too many redirects (meta redirect_ttl)"
		}
		return nil, &crawl.Failure{Type: crawl.TooManyRedirects, Request: r, Response: resp,
			Message: what + ": " + strings.Join(redactAll(append(chain, newURL)), " → ")}
	}
	if slices.Contains(chain, newURL) && !resp.Headers.Has("Set-Cookie") {
		return nil, &crawl.Failure{Type: crawl.TooManyRedirects, Request: r, Response: resp,
			Message: "redirect cycle: " + strings.Join(redactAll(append(chain, newURL)), " → ")}
	}
	next := r.Copy()
	next.URL = newURL
	next.RedirectTimes = r.RedirectTimes + 1
	next.RedirectURLs = chain
	next.SetMeta("redirect_ttl", ttl-1)
	// The redirect response's own Referrer-Policy governs the Referer of
	// the hops after it (Fetch, "set request's referrer policy on
	// redirect"); the impersonating transport reads the list, one entry
	// per URL of RedirectURLs ("" where the response had none).
	policies := make([]string, len(r.RedirectURLs), len(chain))
	switch old := r.Meta["redirect_referrer_policies"].(type) {
	case []string:
		copy(policies, old)
	case []any: // through JSON or JavaScript
		for i, v := range old[:min(len(old), len(policies))] {
			policies[i], _ = v.(string)
		}
	}
	next.SetMeta("redirect_referrer_policies", append(policies, referrer.Parse(resp.Headers.Get("Referrer-Policy"))))
	next.Priority += m.PriorityAdjust
	next.Cookies = nil
	if toGet {
		next.Method = "GET"
		next.Body = nil
		for _, h := range []string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Language", "Content-Location"} {
			next.Headers.Del(h)
		}
	}
	src, _ := url.Parse(r.URL)
	if src != nil {
		if !sameOrigin(src, target) {
			next.Headers.Del("Authorization")
			next.Headers.Del("Proxy-Authorization")
			for _, h := range m.SensitiveHeaders {
				next.Headers.Del(h)
			}
		}
		if !strings.EqualFold(src.Hostname(), target.Hostname()) ||
			(isSecure(src.Scheme) && !isSecure(target.Scheme)) {
			next.Headers.Del("Cookie")
		}
	}
	return next, nil
}

func redactAll(urls []string) []string {
	out := make([]string, len(urls))
	for i, u := range urls {
		out[i] = weburl.Redact(u)
	}
	return out
}

func isSecure(scheme string) bool { return scheme == "https" || scheme == "wss" }

func sameOrigin(a, b *url.URL) bool {
	return a.Scheme == b.Scheme && strings.EqualFold(a.Hostname(), b.Hostname()) && portOf(a) == portOf(b)
}

func portOf(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch u.Scheme {
	case "http", "ws":
		return "80"
	case "https", "wss":
		return "443"
	}
	return ""
}

func isHTML(resp *crawl.Response) bool {
	ct := strings.ToLower(resp.Headers.Get("Content-Type"))
	return strings.Contains(ct, "html")
}

var (
	reMetaTag  = regexp.MustCompile(`(?is)<meta\s[^>]*http-equiv\s*=\s*["']?refresh["']?[^>]*>`)
	reContent  = regexp.MustCompile(`(?is)\bcontent\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`)
	reRefresh  = regexp.MustCompile(`(?is)^\s*(\d*\.?\d*)\s*(?:[;,]\s*(?:url\s*=\s*)?["']?([^"']*)["']?)?\s*$`)
	reComments = regexp.MustCompile(`(?s)<!--.*?-->`)
)

// metaRefreshScan is how much of the page is searched: Scrapy's
// get_meta_refresh looks at the first 4096 characters.
const metaRefreshScan = 4096

// metaRefresh finds a meta refresh with a URL, ignoring comments and the
// content of ignoreTags elements like w3lib's get_meta_refresh.
func metaRefresh(body []byte, ignoreTags []string) (time.Duration, string, bool) {
	body = firstChars(body, metaRefreshScan)
	// Nearly every page has no refresh: a plain scan keeps the regexps
	// (and the string copy they need) off the common path.
	if !hasHTTPEquiv(body) {
		return 0, "", false
	}
	text := reComments.ReplaceAllString(string(body), "")
	for _, tag := range ignoreTags {
		re, err := regexp.Compile(`(?is)<` + regexp.QuoteMeta(tag) + `\b.*?</` + regexp.QuoteMeta(tag) + `\s*>`)
		if err == nil {
			text = re.ReplaceAllString(text, "")
		}
	}
	tag := reMetaTag.FindString(text)
	if tag == "" {
		return 0, "", false
	}
	cm := reContent.FindStringSubmatch(tag)
	if cm == nil {
		return 0, "", false
	}
	content := cm[1] + cm[2] + cm[3]
	rm := reRefresh.FindStringSubmatch(content)
	if rm == nil || strings.TrimSpace(rm[2]) == "" {
		return 0, "", false
	}
	secs, err := strconv.ParseFloat(rm[1], 64)
	if err != nil {
		secs = 0
	}
	return time.Duration(secs * float64(time.Second)), strings.TrimSpace(rm[2]), true
}

// firstChars cuts body after n characters (UTF-8), or n bytes when it is
// not UTF-8.
func firstChars(body []byte, n int) []byte {
	if len(body) <= n {
		return body
	}
	if !utf8.Valid(body[:min(len(body), 4*n)]) {
		return body[:n]
	}
	i := 0
	for range n {
		if i >= len(body) {
			break
		}
		_, size := utf8.DecodeRune(body[i:])
		i += size
	}
	return body[:i]
}

// escapeUnsafe percent-encodes the bytes w3lib's safe_url_string does not
// keep: anything but RFC 3986's reserved and unreserved characters and '%'.
func escapeUnsafe(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c > 0x20 && c < 0x7f && !strings.ContainsRune("\"<>\\^`{|}", rune(c)) {
			if b.Len() > 0 {
				b.WriteByte(c)
			}
			continue
		}
		if b.Len() == 0 {
			b.WriteString(s[:i])
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	if b.Len() == 0 {
		return s
	}
	return b.String()
}

func (m *Redirect) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// hasHTTPEquiv reports whether body contains "http-equiv" in any letter
// case. It jumps from '-' to '-' with bytes.IndexByte, which is much faster
// than a byte-by-byte case-folding scan on pages without one.
func hasHTTPEquiv(body []byte) bool {
	const word = "http-equiv"
	for pos := 0; ; {
		i := bytes.IndexByte(body[pos:], '-')
		if i < 0 {
			return false
		}
		i += pos
		if i >= 4 && i+6 <= len(body) && bytes.EqualFold(body[i-4:i+6], []byte(word)) {
			return true
		}
		pos = i + 1
	}
}
