package scheduler

import (
	"crypto/sha1"
	"net/url"
	"sort"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Fingerprint identifies a request for the dupefilter with Scrapy's semantics
// (scrapy.utils.request.fingerprint): the method, the canonicalized URL
// (fragment dropped, query arguments sorted, percent-encoding normalized)
// and the body; headers do not count.
//
// It hashes the same JSON document as Scrapy with SHA-1 and keeps the first
// 16 bytes, so fingerprints are a prefix of Scrapy's and need 16 bytes of
// memory per request instead of a URL (RELIABILITY.md M16, M17).
func Fingerprint(r *crawl.Request) [16]byte {
	// Written piecewise into one stack buffer: the dupefilter runs for every
	// link a callback emits, so this is on the hot path.
	var buf [512]byte
	b := buf[:0]
	b = append(b, `{"body": "`...)
	h := sha1.New()
	for _, c := range r.Body {
		if len(b) > len(buf)-2 {
			h.Write(b)
			b = buf[:0]
		}
		b = append(b, hexDigits[c>>4], hexDigits[c&15])
	}
	b = append(b, `", "headers": {}, "method": `...)
	b = appendPyJSON(b, r.GetMethod())
	b = append(b, `, "url": `...)
	b = appendPyJSON(b, CanonicalizeURL(r.URL))
	b = append(b, '}')
	h.Write(b)
	var sum [sha1.Size]byte
	var fp [16]byte
	copy(fp[:], h.Sum(sum[:0]))
	return fp
}

const hexDigits = "0123456789abcdef"

// appendPyJSON appends s encoded as Python's json.dumps does with
// ensure_ascii (a canonical URL is ASCII, so the fast path is a copy).
func appendPyJSON(b []byte, s string) []byte {
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return append(b, pyJSONString(s)...)
}

// pyJSONString encodes s as Python's json.dumps does with ensure_ascii.
func pyJSONString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"':
			b.WriteString(`\"`)
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\r':
			b.WriteString(`\r`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c > 0x7e:
			if c > 0xffff {
				c -= 0x10000
				writeU(&b, 0xd800+(c>>10))
				writeU(&b, 0xdc00+(c&0x3ff))
				continue
			}
			writeU(&b, c)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func writeU(b *strings.Builder, c rune) {
	const hexd = "0123456789abcdef"
	b.WriteString(`\u`)
	b.WriteByte(hexd[c>>12&0xf])
	b.WriteByte(hexd[c>>8&0xf])
	b.WriteByte(hexd[c>>4&0xf])
	b.WriteByte(hexd[c&0xf])
}

// CanonicalizeURL returns the canonical form of a URL the way w3lib's
// canonicalize_url does: scheme and host lower-cased, the fragment dropped,
// query arguments sorted by key then value (blank values kept) and
// re-encoded, the path's percent-encoding normalized, an empty path
// becoming "/". A string that does not parse is returned unchanged.
func CanonicalizeURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return raw
	}
	scheme := strings.ToLower(u.Scheme)
	host := strings.ToLower(u.Host)
	path := u.EscapedPath()
	path = canonicalPath(path)
	if path == "" && host != "" {
		path = "/"
	}
	query := canonicalQuery(u.RawQuery)
	var b strings.Builder
	b.Grow(len(raw) + 8)
	if scheme != "" {
		b.WriteString(scheme)
		b.WriteByte(':')
	}
	if u.Opaque != "" {
		b.WriteString(u.Opaque)
	} else {
		if host != "" || scheme == "file" || u.User != nil {
			b.WriteString("//")
		}
		if u.User != nil {
			b.WriteString(strings.ToLower(u.User.String()))
			b.WriteByte('@')
		}
		b.WriteString(host)
		b.WriteString(path)
	}
	if query != "" {
		b.WriteByte('?')
		b.WriteString(query)
	}
	return b.String()
}

// canonicalPath decodes every percent-escape except those of "/" and "?"
// (which change the path's meaning) and re-encodes what must be encoded, so
// %7E, ~ and %7e compare equal and escapes come out upper-case.
func canonicalPath(p string) string {
	clean := true
	for i := 0; i < len(p); i++ {
		if p[i] == '%' || !pathSafe(p[i]) {
			clean = false
			break
		}
	}
	if clean {
		return p
	}
	var raw []byte
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) && ishex(p[i+1]) && ishex(p[i+2]) {
			v := unhex(p[i+1])<<4 | unhex(p[i+2])
			if v == '/' || v == '?' {
				raw = append(raw, '%', upper(p[i+1]), upper(p[i+2]))
				i += 2
				continue
			}
			raw = append(raw, 0, v) // 0 marks a decoded byte
			i += 2
			continue
		}
		raw = append(raw, 1, c)
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' {
			b.WriteByte('%')
			b.WriteByte(raw[i+1])
			b.WriteByte(raw[i+2])
			i += 2
			continue
		}
		c := raw[i+1]
		i++
		if pathSafe(c) {
			b.WriteByte(c)
		} else {
			b.WriteByte('%')
			b.WriteByte("0123456789ABCDEF"[c>>4])
			b.WriteByte("0123456789ABCDEF"[c&15])
		}
	}
	return b.String()
}

// pathSafe is w3lib's _path_safe_chars: RFC 3986 unreserved and reserved
// characters except "#" and "?", plus "%" for escapes kept as they were.
func pathSafe(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/[]@!$&'()*+,;=%", c) >= 0
}

// canonicalQuery parses key=value pairs (like parse_qsl with
// keep_blank_values), sorts them and re-encodes them like urlencode.
func canonicalQuery(q string) string {
	if q == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(q, "&") {
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
		b.WriteString(url.QueryEscape(p.k))
		b.WriteByte('=')
		b.WriteString(url.QueryEscape(p.v))
	}
	return b.String()
}

func unquotePlus(s string) string {
	if v, err := url.QueryUnescape(s); err == nil {
		return v
	}
	// Invalid escapes are kept literally, as Python's unquote does.
	return strings.ReplaceAll(s, "+", " ")
}

func ishex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case '0' <= c && c <= '9':
		return c - '0'
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}
