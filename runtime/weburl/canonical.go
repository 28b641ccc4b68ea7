package weburl

import (
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/text/encoding"
)

// Canonicalize is w3lib's canonicalize_url(url, keep_blank_values=True,
// keep_fragments=keepFragments), ported step by step (Python's urlparse,
// quote and unquote_to_bytes included) so that it gives exactly what w3lib
// 2.1 gives: query arguments split on '&' and ';', sorted by their bytes
// and re-encoded with quote_plus, the path's escapes normalised (except
// %2F and %3F), the netloc IDNA-encoded and lower-cased and, unless
// keepFragments, the fragment dropped. Dot segments are not resolved and a
// '%' that starts no escape is left as it is. The dupefilter's request
// fingerprint and LinkExtractor(canonicalize=True) use it. A URL w3lib
// rejects (ValueError: an unbalanced '[' in the host, ...) is returned as it
// is. testdata/reference/canonicalize holds w3lib's own answers.
//
//	Canonicalize("HTTP://Example.COM/do?b=2&a=1#f", false) == "http://example.com/do?a=1&b=2"
func Canonicalize(raw string, keepFragments bool) string {
	if c, ok := plainCanonical(raw); ok {
		return c
	}
	if (keepFragments || strings.IndexByte(raw, '#') < 0) && alreadyCanonical(raw) {
		return raw
	}
	return canonicalizeFull(raw, keepFragments)
}

// canonicalizeFull is Canonicalize without the plainCanonical shortcut.
func canonicalizeFull(raw string, keepFragments bool) string {
	c, err := canonicalize(raw, canonOptions{keepFragments: keepFragments})
	if err != nil {
		return raw
	}
	return c
}

// canonOptions are canonicalize_url's other parameters.
type canonOptions struct {
	keepFragments bool
	dropBlank     bool              // keep_blank_values=False
	enc           encoding.Encoding // encoding for the query and fragment; nil for UTF-8
}

// ErrInvalidURL is what Python raises ValueError (or UnicodeError) for:
// urlsplit's bad brackets or netloc, and safe_url_string's bad port or a
// character the encoding cannot encode (SafeURL).
var ErrInvalidURL = errors.New("weburl: invalid URL")

// canonicalize is canonicalize_url with all its parameters.
func canonicalize(raw string, o canonOptions) (string, error) {
	p, err := pyURLParse(stripURL(raw))
	if err != nil {
		return "", err
	}
	// _safe_ParseResult
	netloc := pyIDNA(p.netloc)
	query, frag := p.query, p.fragment
	if o.enc != nil {
		// canonicalize_url retries with UTF-8 when the encoding cannot
		// represent the query or the fragment.
		e := o.enc.NewEncoder()
		if q, err := e.String(query); err == nil {
			if f, err := e.String(frag); err == nil {
				query, frag = q, f
			}
		}
	}
	path := pyQuote(p.path, &pathSafe)
	params := pyQuote(p.params, &urlSafe)
	query = pyQuote(query, &urlSafe)
	frag = pyQuote(frag, &urlSafe)

	query = canonicalQuery(query, !o.dropBlank)
	path = pyQuote(unquotePath(path), &pathSafe)
	if path == "" {
		path = "/"
	}
	if !o.keepFragments {
		frag = ""
	}
	netloc = strings.TrimRight(strings.ToLower(netloc), ":")
	return pyURLUnparse(pyURL{p.scheme, netloc, path, params, query, frag}), nil
}

// stripURL is w3lib's _strip: C0 controls and spaces removed from both
// ends, tabs and newlines from everywhere.
func stripURL(s string) string {
	s = strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(s, "\t\r\n") {
		s = tabsAndNewlines.Replace(s)
	}
	return s
}

// canonicalQuery is parse_qsl_to_bytes(query, keepBlank), sorted, then
// urlencode'd (quote_plus on the raw bytes).
func canonicalQuery(query string, keepBlank bool) string {
	if query == "" {
		return ""
	}
	type kv struct{ k, v string }
	pairs := make([]kv, 0, strings.Count(query, "&")+strings.Count(query, ";")+1)
	for rest := query; rest != ""; {
		var part string
		if i := strings.IndexAny(rest, "&;"); i >= 0 {
			part, rest = rest[:i], rest[i+1:]
		} else {
			part, rest = rest, ""
		}
		if part == "" {
			continue
		}
		k, v, eq := strings.Cut(part, "=")
		if !keepBlank && (!eq || v == "") {
			continue
		}
		pairs = append(pairs, kv{unquotePlus(k), unquotePlus(v)})
	}
	slices.SortFunc(pairs, func(a, b kv) int {
		if c := strings.Compare(a.k, b.k); c != 0 {
			return c
		}
		return strings.Compare(a.v, b.v)
	})
	var b strings.Builder
	b.Grow(len(query) + 8)
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(QuotePlus(p.k))
		b.WriteByte('=')
		b.WriteString(QuotePlus(p.v))
	}
	return b.String()
}

// unquotePlus is the unquote_to_bytes(s.replace("+", " ")) of
// parse_qsl_to_bytes.
func unquotePlus(s string) string {
	if strings.IndexByte(s, '+') >= 0 {
		s = strings.ReplaceAll(s, "+", " ")
	}
	return unquoteToBytes(s)
}

var (
	reservedEscapes = strings.NewReplacer("%2f", "%252F", "%2F", "%252F", "%3f", "%253F", "%3F", "%253F")
	tabsAndNewlines = strings.NewReplacer("\t", "", "\r", "", "\n", "")
)

// unquotePath is w3lib's _unquotepath: %2F and %3F stay escaped, every
// other escape is decoded to its byte.
func unquotePath(p string) string {
	if strings.Contains(p, "%") {
		p = reservedEscapes.Replace(p)
	}
	return unquoteToBytes(p)
}

// unquoteToBytes is Python's unquote_to_bytes: each %XX becomes its byte,
// a '%' without two hex digits stays.
func unquoteToBytes(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, c)
	}
	return string(b)
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// byteSet is a set of ASCII bytes that Python's quote leaves as they are.
type byteSet [128]bool

func newByteSet(chars string) byteSet {
	var s byteSet
	for _, c := range []byte(chars + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~") {
		s[c] = true
	}
	return s
}

var (
	// w3lib's _safe_chars: RFC 3986 reserved and unreserved, '|' and '%'.
	urlSafe = newByteSet(":/?#[]@!$&'()*+,;=|%")
	// _path_safe_chars: the same without '#'.
	pathSafe = newByteSet(":/?[]@!$&'()*+,;=|%")
)

// pyQuote is Python's quote(s.encode("utf8"), safe).
func pyQuote(s string, safe *byteSet) string {
	i := 0
	for i < len(s) && s[i] < 0x80 && safe[s[i]] {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && safe[c] {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// pyURL is Python's ParseResult.
type pyURL struct {
	scheme, netloc, path, params, query, fragment string
}

var (
	usesParams = map[string]bool{"": true, "ftp": true, "hdl": true, "prospero": true, "http": true, "imap": true,
		"https": true, "shttp": true, "rtsp": true, "rtspu": true, "sip": true, "sips": true, "mms": true, "sftp": true, "tel": true}
	usesNetloc = map[string]bool{"": true, "ftp": true, "http": true, "gopher": true, "nntp": true, "telnet": true,
		"imap": true, "wais": true, "file": true, "mms": true, "https": true, "shttp": true, "snews": true,
		"prospero": true, "rtsp": true, "rtspu": true, "rsync": true, "svn": true, "svn+ssh": true, "sftp": true,
		"nfs": true, "git": true, "git+ssh": true, "ws": true, "wss": true}
)

// pyURLParse is Python 3.11's urlparse(s).
func pyURLParse(s string) (pyURL, error) { return pyURLParseScheme(s, "") }

// pyURLParseScheme is urlparse(s, scheme): scheme is the default.
func pyURLParseScheme(s, scheme string) (pyURL, error) {
	p, err := pyURLSplitScheme(s, scheme)
	if err != nil {
		return p, err
	}
	if usesParams[p.scheme] && strings.Contains(p.path, ";") {
		// _splitparams: the params of the last segment only
		from := max(strings.LastIndexByte(p.path, '/'), 0)
		if i := strings.IndexByte(p.path[from:], ';'); i >= 0 {
			p.path, p.params = p.path[:from+i], p.path[from+i+1:]
		}
	}
	return p, nil
}

// pyURLSplit is Python 3.11's urlsplit(s) (params stay in the path).
func pyURLSplit(s string) (pyURL, error) { return pyURLSplitScheme(s, "") }

// pyURLSplitScheme is urlsplit(s, scheme): scheme is the default.
func pyURLSplitScheme(s, scheme string) (pyURL, error) {
	// Python's _WHATWG_C0_CONTROL_OR_SPACE (every byte up to ' ') stripped
	// from the left, without strings.TrimLeft's per-call byte set (link
	// extraction splits every link)
	for len(s) > 0 && s[0] <= ' ' {
		s = s[1:]
	}
	if strings.ContainsAny(s, "\t\r\n") {
		s = tabsAndNewlines.Replace(s)
	}
	p := pyURL{scheme: scheme}
	if i := strings.IndexByte(s, ':'); i > 0 && (s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') && isScheme(s[:i]) {
		p.scheme, s = strings.ToLower(s[:i]), s[i+1:]
	}
	if strings.HasPrefix(s, "//") {
		end := len(s)
		if i := strings.IndexAny(s[2:], "/?#"); i >= 0 {
			end = i + 2
		}
		p.netloc, s = s[2:end], s[end:]
		open, closed := strings.Contains(p.netloc, "["), strings.Contains(p.netloc, "]")
		if open != closed {
			return p, ErrInvalidURL
		}
		if open {
			if err := checkBracketedNetloc(p.netloc); err != nil {
				return p, err
			}
		}
	}
	s, p.fragment, _ = strings.Cut(s, "#")
	s, p.query, _ = strings.Cut(s, "?")
	if err := checkNetlocNFKC(p.netloc); err != nil {
		return p, err
	}
	p.path = s
	return p, nil
}

var ipvFuture = regexp.MustCompile(`\Av[a-fA-F0-9]+\.[^\n]+\z`)

// checkBracketedNetloc is urllib's _check_bracketed_netloc.
func checkBracketedNetloc(netloc string) error {
	hostPort := netloc[strings.LastIndexByte(netloc, '@')+1:]
	var host string
	if before, bracketed, ok := strings.Cut(hostPort, "["); ok {
		if before != "" {
			return ErrInvalidURL
		}
		var port string
		host, port, _ = strings.Cut(bracketed, "]")
		if port != "" && port[0] != ':' {
			return ErrInvalidURL
		}
	} else {
		host, _, _ = strings.Cut(hostPort, ":")
	}
	if strings.HasPrefix(host, "v") {
		if !ipvFuture.MatchString(host) {
			return ErrInvalidURL
		}
		return nil
	}
	if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
		return ErrInvalidURL
	}
	return nil
}

var usesRelative = map[string]bool{"": true, "ftp": true, "http": true, "gopher": true, "nntp": true, "imap": true,
	"wais": true, "file": true, "https": true, "shttp": true, "mms": true, "prospero": true, "rtsp": true, "rtspu": true,
	"sftp": true, "svn": true, "svn+ssh": true, "ws": true, "wss": true}

// pyURLJoin is Python 3.11's urljoin(base, ref): RFC 3986 resolution on
// strings, which keeps the dot segments of an absolute reference, resolves
// "http:g" against an http base and drops the ';' of empty params.
func pyURLJoin(base, ref string) (string, error) {
	if base == "" {
		return ref, nil
	}
	if ref == "" {
		return base, nil
	}
	b, err := pyURLParse(base)
	if err != nil {
		return "", err
	}
	return joinParsed(b, ref)
}

// joinParsed is the rest of pyURLJoin, base already parsed (and neither
// base nor ref empty).
func joinParsed(b pyURL, ref string) (string, error) {
	r, err := pyURLParseScheme(ref, b.scheme)
	if err != nil {
		return "", err
	}
	if r.scheme != b.scheme || !usesRelative[r.scheme] {
		return ref, nil
	}
	if usesNetloc[r.scheme] {
		if r.netloc != "" {
			return pyURLUnparse(r), nil
		}
		r.netloc = b.netloc
	}
	if r.path == "" && r.params == "" {
		r.path, r.params = b.path, b.params
		if r.query == "" {
			r.query = b.query
		}
		return pyURLUnparse(r), nil
	}
	baseParts := strings.Split(b.path, "/")
	if baseParts[len(baseParts)-1] != "" {
		baseParts = baseParts[:len(baseParts)-1] // not a directory
	}
	var segments []string
	if strings.HasPrefix(r.path, "/") {
		segments = strings.Split(r.path, "/")
	} else {
		segments = append(baseParts, strings.Split(r.path, "/")...)
		// segments[1:-1] = filter(None, segments[1:-1])
		if len(segments) > 2 {
			kept := []string{segments[0]}
			for _, seg := range segments[1 : len(segments)-1] {
				if seg != "" {
					kept = append(kept, seg)
				}
			}
			segments = append(kept, segments[len(segments)-1])
		}
	}
	var resolved []string
	for _, seg := range segments {
		switch seg {
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
		case ".":
		default:
			resolved = append(resolved, seg)
		}
	}
	if last := segments[len(segments)-1]; last == "." || last == ".." {
		resolved = append(resolved, "")
	}
	r.path = strings.Join(resolved, "/")
	if r.path == "" {
		r.path = "/"
	}
	return pyURLUnparse(r), nil
}

// pyURLUnparse is Python's urlunparse (urlunsplit when params is empty).
func pyURLUnparse(p pyURL) string {
	u := p.path
	if p.params != "" {
		u += ";" + p.params
	}
	if p.netloc != "" || p.scheme != "" && usesNetloc[p.scheme] && !strings.HasPrefix(u, "//") {
		if u != "" && u[0] != '/' {
			u = "/" + u
		}
		u = "//" + p.netloc + u
	}
	if p.scheme != "" {
		u = p.scheme + ":" + u
	}
	if p.query != "" {
		u += "?" + p.query
	}
	if p.fragment != "" {
		u += "#" + p.fragment
	}
	return u
}

// QuotePlus is Python's quote_plus(s, safe=""): every byte but ASCII
// letters, digits and "_.-~" percent-encoded, a space as '+'. It encodes
// the keys and values of a query string (canonical URLs, form data).
func QuotePlus(s string) string {
	i := 0
	for i < len(s) && quotePlusSafe(s[i]) {
		i++
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case quotePlusSafe(c):
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

func quotePlusSafe(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '~'
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
		// Dot segments are left to the full path.
		if c == '.' && (i == 0 || path[i-1] == '/') {
			return "", false
		}
	}
	if path == "" {
		return raw + "/", true
	}
	return raw, true
}

// alreadyCanonical reports, for the common plain links, that
// canonicalize_url(u, keep_fragments=True) is u itself, sparing its
// cost (link extraction canonicalizes every link to dedupe them): an http(s) URL with a lower-case ASCII host, a path of unreserved
// characters, sub-delimiters (but ';'), ':', '@' and '/', no '%', and a
// query (if any) of name=value pairs of unreserved characters already in
// sorted order, and a fragment (if any) of path characters and '?'.
func alreadyCanonical(u string) bool {
	rest, ok := strings.CutPrefix(u, "http://")
	if !ok {
		if rest, ok = strings.CutPrefix(u, "https://"); !ok {
			return false
		}
	}
	slash := strings.IndexByte(rest, '/')
	if slash <= 0 || !plainHost(rest[:slash]) {
		return false
	}
	rest, frag, hasFrag := strings.Cut(rest[slash:], "#")
	path, query, hasQuery := strings.Cut(rest, "?")
	for i := 0; i < len(path); i++ {
		if !canonicalPathByte(path[i]) {
			return false
		}
	}
	if hasFrag {
		if frag == "" {
			return false
		}
		for i := 0; i < len(frag); i++ {
			if c := frag[i]; c != '?' && !canonicalPathByte(c) {
				return false
			}
		}
	}
	if !hasQuery {
		return true
	}
	prev := ""
	for query != "" {
		var pair string
		pair, query, _ = strings.Cut(query, "&")
		k, v, ok := strings.Cut(pair, "=")
		if !ok || k == "" || !unreservedOnly(k) || !unreservedOnly(v) || (prev != "" && pairLess(pair, prev)) {
			return false
		}
		prev = pair
	}
	return prev != ""
}

// pairLess orders "k=v" pairs as Python sorts (key, value) tuples of
// bytes.
func pairLess(a, b string) bool {
	ak, av, _ := strings.Cut(a, "=")
	bk, bv, _ := strings.Cut(b, "=")
	if ak != bk {
		return ak < bk
	}
	return av < bv
}

func canonicalPathByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,=:@/", c) >= 0
}

func unreservedOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}
