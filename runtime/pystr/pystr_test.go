package pystr

import (
	"slices"
	"testing"
)

// The expected values are Python 3's ("...".splitlines(), .strip()).
func TestSplitLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"a", []string{"a"}},
		{"a\n", []string{"a"}},
		{"a\n\nb", []string{"a", "", "b"}},
		{"a\r\nb\rc\nd", []string{"a", "b", "c", "d"}},
		{"a\r\r\nb", []string{"a", "", "b"}},
		{"a\vb\fc\x1cd\x1de\x1ef", []string{"a", "b", "c", "d", "e", "f"}},
		{"a\u0085b\u2028c\u2029d", []string{"a", "b", "c", "d"}},
		{"a\x1fb", []string{"a\x1fb"}}, // the unit separator is space, not a line break
		{"\n", []string{""}},
	} {
		if got := SplitLines(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("SplitLines(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStrip(t *testing.T) {
	for in, want := range map[string]string{
		" \t a b \n":        "a b",
		"\x1c\x1fx\x1e\x1d": "x",
		"\u00a0x\u3000":     "x",
		"\u200bx":           "\u200bx", // zero-width space is not white space in Python
	} {
		if got := Strip(in); got != want {
			t.Errorf("Strip(%q) = %q, want %q", in, got, want)
		}
	}
}
