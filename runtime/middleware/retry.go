package middleware

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// DefaultRetryHTTPCodes is RETRY_HTTP_CODES' default (Scrapy's).
var DefaultRetryHTTPCodes = []int{500, 502, 503, 504, 522, 524, 408, 429}

// Retry re-schedules requests that failed transiently (Scrapy's
// RetryMiddleware): responses with a RETRY_HTTP_CODES status and
// retryable failures (timeouts, refused or reset connections, truncated
// bodies, DNS timeouts — not NXDOMAIN, TLS or size errors). Unlike
// Scrapy, each retry waits: Retry-After when the server sent one (capped
// at MaxRetryAfter), otherwise an exponential backoff with jitter, or the
// request's RetryDelay. The wait is carried in meta download_not_before,
// so it holds across schedulers and does not occupy a download slot.
type Retry struct {
	Enabled bool
	// Times is RETRY_TIMES (2); meta max_retry_times and
	// Request.MaxRetryTimes win.
	Times     int
	HTTPCodes []int
	// PriorityAdjust is added to a retry's priority (RETRY_PRIORITY_ADJUST, -1).
	PriorityAdjust int
	// BackoffBase and BackoffMax shape the backoff: base·2^(n-1)·U(0.5,1.5),
	// capped at max (RETRY_BACKOFF_BASE 0.5s, RETRY_BACKOFF_MAX 60s).
	BackoffBase, BackoffMax time.Duration
	// MaxRetryAfter caps a server's Retry-After (60s).
	MaxRetryAfter time.Duration
	Stats         stats.Collector
	Logger        *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// NewRetry returns a Retry with Scrapy's defaults plus ours.
func NewRetry(st stats.Collector, log *slog.Logger) *Retry {
	return &Retry{
		Enabled: true, Times: 2, HTTPCodes: DefaultRetryHTTPCodes, PriorityAdjust: -1,
		BackoffBase: 500 * time.Millisecond, BackoffMax: 60 * time.Second, MaxRetryAfter: 60 * time.Second,
		Stats: st, Logger: log,
	}
}

// ProcessResponse implements ResponseProcessor.
func (m *Retry) ProcessResponse(_ context.Context, r *crawl.Request, resp *crawl.Response) (Result, error) {
	if !m.Enabled || r.MetaBool("dont_retry") || !slices.Contains(m.HTTPCodes, resp.Status) {
		return Result{}, nil
	}
	reason := statusMessage(resp.Status)
	var wait time.Duration
	if ra, ok := downloader.ParseRetryAfter(resp.Headers.Get("Retry-After"), m.now()); ok {
		if ra > m.MaxRetryAfter {
			m.log().Warn("Retry-After capped", "url", r.URL, "retry_after", ra, "cap", m.MaxRetryAfter)
			ra = m.MaxRetryAfter
		}
		wait = ra
	}
	if next := m.retry(r, reason, wait); next != nil {
		return Result{Request: next}, nil
	}
	return Result{}, nil
}

// ProcessException implements ExceptionProcessor.
func (m *Retry) ProcessException(_ context.Context, r *crawl.Request, err error) (Result, error) {
	if !m.Enabled || r.MetaBool("dont_retry") || !Retryable(err) {
		return Result{}, nil
	}
	var f *crawl.Failure
	reason := "Error"
	if errors.As(err, &f) {
		reason = string(f.Type)
	}
	if next := m.retry(r, reason, 0); next != nil {
		return Result{Request: next}, nil
	}
	return Result{}, nil
}

// Retryable reports whether a failure is worth another attempt.
func Retryable(err error) bool {
	var f *crawl.Failure
	if !errors.As(err, &f) {
		return false
	}
	switch f.Type {
	case crawl.TimeoutError, crawl.ConnectionRefused, crawl.ConnectionReset, crawl.ConnectionError:
		return true
	case crawl.DNSLookupError:
		// NXDOMAIN is an answer, not a transient fault; a lookup timeout
		// is worth repeating.
		return strings.HasPrefix(f.Message, "dns timeout")
	}
	return false
}

func (m *Retry) maxTimes(r *crawl.Request) int {
	if n, ok := metaNumber(r.Meta["max_retry_times"]); ok {
		return n
	}
	if r.MaxRetryTimes != nil {
		return *r.MaxRetryTimes
	}
	return m.Times
}

func (m *Retry) retry(r *crawl.Request, reason string, wait time.Duration) *crawl.Request {
	done := r.RetryTimes
	if v, ok := metaNumber(r.Meta["retry_times"]); ok && done == 0 {
		// Scrapy keeps the count in meta; a request built with it there
		// continues from it.
		done = v
	}
	n := done + 1
	maxN := m.maxTimes(r)
	if n > maxN {
		if m.Stats != nil {
			m.Stats.Inc("retry/max_reached", 1)
		}
		m.log().Error("gave up retrying", "url", weburl.Redact(r.URL), "attempts", n, "reason", reason)
		return nil
	}
	next := r.Copy()
	next.RetryTimes = n
	delete(next.Meta, "retry_times")
	next.DontFilter = true
	adjust := m.PriorityAdjust
	if v, ok := metaNumber(r.Meta["priority_adjust"]); ok {
		adjust = v // Scrapy's RetryMiddleware reads meta priority_adjust
	}
	next.Priority += adjust
	backoff := r.RetryDelay
	if backoff <= 0 && m.BackoffBase > 0 {
		backoff = m.BackoffBase << (n - 1)
		backoff = time.Duration(float64(backoff) * (0.5 + rand.Float64()))
		if m.BackoffMax > 0 {
			backoff = min(backoff, m.BackoffMax)
		}
	}
	wait = max(wait, backoff)
	if wait > 0 {
		next.SetMeta(downloader.MetaNotBefore, m.now().Add(wait).UnixMilli())
	}
	if m.Stats != nil {
		m.Stats.Inc("retry/count", 1)
		m.Stats.Inc("retry/reason_count/"+reason, 1)
	}
	m.log().Debug("retrying", "url", weburl.Redact(r.URL), "attempt", n, "of", maxN, "reason", reason, "wait", wait)
	return next
}

// statusMessage is Scrapy's response_status_message: the status and
// Twisted's reason phrase ("408 Request Time-out", "429 Unknown Status"),
// which names the retry/reason_count stats as Scrapy's do.
func statusMessage(status int) string {
	phrase, ok := twistedReasons[status]
	if !ok {
		phrase = "Unknown Status"
	}
	return strconv.Itoa(status) + " " + phrase
}

// twistedReasons is twisted.web.http.RESPONSES (checked against it by
// TestReferenceStatusMessages).
var twistedReasons = map[int]string{
	100: "Continue", 101: "Switching Protocols",
	200: "OK", 201: "Created", 202: "Accepted", 203: "Non-Authoritative Information",
	204: "No Content", 205: "Reset Content.", 206: "Partial Content", 207: "Multi-Status",
	300: "Multiple Choices", 301: "Moved Permanently", 302: "Found", 303: "See Other",
	304: "Not Modified", 305: "Use Proxy", 307: "Temporary Redirect", 308: "Permanent Redirect",
	400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
	404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
	407: "Proxy Authentication Required", 408: "Request Time-out", 409: "Conflict",
	410: "Gone", 411: "Length Required", 412: "Precondition Failed",
	413: "Request Entity Too Large", 414: "Request-URI Too Long",
	415: "Unsupported Media Type", 416: "Requested Range not satisfiable",
	417: "Expectation Failed",
	500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
	503: "Service Unavailable", 504: "Gateway Time-out", 505: "HTTP Version not supported",
	507: "Insufficient Storage Space", 510: "Not Extended",
}

func (m *Retry) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Retry) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

func metaNumber(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		return int(n), true
	}
	return 0, false
}
