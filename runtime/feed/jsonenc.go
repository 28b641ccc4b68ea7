package feed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// appendItemJSON appends it as a JSON object, as Python's json.dumps with
// ensure_ascii=False and separators (",", ":") writes it (what Scrapy's
// JSON exporters write with FEED_EXPORT_ENCODING utf-8, but compact):
// strings, integers, booleans, nulls, lists and objects are written
// directly; other numbers go through encoding/json, which writes them as
// JavaScript does.
func appendItemJSON(b []byte, it *crawl.Item) ([]byte, error) {
	b = append(b, '{')
	for i, f := range it.Fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.Key)
		b = append(b, ':')
		var err error
		if b, err = appendJSONValue(b, f.Value); err != nil {
			return nil, fmt.Errorf("item.%s: %w", f.Key, err)
		}
	}
	return append(b, '}'), nil
}

func appendJSONValue(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case string:
		return appendJSONString(b, x), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case *crawl.Item:
		return appendItemJSON(b, x)
	case map[string]any:
		b = append(b, '{')
		for i, k := range slices.Sorted(maps.Keys(x)) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			var err error
			if b, err = appendJSONValue(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []string:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, e)
		}
		return append(b, ']'), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSONValue(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	s, err := goJSON(v)
	if err != nil {
		return nil, err
	}
	return append(b, s...), nil
}

// appendJSONString quotes s as Python's json.dumps(ensure_ascii=False)
// does: '"' and '\\' escaped, \n \r \t \b \f by name, other control
// characters as \u00xx, everything else as it is (U+2028 and U+2029
// included, which encoding/json would escape). Invalid UTF-8 becomes
// U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || n != 1 {
				i += n
				continue
			}
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i++
			start = i
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		case '\b':
			b = append(b, '\\', 'b')
		case '\f':
			b = append(b, '\\', 'f')
		default:
			b = append(b, '\\', 'u', '0', '0', jsonHexDigits[c>>4], jsonHexDigits[c&0xf])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const jsonHexDigits = "0123456789abcdef"

// runeEscaper writes the characters a feed's encoding cannot represent as
// JSON \uXXXX escapes (a surrogate pair above U+FFFF), so that a JSON feed
// in latin-1 stays valid and loses nothing (Scrapy fails the feed with
// UnicodeEncodeError; a replacement byte would be a raw control character,
// which JSON forbids). Outside strings JSON is ASCII, so every non-ASCII
// rune of the output is inside a string. A nil *runeEscaper (UTF-8)
// changes nothing.
type runeEscaper struct {
	enc   *encoding.Encoder
	ok    map[rune]bool
	ascii bool // escape every non-ASCII character
}

func newRuneEscaper(enc encoding.Encoding) *runeEscaper {
	if enc == nil || enc == unicode.UTF8 {
		return nil
	}
	return &runeEscaper{enc: enc.NewEncoder(), ok: map[rune]bool{}}
}

func (e *runeEscaper) escape(b []byte) []byte {
	if e == nil {
		return b
	}
	i := 0
	for i < len(b) && b[i] < utf8.RuneSelf {
		i++
	}
	if i == len(b) {
		return b
	}
	out := append([]byte(nil), b[:i]...)
	for i < len(b) {
		r, n := utf8.DecodeRune(b[i:])
		if r < utf8.RuneSelf || e.encodable(r) {
			out = append(out, b[i:i+n]...)
		} else if r > 0xffff {
			hi, lo := utf16.EncodeRune(r)
			out = appendJSONEscape(appendJSONEscape(out, hi), lo)
		} else {
			out = appendJSONEscape(out, r)
		}
		i += n
	}
	return out
}

func (e *runeEscaper) encodable(r rune) bool {
	if e.ascii {
		return false
	}
	ok, seen := e.ok[r]
	if !seen {
		_, err := e.enc.String(string(r))
		ok = err == nil
		e.ok[r] = ok
	}
	return ok
}

func appendJSONEscape(b []byte, r rune) []byte {
	return append(b, '\\', 'u', jsonHexDigits[r>>12&0xf], jsonHexDigits[r>>8&0xf], jsonHexDigits[r>>4&0xf], jsonHexDigits[r&0xf])
}

// goJSON encodes what appendJSONValue does not know (float64 and other
// numbers, json.Number, structs) with encoding/json, without HTML
// escaping.
func goJSON(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// asciiEscaper escapes every non-ASCII character (json.dumps'
// ensure_ascii, item_export_kwargs ensure_ascii: true).
func asciiEscaper() *runeEscaper {
	return &runeEscaper{ok: map[rune]bool{}, ascii: true}
}

// respace rewrites compact JSON (as appendItemJSON writes it) the way
// Python's json.dumps writes it with separators seps (item, key) and, when
// indent is not "", indent: every element on a line of its own, indented
// one level more than its container, empty containers as {} and [].
func respace(out, b []byte, indent string, seps [2]string) []byte {
	depth := 0
	inString := false
	newline := func() {
		out = append(out, '\n')
		for range depth {
			out = append(out, indent...)
		}
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if inString {
			out = append(out, c)
			switch c {
			case '\\':
				i++
				out = append(out, b[i])
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
			out = append(out, c)
		case '{', '[':
			out = append(out, c)
			if i+1 < len(b) && (b[i+1] == '}' || b[i+1] == ']') {
				out = append(out, b[i+1])
				i++
				continue
			}
			if indent != "" {
				depth++
				newline()
			}
		case '}', ']':
			if indent != "" {
				depth--
				newline()
			}
			out = append(out, c)
		case ',':
			out = append(out, seps[0]...)
			if indent != "" {
				newline()
			}
		case ':':
			out = append(out, seps[1]...)
		default:
			out = append(out, c)
		}
	}
	return out
}
