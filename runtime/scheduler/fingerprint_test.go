package scheduler_test

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Fingerprints are compared with Scrapy's own in fingerprint_reference_test.go,
// and canonical URLs with w3lib's in runtime/weburl.

// CanonicalizeURL is weburl.Canonicalize without the fragment: the one
// canonicalization the dupefilter and LinkExtractor(canonicalize) share.
func TestCanonicalizeURLIsWeburl(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"http://www.example.com", "HTTP://x.test/p?b=2&a=1#f", "http://x.test/%zz?a b", "::bad"} {
		if got, want := scheduler.CanonicalizeURL(u), weburl.Canonicalize(u, false); got != want {
			t.Errorf("CanonicalizeURL(%q) = %q, weburl.Canonicalize = %q", u, got, want)
		}
	}
}

// The order and case of IncludeHeaders do not matter, and a header the
// request lacks counts as not included.
func TestFingerprintWithHeaderNames(t *testing.T) {
	t.Parallel()
	r := &crawl.Request{URL: "http://x.test/"}
	r.Headers.Add("Cookie", "a=1")
	r.Headers.Add("Accept", "text/html")
	fp := func(names ...string) [16]byte {
		return scheduler.FingerprintWith(r, scheduler.FingerprintOptions{IncludeHeaders: names})
	}
	if fp("cookie", "Accept") != fp("ACCEPT", "Cookie", "cookie") {
		t.Error("order, case or repetition of IncludeHeaders changed the fingerprint")
	}
	if fp("Authorization") != scheduler.Fingerprint(r) {
		t.Error("an absent included header changed the fingerprint")
	}
	if fp("Cookie") == scheduler.Fingerprint(r) {
		t.Error("an included header did not count")
	}
}
