package impersonate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/referrer"
)

// Preflight describes the request a CORS preflight asks permission for
// (RequestInfo.Preflight).
type Preflight struct {
	// Method is the request's method (Access-Control-Request-Method).
	Method string
	// Headers are the names of its author headers that are not
	// CORS-safelisted, lower-case and sorted
	// (Access-Control-Request-Headers).
	Headers []string
}

// ErrCORSPreflight is wrapped by the error of a request whose CORS
// preflight the server refused: a browser sends nothing more, and
// neither does the Transport.
var ErrCORSPreflight = errors.New("CORS preflight refused")

// forbiddenHeaders are the Fetch spec's forbidden request-header names
// (set by the browser, never by a page's script), and User-Agent, which
// the profile sets; none of them makes a request non-simple.
var forbiddenHeaders = []string{"accept-charset", "accept-encoding", "access-control-request-headers",
	"access-control-request-method", "connection", "content-length", "cookie", "cookie2", "date", "dnt",
	"expect", "host", "keep-alive", "origin", "referer", "set-cookie", "te", "trailer", "transfer-encoding",
	"upgrade", "via", "user-agent", "priority"}

// PreflightFor returns what the CORS preflight of the request info
// describes asks for, or nil when a browser sends none: the request is
// not a fetch or XHR, stays on the page's origin, or is simple (a GET,
// HEAD or POST whose author headers, req, are all CORS-safelisted, as a
// Content-Type of application/x-www-form-urlencoded, multipart/form-data
// or text/plain is).
func PreflightFor(info RequestInfo, req crawl.Headers) *Preflight {
	if info.Kind != crawl.KindFetch && info.Kind != crawl.KindXHR || info.URL == nil || info.Initiator == "" {
		return nil
	}
	initiator, err := url.Parse(info.Initiator)
	if err != nil || !corsTainted(initiator, info.Chain, info.URL) {
		return nil
	}
	method := strings.ToUpper(info.Method)
	if method == "" {
		method = "GET"
	}
	var unsafe []string
	safelistedSize := 0
	for _, h := range req {
		name := strings.ToLower(h.Name)
		if h.Value == "" || slices.Contains(forbiddenHeaders, name) || strings.HasPrefix(name, "sec-") || strings.HasPrefix(name, "proxy-") {
			continue
		}
		if safelisted(name, h.Value) {
			safelistedSize += len(name) + len(h.Value)
			continue
		}
		if !slices.Contains(unsafe, name) {
			unsafe = append(unsafe, name)
		}
	}
	if safelistedSize > 1024 {
		// The spec's cap on the safelisted headers together: past it they
		// all count as unsafe.
		for _, h := range req {
			name := strings.ToLower(h.Name)
			if safelisted(name, h.Value) && !slices.Contains(unsafe, name) {
				unsafe = append(unsafe, name)
			}
		}
	}
	slices.Sort(unsafe)
	if method != "GET" && method != "HEAD" && method != "POST" || len(unsafe) > 0 {
		return &Preflight{Method: method, Headers: unsafe}
	}
	return nil
}

// safelisted reports whether a page's header is CORS-safelisted (Fetch,
// "CORS-safelisted request-header").
func safelisted(name, value string) bool {
	if len(value) > 128 {
		return false
	}
	switch name {
	case "accept":
		return !strings.ContainsFunc(value, corsUnsafeByte)
	case "accept-language", "content-language":
		return !strings.ContainsFunc(value, func(r rune) bool {
			return !(r >= '0' && r <= '9' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || strings.ContainsRune(" *,-.;=", r))
		})
	case "content-type":
		if strings.ContainsFunc(value, corsUnsafeByte) {
			return false
		}
		essence, _, err := mime.ParseMediaType(value)
		return err == nil && (essence == "application/x-www-form-urlencoded" || essence == "multipart/form-data" || essence == "text/plain")
	case "range":
		v, ok := strings.CutPrefix(value, "bytes=")
		start, end, dash := strings.Cut(v, "-")
		if !ok || !dash || strings.Contains(end, ",") {
			return false
		}
		a, errA := strconv.ParseUint(start, 10, 64)
		if errA != nil {
			return false
		}
		if end == "" {
			return true
		}
		b, errB := strconv.ParseUint(end, 10, 64)
		return errB == nil && a <= b
	}
	return false
}

func corsUnsafeByte(r rune) bool {
	return r < 0x20 && r != '\t' || r == 0x7f || strings.ContainsRune("\"():<>?@[\\]{}", r)
}

// preflightOrders are the preflights' header orders, measured on Chromium
// 148 and Firefox ESR 140 (TestRequestKinds' cors-* steps): only these
// headers are sent, no client hints, no cookie.
var preflightOrders = map[orderKey][]string{
	{familyChromium, shapeFetch, false}: strings.Fields(`accept access-control-request-method
		access-control-request-headers origin user-agent sec-fetch-mode sec-fetch-site sec-fetch-dest referer
		accept-encoding accept-language priority`),
	{familyChromium, shapeFetch, true}: strings.Fields(`Connection Accept Access-Control-Request-Method
		Access-Control-Request-Headers Origin User-Agent Sec-Fetch-Mode Sec-Fetch-Site Sec-Fetch-Dest Referer
		Accept-Encoding Accept-Language`),
	{familyFirefox, shapeFetch, false}: strings.Fields(`user-agent accept accept-language accept-encoding
		access-control-request-method access-control-request-headers referer origin sec-fetch-dest
		sec-fetch-mode sec-fetch-site priority te`),
	{familyFirefox, shapeFetch, true}: strings.Fields(`User-Agent Accept Accept-Language Accept-Encoding
		Access-Control-Request-Method Access-Control-Request-Headers Referer Origin Connection Sec-Fetch-Dest
		Sec-Fetch-Mode Sec-Fetch-Site Priority`),
}

// preflightHeaders are the headers of the CORS preflight info describes:
// the fetch's own headers for a GET without body, cookies or author
// headers (the browser sends none of them), with Origin and the
// Access-Control-Request-* pair, in the browser's preflight order.
func (p *Profile) preflightHeaders(info RequestInfo, req crawl.Headers, http1 bool) crawl.Headers {
	pf := info.Preflight
	get := info
	// An XHR's preflight is a fetch's (Firefox gives it the fetch's
	// priority, which its XHRs lack: xhr-cors-put).
	get.Preflight, get.Method, get.BodyLen, get.Credentials, get.Kind = nil, "GET", 0, "", crawl.KindFetch
	var ref crawl.Headers
	if v := req.Get("referer"); v != "" {
		ref = crawl.Headers{{Name: "Referer", Value: v}}
	}
	h := p.KindHeaders(get, ref, http1)
	if !h.Has("origin") {
		var initiator *url.URL
		if info.Initiator != "" {
			initiator, _ = url.Parse(info.Initiator)
		}
		if o := referrer.Origin(initiator); o != "" {
			h = append(h, crawl.Header{Name: "origin", Value: o})
		}
	}
	h = append(h, crawl.Header{Name: "access-control-request-method", Value: pf.Method})
	if len(pf.Headers) > 0 {
		h = append(h, crawl.Header{Name: "access-control-request-headers", Value: strings.Join(pf.Headers, ",")})
	}
	order, ok := preflightOrders[orderKey{familyOf(p), shapeFetch, http1}]
	if !ok {
		return h
	}
	index := func(name string) int {
		return slices.IndexFunc(order, func(n string) bool { return strings.EqualFold(n, name) })
	}
	h = slices.DeleteFunc(h, func(kv crawl.Header) bool { return index(kv.Name) < 0 })
	slices.SortStableFunc(h, func(a, b crawl.Header) int { return index(a.Name) - index(b.Name) })
	for i := range h {
		h[i].Name = order[index(h[i].Name)]
	}
	return h
}

// preflightCache remembers what preflights allowed, for as long as their
// Access-Control-Max-Age says (5 s without it, at most Chromium's 2 hours
// or Firefox's 24), as the browsers' caches do: per profile, pool key,
// origin, URL and credentials.
type preflightCache struct {
	mu sync.Mutex
	m  map[string]preflightEntry
}

type preflightEntry struct {
	methods, headers []string
	until            time.Time
}

// covers reports whether a cached answer allows pf.
func (e preflightEntry) covers(pf *Preflight, include bool) bool {
	if time.Now().After(e.until) {
		return false
	}
	if !methodAllowed(pf.Method, e.methods, include) {
		return false
	}
	for _, h := range pf.Headers {
		if !headerAllowed(h, e.headers, include) {
			return false
		}
	}
	return true
}

func (c *preflightCache) get(key string) (preflightEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	return e, ok
}

func (c *preflightCache) put(key string, e preflightEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]preflightEntry{}
	}
	now := time.Now()
	if len(c.m) > 4096 {
		for k, v := range c.m {
			if now.After(v.until) {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = e
}

// preflight sends the CORS preflight the request out needs, if any, and
// returns an error wrapping ErrCORSPreflight when the server refuses it.
func (t *Transport) preflight(ctx context.Context, p *Profile, out *downloader.Outgoing) error {
	info := InfoOf(out.Request, method(out), out.URL, len(out.Body))
	if familyOf(p) == familyOther && p.Browser == "" {
		return nil // the plain Go client is no browser
	}
	pf := PreflightFor(info, out.Headers)
	if pf == nil {
		return nil
	}
	initiator, _ := url.Parse(info.Initiator)
	origin := referrer.Origin(initiator)
	if taintedOrigin(initiator, info.Chain, out.URL) {
		origin = "null"
	}
	include := info.Credentials == crawl.CredentialsInclude
	key := strings.Join([]string{p.Name, out.PoolKey, origin, out.URL.String(), strconv.FormatBool(include)}, "\x00")
	if e, ok := t.preflights.get(key); ok && e.covers(pf, include) {
		return nil
	}
	pre := *out
	pre.Method, pre.Body = http.MethodOptions, nil
	pre.Headers = nil
	if v := out.Headers.Get("referer"); v != "" {
		pre.Headers = crawl.Headers{{Name: "Referer", Value: v}}
	}
	if v := out.Headers.Get("host"); v != "" {
		pre.Headers = append(pre.Headers, crawl.Header{Name: "Host", Value: v})
	}
	resp, err := t.roundTrip(ctx, p, &pre, pf)
	if err != nil {
		return fmt.Errorf("CORS preflight OPTIONS: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	e, err := corsCheck(resp, pf, origin, include)
	if err != nil {
		return fmt.Errorf("%w by %s (the browser would send nothing more): %v", ErrCORSPreflight, out.URL.Redacted(), err)
	}
	maxAge := 5 * time.Second
	if v, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Access-Control-Max-Age"))); err == nil {
		maxAge = time.Duration(v) * time.Second
	}
	limit := 2 * time.Hour // Chromium's cap
	if familyOf(p) == familyFirefox {
		limit = 24 * time.Hour
	}
	if maxAge > 0 {
		e.until = time.Now().Add(min(maxAge, limit))
		t.preflights.put(key, e)
	}
	return nil
}

// corsCheck is the CORS check of a preflight's answer (Fetch, "CORS-
// preflight fetch"): an ok status, the page's origin allowed (or any,
// "*", without credentials), credentials allowed when sent, and the
// method and every unsafe header listed.
func corsCheck(resp *http.Response, pf *Preflight, origin string, include bool) (preflightEntry, error) {
	var e preflightEntry
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return e, fmt.Errorf("status %d", resp.StatusCode)
	}
	allow := resp.Header.Values("Access-Control-Allow-Origin")
	switch {
	case len(allow) == 0:
		return e, errors.New("no Access-Control-Allow-Origin")
	case len(allow) > 1:
		return e, fmt.Errorf("Access-Control-Allow-Origin sent %d times", len(allow))
	case allow[0] == "*" && include:
		return e, errors.New(`Access-Control-Allow-Origin "*" with credentials: include`)
	case allow[0] != "*" && allow[0] != origin:
		return e, fmt.Errorf("Access-Control-Allow-Origin %q is not the page's origin %q", allow[0], origin)
	}
	if include && resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
		return e, errors.New("credentials: include, but no Access-Control-Allow-Credentials: true")
	}
	e.methods = headerList(resp.Header.Values("Access-Control-Allow-Methods"))
	e.headers = headerList(resp.Header.Values("Access-Control-Allow-Headers"))
	for i := range e.headers {
		e.headers[i] = strings.ToLower(e.headers[i])
	}
	if !methodAllowed(pf.Method, e.methods, include) {
		return e, fmt.Errorf("method %s not in Access-Control-Allow-Methods %q", pf.Method, strings.Join(e.methods, ", "))
	}
	for _, h := range pf.Headers {
		if !headerAllowed(h, e.headers, include) {
			return e, fmt.Errorf("header %s not in Access-Control-Allow-Headers %q", h, strings.Join(e.headers, ", "))
		}
	}
	return e, nil
}

func headerList(values []string) []string {
	var out []string
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// methodAllowed: GET, HEAD and POST always are; others by name (compared
// as browsers do, byte for byte after normalising the standard methods),
// or by "*" without credentials.
func methodAllowed(m string, allowed []string, include bool) bool {
	if m == "GET" || m == "HEAD" || m == "POST" {
		return true
	}
	for _, a := range allowed {
		if a == m || strings.EqualFold(a, m) && isStandardMethod(m) || a == "*" && !include {
			return true
		}
	}
	return false
}

func isStandardMethod(m string) bool {
	switch strings.ToUpper(m) {
	case "DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH":
		return true
	}
	return false
}

// headerAllowed: by name, or by "*" without credentials (never for
// Authorization).
func headerAllowed(h string, allowed []string, include bool) bool {
	for _, a := range allowed {
		if a == h || a == "*" && !include && h != "authorization" {
			return true
		}
	}
	return false
}
