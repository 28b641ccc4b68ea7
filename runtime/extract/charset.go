package extract

import (
	"bytes"
	"mime"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
)

// Decoding follows w3lib.encoding.html_to_unicode as Scrapy's TextResponse
// calls it: a byte-order mark wins, then the HTTP Content-Type charset, then
// a charset declared in the body (<meta charset>, <meta http-equiv>, or the
// XML declaration), then detection (valid UTF-8 is UTF-8, anything else is
// windows-1252). Encoding labels resolve through the WHATWG table, which
// already does what w3lib's translation table does (latin-1 and ascii read as
// windows-1252, gb2312 as gbk/gb18030).

// DecodeBody decodes body to UTF-8 and reports the encoding name it used.
// Undecodable bytes become U+FFFD, as Python's errors="replace" does.
func DecodeBody(body []byte, contentType string) (text, encodingName string) {
	if enc, name, n := bomEncoding(body); enc != nil {
		return decodeWith(enc, body[n:]), name
	}
	if label := contentTypeCharset(contentType); label != "" {
		if enc, name := lookupEncoding(label); enc != nil {
			return decodeWith(enc, body), name
		}
	}
	if label := declaredCharset(body); label != "" {
		if enc, name := lookupEncoding(label); enc != nil {
			return decodeWith(enc, body), name
		}
	}
	if utf8.Valid(body) {
		return string(body), "utf-8"
	}
	enc, name := lookupEncoding("windows-1252")
	return decodeWith(enc, body), name
}

func bomEncoding(b []byte) (encoding.Encoding, string, int) {
	switch {
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		return unicode.UTF8, "utf-8", 3
	case bytes.HasPrefix(b, []byte{0xFE, 0xFF}):
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), "utf-16be", 2
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), "utf-16le", 2
	}
	return nil, "", 0
}

func lookupEncoding(label string) (encoding.Encoding, string) {
	label = strings.ToLower(strings.TrimSpace(strings.Trim(label, `"'`)))
	switch label {
	case "utf-16", "utf16":
		// w3lib reads a bare utf-16 declaration without a BOM as big-endian.
		label = "utf-16be"
	case "utf8":
		label = "utf-8"
	}
	enc, err := htmlindex.Get(label)
	if err != nil {
		return nil, ""
	}
	name, err := htmlindex.Name(enc)
	if err != nil {
		name = label
	}
	return enc, strings.ToLower(name)
}

func decodeWith(enc encoding.Encoding, b []byte) string {
	if enc == unicode.UTF8 {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	out, err := enc.NewDecoder().Bytes(b)
	if err != nil {
		// x/text decoders replace invalid input rather than fail; an error
		// here means a broken transformer state, so keep what we can.
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}

func contentTypeCharset(ct string) string {
	if ct == "" {
		return ""
	}
	_, params, err := mime.ParseMediaType(ct)
	if err == nil {
		return params["charset"]
	}
	// A malformed header still often carries a usable charset=.
	if m := ctCharsetRe.FindStringSubmatch(ct); m != nil {
		return m[1]
	}
	return ""
}

var (
	ctCharsetRe   = regexp.MustCompile(`(?i)charset\s*=\s*["']?([\w.:-]+)`)
	metaCharsetRe = regexp.MustCompile(`(?is)<meta\s[^>]*?charset\s*=\s*["']?\s*([\w.:-]+)`)
	xmlDeclRe     = regexp.MustCompile(`(?s)^\s*<\?xml\s[^>]*?encoding\s*=\s*["']([\w.:-]+)["']`)
)

// declaredCharset finds a charset declared in the first 4 KB of the body,
// the window w3lib's html_body_declared_encoding searches.
func declaredCharset(body []byte) string {
	head := body
	if len(head) > 4096 {
		head = head[:4096]
	}
	if m := xmlDeclRe.FindSubmatch(head); m != nil {
		return string(m[1])
	}
	if m := metaCharsetRe.FindSubmatch(head); m != nil {
		return string(m[1])
	}
	return ""
}

// queryEncoding returns the encoder side of the page's encoding for URL
// queries, or nil for UTF-8 (and for encodings that cannot encode).
func queryEncoding(name string) encoding.Encoding {
	switch name {
	case "", "utf-8", "utf-16be", "utf-16le":
		return nil
	}
	enc, _ := lookupEncoding(name)
	return enc
}
