package scheduler

import (
	"crypto/sha1"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
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
// canonicalize_url does (the fragment dropped); it is weburl.Canonicalize,
// the one implementation both the dupefilter and LinkExtractor(canonicalize)
// use.
func CanonicalizeURL(raw string) string { return weburl.Canonicalize(raw, false) }
