package impersonate

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Captured is what a fingerprinting server saw from a real browser on one
// request (see internal/fingerprint and `spiderrun fingerprint capture`).
type Captured struct {
	// ClientHello is the raw ClientHello record.
	ClientHello []byte
	// HTTPVersion is "2" or "1.1".
	HTTPVersion string
	// Settings is the SETTINGS frame in Akamai notation ("1:65536;2:0").
	Settings        string
	WindowUpdate    uint32
	PriorityFrames  []string
	HeadersPriority *HeadersPriority
	PseudoOrder     []string
	// Headers in wire order, names as sent.
	Headers crawl.Headers
}

// CapturedFrom turns what the fingerprinting server recorded into the
// input of UpdateFromCapture: the step between `spiderrun fingerprint
// capture`'s server and the profile it writes (the live-browser tests take
// the same step).
func CapturedFrom(c fingerprint.Capture) Captured {
	out := Captured{HTTPVersion: c.HTTPVersion, Headers: c.Headers}
	if c.TLS != nil {
		out.ClientHello = c.TLS.Raw
	}
	if h := c.H2; h != nil {
		out.Settings, _, _ = strings.Cut(c.Akamai, "|")
		out.WindowUpdate = h.WindowUpdate
		for _, p := range h.Priorities {
			ex := 0
			if p.Exclusive {
				ex = 1
			}
			out.PriorityFrames = append(out.PriorityFrames, fmt.Sprintf("%d:%d:%d:%d", p.StreamID, ex, p.DependsOn, p.Weight))
		}
		if hp := h.HeadersPriority; hp != nil {
			out.HeadersPriority = &HeadersPriority{Exclusive: hp.Exclusive, DependsOn: hp.DependsOn, Weight: hp.Weight}
		}
		out.PseudoOrder = h.PseudoOrder
	}
	return out
}

var (
	reChromeVer  = regexp.MustCompile(`(?:Headless)?Chrome/(\d+)`)
	reEdgeVer    = regexp.MustCompile(`Edg/(\d+)`)
	reFirefoxVer = regexp.MustCompile(`Firefox/(\d+)`)
	reSafariVer  = regexp.MustCompile(`Version/(\d+(?:\.\d+)?).*Safari/`)
)

// BrowserFromUserAgent names the browser family and major version a
// User-Agent claims ("" when it names none we know).
func BrowserFromUserAgent(ua string) (browser, version string) {
	if m := reEdgeVer.FindStringSubmatch(ua); m != nil {
		return "edge", m[1]
	}
	if m := reFirefoxVer.FindStringSubmatch(ua); m != nil {
		return "firefox", m[1]
	}
	if m := reChromeVer.FindStringSubmatch(ua); m != nil {
		return "chrome", m[1]
	}
	if m := reSafariVer.FindStringSubmatch(ua); m != nil {
		return "safari", m[1]
	}
	return "", ""
}

// requestSpecific headers describe one request, not the browser, so a
// profile never carries them.
var requestSpecific = map[string]bool{
	"host": true, "cookie": true, "content-length": true, "content-type": true,
	"origin": true, "referer": true, "if-none-match": true, "if-modified-since": true,
	"cache-control": true, "pragma": true,
}

// dropRequestSpecific removes per-request headers; for HTTP/1.1 the
// Connection header is browser behaviour and stays.
func dropRequestSpecific(h crawl.Headers) crawl.Headers {
	var out crawl.Headers
	for _, kv := range h {
		if !requestSpecific[strings.ToLower(kv.Name)] {
			out = append(out, kv)
		}
	}
	return out
}

// unheadless rewrites the values headless Chromium gives itself away with
// ("HeadlessChrome" in the User-Agent and the sec-ch-ua brand list) into
// what the same build sends with a window.
func unheadless(h crawl.Headers) (crawl.Headers, bool) {
	changed := false
	out := h.Clone()
	for i, kv := range out {
		if strings.Contains(kv.Value, "HeadlessChrome") {
			out[i].Value = strings.ReplaceAll(kv.Value, "HeadlessChrome", "Chrome")
			changed = true
		}
		if strings.EqualFold(kv.Name, "sec-ch-ua") && strings.Contains(kv.Value, `"HeadlessChrome"`) {
			out[i].Value = strings.ReplaceAll(out[i].Value, `"HeadlessChrome"`, `"Google Chrome"`)
		}
	}
	return out, changed
}

// Unheadless is the rewrite UpdateFromCapture applies to a capture's
// headers, for those that compare a capture with what a profile made from
// it sends.
func Unheadless(h crawl.Headers) crawl.Headers {
	out, _ := unheadless(h)
	return out
}

func headerLines(h crawl.Headers) []string {
	out := make([]string, len(h))
	for i, kv := range h {
		out[i] = kv.Name + ": " + kv.Value
	}
	return out
}

// UpdateFromCapture fills a profile from a capture: an HTTP/2 capture sets
// the ClientHello, the HTTP/2 preface and the HTTP/2 headers; an HTTP/1.1
// capture sets the HTTP/1.1 headers (and the ClientHello when the profile
// has none). p may be a zero Profile; name, when "", becomes
// browser_version from the User-Agent. It returns notes for the user.
func UpdateFromCapture(p *Profile, name string, c Captured) ([]string, error) {
	var notes []string
	headers, fixed := unheadless(dropRequestSpecific(c.Headers))
	if fixed {
		notes = append(notes, `headless Chromium: "HeadlessChrome" rewritten to "Chrome" in user-agent and sec-ch-ua`)
	}
	browser, version := BrowserFromUserAgent(headers.Get("user-agent"))
	if browser == "" {
		return nil, fmt.Errorf("capture: user-agent %q names no known browser", headers.Get("user-agent"))
	}
	if p.Browser == "" {
		p.Browser, p.Version = browser, version
	}
	if name != "" {
		p.Name = name
	}
	if p.Name == "" {
		p.Name = browser + "_" + version
	}
	if p.Source == "" {
		p.Source = "captured with spiderrun fingerprint capture from " + headers.Get("user-agent")
	}
	if len(c.ClientHello) > 0 && (c.HTTPVersion == "2" || p.TLS.ClientHello == "") {
		p.TLS = TLSSpec{
			ClientHello: hex.EncodeToString(c.ClientHello),
			// Chromium shuffles extensions on every connection since 106;
			// Firefox and Safari keep a fixed order.
			ShuffleExtensions: browser == "chrome" || browser == "edge",
		}
		if h, err := ParseHelloRandom(c.ClientHello); err == nil && h.PSK {
			notes = append(notes, "the captured connection resumed a TLS session: its pre_shared_key is not replayed (our first connections send none, later ones our own ticket); the rest of the ClientHello is the browser's")
		}
	}
	switch c.HTTPVersion {
	case "2":
		p.HTTP2 = HTTP2Spec{
			Settings:          c.Settings,
			WindowUpdate:      c.WindowUpdate,
			PriorityFrames:    c.PriorityFrames,
			HeadersPriority:   c.HeadersPriority,
			PseudoHeaderOrder: c.PseudoOrder,
		}
		p.Headers = headerLines(headers)
	default:
		p.HeadersHTTP1 = headerLines(headers)
		if len(p.Headers) == 0 {
			notes = append(notes, "no HTTP/2 capture yet: run the browser again with HTTP/2 and --merge to fill http2 and headers")
		}
	}
	if err := p.compile(); err != nil {
		return notes, fmt.Errorf("capture produced an invalid profile: %w", err)
	}
	return notes, nil
}
