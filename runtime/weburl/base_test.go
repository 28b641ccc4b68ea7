package weburl

import "testing"

// Path's shortcut for plain URLs must give what urlparse gives.
func TestPathSameAsParse(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "http://a.test", "http://a.test/", "http://a.test/p/q.html?x#y", "http://a.test?x",
		"HTTP://a.test/a;b/c;d", "ftp://a.test/a;b", "mailto:x@y;z", "x;y/z;w", "/a/b;c?d;e#f;g", "//a.test/b.pdf",
		"http://a.test#f/x.pdf", "1http://a.test/b", "http:/a/b.pdf", "a:b:c/d", "http://[::1]/x.pdf", "http://ü.test/é.pdf",
		" http://a.test/x.pdf", "http://a.test/x\t.pdf"} {
		want := ""
		if p, err := pyURLParse(u); err == nil {
			want = p.path
		}
		if got := Path(u); got != want {
			t.Errorf("Path(%q) = %q, urlparse gives %q", u, got, want)
		}
	}
}
