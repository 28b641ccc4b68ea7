package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/spiderrun/spiderrun/runtime/blocks"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/settings"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// BuiltinsFromSettings returns the built-ins configured from the settings,
// each by its own builder below (Scrapy's from_crawler). robots.txt
// (RobotsFromSettings) and the HTTP cache (HTTPCacheFromSettings) need
// more than settings, and are the caller's to add.
// BuiltinsFromSettings(settings.Defaults()) is DefaultBuiltins (a test
// checks).
func BuiltinsFromSettings(v *settings.Values, st stats.Collector, log *slog.Logger) Builtins {
	return Builtins{
		HTTPError:      HTTPErrorFromSettings(v, st),
		DefaultHeaders: DefaultHeadersFromSettings(v),
		Retry:          RetryFromSettings(v, st, log),
		Redirect:       RedirectFromSettings(v, log),
		Cookies:        CookiesFromSettings(v, log),
		Stats:          &Stats{Stats: st},
	}
}

// HTTPErrorFromSettings reads HTTPERROR_ALLOWED_CODES and
// HTTPERROR_ALLOW_ALL.
func HTTPErrorFromSettings(v *settings.Values, st stats.Collector) *HTTPError {
	return &HTTPError{AllowedCodes: v.HTTPErrorAllowedCodes, AllowAll: v.HTTPErrorAllowAll, Stats: st}
}

// DefaultHeadersFromSettings reads USER_AGENT and DEFAULT_REQUEST_HEADERS
// (numbers and booleans as written in JSON). Impersonate (IMPERSONATE,
// a profile file resolved against the spec) is the caller's.
func DefaultHeadersFromSettings(v *settings.Values) *DefaultHeaders {
	m := &DefaultHeaders{UserAgent: v.UserAgent}
	for _, kv := range v.DefaultRequestHeaders {
		m.Headers = append(m.Headers, crawl.Header{Name: kv.Key, Value: kv.Text()})
	}
	return m
}

// RetryFromSettings reads RETRY_ENABLED, RETRY_TIMES, RETRY_HTTP_CODES and
// RETRY_PRIORITY_ADJUST; the backoff keeps NewRetry's.
func RetryFromSettings(v *settings.Values, st stats.Collector, log *slog.Logger) *Retry {
	m := NewRetry(st, log)
	m.Enabled = v.RetryEnabled
	m.Times = v.RetryTimes
	m.HTTPCodes = v.RetryHTTPCodes
	m.PriorityAdjust = v.RetryPriorityAdjust
	return m
}

// RedirectFromSettings reads REDIRECT_ENABLED, REDIRECT_MAX_TIMES,
// REDIRECT_PRIORITY_ADJUST, REDIRECT_SENSITIVE_HEADERS,
// METAREFRESH_ENABLED, METAREFRESH_MAXDELAY, METAREFRESH_IGNORE_TAGS and
// URLLENGTH_LIMIT.
func RedirectFromSettings(v *settings.Values, log *slog.Logger) *Redirect {
	m := NewRedirect(log)
	m.Enabled = v.RedirectEnabled
	m.MaxTimes = v.RedirectMaxTimes
	m.PriorityAdjust = v.RedirectPriorityAdjust
	m.MetaRefresh = v.MetaRefreshEnabled
	m.MetaRefreshMaxDelay = v.MetaRefreshMaxDelay
	m.MetaRefreshIgnoreTags = v.MetaRefreshIgnoreTags
	m.SensitiveHeaders = v.RedirectSensitiveHeaders
	m.MaxURLLength = v.URLLengthLimit
	return m
}

// CookiesFromSettings reads COOKIES_ENABLED, COOKIES_DEBUG (logged on log)
// and DEFAULT_COOKIES, with fresh jars (the caller may share its own).
func CookiesFromSettings(v *settings.Values, log *slog.Logger) *Cookies {
	m := NewCookies()
	m.Logger = log // used only when COOKIES_DEBUG turns Debug on
	m.Enabled = v.CookiesEnabled
	m.Debug = v.CookiesDebug
	m.SameSite = v.Impersonate != ""
	m.Impersonate = v.Impersonate
	for _, kv := range v.DefaultCookies {
		m.Defaults = append(m.Defaults, crawl.Cookie{Name: kv.Key, Value: kv.Text()})
	}
	return m
}

// RobotsFromSettings returns the robots.txt middleware when ROBOTSTXT_OBEY
// is on (nil otherwise), matching ROBOTSTXT_USER_AGENT, else each
// request's own User-Agent, else USER_AGENT (Scrapy's order), and
// fetching through fetch. Scheme, Delays, Stats and Logger are the
// caller's.
func RobotsFromSettings(v *settings.Values, fetch func(ctx context.Context, r *crawl.Request) (*crawl.Response, error)) *RobotsTxt {
	if !v.RobotsTxtObey {
		return nil
	}
	m := NewRobotsTxt(fetch, v.RobotsTxtUserAgent)
	m.FallbackAgent = v.UserAgent
	return m
}

// HTTPCacheFromSettings returns the HTTP cache when HTTPCACHE_ENABLED is on
// (nil otherwise) in cacheDir, HTTPCACHE_DIR as the caller resolved it
// (the wiring: relative to the spec, dsl.Spec.Path), with a sub-directory
// per spider, HTTPCACHE_EXPIRATION_SECS and HTTPCACHE_IGNORE_HTTP_CODES.
// An unusable directory is an error now, not during the crawl.
func HTTPCacheFromSettings(v *settings.Values, cacheDir, spider string, st stats.Collector, log *slog.Logger) (*HTTPCache, error) {
	if !v.HTTPCacheEnabled {
		return nil, nil
	}
	m, err := NewHTTPCache(cacheDir, spider, st, log)
	if err != nil {
		return nil, fmt.Errorf("settings.HTTPCACHE_DIR: %w", err)
	}
	m.Expiration = v.HTTPCacheExpirationSecs
	m.IgnoreHTTPCodes = v.HTTPCacheIgnoreHTTPCodes
	return m, nil
}

// BlocksFromSettings reads BLOCK_DETECTORS, BLOCK_RULES, BLOCK_RETRY_TIMES
// and BLOCK_BACKOFF (with no detector on, the middleware only keeps the
// health scoreboard). A bad rule or an unknown detector is an error naming
// it (validate reports the same one).
func BlocksFromSettings(v *settings.Values, st stats.Collector, log *slog.Logger) (*Blocks, error) {
	var rules []blocks.Rule
	for _, kv := range v.BlockRules {
		r, err := blocks.ParseRule(kv.Key, kv.Value)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	set, err := blocks.New(v.BlockDetectors, rules)
	if err != nil {
		return nil, err
	}
	return &Blocks{Detectors: set, Times: v.BlockRetryTimes, BackoffBase: v.BlockBackoff, BackoffMax: time.Minute,
		Stats: st, Logger: log}, nil
}
