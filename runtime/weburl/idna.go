package weburl

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/bidi"
	"golang.org/x/text/unicode/norm"
)

// pyIDNA is Python's netloc.encode("idna") as w3lib's canonicalize_url
// applies it to the whole netloc (userinfo and port included): IDNA 2003
// (nameprep, then punycode) label by label. When Python raises
// UnicodeError (an empty or too long label, a prohibited character) the
// netloc is returned as it is, as w3lib does.
func pyIDNA(netloc string) string {
	if a, ok := idnaEncode(netloc); ok {
		return a
	}
	return netloc
}

// idnaEncode is s.encode("idna"), ok=false where Python raises
// UnicodeError. An ASCII s is returned as it is even where Python raises
// (an empty or too long label): both callers then keep s as it is.
func idnaEncode(netloc string) (string, bool) {
	if isASCII(netloc) {
		return netloc, true
	}
	labels := splitIDNADots(netloc)
	trailing := ""
	if labels[len(labels)-1] == "" {
		trailing = "."
		labels = labels[:len(labels)-1]
	}
	out := make([]string, len(labels))
	for i, l := range labels {
		a, ok := idnaToASCII(l)
		if !ok {
			return "", false
		}
		out[i] = a
	}
	return strings.Join(out, ".") + trailing, true
}

// splitIDNADots splits on the four dots encodings.idna accepts.
func splitIDNADots(s string) []string {
	var labels []string
	start := 0
	for i, r := range s {
		if r == '.' || r == '\u3002' || r == '\uff0e' || r == '\uff61' {
			labels = append(labels, s[start:i])
			start = i + utf8.RuneLen(r)
		}
	}
	return append(labels, s[start:])
}

// idnaToASCII is encodings.idna.ToASCII.
func idnaToASCII(label string) (string, bool) {
	if !isASCII(label) {
		var ok bool
		if label, ok = nameprep(label); !ok {
			return "", false
		}
	}
	if isASCII(label) {
		return label, len(label) > 0 && len(label) < 64
	}
	if strings.HasPrefix(label, "xn--") {
		return "", false
	}
	label = "xn--" + punycode(label)
	return label, len(label) < 64
}

var foldCase = cases.Fold()

// mapB2 is stringprep.map_table_b2: case folding closed under NFKC.
func mapB2(r rune) string {
	al := foldCase.String(string(r))
	b := norm.NFKC.String(al)
	c := norm.NFKC.String(foldCase.String(b))
	if b != c {
		return c
	}
	return al
}

// nameprep is encodings.idna.nameprep (RFC 3491), with Go's Unicode
// tables instead of Unicode 3.2.
func nameprep(label string) (string, bool) {
	var b strings.Builder
	for _, r := range label {
		if inB1(r) {
			continue
		}
		b.WriteString(mapB2(r))
	}
	label = norm.NFKC.String(b.String())
	randAL, l := false, false
	first, last := false, false
	n := 0
	for _, r := range label {
		if prohibited(r) {
			return "", false
		}
		p, _ := bidi.LookupRune(r)
		isR := p.Class() == bidi.R || p.Class() == bidi.AL
		if isR {
			randAL = true
		}
		if p.Class() == bidi.L {
			l = true
		}
		if n == 0 {
			first = isR
		}
		last = isR
		n++
	}
	if randAL && (l || !first || !last) {
		return "", false
	}
	return label, true
}

// inB1 is stringprep table B.1, characters mapped to nothing.
func inB1(r rune) bool {
	switch r {
	case 0xad, 0x34f, 0x1806, 0x180b, 0x180c, 0x180d, 0x200b, 0x200c, 0x200d, 0x2060, 0xfeff:
		return true
	}
	return r >= 0xfe00 && r <= 0xfe0f
}

// prohibited is nameprep's tables C.1.2, C.2.2 and C.3 to C.9.
func prohibited(r rune) bool {
	switch {
	case r == 0xa0, r == 0x1680, r >= 0x2000 && r <= 0x200b, r == 0x202f, r == 0x205f, r == 0x3000: // C.1.2
		return true
	case r >= 0x80 && r <= 0x9f, r == 0x6dd, r == 0x70f, r == 0x180e, r == 0x200c, r == 0x200d, r == 0x2028, r == 0x2029,
		r >= 0x2060 && r <= 0x2063, r >= 0x206a && r <= 0x206f, r == 0xfeff, r >= 0xfff9 && r <= 0xfffc,
		r >= 0x1d173 && r <= 0x1d17a: // C.2.2
		return true
	case r >= 0xe000 && r <= 0xf8ff, r >= 0xf0000 && r <= 0xffffd, r >= 0x100000 && r <= 0x10fffd: // C.3
		return true
	case r >= 0xfdd0 && r <= 0xfdef, r&0xfffe == 0xfffe: // C.4
		return true
	case r >= 0xd800 && r <= 0xdfff, r == utf8.RuneError: // C.5 (and C.6's U+FFFD)
		return true
	case r >= 0xfff9 && r <= 0xfffd: // C.6
		return true
	case r >= 0x2ff0 && r <= 0x2ffb: // C.7
		return true
	case r == 0x340, r == 0x341, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e: // C.8
		return true
	case r == 0xe0001, r >= 0xe0020 && r <= 0xe007f: // C.9
		return true
	}
	return false
}

// punycode is RFC 3492's encoding, as Python's "punycode" codec writes it
// (basic code points first, then '-' if there were any).
func punycode(s string) string {
	const (
		base, tMin, tMax, skew, damp = 36, 1, 26, 38, 700
		initialBias, initialN        = 72, 128
	)
	runes := []rune(s)
	var out []byte
	for _, r := range runes {
		if r < 0x80 {
			out = append(out, byte(r))
		}
	}
	h := len(out)
	b := h
	if b > 0 {
		out = append(out, '-')
	}
	digit := func(d int) byte {
		if d < 26 {
			return byte('a' + d)
		}
		return byte('0' + d - 26)
	}
	adapt := func(delta, numPoints int, first bool) int {
		if first {
			delta /= damp
		} else {
			delta /= 2
		}
		delta += delta / numPoints
		k := 0
		for delta > ((base-tMin)*tMax)/2 {
			delta /= base - tMin
			k += base
		}
		return k + (base-tMin+1)*delta/(delta+skew)
	}
	n, delta, bias := initialN, 0, initialBias
	for h < len(runes) {
		m := int(^uint(0) >> 1)
		for _, r := range runes {
			if int(r) >= n && int(r) < m {
				m = int(r)
			}
		}
		delta += (m - n) * (h + 1)
		n = m
		for _, r := range runes {
			if int(r) < n {
				delta++
			}
			if int(r) == n {
				q := delta
				for k := base; ; k += base {
					t := k - bias
					if t < tMin {
						t = tMin
					} else if t > tMax {
						t = tMax
					}
					if q < t {
						break
					}
					out = append(out, digit(t+(q-t)%(base-t)))
					q = (q - t) / (base - t)
				}
				out = append(out, digit(q))
				bias = adapt(delta, h+1, h == b)
				delta = 0
				h++
			}
		}
		delta++
		n++
	}
	return string(out)
}

var netlocDelims = strings.NewReplacer("@", "", ":", "", "#", "", "?", "")

// checkNetlocNFKC is urllib's _checknetloc: a non-ASCII netloc whose NFKC
// form gains a '/', '?', '#', '@' or ':' (U+2100 "℀" is "a/c") is a
// ValueError.
func checkNetlocNFKC(netloc string) error {
	if isASCII(netloc) {
		return nil
	}
	n := netlocDelims.Replace(netloc)
	n2 := norm.NFKC.String(n)
	if n == n2 {
		return nil
	}
	if strings.ContainsAny(n2, "/?#@:") {
		return ErrInvalidURL
	}
	return nil
}
