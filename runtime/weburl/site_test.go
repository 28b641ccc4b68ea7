package weburl

import "testing"

func TestSite(t *testing.T) {
	for host, want := range map[string]string{
		"www.example.com":   "example.com",
		"API.Example.COM.":  "example.com",
		"a.b.example.co.uk": "example.co.uk",
		"example.org":       "example.org",
		"127.0.0.1":         "127.0.0.1",
		"::1":               "::1",
		"localhost":         "localhost",
		"co.uk":             "co.uk",
		"user.github.io":    "user.github.io", // github.io is a public suffix
	} {
		if got := Site(host); got != want {
			t.Errorf("Site(%q) = %q, want %q", host, got, want)
		}
	}
}
