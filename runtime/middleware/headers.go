package middleware

import (
	"context"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// DefaultUserAgent is USER_AGENT's default.
const DefaultUserAgent = "spiderrun/1 (+https://github.com/spiderrun/spiderrun)"

// DefaultRequestHeaders is DEFAULT_REQUEST_HEADERS' default (Scrapy's).
func DefaultRequestHeaders() crawl.Headers {
	return crawl.Headers{
		{Name: "Accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
		{Name: "Accept-Language", Value: "en"},
	}
}

// DefaultHeaders adds DEFAULT_REQUEST_HEADERS and USER_AGENT to requests
// that do not set them (Scrapy's DefaultHeadersMiddleware and
// UserAgentMiddleware). The request's own headers keep their place; the
// defaults follow in their listed order.
//
// An impersonated request (Request.Impersonate, or Impersonate here set
// from IMPERSONATE) is left alone: the browser profile brings its own
// User-Agent and Accept headers in the browser's order, and ours would
// contradict the TLS fingerprint.
type DefaultHeaders struct {
	Headers     crawl.Headers
	UserAgent   string
	Impersonate string
}

// ProcessRequest implements RequestProcessor.
func (m *DefaultHeaders) ProcessRequest(_ context.Context, r *crawl.Request) (Result, error) {
	if r.Impersonate != "" || m.Impersonate != "" {
		return Result{}, nil
	}
	if m.UserAgent != "" {
		r.Headers.SetDefault("User-Agent", m.UserAgent)
	}
	for _, h := range m.Headers {
		r.Headers.SetDefault(h.Name, h.Value)
	}
	return Result{}, nil
}
