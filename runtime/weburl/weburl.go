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
// cannot encode) still gives a best-effort URL instead of an error.
//
//	SafeString("http://ü.test/a b", nil) == "http://xn--tda.test/a%20b"
func SafeString(raw string, enc encoding.Encoding) string {
	s := stripURL(raw)
	p, err := pyURLSplit(s)
	if err != nil {
		return lenientSafeString(s, enc)
	}
	netloc, ok := safeNetlocPy(p.netloc)
	if !ok {
		return lenientSafeString(s, enc)
	}
	query, frag := p.query, p.fragment
	if enc != nil {
		e := enc.NewEncoder()
		q, err1 := e.String(query)
		f, err2 := e.String(frag)
		if err1 != nil || err2 != nil {
			return lenientSafeString(s, enc)
		}
		query, frag = q, f
	}
	p.netloc = netloc
	p.path = quoteEscapes(p.path, &pathSafest)
	if specialSchemes[p.scheme] {
		p.query = quoteEscapes(query, &specialQuerySafest)
	} else {
		p.query = quoteEscapes(query, &pathSafest)
	}
	p.fragment = quoteEscapes(frag, &pathSafest)
	return pyURLUnparse(p)
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
// username, password, hostname and port; ok is false where Python raises
// (a port that is not a number up to 65535).
func safeNetlocPy(netloc string) (string, bool) {
	if netloc == "" {
		return "", true
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
		if bracketed {
			b.WriteString("[" + h + "]")
		} else {
			b.WriteString(pyIDNA(h))
		}
	}
	if port != "" {
		if !allDigits(port) {
			return "", false
		}
		n := strings.TrimLeft(port, "0")
		if len(n) > 5 || len(n) == 5 && n > "65535" {
			return "", false
		}
		if n == "" {
			n = "0"
		}
		b.WriteString(":" + n)
	}
	return b.String(), true
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

// fastJoin resolves the two most common link shapes without parsing:
// an absolute http(s) URL and an absolute path, when they hold no dot
// segment, IPv6 host or userinfo that resolution or the parser would treat
// specially. Everything else goes through net/url.
func fastJoin(base *url.URL, ref string) (string, bool) {
	if strings.Contains(ref, "/.") || strings.ContainsAny(ref, "\\;") {
		return "", false // dot segments, and params urlparse splits off
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
// common case for links), saving its allocation. It answers false for
// anything SafeString may rewrite: bytes outside the path-safe set, a
// quote, userinfo, upper case or an odd port before the path, an empty
// query or fragment, a netloc-scheme without "//".
// TestAlreadySafeIsSafe checks it against SafeString.
func alreadySafe(s string) bool {
	if s == "" || s[0] <= ' ' || s[len(s)-1] <= ' ' {
		return s == ""
	}
	hashes := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if !(i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])) {
				return false
			}
		case c == '#':
			hashes++
		case c >= 0x80 || !pathSafest[c] || c == '\'' || c == '@':
			return false
		}
	}
	if hashes > 1 || s[len(s)-1] == '?' || s[len(s)-1] == '#' || strings.Contains(s, "?#") {
		return false
	}
	rest := s
	if i := strings.IndexByte(s, ':'); i > 0 && isScheme(s[:i]) {
		scheme := s[:i]
		if strings.ToLower(scheme) != scheme {
			return false
		}
		rest = s[i+1:]
		if usesNetloc[scheme] && !strings.HasPrefix(rest, "//") {
			return false
		}
	}
	if netloc, ok := strings.CutPrefix(rest, "//"); ok {
		if i := strings.IndexAny(netloc, "/?#"); i >= 0 {
			netloc = netloc[:i]
		}
		host, port, hasPort := strings.Cut(netloc, ":")
		if netloc == "" || strings.ToLower(host) != host {
			return false
		}
		if hasPort && (port == "" || len(port) > 5 || !allDigits(port) || port[0] == '0' && port != "0" || len(port) == 5 && port > "65535") {
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
	if alreadySafe(ref) {
		if s, ok := fastJoin(base, ref); ok {
			return s, nil
		}
	}
	joined := ref
	if base != nil {
		var err error
		if joined, err = pyURLJoin(base.String(), ref); err != nil {
			return "", err
		}
	}
	s := SafeString(joined, enc)
	if _, err := url.Parse(s); err != nil {
		return "", err
	}
	return s, nil
}
