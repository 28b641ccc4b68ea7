package jsguard

import (
	"strings"
	"testing"

	"github.com/dop251/goja"
	"golang.org/x/text/unicode/norm"
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

// TestNormalizeGuard: normalize is refused when its result would pass the
// limit (U+FDFA is 18 characters in NFKD), the computed length equals
// goja's on ordinary text, and ordinary long text still normalizes.
func TestNormalizeGuard(t *testing.T) {
	t.Parallel()
	vm := newVM(t)
	plain := goja.New()
	for _, form := range []string{"NFC", "NFD", "NFKC", "NFKD"} {
		src := `"e\u0301 \u00e9 \ufdfa \u1e9b\u0323 \ud834\udd5e Å ﬁ ①"`
		want, err := plain.RunString(src + `.normalize("` + form + `").length`)
		if err != nil {
			t.Fatal(err)
		}
		v, _ := plain.RunString(src)
		if got := normalizedLength(v.String(), map[string]norm.Form{"NFC": norm.NFC, "NFD": norm.NFD, "NFKC": norm.NFKC, "NFKD": norm.NFKD}[form]); got != want.ToInteger() {
			t.Errorf("%s: computed %d, goja %d", form, got, want.ToInteger())
		}
	}
	if _, err := vm.RunString(`"\ufdfa".repeat(1e6).normalize("NFKD")`); err == nil || !strings.HasPrefix(err.Error(), "RangeError: String.prototype.normalize: string length limit 16 Mi exceeded") {
		t.Errorf("NFKD bomb: %v", err)
	}
	if v, err := vm.RunString(`"e\u0301".repeat(1e6).normalize().length`); err != nil || v.ToInteger() != 1e6 {
		t.Errorf("long ordinary text: %v, %v", v, err)
	}
}
