package weburl

import (
	"net/url"
	"sort"
	"strings"
)

// Canonicalize is w3lib's canonicalize_url: query arguments sorted and
// re-encoded, the path's escapes normalised, the host lower-cased and,
// unless keepFragments, the fragment dropped. The dupefilter's request
// fingerprint and LinkExtractor(canonicalize=True) use it. A URL that does
// not parse is returned as it is.
//
//	Canonicalize("HTTP://Example.COM/do?b=2&a=1#f", false) == "http://example.com/do?a=1&b=2"
func Canonicalize(raw string, keepFragments bool) string {
	if c, ok := plainCanonical(raw); ok {
		return c
	}
	return canonicalizeFull(raw, keepFragments)
}

// canonicalizeFull is Canonicalize without the plainCanonical shortcut.
func canonicalizeFull(raw string, keepFragments bool) string {
	u, err := url.Parse(SafeString(raw, nil))
	if err != nil {
		return raw
	}
	// host: lower-case after the userinfo, no trailing ':'
	u.Host = strings.TrimSuffix(strings.ToLower(u.Host), ":")
	// path: decode, keeping %2F and %3F, and quote again
	p := u.EscapedPath()
	for _, r := range []string{"%2f", "%2F", "%3f", "%3F"} {
		p = strings.ReplaceAll(p, r, "%25"+strings.ToUpper(r[1:]))
	}
	dec, err := url.PathUnescape(p)
	if err == nil {
		var b strings.Builder
		quoteURLPart(&b, dec, true)
		p = b.String()
	}
	if p == "" {
		p = "/"
	}
	u.RawPath = p
	if up, err := url.PathUnescape(p); err == nil {
		u.Path = up
	}
	if u.RawPath == u.Path {
		u.RawPath = ""
	}
	// query: parse_qsl(keep_blank_values=True), sort, urlencode
	if u.RawQuery != "" {
		type kv struct{ k, v string }
		var pairs []kv
		for _, part := range strings.Split(u.RawQuery, "&") {
			if part == "" {
				continue
			}
			k, v, _ := strings.Cut(part, "=")
			pairs = append(pairs, kv{unquotePlus(k), unquotePlus(v)})
		}
		sort.SliceStable(pairs, func(i, j int) bool {
			if pairs[i].k != pairs[j].k {
				return pairs[i].k < pairs[j].k
			}
			return pairs[i].v < pairs[j].v
		})
		var b strings.Builder
		for i, p := range pairs {
			if i > 0 {
				b.WriteByte('&')
			}
			b.WriteString(QuotePlus(p.k))
			b.WriteByte('=')
			b.WriteString(QuotePlus(p.v))
		}
		u.RawQuery = b.String()
		u.ForceQuery = false
	}
	if !keepFragments {
		u.Fragment, u.RawFragment = "", ""
	}
	return u.String()
}

func unquotePlus(s string) string {
	s = strings.ReplaceAll(s, "+", " ")
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

// QuotePlus is Python's quote_plus(s, safe=""): every byte but ASCII
// letters, digits and "_.-~" percent-encoded, a space as '+'. It encodes
// the keys and values of a query string (canonical URLs, form data).
func QuotePlus(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-', c == '~':
			b.WriteByte(c)
		case c == ' ':
			b.WriteByte('+')
		default:
			b.WriteByte('%')
			b.WriteByte(hexDigits[c>>4])
			b.WriteByte(hexDigits[c&15])
		}
	}
	return b.String()
}

// plainCanonical is Canonicalize for the URLs most links are: http(s), a
// lower-case host (optionally with a port), a path of unreserved characters
// and slashes, no query, no fragment, no escapes. Such a URL is already
// canonical (an empty path becomes "/"), and the dupefilter canonicalizes
// every link a spider emits, so these skip the parse.
// TestPlainCanonicalSameAsFull checks it against the full path.
func plainCanonical(raw string) (string, bool) {
	rest, ok := strings.CutPrefix(raw, "http://")
	if !ok {
		if rest, ok = strings.CutPrefix(raw, "https://"); !ok {
			return "", false
		}
	}
	slash := strings.IndexByte(rest, '/')
	host, path := rest, ""
	if slash >= 0 {
		host, path = rest[:slash], rest[slash:]
	}
	if host == "" || host[0] == '.' || host[0] == '-' {
		return "", false
	}
	port := false
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c >= '0' && c <= '9':
		case port:
			return "", false
		case c >= 'a' && c <= 'z', c == '-', c == '.' && host[i-1] != '.':
		case c == ':' && i+1 < len(host):
			port = true
		default:
			return "", false
		}
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
			return "", false
		}
		// Dot segments are resolved by the full path.
		if c == '.' && (i == 0 || path[i-1] == '/') {
			return "", false
		}
	}
	if path == "" {
		return raw + "/", true
	}
	return raw, true
}
