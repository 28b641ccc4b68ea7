package crawl

import (
	"net/url"
	"slices"
	"time"
)

// Request is one HTTP (or WebSocket) request of a crawl, as a spider yields it.
// Field names follow Scrapy / scrapy_cffi (DESIGN.md §3). Zero values mean
// "use the setting": Timeout 0 is DOWNLOAD_TIMEOUT, MaxRetryTimes nil is
// RETRY_TIMES, and so on.
type Request struct {
	URL     string  `json:"url"`
	Method  string  `json:"method,omitempty"` // "" means GET
	Headers Headers `json:"headers,omitempty"`
	Body    []byte  `json:"body,omitempty"`
	// Cookies are sent with this request in addition to the session's jar.
	Cookies []Cookie `json:"cookies,omitempty"`

	// Meta is Scrapy's request.meta. Values set by JavaScript may be opaque
	// (a ResultHolder); Go code reads only well-known keys (dont_redirect,
	// dont_retry, handle_httpstatus_list, handle_httpstatus_all,
	// dont_obey_robotstxt, download_timeout, ...).
	Meta map[string]any `json:"meta,omitempty"`
	// CbKwargs are passed to the callback as its second argument.
	CbKwargs map[string]any `json:"cb_kwargs,omitempty"`

	Priority   int    `json:"priority,omitempty"`
	DontFilter bool   `json:"dont_filter,omitempty"`
	Callback   string `json:"callback,omitempty"` // exported function name; "" = spec default
	Errback    string `json:"errback,omitempty"`
	SessionID  string `json:"session_id,omitempty"`
	DescText   string `json:"desc_text,omitempty"`

	// Proxy is one proxy URL (http, https, socks5) for this request; "" uses
	// the session's or the PROXIES setting.
	Proxy          string        `json:"proxy,omitempty"`
	Timeout        time.Duration `json:"timeout,omitempty"`
	MaxRetryTimes  *int          `json:"max_retry_times,omitempty"`
	RetryDelay     time.Duration `json:"retry_delay,omitempty"`
	AllowRedirects *bool         `json:"allow_redirects,omitempty"`
	MaxRedirects   int           `json:"max_redirects,omitempty"`
	Verify         *bool         `json:"verify,omitempty"`
	Impersonate    string        `json:"impersonate,omitempty"`
	HTTPVersion    string        `json:"http_version,omitempty"` // "", "1.1" or "2"
	// Kind is how a browser would have made the request (KindNavigate,
	// KindLink, KindForm, KindFetch, KindXHR); an impersonated request
	// carries that kind's headers (sec-fetch-*, Origin, Accept, order).
	// "" chooses by how the request was made: see DefaultKind.
	Kind string `json:"kind,omitempty"`
	// Credentials is the credentials mode of a fetch or xhr request, as
	// fetch()'s option of that name (CredentialsOmit, CredentialsSameOrigin,
	// CredentialsInclude; "" = same-origin, fetch()'s default): whether an
	// impersonated request carries cookies to another origin. Other kinds
	// ignore it.
	Credentials string `json:"credentials,omitempty"`

	// WebSocket is set for a WebSocketRequest.
	WebSocket *WebSocketSpec `json:"websocket,omitempty"`

	// Engine-owned state below; spiders read it, the engine writes it.

	Depth         int      `json:"depth,omitempty"`
	RetryTimes    int      `json:"retry_times,omitempty"`
	RedirectTimes int      `json:"redirect_times,omitempty"`
	RedirectURLs  []string `json:"redirect_urls,omitempty"`
	// Start marks a start request (not subject to the offsite filter).
	Start bool `json:"start,omitempty"`
	// Parent is the URL of the response whose callback emitted this request
	// ("" for start requests and requests made outside a callback). The
	// downloader refuses a file:// request unless it is a start request or
	// its parent is itself a file:// page, so a page fetched over the
	// network can never make the crawler read local files.
	Parent string `json:"parent,omitempty"`

	// Local is opaque per-process state that never leaves the process (a JS
	// callback closure, a handle for an inline download). A scheduler that
	// serializes requests must refuse, or keep local, requests that carry it.
	Local any `json:"-"`
	// Lease is set by a scheduler backend that leases requests (Redis) and
	// handed back to its Ack.
	Lease any `json:"-"`
}

// The request kinds (Request.Kind): which request of a real browser an
// impersonated request reproduces (specs/impersonation.md, Request kinds).
const (
	// KindNavigate is a top-level navigation the user typed (a start URL):
	// sec-fetch-site none, sec-fetch-user ?1.
	KindNavigate = "navigate"
	// KindLink is a navigation by a click on a link of the parent page:
	// sec-fetch-site from the page's origin, sec-fetch-user ?1, Referer.
	KindLink = "link"
	// KindForm is a form submitted by a click on its button (GET or POST;
	// a POST carries Origin and a Content-Type).
	KindForm = "form"
	// KindFetch is a fetch() call of the page's script: sec-fetch-mode
	// cors, sec-fetch-dest empty, Accept */*, Origin when cross-origin or
	// not GET/HEAD.
	KindFetch = "fetch"
	// KindXHR is an XMLHttpRequest of the page's script (as fetch, with
	// the browser's XHR header order and priority).
	KindXHR = "xhr"
)

// Kinds lists the valid Request.Kind values ("" aside).
var Kinds = []string{KindNavigate, KindLink, KindForm, KindFetch, KindXHR}

// ValidKind reports whether k is "" or one of Kinds.
func ValidKind(k string) bool {
	if k == "" {
		return true
	}
	for _, v := range Kinds {
		if k == v {
			return true
		}
	}
	return false
}

// DefaultKind is the kind of r: its own Kind, or else from how it was
// made: a request without a parent page (a start request) is a typed
// navigation, a GET or HEAD from a page is a followed link
// (response.follow, CrawlSpider rules, any request a callback yields), and
// any other method from a page is a form submission.
func DefaultKind(r *Request) string {
	switch {
	case r.Kind != "":
		return r.Kind
	case r.Parent == "" || r.Start:
		return KindNavigate
	case r.GetMethod() == "GET" || r.GetMethod() == "HEAD":
		return KindLink
	default:
		return KindForm
	}
}

// The credentials modes of a fetch or xhr request (Request.Credentials),
// fetch()'s names.
const (
	// CredentialsOmit sends no cookie, to any origin.
	CredentialsOmit = "omit"
	// CredentialsSameOrigin sends cookies only to the page's own origin
	// (fetch()'s default, and XHR's without withCredentials).
	CredentialsSameOrigin = "same-origin"
	// CredentialsInclude sends cookies to other origins too (XHR's
	// withCredentials = true), under the SameSite rules; a CORS preflight
	// must then allow credentials.
	CredentialsInclude = "include"
)

// CredentialModes lists the valid Request.Credentials values ("" aside).
var CredentialModes = []string{CredentialsOmit, CredentialsSameOrigin, CredentialsInclude}

// ValidCredentials reports whether c is "" or one of CredentialModes.
func ValidCredentials(c string) bool {
	return c == "" || slices.Contains(CredentialModes, c)
}

// Cookie is a name/value pair sent with a request.
type Cookie struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Domain string `json:"domain,omitempty"`
	Path   string `json:"path,omitempty"`
}

// WebSocketSpec carries the WebSocket-only fields of a WebSocketRequest.
type WebSocketSpec struct {
	ID           string        `json:"websocket_id,omitempty"`
	Send         []WSMessage   `json:"send_message,omitempty"`
	PingData     []byte        `json:"ping_data,omitempty"`
	PingInterval time.Duration `json:"ping_interval,omitempty"`
}

// WSMessage is one WebSocket message; Binary selects the frame type.
type WSMessage struct {
	Data   []byte `json:"data"`
	Binary bool   `json:"binary,omitempty"`
}

// GetMethod returns the method, defaulting to GET.
func (r *Request) GetMethod() string {
	if r.Method == "" {
		return "GET"
	}
	return r.Method
}

// String is Scrapy's repr of a request, `<GET https://example.com/>`,
// the form its log lines use.
func (r *Request) String() string { return "<" + r.GetMethod() + " " + r.URL + ">" }

// ParsedURL parses URL.
func (r *Request) ParsedURL() (*url.URL, error) { return url.Parse(r.URL) }

// Copy returns a shallow copy with its own header, cookie and map containers,
// so a middleware can change the copy without touching the original.
func (r *Request) Copy() *Request {
	c := *r
	c.Headers = r.Headers.Clone()
	c.Cookies = append([]Cookie(nil), r.Cookies...)
	c.RedirectURLs = append([]string(nil), r.RedirectURLs...)
	if r.Meta != nil {
		c.Meta = make(map[string]any, len(r.Meta))
		for k, v := range r.Meta {
			c.Meta[k] = v
		}
	}
	return &c
}

// MetaBool reads a boolean meta key (false when absent or not a bool).
func (r *Request) MetaBool(key string) bool {
	b, _ := r.Meta[key].(bool)
	return b
}

// SetMeta sets a meta key, allocating the map.
func (r *Request) SetMeta(key string, v any) {
	if r.Meta == nil {
		r.Meta = map[string]any{}
	}
	r.Meta[key] = v
}
