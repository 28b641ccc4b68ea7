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

// QuickJoin is a shortcut of the link extractor's long way (Join,
// SafeURL, Join with the response URL): wherever it answers, the long way
// must give the same URL.
func TestQuickJoinSameAsLongWay(t *testing.T) {
	t.Parallel()
	bases := []string{"http://example.com/dir/page.html", "https://shop.test/lamps/", "http://example.com",
		"http://example.com/a//b/c", "http://example.com/a/./b/", "http://example.com:8080/x?q=1#f",
		"http://example.com/p;x", "http://example.com/?", "https://example.com/dir/"}
	refs := []string{"", "/", "//", "/a", "/a/b.html", "/a//b", "/./a", "/a/..", "a", "a/b", "a//b", "./a", "../a", ".",
		"?", "?q", "?q=1&r=2", "?q#", "#", "#f", "#f#g", "a?b#c", "/a;b", "a:b", "/a:b", "http://x.test", "http://x.test/",
		"http://X.test/", "http://x.test:80/a", "http://x.test:080/", "http://x.test:/", "http://x.test:99999/",
		"https://x.test/a?b='c'#'d'", "http://x.test/a%zz", "http://x.test/a%2fb", "/100%", "/a b", "/a[b]", "/é",
		"http://x..test/", "http://-x.test/", "http://x_y.test/", "http://x.test/a/./b", "http:g", "https:g",
		"http://u@x.test/", "/a?b c", "/a?b'c", "/a#b'c", "/a?b[c]", "/~a", "/a+b", "a/?q", "%41", "~a"}
	hits := quickJoinChecked(t, bases, refs)
	if hits < 100 {
		t.Errorf("QuickJoin answered %d times only: the test no longer covers it", hits)
	}
}

// quickJoinChecked checks QuickJoin against the long way (Join, SafeURL,
// then Join with another http(s) base, which must leave the absolute
// result as it is) for every ref against every base, and returns how many
// times QuickJoin answered.
func quickJoinChecked(t *testing.T, bases, refs []string) int {
	t.Helper()
	hits := 0
	other := NewBase("https://other.test/x?y")
	for _, b := range bases {
		base := NewBase(b)
		for _, r := range refs {
			fast, ok := base.QuickJoin(r)
			if !ok {
				continue
			}
			hits++
			long, err := base.Join(r)
			if err == nil {
				long, err = SafeURL(long, nil)
			}
			if err == nil {
				long, err = other.Join(long)
			}
			if err != nil || long != fast {
				t.Errorf("base %q ref %q: QuickJoin %q, long way %q (%v)", b, r, fast, long, err)
			}
		}
	}
	return hits
}
