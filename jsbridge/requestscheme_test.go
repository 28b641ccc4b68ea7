package jsbridge

import (
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
)

// TestRequestSchemeSameAsParse: the shortcut of requestScheme (plain
// http(s) URLs skip url.Parse) accepts a URL only where url.Parse gives
// that scheme and a host, and every other URL gets url.Parse's verdict.
func TestRequestSchemeSameAsParse(t *testing.T) {
	t.Parallel()
	urls := []string{"http://a.test/", "https://a.test/x?y=1#z", "http://a.test", "http://a.test:8080/p", "http://a.test:99999/",
		"http://A.test/", "http://a.test/%zz", "http://a.test/%41", "http://a b/", "http://a.test/a b", "http://[::1]/",
		"http://u@a.test/", "http:/a.test/", "http:a", "http://", "http:///x", "httpx://a/", "https://a.test/é", "http://a.test/\x7f",
		"http://a.test/?", "http://a.test/#", "http://a.test/a;b", "ftp://a.test/", "file:///x", "data:,x", "/rel", "rel"}
	// Random URLs over the characters that matter.
	const chars = "ahpst:/.?#%@;[] 0123456789AZfzé~-_'\x00"
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		var b strings.Builder
		b.WriteString([]string{"http://", "https://", "http:", "http", "https://a."}[rng.IntN(5)])
		for n := rng.IntN(12); n > 0; n-- {
			b.WriteByte(chars[rng.IntN(len(chars))])
		}
		urls = append(urls, b.String())
	}
	fast := 0
	for _, raw := range urls {
		got, err := requestScheme(raw, kindHTTP)
		u, perr := url.Parse(raw)
		wantOK := perr == nil && u.Scheme != "" && (u.Host != "" || u.Scheme == "file" || u.Scheme == "data")
		if (err == nil) != wantOK || err == nil && got != u.Scheme {
			t.Errorf("requestScheme(%q) = %q, %v; url.Parse: %v, %v", raw, got, err, u, perr)
		}
		if s, ok := plainURLs.QuickJoin(raw); ok && s == raw {
			fast++
		}
	}
	if fast < 1000 {
		t.Errorf("the shortcut answered %d times only: the test no longer covers it", fast)
	}
}
