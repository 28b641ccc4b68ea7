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

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Redirect follows 301/302/303/307/308 and HTML meta refresh by returning
// the next request to schedule (Scrapy's RedirectMiddleware and
// MetaRefreshMiddleware), with these rules:
//
//   - REDIRECT_MAX_TIMES (or Request.MaxRedirects) hops at most, then a
//     TooManyRedirects failure naming the chain; a hop back to a URL of the
//     chain without a Set-Cookie on the way is a cycle, failed at once.
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
	if r.MetaBool("handle_httpstatus_all") {
		return Result{}, nil
	}
	if list, ok := metaIntList(r.Meta["handle_httpstatus_list"]); ok && slices.Contains(list, resp.Status) {
		return Result{}, nil
	}
	var loc, reason string
	toGet := false
	switch resp.Status {
	case 301, 302, 303, 307, 308:
		loc = resp.Headers.Get("Location")
		if loc == "" {
			return Result{}, nil
		}
		reason = strconv.Itoa(resp.Status)
		method := r.GetMethod()
		toGet = (resp.Status == 303 && method != "HEAD") || ((resp.Status == 301 || resp.Status == 302) && method == "POST")
	default:
		if !m.MetaRefresh || !isHTML(resp) {
			return Result{}, nil
		}
		delay, target, ok := metaRefresh(resp.Body)
		if !ok || delay > m.MetaRefreshMaxDelay {
			return Result{}, nil
		}
		loc, reason, toGet = target, "meta refresh", r.GetMethod() != "HEAD"
	}
	next, err := m.build(r, resp, loc, toGet)
	if err != nil {
		return Result{}, err
	}
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
	if r.RedirectTimes+1 > limit {
		return nil, &crawl.Failure{Type: crawl.TooManyRedirects, Request: r, Response: resp,
			Message: fmt.Sprintf("too many redirects (%d): %s", limit, strings.Join(redactAll(append(chain, newURL)), " → "))}
	}
	if slices.Contains(chain, newURL) && !resp.Headers.Has("Set-Cookie") {
		return nil, &crawl.Failure{Type: crawl.TooManyRedirects, Request: r, Response: resp,
			Message: "redirect cycle: " + strings.Join(redactAll(append(chain, newURL)), " → ")}
	}
	next := r.Copy()
	next.URL = newURL
	next.RedirectTimes = r.RedirectTimes + 1
	next.RedirectURLs = chain
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
	reMetaTag   = regexp.MustCompile(`(?is)<meta\s[^>]*http-equiv\s*=\s*["']?refresh["']?[^>]*>`)
	reContent   = regexp.MustCompile(`(?is)\bcontent\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`)
	reRefresh   = regexp.MustCompile(`(?is)^\s*(\d*\.?\d*)\s*(?:[;,]\s*(?:url\s*=\s*)?["']?([^"']*)["']?)?\s*$`)
	reComments  = regexp.MustCompile(`(?s)<!--.*?-->`)
	reNoscripts = regexp.MustCompile(`(?is)<(script|noscript)\b.*?</(script|noscript)>`)
)

// metaRefreshScan bounds how much of the page is searched: the tag
// belongs in <head>.
const metaRefreshScan = 64 << 10

// metaRefresh finds a meta refresh with a URL, ignoring comments, scripts
// and noscript blocks like w3lib's get_meta_refresh.
func metaRefresh(body []byte) (time.Duration, string, bool) {
	if len(body) > metaRefreshScan {
		body = body[:metaRefreshScan]
	}
	// Nearly every page has no refresh: a plain scan keeps the regexps
	// (and the string copy they need) off the common path.
	if !hasHTTPEquiv(body) {
		return 0, "", false
	}
	text := reNoscripts.ReplaceAllString(reComments.ReplaceAllString(string(body), ""), "")
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
