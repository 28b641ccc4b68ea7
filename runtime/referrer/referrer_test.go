package referrer

import (
	"net/url"
	"strings"
	"testing"
)

// TestFor is the Referrer Policy spec's table: each policy from an https
// page to the same origin, another origin and an http URL.
func TestFor(t *testing.T) {
	page, _ := url.Parse("https://www.example.com:8443/a/b?q=1")
	same, _ := url.Parse("https://www.example.com:8443/c")
	cross, _ := url.Parse("https://www.example.org/")
	down, _ := url.Parse("http://www.example.com:8443/c")
	full, origin := page.String(), "https://www.example.com:8443/"
	want := map[string][3]string{
		"no-referrer":                     {"", "", ""},
		"no-referrer-when-downgrade":      {full, full, ""},
		"same-origin":                     {full, "", ""},
		"origin":                          {origin, origin, origin},
		"strict-origin":                   {origin, origin, ""},
		"origin-when-cross-origin":        {full, origin, origin},
		"strict-origin-when-cross-origin": {full, origin, ""},
		"":                                {full, origin, ""},
		"unsafe-url":                      {full, full, full},
	}
	for policy, w := range want {
		for i, target := range []*url.URL{same, cross, down} {
			if got := For(policy, page, target); got != w[i] {
				t.Errorf("%q to %s: %q, want %q", policy, target, got, w[i])
			}
		}
	}
	if len(want) != len(Policies)+1 {
		t.Errorf("the table misses a policy of %v", Policies)
	}
}

func TestFromHTML(t *testing.T) {
	for body, want := range map[string]string{
		``: "",
		`<head><meta name="referrer" content="origin"><meta name="referrer" content="no-referrer"></head>`: "no-referrer",
		`<meta name="description" content="origin">`:                                                       "",
		`<meta name=referrer content=same-origin>`:                                                         "same-origin",
		`<meta name="referrer" content="never">`:                                                           "no-referrer",
		`<meta name="referrer" content="bogus">`:                                                           "",
	} {
		if got := FromHTML([]byte(body)); got != want {
			t.Errorf("%s: %q, want %q", body, got, want)
		}
	}
}

// BenchmarkFromHTML: a 23 KB page without a referrer meta tag, the
// common case, where only the prefilter runs.
func BenchmarkFromHTML(b *testing.B) {
	var page strings.Builder
	page.WriteString("<!DOCTYPE html><html><head><title>Product</title></head><body>")
	for page.Len() < 23000 {
		page.WriteString(`<div class="product"><h2 class="name">The excellent element here</h2><a href="/p/17">see the next one</a></div>` + "\n")
	}
	page.WriteString("</body></html>")
	body := []byte(page.String())
	for b.Loop() {
		if FromHTML(body) != "" {
			b.Fatal("policy found")
		}
	}
}
