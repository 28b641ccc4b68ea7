package extract

import (
	"fmt"
	"net/url"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/text/encoding"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// URL handling follows w3lib (safe_url_string, canonicalize_url) and
// Python's urljoin closely enough that links extracted here equal Scrapy's.
// One deliberate difference: a '%' not followed by two hex digits becomes
// "%25" (w3lib leaves it, producing a URL Go's HTTP client cannot send).

const hexDigits = "0123456789ABCDEF"

// rfc3986 reserved + unreserved + '%': w3lib's _safe_chars.
func isSafeURLByte(c byte, path bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '-', '.', '_', '~', ':', '/', '?', '[', ']', '@', '!', '$', '&', '\'', '(', ')', '*', '+', ',', ';', '=', '%':
		return true
	case '#':
		return !path
	}
	return false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// quoteURLPart percent-encodes the bytes of s outside the safe set, and a
// '%' that does not start an escape.
func quoteURLPart(b *strings.Builder, s string, path bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && !(i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])) {
			b.WriteString("%25")
			continue
		}
		if isSafeURLByte(c, path) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
}

// stripHTML5Whitespace is w3lib's strip_html5_whitespace.
func stripHTML5Whitespace(s string) string { return strings.Trim(s, " \t\n\r\f") }

// SafeURLString is w3lib's safe_url_string: it percent-encodes what a URL
// may not contain (UTF-8 for the path and fragment, enc for the query, as
// browsers do), IDNA-encodes a non-ASCII host, and removes tabs and
// newlines. enc may be nil for UTF-8.
func SafeURLString(raw string, enc encoding.Encoding) string {
	raw = strings.TrimFunc(raw, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(raw, "\t\r\n") {
		raw = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(raw)
	}
	rest, frag, hasFrag := strings.Cut(raw, "#")
	rest, query, hasQuery := strings.Cut(rest, "?")
	var b strings.Builder
	b.Grow(len(raw) + 16)
	// scheme and netloc
	if i := strings.Index(rest, "://"); i > 0 && isScheme(rest[:i]) {
		b.WriteString(rest[:i+3])
		rest = rest[i+3:]
		netloc, path, hasPath := strings.Cut(rest, "/")
		b.WriteString(safeNetloc(netloc))
		if hasPath {
			rest = "/" + path
		} else {
			rest = ""
		}
	}
	quoteURLPart(&b, rest, true)
	if hasQuery {
		b.WriteByte('?')
		if enc != nil && !isASCII(query) {
			if q, err := encoding.ReplaceUnsupported(enc.NewEncoder()).String(query); err == nil {
				query = q
			}
		}
		quoteURLPart(&b, query, false)
	}
	if hasFrag {
		b.WriteByte('#')
		quoteURLPart(&b, frag, false)
	}
	return b.String()
}

// fastJoin resolves the two most common link shapes without parsing:
// an absolute http(s) URL and an absolute path, when they hold no dot
// segment, IPv6 host or userinfo that resolution or the parser would treat
// specially. Everything else goes through net/url.
func fastJoin(base *url.URL, ref string) (string, bool) {
	if strings.Contains(ref, "/.") || strings.Contains(ref, "\\") {
		return "", false
	}
	switch {
	case strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://"):
		rest := ref[strings.Index(ref, "//")+2:]
		host := rest
		if i := strings.IndexAny(rest, "/?#"); i >= 0 {
			host = rest[:i]
		}
		if host == "" || strings.ContainsAny(host, "[]@%") {
			return "", false
		}
		if strings.HasSuffix(ref, "?") || strings.HasSuffix(ref, "#") {
			return "", false // net/url drops an empty query or fragment
		}
		if i := strings.IndexByte(host, ':'); i >= 0 && !allDigits(host[i+1:]) {
			return "", false
		}
		return ref, true
	case len(ref) > 1 && ref[0] == '/' && ref[1] != '/':
		if base == nil || base.User != nil || base.Opaque != "" || base.Host == "" || base.Scheme == "" ||
			strings.HasSuffix(ref, "?") || strings.HasSuffix(ref, "#") {
			return "", false
		}
		return base.Scheme + "://" + base.Host + ref, true
	}
	return "", false
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// alreadySafe reports whether SafeURLString would return s unchanged (the
// common case for links), saving its allocation.
func alreadySafe(s string) bool {
	if s == "" || s[0] <= ' ' || s[len(s)-1] <= ' ' {
		return s == ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' {
			if !(i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])) {
				return false
			}
			continue
		}
		if !isSafeURLByte(c, false) {
			return false
		}
	}
	return true
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func safeNetloc(netloc string) string {
	if isASCII(netloc) {
		return netloc
	}
	user, host := "", netloc
	if i := strings.LastIndexByte(netloc, '@'); i >= 0 {
		user, host = netloc[:i+1], netloc[i+1:]
	}
	port := ""
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host, port = host[:i], host[i:]
	}
	if a, err := idna.Lookup.ToASCII(host); err == nil {
		host = a
	} else {
		var b strings.Builder
		quoteURLPart(&b, host, false)
		host = b.String()
	}
	var b strings.Builder
	quoteURLPart(&b, user, false)
	return b.String() + host + port
}

// joinURL is Python's urljoin(base, ref) for the URLs a page can hold: ref
// is made safe first (so Go's parser accepts what browsers accept), then
// resolved per RFC 3986.
func joinURL(base *url.URL, ref string, enc encoding.Encoding) (string, error) {
	if !alreadySafe(ref) {
		ref = SafeURLString(ref, enc)
	} else if s, ok := fastJoin(base, ref); ok {
		return s, nil
	}
	u, err := url.Parse(ref)
	if err != nil {
		return "", err
	}
	if base == nil {
		return u.String(), nil
	}
	return base.ResolveReference(u).String(), nil
}

var baseHrefRe = regexp.MustCompile(`(?i)<base\s[^>]*href\s*=\s*["']\s*([^"'\s]+)\s*["']`)

type baseKey struct{}

type baseResult struct {
	u   *url.URL
	err error
}

// BaseURL is w3lib's get_base_url: the <base href> found in the first 4 KB
// of the page resolved against the response URL, or the response URL.
func BaseURL(resp *crawl.Response) (*url.URL, error) {
	r := resp.Memo(baseKey{}, func() any {
		respURL, err := url.Parse(SafeURLString(resp.URL, nil))
		if err != nil {
			return baseResult{nil, fmt.Errorf("response url %q: %w", resp.URL, err)}
		}
		text := Text(resp)
		if len(text) > 4096 {
			text = text[:4096]
		}
		if m := baseHrefRe.FindStringSubmatch(text); m != nil {
			if s, err := joinURL(respURL, m[1], nil); err == nil {
				if u, err := url.Parse(s); err == nil {
					return baseResult{u, nil}
				}
			}
		}
		return baseResult{respURL, nil}
	}).(baseResult)
	return r.u, r.err
}

// URLJoin is response.urljoin(ref): ref resolved against the page's base
// URL (honouring <base href>).
func URLJoin(resp *crawl.Response, ref string) (string, error) {
	base, err := BaseURL(resp)
	if err != nil {
		return "", err
	}
	s, err := joinURL(base, ref, nil)
	if err != nil {
		return "", fmt.Errorf("urljoin %q with %s: %w", ref, base, err)
	}
	return s, nil
}

// CanonicalizeURL is w3lib's canonicalize_url: query arguments sorted and
// re-encoded, the path's escapes normalised, the host lower-cased and, unless
// keepFragments, the fragment dropped. Dupefilter-style comparison keys and
// LinkExtractor(canonicalize=True) use it. A URL that does not parse is
// returned as it is.
func CanonicalizeURL(raw string, keepFragments bool) string {
	if c, ok := plainCanonical(raw); ok {
		return c
	}
	return canonicalizeFull(raw, keepFragments)
}

// canonicalizeFull is CanonicalizeURL without the plainCanonical shortcut.
func canonicalizeFull(raw string, keepFragments bool) string {
	u, err := url.Parse(SafeURLString(raw, nil))
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
			b.WriteString(quotePlus(p.k))
			b.WriteByte('=')
			b.WriteString(quotePlus(p.v))
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

// quotePlus is Python's quote_plus(s, safe="").
func quotePlus(s string) string {
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

// plainCanonical is CanonicalizeURL for the URLs most links are: http(s),
// a lower-case host (optionally with a port), a path of unreserved
// characters and slashes, no query, no fragment, no escapes. Such a URL is
// already canonical (an empty path becomes "/"), and the dupefilter
// canonicalizes every link a spider emits, so these skip the parse.
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
