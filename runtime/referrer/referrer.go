// Package referrer implements the referrer policies of the W3C Referrer
// Policy spec: which Referer a page sends to a target under each policy,
// and how a page declares its policy (a Referrer-Policy header, a <meta
// name="referrer"> tag). The Referer spider middleware and the
// impersonating transport both use it.
package referrer

import (
	"bytes"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// Policies are the policy names of the spec, which Scrapy's meta
// referrer_policy also accepts.
var Policies = []string{"no-referrer", "no-referrer-when-downgrade", "same-origin", "origin",
	"strict-origin", "origin-when-cross-origin", "strict-origin-when-cross-origin", "unsafe-url"}

// BrowserDefault is the policy of a page that declares none, in Chromium
// and Firefox.
const BrowserDefault = "strict-origin-when-cross-origin"

// Parse reads a Referrer-Policy header or a <meta name="referrer">
// content: the last known policy wins (the spec's fallback rule:
// "no-referrer, strict-origin-when-cross-origin" means the latter where
// it is understood); "" when it names none.
func Parse(v string) string {
	policy := ""
	for _, tok := range strings.Split(v, ",") {
		tok = strings.ToLower(strings.TrimSpace(tok))
		if slices.Contains(Policies, tok) {
			policy = tok
		}
	}
	return policy
}

var (
	reMeta    = regexp.MustCompile(`(?is)<meta\s[^>]*>`)
	reName    = regexp.MustCompile(`(?is)\bname\s*=\s*["']?referrer["'\s/>]`)
	reContent = regexp.MustCompile(`(?is)\bcontent\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))`)
)

// metaScan bounds the part of a page searched for <meta name="referrer">:
// it belongs in <head>, at the top of the document.
const metaScan = 32 << 10

// legacyMeta are the old <meta name="referrer"> keywords the HTML spec
// still maps to policies.
var legacyMeta = map[string]string{"never": "no-referrer", "always": "unsafe-url",
	"default": "strict-origin-when-cross-origin", "origin-when-crossorigin": "origin-when-cross-origin"}

// FromHTML returns the policy of the last <meta name="referrer"> tag in
// the start of an HTML page ("" = none), which overrides the
// Referrer-Policy header in browsers.
func FromHTML(body []byte) string {
	if len(body) > metaScan {
		body = body[:metaScan]
	}
	// The common case, without a regexp pass. The needles start with 'f'
	// and 'F', rare in HTML: bytes.Contains checks each place its first
	// byte occurs, and "eferrer" cost 65 µs on the crawl benchmark's
	// 23 KB page against 1 µs, 4 % of the crawl's CPU (BenchmarkFromHTML
	// has a page of its own: 7.2 µs against 2.8 µs).
	if !bytes.Contains(body, []byte("ferrer")) && !bytes.Contains(body, []byte("FERRER")) {
		return ""
	}
	policy := ""
	for _, tag := range reMeta.FindAll(body, -1) {
		if !reName.Match(tag) {
			continue
		}
		if m := reContent.FindSubmatch(tag); m != nil {
			v := string(m[1]) + string(m[2]) + string(m[3])
			if l, ok := legacyMeta[strings.ToLower(strings.TrimSpace(v))]; ok {
				v = l
			}
			if p := Parse(v); p != "" {
				policy = p
			}
		}
	}
	return policy
}

// For is the Referer a page at ref sends to target under policy ("" =
// BrowserDefault); "" means none. ref should carry no credentials or
// fragment (the caller strips them).
func For(policy string, ref, target *url.URL) string {
	downgrade := strings.EqualFold(ref.Scheme, "https") && !strings.EqualFold(target.Scheme, "https")
	same := SameOrigin(ref, target)
	origin := Origin(ref) + "/"
	switch policy {
	case "no-referrer":
		return ""
	case "unsafe-url":
		return ref.String()
	case "no-referrer-when-downgrade":
		if downgrade {
			return ""
		}
		return ref.String()
	case "same-origin":
		if same {
			return ref.String()
		}
		return ""
	case "origin":
		return origin
	case "strict-origin":
		if downgrade {
			return ""
		}
		return origin
	case "origin-when-cross-origin":
		if same {
			return ref.String()
		}
		return origin
	}
	switch { // strict-origin-when-cross-origin
	case same:
		return ref.String()
	case downgrade:
		return ""
	}
	return origin
}

// SameOrigin reports whether a and b have the same scheme, host and port
// (default ports normalised).
func SameOrigin(a, b *url.URL) bool {
	return a != nil && b != nil && strings.EqualFold(a.Scheme, b.Scheme) &&
		strings.EqualFold(a.Hostname(), b.Hostname()) && Port(a) == Port(b)
}

// Port is u's port, or its scheme's default.
func Port(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		return "443"
	case "http", "ws":
		return "80"
	}
	return ""
}

// Origin serializes u's origin as an Origin header does ("" for a URL
// that has none, such as file:).
func Origin(u *url.URL) string {
	if u == nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return ""
	}
	host := u.Hostname()
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && p != Port(&url.URL{Scheme: u.Scheme}) {
		host += ":" + p
	}
	return strings.ToLower(u.Scheme) + "://" + strings.ToLower(host)
}
