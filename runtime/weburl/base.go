package weburl

import "strings"

// Base is a base URL parsed once, to resolve the many references of a page
// against it as Python's urljoin(base, ref) does (Join), with a shortcut
// for the common plain references (QuickJoin).
type Base struct {
	raw   string
	parts pyURL
	err   error
	// For QuickJoin, when the base is a plain http(s) URL: its
	// "scheme://netloc", its path, its "?query" and its path's directory
	// ("" when the directory has empty or dot segments, which Python's
	// urljoin would rewrite).
	fastPrefix, fastPath, fastQuery, fastDir string
}

// NewBase parses raw as a base URL. A raw that urlparse rejects is kept:
// Join then fails for every non-empty reference, as urljoin raises.
func NewBase(raw string) Base {
	p, err := pyURLParse(raw)
	b := Base{raw: raw, parts: p, err: err}
	if err == nil && (p.scheme == "http" || p.scheme == "https") && plainHost(p.netloc) && p.params == "" &&
		(p.path == "" || p.path[0] == '/') && plainTail(p.path) && (p.query == "" || plainTail("?"+p.query)) {
		b.fastPrefix, b.fastPath = p.scheme+"://"+p.netloc, p.path
		if p.query != "" {
			b.fastQuery = "?" + p.query
		}
		dir := p.path[:strings.LastIndexByte(p.path, '/')+1]
		if dir == "" {
			dir = "/"
		}
		if !strings.Contains(dir[1:], "//") && !hasDotSegment(dir) {
			b.fastDir = dir
		}
	}
	return b
}

// String is the base URL as given to NewBase.
func (b *Base) String() string { return b.raw }

// Join is Python 3.11's urljoin(b, ref), on strings (see Join).
func (b *Base) Join(ref string) (string, error) {
	switch {
	case b.raw == "":
		return ref, nil
	case ref == "":
		return b.raw, nil
	case b.err != nil:
		return "", b.err
	}
	return joinParsed(b.parts, ref)
}

// QuickJoin is SafeURL(b.Join(ref), enc) (for any enc) for the references
// most links are, without parsing: an absolute http(s) URL with a
// lower-case host, an absolute path, a query, a fragment or a relative
// path, made of characters that need no quoting, without dot segments or
// ';'; its result is an absolute http(s) URL that urljoin with any other
// base leaves as it is. ok=false for every other ref.
// TestQuickJoinSameAsLongWay checks it.
func (b *Base) QuickJoin(ref string) (string, bool) {
	if b.fastPrefix == "" || ref == "" {
		return "", false
	}
	switch c := ref[0]; {
	case c == 'h' && (strings.HasPrefix(ref, "http://") || strings.HasPrefix(ref, "https://")):
		rest := ref[strings.IndexByte(ref, '/')+2:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if !plainHost(rest[:end]) || !plainTail(rest[end:]) {
			return "", false
		}
		return ref, true
	case c == '/':
		if len(ref) > 1 && ref[1] == '/' || !plainTail(ref) || hasDotSegment(pathOf(ref)) {
			return "", false
		}
		return b.fastPrefix + ref, true
	case c == '?':
		if !plainTail(ref) {
			return "", false
		}
		return b.fastPrefix + b.fastPath + ref, true
	case c == '#':
		if !plainTail(ref) {
			return "", false
		}
		return b.fastPrefix + b.fastPath + b.fastQuery + ref, true
	case c == '.' || b.fastDir == "":
		return "", false
	}
	p := pathOf(ref)
	if strings.IndexByte(p, ':') >= 0 || strings.Contains(p, "//") || hasDotSegment(p) || !plainTail(ref) {
		return "", false
	}
	return b.fastPrefix + b.fastDir + ref, true
}

// pathOf is the part of s before '?' or '#'.
func pathOf(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// hasDotSegment reports whether the path p has a "." or ".." segment.
func hasDotSegment(p string) bool {
	for p != "" {
		seg := p
		if i := strings.IndexByte(p, '/'); i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			p = ""
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// plainHost reports whether an http(s) netloc is one SafeURL leaves as it
// is: a lower-case ASCII host of non-empty labels and an optional port
// written as Python's str(int(port)) writes it.
func plainHost(h string) bool {
	host, port, hasPort := strings.Cut(h, ":")
	if host == "" || host[0] == '.' || strings.Contains(host, "..") {
		return false
	}
	label := 0
	for i := 0; i < len(host); i++ {
		c := host[i]
		switch {
		case c == '.':
			label = 0
			continue
		case !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-'):
			return false
		}
		if label++; label >= 64 {
			return false
		}
	}
	if hasPort {
		if port == "" || len(port) > 5 || port[0] == '0' && len(port) > 1 || !allDigits(port) ||
			len(port) == 5 && port > "65535" {
			return false
		}
	}
	return true
}

// plainTail reports whether path?query#fragment (each part optional)
// needs no quoting by SafeURL for an http(s) URL and survives Python's
// split and unsplit unchanged: no ';' (params), no empty query or
// fragment, one '#' at most.
func plainTail(s string) bool {
	const path, query, fragment = 0, 1, 2
	part, set := path, &pathSafest
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if !(i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])) {
				return false
			}
		case c == ';' && part == path:
			return false
		case c == '?' && part == path:
			if i+1 == len(s) || s[i+1] == '#' {
				return false
			}
			part, set = query, &specialQuerySafest
			continue
		case c == '#':
			if part == fragment || i+1 == len(s) {
				return false
			}
			part, set = fragment, &pathSafest
			continue
		}
		if c >= 0x80 || !set[c] {
			return false
		}
	}
	return true
}

// Netloc is urlsplit(raw).netloc (Scrapy's url_is_from_any_domain compares
// it), or an error where urlsplit raises.
func Netloc(raw string) (string, error) {
	p, err := pyURLSplit(raw)
	if err != nil {
		return "", err
	}
	return p.netloc, nil
}

// Path is urlparse(raw).path: what follows the netloc up to '?' or '#',
// without the ';params' of its last segment (Scrapy's
// url_has_any_extension tests it), or "" where urlparse raises.
func Path(raw string) string {
	for i := 0; i < len(raw); i++ {
		if c := raw[i]; c <= ' ' || c >= 0x80 || c == '[' || c == ']' {
			// What urlsplit strips, removes or checks: the long way.
			p, err := pyURLParse(raw)
			if err != nil {
				return ""
			}
			return p.path
		}
	}
	// A link made safe (the common case): no checks can fail.
	scheme, rest := "", raw
	if i := strings.IndexByte(raw, ':'); i > 0 && isScheme(raw[:i]) {
		scheme, rest = strings.ToLower(raw[:i]), raw[i+1:]
	}
	if strings.HasPrefix(rest, "//") {
		j := strings.IndexAny(rest[2:], "/?#")
		if j < 0 {
			return ""
		}
		rest = rest[2+j:]
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i]
	}
	if usesParams[scheme] {
		from := strings.LastIndexByte(rest, '/') + 1
		if i := strings.IndexByte(rest[from:], ';'); i >= 0 {
			rest = rest[:from+i]
		}
	}
	return rest
}
