package downloader

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// maxHeaderBytes caps a response header block (Go's default is 10 MiB).
const maxHeaderBytes = 1 << 20

// HTTPOptions configures the default transport.
type HTTPOptions struct {
	// Resolver resolves host names (default net.DefaultResolver). The
	// transport always resolves itself and dials addresses, so the guard
	// sees every address it connects to.
	Resolver Resolver
	// DNSTimeout bounds one lookup (default 5s).
	DNSTimeout time.Duration
	// TLSHandshakeTimeout bounds a TLS handshake (default 10s).
	TLSHandshakeTimeout time.Duration
	// DenyPrivate turns the SSRF guard on (DENY_PRIVATE_NETWORKS).
	DenyPrivate bool
	// Guard holds the allow list used when DenyPrivate is on.
	Guard Guard
	// RootCAs replaces the system roots (tests trust their httptest CA).
	RootCAs *x509.CertPool
	// MaxIdleConnsPerHost for connection reuse (default 16).
	MaxIdleConnsPerHost int
	// Logger receives one warning per host when TLS verification is off.
	Logger *slog.Logger
	// Dialer is the guarded dialer to use; nil builds one from the fields
	// above. Share one Dialer between this transport and an impersonating
	// one so the SSRF guard covers both.
	Dialer *Dialer
}

// HTTPTransport is the default Transport: net/http with HTTP/1.1 and
// HTTP/2 (ALPN), http/https/socks5 proxies with credentials, TLS
// verification unless Outgoing.Verify is false, a 1 MiB response header
// cap, no transparent decompression (the downloader decodes and enforces
// limits), and the DENY_PRIVATE_NETWORKS guard at connect time.
type HTTPTransport struct {
	opts   HTTPOptions
	dialer *Dialer
	mu     sync.Mutex
	pool   map[transportKey]*http.Transport
	warned sync.Map // host -> struct{}: insecure TLS warnings given
}

type transportKey struct {
	verify  bool
	version string
	poolKey string
}

// NewHTTPTransport builds the default transport.
func NewHTTPTransport(opts HTTPOptions) *HTTPTransport {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.DNSTimeout <= 0 {
		opts.DNSTimeout = 5 * time.Second
	}
	if opts.TLSHandshakeTimeout <= 0 {
		opts.TLSHandshakeTimeout = 10 * time.Second
	}
	if opts.MaxIdleConnsPerHost <= 0 {
		opts.MaxIdleConnsPerHost = 16
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Dialer == nil {
		opts.Dialer = NewDialer(opts)
	}
	return &HTTPTransport{opts: opts, dialer: opts.Dialer, pool: map[transportKey]*http.Transport{}}
}

// Blocked is the number of connection attempts the guard refused.
func (t *HTTPTransport) Blocked() int64 { return t.dialer.Blocked() }

// Dials is the number of connect attempts that reached the socket layer's
// Control hook (allowed or not).
func (t *HTTPTransport) Dials() int64 { return t.dialer.Dials() }

// CloseIdleConnections closes idle connections of every pooled transport.
func (t *HTTPTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, tr := range t.pool {
		tr.CloseIdleConnections()
	}
}

func (t *HTTPTransport) transport(k transportKey) *http.Transport {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tr, ok := t.pool[k]; ok {
		return tr
	}
	tr := &http.Transport{
		Proxy: func(r *http.Request) (*url.URL, error) {
			return proxyFrom(r.Context()), nil
		},
		DialContext: t.dialer.DialContext,
		TLSClientConfig: &tls.Config{
			RootCAs: t.opts.RootCAs,
			// Verification is on unless the request or TLS_VERIFY turns
			// it off; ServerName stays the URL host (net/http sets it).
			InsecureSkipVerify: !k.verify,
		},
		TLSHandshakeTimeout:    t.opts.TLSHandshakeTimeout,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHeaderBytes,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    t.opts.MaxIdleConnsPerHost,
		IdleConnTimeout:        90 * time.Second,
		ForceAttemptHTTP2:      true,
	}
	var p http.Protocols
	switch k.version {
	case "1.1":
		p.SetHTTP1(true)
	case "2":
		// HTTP/2 only: over TLS by ALPN, and on http:// URLs with prior
		// knowledge (h2c).
		p.SetHTTP2(true)
		p.SetUnencryptedHTTP2(true)
	default:
		p.SetHTTP1(true)
		p.SetHTTP2(true)
	}
	tr.Protocols = &p
	t.pool[k] = tr
	return tr
}

// RoundTrip implements Transport.
func (t *HTTPTransport) RoundTrip(ctx context.Context, out *Outgoing) (*http.Response, error) {
	if !out.Verify && out.URL.Scheme == "https" {
		if _, loaded := t.warned.LoadOrStore(out.URL.Host, struct{}{}); !loaded {
			t.opts.Logger.Warn("TLS certificate verification is off", "host", out.URL.Host)
		}
	}
	if out.Proxy != nil {
		// The downloader normally did this already; a direct caller of
		// RoundTrip gets the same proxy routing and guard exemption.
		ctx = WithProxy(ctx, out.Proxy)
	}
	req, err := http.NewRequestWithContext(ctx, out.Method, out.URL.String(), nil)
	if err != nil {
		return nil, err
	}
	if b := out.Body; len(b) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(b))
		req.ContentLength = int64(len(b))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	for _, h := range out.Headers {
		switch {
		case equalFold(h.Name, "Host"):
			req.Host = h.Value
		case equalFold(h.Name, "Content-Length"), equalFold(h.Name, "Proxy-Authorization"):
			// Content-Length comes from the body; Proxy-Authorization is
			// built from the proxy URL and only ever sent to the proxy.
		default:
			req.Header.Add(h.Name, h.Value)
		}
	}
	if !out.Headers.Has("User-Agent") {
		// Suppress Go's own "Go-http-client" default.
		req.Header["User-Agent"] = []string{""}
	}
	tr := t.transport(transportKey{verify: out.Verify, version: out.HTTPVersion, poolKey: out.PoolKey})
	req = req.WithContext(traceWireBytes(ctx, req, out.Body, out.Proxy, out.HTTPVersion == "2" && out.URL.Scheme == "http"))
	return tr.RoundTrip(req)
}

func equalFold(a, b string) bool {
	return strings.EqualFold(a, b)
}
