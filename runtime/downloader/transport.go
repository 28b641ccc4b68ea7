// Package downloader fetches requests: per-domain slots (concurrency, delay,
// AutoThrottle), the transport, decompression with size limits, and the
// mapping of network errors to typed failures.
package downloader

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Outgoing is a request ready for the wire: URL parsed, headers in the order
// to send them, proxy and profile resolved by the middlewares.
type Outgoing struct {
	Method  string
	URL     *url.URL
	Headers crawl.Headers // sent in this order
	Body    []byte
	// Proxy is the proxy to use, nil for direct.
	Proxy *url.URL
	// Impersonate names the browser profile ("" = plain Go client).
	Impersonate string
	// HTTPVersion is "" (negotiate), "1.1" or "2".
	HTTPVersion string
	// Verify turns TLS certificate verification on.
	Verify bool
	// PoolKey partitions connection reuse (the session member), so two
	// identities never share a connection.
	PoolKey string
	// Timeout bounds the whole exchange (headers and body).
	Timeout time.Duration
	// Request is the crawl request this came from.
	Request *crawl.Request
}

// Transport sends one Outgoing request and returns the raw response; the
// caller reads (and closes) the body, decoding Content-Encoding and enforcing
// size limits itself. The impersonation layer replaces the default transport
// through this interface without touching the engine.
type Transport interface {
	RoundTrip(ctx context.Context, out *Outgoing) (*http.Response, error)
}

// HeaderChecker is a Transport that refuses headers contradicting what it
// sends on its own (a browser profile's User-Agent and Client Hints); the
// downloader asks it before each request and fails the request with
// IgnoreRequest.
type HeaderChecker interface {
	CheckHeaders(out *Outgoing) error
}
