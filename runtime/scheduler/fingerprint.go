package scheduler

import (
	"crypto/sha1"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Fingerprint identifies a request for the dupefilter with Scrapy's semantics
// (scrapy.utils.request.fingerprint, REQUEST_FINGERPRINTER_IMPLEMENTATION
// "2.7"): the method, the canonicalized URL (fragment dropped, query
// arguments sorted, percent-encoding normalized) and the body; headers do
// not count. It is FingerprintWith with no options.
//
// It hashes the same JSON document as Scrapy with SHA-1 and keeps the first
// 16 bytes, so fingerprints are a prefix of Scrapy's and need 16 bytes of
// memory per request instead of a URL (RELIABILITY.md M16, M17).
// testdata/reference/fingerprint holds Scrapy's own fingerprints.
func Fingerprint(r *crawl.Request) [16]byte {
	return fingerprint(r, `{}`, false)
}

// FingerprintOptions are the other parameters of Scrapy's fingerprint().
type FingerprintOptions struct {
	// IncludeHeaders names the request headers whose values count
	// (include_headers; matched case-insensitively, every value of a
	// repeated header counts).
	IncludeHeaders []string
	// KeepFragments keeps the URL's fragment (keep_fragments), for pages a
	// headless browser renders.
	KeepFragments bool
}

// FingerprintWith is Fingerprint with Scrapy's include_headers and
// keep_fragments:
//
//	FingerprintWith(r, FingerprintOptions{IncludeHeaders: []string{"Cookie"}})
//
// is fingerprint(request, include_headers=["Cookie"]) cut to 16 bytes.
func FingerprintWith(r *crawl.Request, o FingerprintOptions) [16]byte {
	return fingerprint(r, headersJSON(r.Headers, o.IncludeHeaders), o.KeepFragments)
}

// headersJSON is the "headers" member of Scrapy's fingerprint document:
// {hex(lower-case name): [hex(value), ...]} for the included headers the
// request has, sorted by key as json.dumps(sort_keys=True) writes it.
func headersJSON(h crawl.Headers, include []string) string {
	names := make([]string, 0, len(include))
	for _, n := range include {
		if n = strings.ToLower(n); h.Has(n) && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return `{}`
	}
	// hex keeps the byte order, so sorting the names sorts the keys
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `"%x": [`, n)
		for j, v := range h.Values(n) {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, `"%x"`, v)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	return b.String()
}

// fingerprint hashes json.dumps({"body", "headers", "method", "url"},
// sort_keys=True) with headers already encoded.
func fingerprint(r *crawl.Request, headers string, keepFragments bool) [16]byte {
	// Written piecewise into one stack buffer: the dupefilter runs for every
	// link a callback emits, so this is on the hot path. A body longer than
	// the buffer is hashed in pieces as the buffer fills.
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
	b = append(b, `", "headers": `...)
	b = append(b, headers...)
	b = append(b, `, "method": `...)
	// Scrapy's Request upper-cases the method
	b = appendPyJSON(b, strings.ToUpper(r.GetMethod()))
	b = append(b, `, "url": `...)
	b = appendPyJSON(b, weburl.Canonicalize(r.URL, keepFragments))
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
