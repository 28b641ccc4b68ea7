package weburl

import (
	"encoding/json"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"

	"github.com/spiderrun/spiderrun/internal/reftest"
)

// canonCase is one row of testdata/reference/canonicalize/cases.json.
type canonCase struct {
	URL             string `json:"url"`
	KeepBlankValues *bool  `json:"keep_blank_values"`
	KeepFragments   bool   `json:"keep_fragments"`
	Encoding        string `json:"encoding"`
}

// canonResult is one row of expected.json: each field the string w3lib
// returned or {"error": "<ExceptionType>"}.
type canonResult struct {
	Canonical json.RawMessage `json:"canonical"`
	Safe      json.RawMessage `json:"safe"`
}

// refValue decodes a result: the string, or "" and the exception type.
func refValue(t *testing.T, raw json.RawMessage) (string, string) {
	t.Helper()
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, ""
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(raw, &e); err != nil || e.Error == "" {
		t.Fatalf("expected.json: bad value %s", raw)
	}
	return "", e.Error
}

// pyEncodings are the Python codec names cases.json uses.
var pyEncodings = map[string]encoding.Encoding{
	"utf8":      nil,
	"latin1":    charmap.ISO8859_1,
	"cp1251":    charmap.Windows1251,
	"shift_jis": japanese.ShiftJIS,
	"euc_jp":    japanese.EUCJP,
}

// TestCanonicalizeReference compares Canonicalize (and canonicalize, for
// the options Canonicalize does not take) with w3lib 2.1's
// canonicalize_url on testdata/reference/canonicalize.
func TestCanonicalizeReference(t *testing.T) {
	t.Parallel()
	var cases []canonCase
	var want []canonResult
	reftest.Load(t, "canonicalize", "cases.json", &cases)
	reftest.Load(t, "canonicalize", "expected.json", &want)
	if len(cases) != len(want) || len(cases) < 150 {
		t.Fatalf("%d cases, %d results: regenerate with testdata/reference/regen", len(cases), len(want))
	}
	for i, c := range cases {
		wantURL, wantErr := refValue(t, want[i].Canonical)
		enc, known := pyEncodings[c.Encoding]
		if c.Encoding != "" && !known {
			t.Fatalf("case %d: encoding %q is not mapped in pyEncodings", i, c.Encoding)
		}
		o := canonOptions{keepFragments: c.KeepFragments, dropBlank: c.KeepBlankValues != nil && !*c.KeepBlankValues, enc: enc}
		got, err := canonicalize(c.URL, o)
		switch {
		case wantErr != "" && err == nil:
			t.Errorf("case %d %q %+v: got %q, w3lib raises %s", i, c.URL, o, got, wantErr)
		case wantErr == "" && err != nil:
			t.Errorf("case %d %q %+v: error %v, w3lib gives %q", i, c.URL, o, err, wantURL)
		case got != wantURL:
			t.Errorf("case %d %q %+v:\n got  %q\n want %q", i, c.URL, o, got, wantURL)
		}
		// The public entry point (fast path included) agrees, and returns
		// what w3lib rejects as it is.
		if c.Encoding == "" && c.KeepBlankValues == nil {
			if wantErr != "" {
				wantURL = c.URL
			}
			if got := Canonicalize(c.URL, c.KeepFragments); got != wantURL {
				t.Errorf("Canonicalize(%q, %v) = %q, want %q", c.URL, c.KeepFragments, got, wantURL)
			}
		}
	}
}

// TestSafeStringReference compares SafeString and SafeURL with w3lib
// 2.1's safe_url_string on the same cases. The differences on purpose
// (specs/scrapy-differences.md, SafeString's doc comment) are recognised
// by their shape, not listed: a '%' starting no escape is "%25", an IPv6
// host keeps its brackets, and what w3lib rejects still gives a URL.
func TestSafeStringReference(t *testing.T) {
	t.Parallel()
	var cases []canonCase
	var want []canonResult
	reftest.Load(t, "canonicalize", "cases.json", &cases)
	reftest.Load(t, "canonicalize", "expected.json", &want)
	same, deliberate := 0, 0
	for i, c := range cases {
		w, wantErr := refValue(t, want[i].Safe)
		got := SafeString(c.URL, pyEncodings[c.Encoding])
		// SafeURL fails exactly where w3lib raises, else it is SafeString.
		strict, err := SafeURL(c.URL, pyEncodings[c.Encoding])
		if (err != nil) != (wantErr != "") || err == nil && strict != got {
			t.Errorf("SafeURL(%q, %s) = %q, %v; w3lib raises %q, SafeString gives %q", c.URL, c.Encoding, strict, err, wantErr, got)
		}
		switch {
		case got == w:
			same++
		case wantErr != "":
			deliberate++ // w3lib raises; we return our best effort
		case got == lonePercent(w) || got == lonePercent(bracketIPv6(t, w, got)):
			deliberate++
		default:
			t.Errorf("SafeString(%q, %s):\n got  %q\n want %q", c.URL, c.Encoding, got, w)
		}
	}
	t.Logf("%d cases equal to w3lib, %d differ on purpose", same, deliberate)
}

// lonePercent turns each '%' that starts no escape into "%25".
func lonePercent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && !(i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// bracketIPv6 puts back the brackets w3lib 2.1 drops from an IPv6 host,
// when got has them at the same place.
func bracketIPv6(t *testing.T, w, got string) string {
	i := strings.Index(got, "//[")
	j := strings.IndexByte(got, ']')
	if i < 0 || j < i {
		return w
	}
	host := got[i+3 : j]
	if !strings.Contains(w, "//"+host) {
		return w
	}
	return strings.Replace(w, "//"+host, "//["+host+"]", 1)
}

// QuickJoin must never give what the long way (Join, SafeURL) would not:
// the reference URLs, their safe forms and random strings as references.
func TestQuickJoinSameOnManyRefs(t *testing.T) {
	t.Parallel()
	var cases []canonCase
	reftest.Load(t, "canonicalize", "cases.json", &cases)
	refs := []string{"http://a.test/p?q=1#f", "https://a.test:8080/", "HTTP://a.test/", "http://A.test/", "http://a.test:080/",
		"http://a.test:/", "http://a.test:99999/", "http:a", "mailto:x", "//a.test/p", "/p?", "/p#", "p?#", "/p#a#b", "/p'q"}
	for _, c := range cases {
		refs = append(refs, c.URL, SafeString(c.URL, nil))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	const chars = "ahAH09:/?#@%[]'|;=&+. -~"
	for range 20000 {
		b := []byte("http://")
		if rng.IntN(3) == 0 {
			b = b[:0]
		}
		for range rng.IntN(16) {
			b = append(b, chars[rng.IntN(len(chars))])
		}
		refs = append(refs, string(b))
	}
	claimed := quickJoinChecked(t, []string{"http://a.test/d/p?q", "https://a.test:8080/"}, refs)
	if claimed < 1000 {
		t.Fatalf("QuickJoin took only %d refs: the test checks too little", claimed)
	}
}

// TestJoinReference compares Join with what Scrapy requests for
// response.urljoin(ref) / response.follow(ref): safe_url_string(urljoin(
// base, ref)), on testdata/reference/canonicalize/joins.json. The base is
// made safe first, as extract.BaseURL makes a response's URL. The
// differences on purpose are SafeString's, recognised the same way; where
// Python raises, Join must return an error or one of them.
func TestJoinReference(t *testing.T) {
	t.Parallel()
	var cases []struct {
		Base     string `json:"base"`
		Ref      string `json:"ref"`
		Encoding string `json:"encoding"`
	}
	var want []json.RawMessage
	reftest.Load(t, "canonicalize", "joins.json", &cases)
	reftest.Load(t, "canonicalize", "expected_joins.json", &want)
	if len(cases) != len(want) || len(cases) < 500 {
		t.Fatalf("%d cases, %d results: regenerate with testdata/reference/regen", len(cases), len(want))
	}
	same, deliberate := 0, 0
	for i, c := range cases {
		w, wantErr := refValue(t, want[i])
		base, err := url.Parse(SafeString(c.Base, nil))
		if err != nil {
			t.Fatalf("base %q: %v", c.Base, err)
		}
		enc, known := pyEncodings[c.Encoding]
		if c.Encoding != "" && !known {
			t.Fatalf("case %d: encoding %q is not mapped in pyEncodings", i, c.Encoding)
		}
		got, err := Join(base, c.Ref, enc)
		switch {
		case err == nil && got == w:
			same++
		case wantErr != "":
			deliberate++ // Python raises; an error or a best-effort URL
		case err == nil && (got == lonePercent(w) || got == lonePercent(bracketIPv6(t, w, got))):
			deliberate++
		default:
			t.Errorf("Join(%q, %q, %s):\n got  %q, %v\n want %q", c.Base, c.Ref, c.Encoding, got, err, w)
		}
	}
	t.Logf("%d cases equal to Scrapy, %d differ on purpose", same, deliberate)
}
