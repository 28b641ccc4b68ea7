package weburl

import (
	"net/url"
	"testing"

	"golang.org/x/text/encoding/japanese"
)

func TestSafeString(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, want string }{
		{"http://www.example.com/a b?c d#e f", "http://www.example.com/a%20b?c%20d#e%20f"},
		{" http://x.test/\t\na ", "http://x.test/a"},
		{"http://x.test/100%", "http://x.test/100%25"},
		{"http://x.test/ok%20", "http://x.test/ok%20"},
		{"http://ü.test:8080/ü", "http://xn--tda.test:8080/%C3%BC"},
		{"http://ü.test/a b", "http://xn--tda.test/a%20b"},
		{"/rel/é?q=#x", "/rel/%C3%A9?q=#x"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := SafeString(tc.in, nil); got != tc.want {
				t.Errorf("SafeString(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// the query in the page's encoding, the path in UTF-8 (as browsers do)
	if got, want := SafeString("http://jp.test/検索?q=本", japanese.ShiftJIS), "http://jp.test/%E6%A4%9C%E7%B4%A2?q=%96%7B"; got != want {
		t.Errorf("SafeString(Shift_JIS) = %q, want %q", got, want)
	}
}

func TestJoin(t *testing.T) {
	t.Parallel()
	base, err := url.Parse("http://a.test/x/y?p=1")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ ref, want string }{
		{"../z?q=a b", "http://a.test/z?q=a%20b"},
		{"c.html", "http://a.test/x/c.html"},
		{"/abs", "http://a.test/abs"},            // fast path
		{"https://b.test/p", "https://b.test/p"}, // fast path
		{"//cdn.test/x", "http://cdn.test/x"},
		{"?q=2", "http://a.test/x/y?q=2"},
		{"#f", "http://a.test/x/y?p=1#f"},
		{"", "http://a.test/x/y?p=1"},
		{"/a/./b/../c", "http://a.test/a/c"},
		{" https://b.test/a\tb ", "https://b.test/ab"},
		{"http://[::1]:8080/x", "http://[::1]:8080/x"},
	} {
		t.Run(tc.ref, func(t *testing.T) {
			t.Parallel()
			got, err := Join(base, tc.ref, nil)
			if err != nil || got != tc.want {
				t.Errorf("Join(%q) = %q, %v; want %q", tc.ref, got, err, tc.want)
			}
		})
	}
	if got, err := Join(nil, "http://x.test/a b", nil); err != nil || got != "http://x.test/a%20b" {
		t.Errorf("Join(nil base) = %q, %v", got, err)
	}
	if _, err := Join(base, "http://[bad/", nil); err == nil {
		t.Error("Join accepted an unparsable reference")
	}
}

func TestHasScheme(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"http://x": true, "javascript:go()": true, "svn+ssh:x": true, "mailto:a@b": true,
		"/a:b": false, "a/b:c": false, ":x": false, "1http:x": false, "": false, "page.html": false,
	} {
		if got := HasScheme(s); got != want {
			t.Errorf("HasScheme(%q) = %v, want %v", s, got, want)
		}
	}
}

// FuzzURL: no input makes the URL functions panic, and canonicalization is
// idempotent on what SafeString produces.
func FuzzURL(f *testing.F) {
	for _, s := range []string{"http://a.test/x?b=1&a=2#f", "HTTP://ü.test:80/%zz", "user:pw@h:1", "http://[::1", "//x@y/?#"} {
		f.Add(s)
	}
	base, _ := url.Parse("http://base.test/a/b")
	f.Fuzz(func(t *testing.T, s string) {
		Join(base, s, nil)
		Redact(s)
		RedactSecrets(s, s)
		c := Canonicalize(SafeString(s, nil), true)
		if _, err := url.Parse(c); err == nil {
			if again := Canonicalize(c, true); again != c && plainCanonicalOK(c) {
				t.Fatalf("Canonicalize not idempotent: %q → %q → %q", s, c, again)
			}
		}
	})
}

// plainCanonicalOK limits the idempotence check to URLs the fast path
// takes, where it must hold exactly.
func plainCanonicalOK(s string) bool {
	_, ok := plainCanonical(s)
	return ok
}
