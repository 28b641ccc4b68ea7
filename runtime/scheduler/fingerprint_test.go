package scheduler_test

import (
	"encoding/hex"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

func TestCanonicalizeURL(t *testing.T) {
	// Cases from w3lib's test_canonicalize_url.
	cases := []struct{ in, want string }{
		{"http://www.example.com/", "http://www.example.com/"},
		{"http://www.example.com", "http://www.example.com/"},
		{"http://www.example.com/do?a=1&b=2&c=3", "http://www.example.com/do?a=1&b=2&c=3"},
		{"http://www.example.com/do?c=1&b=2&a=3", "http://www.example.com/do?a=3&b=2&c=1"},
		{"http://www.example.com/do?&a=1", "http://www.example.com/do?a=1"},
		{"http://www.example.com/do?a=3&b=2&a=1", "http://www.example.com/do?a=1&a=3&b=2"},
		{"http://www.example.com/do?q=a space&a=1", "http://www.example.com/do?a=1&q=a+space"},
		{"http://www.example.com/do?q=a+space&a=1", "http://www.example.com/do?a=1&q=a+space"},
		{"http://www.example.com/do?q=a%20space&a=1", "http://www.example.com/do?a=1&q=a+space"},
		{"http://www.example.com/do?a=1&b=", "http://www.example.com/do?a=1&b="},
		{"http://www.example.com/do?b&a=1", "http://www.example.com/do?a=1&b="},
		{"http://www.example.com/a%a3do", "http://www.example.com/a%A3do"},
		{"http://www.example.com/a%7Edo", "http://www.example.com/a~do"},
		{"http://www.example.com/a%2fdo", "http://www.example.com/a%2Fdo"},
		{"http://www.example.com/do#frag", "http://www.example.com/do"},
		{"http://www.EXAMPLE.com/Do?q=1", "http://www.example.com/Do?q=1"},
		{"HTTP://www.example.com/", "http://www.example.com/"},
		{"http://www.example.com:8080/x", "http://www.example.com:8080/x"},
		{"http://www.example.com/r\u00e9sum\u00e9", "http://www.example.com/r%C3%A9sum%C3%A9"},
		{"http://www.example.com/a b", "http://www.example.com/a%20b"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			if got := scheduler.CanonicalizeURL(c.in); got != c.want {
				t.Fatalf("CanonicalizeURL(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// TestFingerprintMatchesScrapy compares with the first 16 bytes of the
// SHA-1 that Scrapy's fingerprint() computes: sha1(json.dumps({"method",
// "url": canonicalize_url(url), "body": body.hex(), "headers": {}},
// sort_keys=True)), computed here with Python's json and hashlib.
func TestFingerprintMatchesScrapy(t *testing.T) {
	cases := []struct {
		req  *crawl.Request
		want string
	}{
		{&crawl.Request{URL: "http://www.example.com/"}, "28fd680a059847ede1289d72f7a0e1c4"},
		{&crawl.Request{URL: "http://www.example.com"}, "28fd680a059847ede1289d72f7a0e1c4"},
		{&crawl.Request{URL: "http://www.example.com/#top"}, "28fd680a059847ede1289d72f7a0e1c4"},
		{&crawl.Request{Method: "POST", URL: "http://www.example.com/form?b=2&a=1", Body: []byte("x=1&y=\u00e9")}, "9b0fc207268fd58f5bc45f5b5b797a27"},
	}
	for _, c := range cases {
		fp := scheduler.Fingerprint(c.req)
		if got := hex.EncodeToString(fp[:]); got != c.want {
			t.Errorf("Fingerprint(%s %s) = %s, want %s", c.req.GetMethod(), c.req.URL, got, c.want)
		}
	}
}
