package jsguard

import (
	"testing"

	"github.com/dop251/goja"
)

// TestEncodedLengthIsExact: the length the guard computes for
// encodeURIComponent, encodeURI and escape equals the length of what
// goja's own function returns, on every class of character (so the guard
// refuses exactly the calls whose result would pass the limit).
func TestEncodedLengthIsExact(t *testing.T) {
	t.Parallel()
	plain := goja.New()
	inputs := []string{
		`""`,
		`"azAZ09"`,
		`"-_.!~*'()"`,
		`";/?:@&=+$,#"`,
		`" \"%<>[]\\^\x60{|}\x7f\x00\n"`,
		`"é\u00ff\u0100\u07ff\u0800\uffef"`,
		`"\ud83d\ude00 emoji"`,
		`String.fromCharCode(...Array.from({ length: 0x7f }, (_, i) => i + 1))`,
		`"@*_+-./ and more"`,
	}
	for _, e := range encoders {
		for _, in := range inputs {
			v, err := plain.RunString(in)
			if err != nil {
				t.Fatal(err)
			}
			s := str(v)
			out, err := plain.RunString(e.name + "(" + in + ")")
			if err != nil {
				// A lone surrogate is a URIError for the URI encoders:
				// the original still throws it; nothing to compare.
				continue
			}
			if got, want := e.encodedLength(s), int64(str(out).Length()); got != want {
				t.Errorf("%s(%s): computed %d, goja gives %d", e.name, in, got, want)
			}
		}
	}
}

// TestEncoderBombs: one call of an encoder can no longer build a string
// past MaxStringLength (up to 9 times its input), and an ordinary long
// input still encodes.
func TestEncoderBombs(t *testing.T) {
	t.Parallel()
	vm := newVM(t)
	for _, c := range []struct{ src, want string }{
		{`encodeURIComponent("\u0800".repeat(2e6))`, "RangeError: encodeURIComponent: string length limit 16 Mi exceeded"},
		{`encodeURI(" ".repeat(6e6))`, "RangeError: encodeURI: string length limit 16 Mi exceeded"},
		{`escape("\u0100".repeat(3e6))`, "RangeError: escape: string length limit 16 Mi exceeded"},
	} {
		if _, err := vm.RunString(c.src); err == nil || err.Error()[:len(c.want)] != c.want {
			t.Errorf("%s: got %v, want %q", c.src, err, c.want)
		}
	}
	v, err := vm.RunString(`encodeURIComponent("a".repeat(3e6) + "é").length`)
	if err != nil || v.ToInteger() != 3e6+6 {
		t.Fatalf("a long plain input: %v, %v", v, err)
	}
}
