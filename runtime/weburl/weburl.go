// Package weburl is spiderrun's URL handling, the role w3lib.url plays for
// Scrapy: making a URL safe to send (SafeString, or SafeURL where w3lib's
// errors matter), resolving a link against a base (Join; Base for the many
// links of one page, as the link extractor resolves them), the canonical
// form the dupefilter and LinkExtractor(canonicalize) compare
// (Canonicalize), and rendering URLs for logs and error messages without
// their credentials (Redact, RedactURL, RedactSecrets, all with the one
// mask "***"). It is spiderrun's one port of Python's urlsplit, urljoin and
// urlunparse and of w3lib's safe_url_string.
//
// It imports no package of spiderrun (deps_test.go), so the engine, the
// scheduler and the downloader can use it without linking the selector
// stack of runtime/extract.
package weburl

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/encoding"
)

// URL handling ports w3lib 2.1 (safe_url_string, canonicalize_url) and the
// parts of Python's urllib they use (urlsplit, quote, unquote_to_bytes, the
// "idna" codec), and is compared with them on testdata/reference/
// canonicalize. SafeString's deliberate differences are listed in its doc
// comment; Canonicalize has none except returning what w3lib rejects.

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

// SafeString is w3lib's safe_url_string(url, encoding): it percent-encodes
// what a URL may not contain (UTF-8 for the path, enc for the query and
// fragment), lower-cases the scheme and host, IDNA-encodes a non-ASCII
// host (IDNA 2003, as Python's "idna" codec), normalises the port and the
// userinfo's escapes, and removes tabs and newlines. enc may be nil for
// UTF-8. testdata/reference/canonicalize holds w3lib's own answers; we
// differ on purpose in three ways (specs/scrapy-differences.md): a '%'
// that starts no escape becomes "%25" (w3lib leaves it, and Go's HTTP
// client cannot send that URL), an IPv6 host keeps its brackets (w3lib 2.1
// drops them), and what w3lib rejects (a bad port or bracket, a query enc
// cannot encode) still gives a best-effort URL instead of an error; SafeURL
// reports those as errors instead.
//
//	SafeString("http://ü.test/a b", nil) == "http://xn--tda.test/a%20b"
func SafeString(raw string, enc encoding.Encoding) string {
	if s, err := SafeURL(raw, enc); err == nil {
		return s
	}
	return lenientSafeString(stripURL(raw), enc)
}

// SafeURL is SafeString, failing (ErrInvalidURL) where w3lib raises: a
// bracket urlsplit rejects, a port that is no number in 0-65535, a
// character enc cannot encode. The link extractor uses it to skip such a
// link.
func SafeURL(raw string, enc encoding.Encoding) (string, error) {
	s := stripURL(raw)
	p, err := pyURLSplit(s)
	if err != nil {
		return "", err
	}
	if p.netloc != "" && !plainNetloc(p.netloc) {
		if p.netloc, err = safeNetlocPy(p.netloc, enc); err != nil {
			return "", err
		}
	}
	query, frag := p.query, p.fragment
	if query, err = encodeIn(query, enc); err != nil {
		return "", err
	}
	if frag, err = encodeIn(frag, enc); err != nil {
		return "", err
	}
	p.path = quoteEscapes(p.path, &pathSafest)
	if specialSchemes[p.scheme] {
		p.query = quoteEscapes(query, &specialQuerySafest)
	} else {
		p.query = quoteEscapes(query, &pathSafest)
	}
	p.fragment = quoteEscapes(frag, &pathSafest)
	return pyURLUnparse(p), nil
}

// plainNetloc reports whether safeNetlocPy would return netloc as it is
// (the common case): no userinfo, brackets, port or escape, lower case,
// path-safe ASCII.
func plainNetloc(netloc string) bool {
	for i := 0; i < len(netloc); i++ {
		c := netloc[i]
		if c >= 0x80 || !pathSafest[c] || c >= 'A' && c <= 'Z' || c == '@' || c == ':' || c == '%' {
			return false
		}
	}
	return true
}

// encodeIn is Python's s.encode(encoding) (strict); nil enc is UTF-8.
func encodeIn(s string, enc encoding.Encoding) (string, error) {
	if enc == nil || isASCII(s) {
		return s, nil
	}
	out, err := enc.NewEncoder().String(s)
	if err != nil {
		return "", ErrInvalidURL
	}
	return out, nil
}

var (
	// w3lib's _PATH_SAFEST_CHARS (also its query and fragment set):
	// _safe_chars without "#[]|".
	pathSafest = newByteSet(":/?@!$&'()*+,;=%")
	// _SPECIAL_QUERY_SAFEST_CHARS: the query of a special scheme
	// also encodes "'".
	specialQuerySafest = newByteSet(":/?@!$&()*+,;=%")
	// _USERINFO_SAFEST_CHARS: unreserved and sub-delims but ";=".
	userinfoSafest = newByteSet("!$&'()*+,")
	// w3lib's _SPECIAL_SCHEMES, the WHATWG special schemes.
	specialSchemes = map[string]bool{"ftp": true, "file": true, "http": true, "https": true, "ws": true, "wss": true}
)

// quoteEscapes is pyQuote, except that a '%' starting no escape becomes
// "%25" (see SafeString).
func quoteEscapes(s string, safe *byteSet) string {
	q := pyQuote(s, safe)
	if !strings.Contains(q, "%") {
		return q
	}
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] == '%' && !(i+2 < len(q) && isHex(q[i+1]) && isHex(q[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// safeNetlocPy is the netloc safe_url_string rebuilds from urlsplit's
// username, password, hostname and port. It fails where Python raises: a
// port that is not a number up to 65535, a host IDNA rejects that enc
// cannot encode (or encodes to bytes that are no UTF-8).
func safeNetlocPy(netloc string, enc encoding.Encoding) (string, error) {
	if netloc == "" {
		return "", nil
	}
	userinfo, hostinfo, hasUser := "", netloc, false
	if i := strings.LastIndexByte(netloc, '@'); i >= 0 {
		userinfo, hostinfo, hasUser = netloc[:i], netloc[i+1:], true
	}
	var host, port string
	bracketed := false
	if _, in, ok := strings.Cut(hostinfo, "["); ok {
		bracketed = true
		var rest string
		host, rest, _ = strings.Cut(in, "]")
		_, port, _ = strings.Cut(rest, ":")
	} else {
		host, port, _ = strings.Cut(hostinfo, ":")
	}
	var b strings.Builder
	if hasUser {
		user, pass, hasPass := strings.Cut(userinfo, ":")
		b.WriteString(pyQuote(pyUnquote(user), &userinfoSafest))
		if hasPass {
			b.WriteByte(':')
			b.WriteString(pyQuote(pyUnquote(pass), &userinfoSafest))
		}
		b.WriteByte('@')
	}
	if host != "" {
		h, zone, hasZone := strings.Cut(host, "%")
		h = strings.ToLower(h)
		if hasZone {
			h += "%" + zone
		}
		switch {
		case bracketed:
			// w3lib 2.1 writes Python's hostname, which has lost the
			// brackets: we keep them (see SafeString).
			b.WriteString("[" + h + "]")
		default:
			a, ok := idnaEncode(h)
			if !ok {
				// w3lib: hostname.encode(encoding), then the netloc
				// bytes decoded as UTF-8.
				var err error
				if a, err = encodeIn(h, enc); err != nil || !utf8.ValidString(a) {
					return "", ErrInvalidURL
				}
			}
			b.WriteString(a)
		}
	}
	if port != "" {
		if !allDigits(port) {
			return "", ErrInvalidURL
		}
		n := strings.TrimLeft(port, "0")
		if len(n) > 5 || len(n) == 5 && n > "65535" {
			return "", ErrInvalidURL
		}
		if n == "" {
			n = "0"
		}
		b.WriteString(":" + n)
	}
	return b.String(), nil
}

// pyUnquote is Python's unquote: escapes decoded as UTF-8, each invalid
// byte replaced with U+FFFD.
func pyUnquote(s string) string {
	s = unquoteToBytes(s)
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte
		i += n
	}
	return b.String()
}

// lenientSafeString makes a URL w3lib rejects safe anyway: each part
// quoted as SafeString quotes it, the host IDNA-encoded (UTS 46) when it
// can be, percent-encoded when not.
func lenientSafeString(raw string, enc encoding.Encoding) string {
	rest, frag, hasFrag := strings.Cut(raw, "#")
	rest, query, hasQuery := strings.Cut(rest, "?")
	var b strings.Builder
	b.Grow(len(raw) + 16)
	// scheme and netloc
	if i := strings.Index(rest, "://"); i > 0 && isScheme(rest[:i]) {
		b.WriteString(strings.ToLower(rest[:i]) + "://")
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

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
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

// Join is what Scrapy's response.urljoin(ref) and response.follow(ref)
// give: Python's urljoin(base, ref), then safe_url_string with enc for the
// query (SafeString, Request's own step), so "../z?q=a b" resolves as
// Scrapy resolves it (dot segments of an absolute ref kept, "http:g"
// resolved against an http base, ...). The result must also be a URL Go
// can parse, else it is an error, as it is where Python raises. A nil base
// returns the safe ref. testdata/reference/canonicalize/joins.json holds
// Scrapy's own answers.
//
//	Join(base("http://a.test/x/y"), "../z?q=a b", nil) == "http://a.test/z?q=a%20b"
func Join(base *url.URL, ref string, enc encoding.Encoding) (string, error) {
	joined := ref
	if base != nil {
		b := NewBase(base.String())
		if s, ok := b.QuickJoin(ref); ok {
			return s, nil
		}
		var err error
		if joined, err = b.Join(ref); err != nil {
			return "", err
		}
	}
	s := SafeString(joined, enc)
	if _, err := url.Parse(s); err != nil {
		return "", err
	}
	return s, nil
}
