// Package pystr has the few Python string semantics that ported Scrapy
// parsers depend on (robots.txt as Protego reads it, sitemaps as Scrapy
// reads them): what counts as a line break and as white space differs
// from Go's.
package pystr

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// SplitLines is Python's str.splitlines(): \n, \r, \r\n, \v, \f, the
// file/group/record separators, NEL and the Unicode line and paragraph
// separators end a line; a final line break adds no empty line.
func SplitLines(s string) []string {
	var lines []string
	start := 0
	for i, r := range s {
		switch r {
		case '\n', '\r', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
		default:
			continue
		}
		if r == '\n' && i > 0 && s[i-1] == '\r' {
			start = i + 1
			continue
		}
		lines = append(lines, s[start:i])
		start = i + utf8.RuneLen(r)
	}
	if start < len(s) {
		lines = append(lines, s[start:])
	}
	return lines
}

// IsSpace is Python's str.isspace for one character: Go's white space
// plus the separators U+001C to U+001F.
func IsSpace(r rune) bool { return unicode.IsSpace(r) || r >= 0x1c && r <= 0x1f }

// Strip is Python's str.strip() without arguments.
func Strip(s string) string { return strings.TrimFunc(s, IsSpace) }
