// Package weburl is spiderrun's URL handling, the role w3lib.url plays for
// Scrapy: making a URL safe to send (SafeString), resolving a link against
// a base (Join), the canonical form the dupefilter and
// LinkExtractor(canonicalize) compare (Canonicalize), and rendering URLs for
// logs and error messages without their credentials (Redact, RedactURL,
// RedactSecrets, all with the one mask "***").
//
// It imports no package of spiderrun (deps_test.go), so the engine, the
// scheduler and the downloader can use it without linking the selector
// stack of runtime/extract.
package weburl

import (
	"net/url"
	"strings"

	"golang.org/x/net/idna"
	"golang.org/x/text/encoding"
)

// URL handling follows w3lib (safe_url_string, canonicalize_url) and
// Python's urljoin closely enough that links extracted with it equal
// Scrapy's. One deliberate difference: a '%' not followed by two hex digits
// becomes "%25" (w3lib leaves it, producing a URL Go's HTTP client cannot
// send).

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

// SafeString is w3lib's safe_url_string: it percent-encodes what a URL may
// not contain (UTF-8 for the path and fragment, enc for the query, as
// browsers do), IDNA-encodes a non-ASCII host, and removes tabs and
// newlines. enc may be nil for UTF-8.
//
//	SafeString("http://ü.test/a b", nil) == "http://xn--tda.test/a%20b"
func SafeString(raw string, enc encoding.Encoding) string {
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

// alreadySafe reports whether SafeString would return s unchanged (the
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

// HasScheme reports whether s starts with a scheme and ':' (RFC 3986's
// scheme syntax), that is whether Python's urljoin would return it as an
// absolute reference: "javascript:go()" and "http://x" do, "/a:b" does not.
func HasScheme(s string) bool {
	i := strings.IndexByte(s, ':')
	return i > 0 && isScheme(s[:i])
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

// Join is Python's urljoin(base, ref) for the URLs a page can hold, as
// response.urljoin and response.follow use it: ref is made safe first
// (SafeString with enc for its query, so Go's parser accepts what browsers
// accept), then resolved against base per RFC 3986. A nil base returns the
// safe ref.
//
//	Join(base("http://a.test/x/y"), "../z?q=a b", nil) == "http://a.test/z?q=a%20b"
func Join(base *url.URL, ref string, enc encoding.Encoding) (string, error) {
	if !alreadySafe(ref) {
		ref = SafeString(ref, enc)
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
