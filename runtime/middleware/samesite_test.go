package middleware

import (
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestSameSiteCookiesPerKind: an impersonated request gets the cookies a
// browser sends for its kind and initiator (fetch/XHR only to the page's
// origin; Strict only same-site; Lax also on a cross-site top-level GET
// navigation, not on a cross-site POST form; None and unmarked ones
// otherwise always); a plain request gets every cookie, as in Scrapy.
func TestSameSiteCookiesPerKind(t *testing.T) {
	m := NewCookies()
	setCookie(t, m, &crawl.Request{URL: "https://www.example.com/"}, "https://www.example.com/", "lax=1; Secure; SameSite=Lax", "strict=1; Secure; SameSite=Strict",
		"none=1; Secure; SameSite=None", "plain=1; Secure")
	const all = "lax=1; strict=1; none=1; plain=1"
	tests := []struct {
		name, parent, method, kind, impersonate, want string
	}{
		{"typed navigation", "", "GET", "", "chrome", all},
		{"same-site link", "https://api.example.com/p", "GET", "", "chrome", all},
		{"cross-site link", "https://www.example.org/p", "GET", "", "firefox", "lax=1; none=1; plain=1"},
		{"cross-site GET form", "https://www.example.org/p", "GET", crawl.KindForm, "chrome", "lax=1; none=1; plain=1"},
		{"cross-site POST form", "https://www.example.org/p", "POST", "", "chrome", "none=1; plain=1"},
		{"cross-site fetch", "https://www.example.org/p", "GET", crawl.KindFetch, "chrome", ""},
		{"same-site fetch (another origin)", "https://api.example.com/p", "GET", crawl.KindXHR, "chrome", ""},
		{"same-origin fetch", "https://www.example.com/p", "POST", crawl.KindFetch, "chrome", all},
		{"http page is another site", "http://www.example.com/p", "GET", crawl.KindLink, "chrome", "lax=1; none=1; plain=1"},
		{"http page, POST form", "http://www.example.com/p", "POST", crawl.KindForm, "chrome", "none=1; plain=1"},
		{"not impersonated (Scrapy)", "https://www.example.org/p", "POST", "", "", all},
	}
	for _, tt := range tests {
		r := &crawl.Request{URL: "https://www.example.com/t", Method: tt.method, Parent: tt.parent, Kind: tt.kind, Impersonate: tt.impersonate}
		if got := cookieHeader(t, m, r); got != tt.want {
			t.Errorf("%s: Cookie %q, want %q", tt.name, got, tt.want)
		}
	}
	// IMPERSONATE set for the spider: every request is a browser's.
	m.SameSite = true
	r := &crawl.Request{URL: "https://www.example.com/t", Method: "POST", Parent: "https://www.example.org/p"}
	if got := cookieHeader(t, m, r); got != "none=1; plain=1" {
		t.Errorf("IMPERSONATE: Cookie %q", got)
	}
	// A later Set-Cookie without the attribute lifts it.
	setCookie(t, m, &crawl.Request{URL: "https://www.example.com/"}, "https://www.example.com/", "strict=2; Secure")
	r = &crawl.Request{URL: "https://www.example.com/t", Method: "POST", Parent: "https://www.example.org/p", Kind: crawl.KindForm}
	if got := cookieHeader(t, m, r); got != "strict=2; none=1; plain=1" {
		t.Errorf("after strict lost its attribute: Cookie %q", got)
	}
}

// TestSameSiteStrictOverRedirects: Firefox withholds a Strict cookie from a
// navigation that went through another site, Chromium sends it
// (TestRequestKinds' link-redir-cross step).
func TestSameSiteStrictOverRedirects(t *testing.T) {
	m := NewCookies()
	setCookie(t, m, &crawl.Request{URL: "https://www.example.com/"}, "https://www.example.com/", "st=1; Secure; SameSite=Strict", "lax=1; Secure; SameSite=Lax")
	for profile, want := range map[string]string{"chrome": "st=1; lax=1", "firefox_140": "lax=1", "": "st=1; lax=1"} {
		m.SameSite = profile != ""
		r := &crawl.Request{URL: "https://www.example.com/t", Parent: "https://www.example.com/p", Impersonate: profile,
			RedirectURLs: []string{"https://www.example.org/hop"}}
		if got := cookieHeader(t, m, r); got != want {
			t.Errorf("%q: Cookie %q, want %q", profile, got, want)
		}
	}
}

// TestThirdPartyCookiesPerBrowser: a credentialed fetch from another site
// (TestRequestKinds' samesite-fetch-cred) gets no cookie in Chromium 148
// (third-party cookies blocked) nor in Firefox ESR 140 (partitioned); in
// Firefox ESR 153, which had storage access there, those SameSite allows
// for a cross-site request: None and no attribute (Firefox sends a cookie
// without SameSite like None).
func TestThirdPartyCookiesPerBrowser(t *testing.T) {
	m := NewCookies()
	m.SameSite = true
	setCookie(t, m, &crawl.Request{URL: "https://www.example.com/"}, "https://www.example.com/",
		"st=1; Secure; SameSite=Strict", "lax=1; Secure; SameSite=Lax", "no=1; Secure; SameSite=None", "lx=1; Secure")
	for profile, want := range map[string]string{"chrome_148": "", "firefox_140": "", "firefox_153": "no=1; lx=1", "firefox": "no=1; lx=1"} {
		r := &crawl.Request{URL: "https://www.example.com/t", Parent: "https://www.example.org/p", Impersonate: profile,
			Kind: crawl.KindFetch, Credentials: crawl.CredentialsInclude}
		if got := cookieHeader(t, m, r); got != want {
			t.Errorf("%s: Cookie %q, want %q", profile, got, want)
		}
		// To the page's own site the same fetch sends its cookies.
		r = &crawl.Request{URL: "https://www.example.com/t", Parent: "https://www.example.com/p", Impersonate: profile,
			Kind: crawl.KindFetch, Credentials: crawl.CredentialsInclude}
		if got := cookieHeader(t, m, r); !strings.Contains(got, "no=1") {
			t.Errorf("%s, same site: Cookie %q lacks no=1", profile, got)
		}
	}
}
