package jsguard

import (
	"github.com/dop251/goja"
	"golang.org/x/text/unicode/norm"
)

// The global encoders turn one UTF-16 code unit into up to 9 characters
// (encodeURIComponent of U+0800..U+FFFF: three %XX), so one call on a
// string already at MaxStringLength would build 9 times that. They are
// guarded by the exact length of what they would produce, computed in Go
// before the original runs (only for inputs long enough to matter).

// encoder is one global encoding function and what it leaves unescaped.
type encoder struct {
	name      string
	unescaped string // ASCII characters copied as they are (besides A-Z a-z 0-9)
	// wide is the length of a non-ASCII code unit's encoding: for the URI
	// encoders its UTF-8 bytes as %XX, for escape %XX or %uXXXX.
	wide func(c uint16) int
}

func uriWide(c uint16) int {
	switch {
	case c < 0x800:
		return 6 // two UTF-8 bytes
	case c >= 0xD800 && c <= 0xDFFF:
		return 6 // half of a surrogate pair's four UTF-8 bytes
	default:
		return 9
	}
}

var encoders = []encoder{
	{"encodeURIComponent", "-_.!~*'()", uriWide},
	{"encodeURI", "-_.!~*'();/?:@&=+$,#", uriWide},
	{"escape", "@*_+-./", func(c uint16) int {
		if c < 0x100 {
			return 3
		}
		return 6
	}},
}

// encodedLength is the length of e's output for s.
func (e encoder) encodedLength(s goja.String) int64 {
	var n int64
	for i, l := 0, s.Length(); i < l; i++ {
		c := s.CharAt(i)
		switch {
		case c >= 0x80:
			n += int64(e.wide(c))
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			n++
		default:
			n += 3
			for j := 0; j < len(e.unescaped); j++ {
				if uint16(e.unescaped[j]) == c {
					n -= 2
					break
				}
			}
		}
	}
	return n
}

func (g *guards) installEncoders() error {
	global := g.vm.GlobalObject()
	for _, e := range encoders {
		if _, ok := global.Get(e.name).(*goja.Object); !ok {
			continue // not in this runtime
		}
		if err := g.wrap(global, e.name, func(orig native) native {
			return func(call goja.FunctionCall) goja.Value {
				if len(call.Arguments) > 0 {
					s := str(call.Arguments[0])
					call.Arguments = []goja.Value{s}
					// At most 9 characters a code unit: shorter inputs
					// cannot pass the limit.
					if int64(s.Length())*9 > MaxStringLength {
						g.grows(e.name, float64(s.Length()), float64(e.encodedLength(s)))
					}
				}
				return orig(call)
			}
		}); err != nil {
			return err
		}
	}
	return nil
}

// normalizedLength is the UTF-16 length of s normalized to form (NFC,
// NFD, NFKC or NFKD), counted segment by segment without building it.
func normalizedLength(s string, form norm.Form) int64 {
	var it norm.Iter
	it.InitString(form, s)
	var n int64
	for !it.Done() {
		for _, r := range string(it.Next()) {
			n++
			if r >= 0x10000 {
				n++ // a surrogate pair
			}
		}
	}
	return n
}

// installNormalize guards String.prototype.normalize: NFKD and NFKC turn
// one character into up to 18 (U+FDFA), so a call on a long string is
// checked by the exact length of its result first.
func (g *guards) installNormalize() error {
	sp, err := g.object(g.vm.Get("String").ToObject(g.vm), "prototype")
	if err != nil {
		return err
	}
	forms := map[string]norm.Form{"NFC": norm.NFC, "NFD": norm.NFD, "NFKC": norm.NFKC, "NFKD": norm.NFKD}
	return g.wrap(sp, "normalize", func(orig native) native {
		return func(call goja.FunctionCall) goja.Value {
			if call.This == nil || goja.IsUndefined(call.This) || goja.IsNull(call.This) {
				return orig(call)
			}
			s := str(call.This)
			call.This = s
			name := "NFC"
			if len(call.Arguments) > 0 && !goja.IsUndefined(call.Arguments[0]) {
				f := str(call.Arguments[0])
				call.Arguments = []goja.Value{f}
				name = f.String()
			}
			if form, ok := forms[name]; ok && int64(s.Length())*18 > MaxStringLength {
				g.grows("String.prototype.normalize", float64(s.Length()), float64(normalizedLength(s.String(), form)))
			}
			return orig(call)
		}
	})
}
