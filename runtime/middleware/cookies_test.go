package middleware

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func cookieHeader(t *testing.T, m *Cookies, r *crawl.Request) string {
	t.Helper()
	if _, err := m.ProcessRequest(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return r.Headers.Get("Cookie")
}

func setCookie(t *testing.T, m *Cookies, r *crawl.Request, url string, lines ...string) {
	t.Helper()
	resp := &crawl.Response{Status: 200, URL: url}
	for _, l := range lines {
		resp.Headers.Add("Set-Cookie", l)
	}
	if _, err := m.ProcessResponse(context.Background(), r, resp); err != nil {
		t.Fatal(err)
	}
}

func TestCookiesRoundTrip(t *testing.T) {
	m := NewCookies()
	r := &crawl.Request{URL: "http://a.example/login"}
	setCookie(t, m, r, r.URL, "session=abc; Path=/", "theme=dark")
	if got := cookieHeader(t, m, &crawl.Request{URL: "http://a.example/account"}); got != "session=abc; theme=dark" && got != "theme=dark; session=abc" {
		t.Fatalf("Cookie = %q", got)
	}
	if got := cookieHeader(t, m, &crawl.Request{URL: "http://b.example/"}); got != "" {
		t.Fatalf("cookie leaked to another host: %q", got)
	}
	// ws:// uses the http:// cookies.
	if got := cookieHeader(t, m, &crawl.Request{URL: "ws://a.example/socket"}); got == "" {
		t.Fatal("ws:// request got no cookies")
	}
}

// C03: sessions are isolated, by session_id or meta cookiejar.
func TestCookieSessionsIsolated(t *testing.T) {
	m := NewCookies()
	setCookie(t, m, &crawl.Request{URL: "http://a.example/", SessionID: "alice"}, "http://a.example/", "who=alice")
	setCookie(t, m, &crawl.Request{URL: "http://a.example/", Meta: map[string]any{"cookiejar": 2}}, "http://a.example/", "who=jar2")
	for _, tc := range []struct {
		req  *crawl.Request
		want string
	}{
		{&crawl.Request{URL: "http://a.example/", SessionID: "alice"}, "who=alice"},
		{&crawl.Request{URL: "http://a.example/", SessionID: "bob"}, ""},
		{&crawl.Request{URL: "http://a.example/"}, ""},
		{&crawl.Request{URL: "http://a.example/", Meta: map[string]any{"cookiejar": 2}}, "who=jar2"},
	} {
		if got := cookieHeader(t, m, tc.req); got != tc.want {
			t.Errorf("session %q meta %v: Cookie %q, want %q", tc.req.SessionID, tc.req.Meta, got, tc.want)
		}
	}
	if m.Jars.Jar("alice") != m.Jars.Jar("alice") {
		t.Fatal("Jar is not stable per key")
	}
}

// C01, C02: public suffix and Secure.
func TestCookieSecurity(t *testing.T) {
	m := NewCookies()
	setCookie(t, m, &crawl.Request{URL: "http://evil.co.uk/"}, "http://evil.co.uk/", "steal=1; Domain=co.uk")
	if got := cookieHeader(t, m, &crawl.Request{URL: "http://bank.co.uk/"}); got != "" {
		t.Fatalf("public-suffix cookie sent to bank.co.uk: %q", got)
	}
	setCookie(t, m, &crawl.Request{URL: "https://shop.example/"}, "https://shop.example/", "sid=s; Secure")
	if got := cookieHeader(t, m, &crawl.Request{URL: "http://shop.example/"}); got != "" {
		t.Fatalf("Secure cookie sent over http: %q", got)
	}
	if got := cookieHeader(t, m, &crawl.Request{URL: "https://shop.example/"}); got != "sid=s" {
		t.Fatalf("Secure cookie over https: %q", got)
	}
}

func TestRequestAndDefaultCookies(t *testing.T) {
	m := NewCookies()
	m.Defaults = CookiesFromMap(map[string]string{"lang": "en"})
	r := &crawl.Request{URL: "http://a.example/x", Cookies: []crawl.Cookie{{Name: "token", Value: "t1"}}}
	if got := cookieHeader(t, m, r); got != "lang=en; token=t1" {
		t.Fatalf("Cookie = %q", got)
	}
	// Request cookies persist in the jar for later requests (Scrapy).
	if got := cookieHeader(t, m, &crawl.Request{URL: "http://a.example/other"}); got != "lang=en; token=t1" {
		t.Fatalf("later Cookie = %q", got)
	}
}

// A manual Cookie header is kept, merged with the jar's cookies, and not
// duplicated when the request passes again (redirect, retry).
func TestManualCookieHeader(t *testing.T) {
	m := NewCookies()
	setCookie(t, m, &crawl.Request{URL: "http://a.example/"}, "http://a.example/", "j=1")
	r := &crawl.Request{URL: "http://a.example/", Headers: crawl.Headers{{Name: "Cookie", Value: "manual=yes"}}}
	if got := cookieHeader(t, m, r); got != "manual=yes; j=1" {
		t.Fatalf("first pass %q", got)
	}
	again := r.Copy()
	if got := cookieHeader(t, m, again); got != "manual=yes; j=1" {
		t.Fatalf("second pass %q", got)
	}
	if n := len(again.Headers.Values("Cookie")); n != 1 {
		t.Fatalf("%d Cookie headers", n)
	}
}

func TestCookiesDisabledAndDontMerge(t *testing.T) {
	m := NewCookies()
	setCookie(t, m, &crawl.Request{URL: "http://a.example/"}, "http://a.example/", "j=1")
	dont := &crawl.Request{URL: "http://a.example/", Meta: map[string]any{"dont_merge_cookies": true}, Headers: crawl.Headers{{Name: "Cookie", Value: "own=1"}}}
	if got := cookieHeader(t, m, dont); got != "own=1" {
		t.Fatalf("dont_merge_cookies: %q", got)
	}
	setCookie(t, m, dont, "http://a.example/", "k=2")
	if got := cookieHeader(t, m, &crawl.Request{URL: "http://a.example/"}); got != "j=1" {
		t.Fatalf("dont_merge_cookies response was stored: %q", got)
	}
	m.Enabled = false
	if got := cookieHeader(t, m, &crawl.Request{URL: "http://a.example/"}); got != "" {
		t.Fatalf("COOKIES_ENABLED false: %q", got)
	}
}

// C04: 50 new cookies per response over 100 pages: the jar stops at the
// per-domain cap and the Cookie header stays under 8 KiB.
func TestCookieSpamIsCapped(t *testing.T) {
	m := NewCookies()
	for page := range 100 {
		var lines []string
		for k := range 50 {
			lines = append(lines, fmt.Sprintf("c%d_%d=%s; Path=/", page, k, strings.Repeat("v", 40)))
		}
		setCookie(t, m, &crawl.Request{URL: "http://spam.example/"}, "http://spam.example/", lines...)
	}
	header := cookieHeader(t, m, &crawl.Request{URL: "http://spam.example/"})
	if n := strings.Count(header, "="); n == 0 || len(header) > 8<<10 {
		t.Fatalf("Cookie header %d B with %d cookies", len(header), n)
	}
	jar := m.Jars.Jar("").(*cappedJar)
	if jar.n != maxCookiesPerDomain || jar.Dropped() != 5000-maxCookiesPerDomain {
		t.Fatalf("jar holds %d, dropped %d", jar.n, jar.Dropped())
	}
	// An existing cookie is still updated, and deleting frees a place.
	setCookie(t, m, &crawl.Request{URL: "http://spam.example/"}, "http://spam.example/", "c0_0=new; Path=/", "c0_1=; Path=/; Max-Age=-1")
	if jar.n != maxCookiesPerDomain-1 {
		t.Fatalf("after a deletion the jar holds %d", jar.n)
	}
	if got := cookieHeader(t, m, &crawl.Request{URL: "http://spam.example/"}); !strings.Contains(got, "c0_0=new") {
		t.Fatalf("update lost: %.200s", got)
	}
	// Cookies for a public suffix do not count against anything.
	before := jar.Dropped()
	setCookie(t, m, &crawl.Request{URL: "http://evil.co.uk/"}, "http://evil.co.uk/", "x=1; Domain=co.uk")
	if jar.Dropped() != before+1 || len(jar.keys["co.uk"]) != 0 {
		t.Fatalf("public-suffix cookie was counted: %v", jar.keys["co.uk"])
	}
}
