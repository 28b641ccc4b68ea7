package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func redirectResp(status int, from, location string) *crawl.Response {
	r := &crawl.Response{Status: status, URL: from}
	if location != "" {
		r.Headers.Add("Location", location)
	}
	return r
}

func mustRedirect(t *testing.T, m *Redirect, req *crawl.Request, r *crawl.Response) *crawl.Request {
	t.Helper()
	res, err := m.ProcessResponse(context.Background(), req, r)
	if err != nil || res.Request == nil {
		t.Fatalf("want a redirect, got %+v %v", res, err)
	}
	return res.Request
}

func mustFailure(t *testing.T, err error, typ crawl.FailureType, contains string) {
	t.Helper()
	var f *crawl.Failure
	if !errors.As(err, &f) || f.Type != typ || !strings.Contains(f.Message, contains) {
		t.Fatalf("error %v, want %s containing %q", err, typ, contains)
	}
}

// Scrapy's test_cross_origin_header_dropping, plus custom sensitive
// headers and Proxy-Authorization.
func TestRedirectHeaderDropping(t *testing.T) {
	m := NewRedirect(nil)
	m.SensitiveHeaders = []string{"X-Api-Key"}
	for _, tc := range []struct {
		from, to                  string
		keepAuth, keepCookie, key bool
	}{
		{"http://a.example/", "http://a.example/2", true, true, true},
		{"https://a.example/", "https://a.example/2", true, true, true},
		{"http://a.example/", "https://a.example/", false, true, false},  // scheme upgrade
		{"https://a.example/", "http://a.example/", false, false, false}, // downgrade
		{"http://a.example/", "http://a.example:8080/", false, true, false},
		{"http://a.example/", "http://b.example/", false, false, false},
		{"https://a.example/", "https://sub.a.example/", false, false, false},
		{"http://a.example:80/", "http://a.example/x", true, true, true}, // default port is the same origin
	} {
		for _, status := range []int{301, 302, 303, 307, 308} {
			req := &crawl.Request{URL: tc.from, Headers: crawl.Headers{
				{Name: "Authorization", Value: "Bearer t"}, {Name: "Cookie", Value: "a=b"},
				{Name: "Proxy-Authorization", Value: "Basic p"}, {Name: "X-Api-Key", Value: "k"}, {Name: "Accept", Value: "*/*"},
			}}
			next := mustRedirect(t, m, req, redirectResp(status, tc.from, tc.to))
			check := func(h string, want bool) {
				if next.Headers.Has(h) != want {
					t.Errorf("%d %s → %s: %s kept = %v, want %v", status, tc.from, tc.to, h, next.Headers.Has(h), want)
				}
			}
			check("Authorization", tc.keepAuth)
			check("Cookie", tc.keepCookie)
			check("X-Api-Key", tc.key)
			check("Proxy-Authorization", tc.keepAuth)
			check("Accept", true)
			if !req.Headers.Has("Authorization") {
				t.Fatal("the original request was modified")
			}
		}
	}
	// CVE-2024-45336: a → b/1 → b/2 never restores Authorization.
	req := &crawl.Request{URL: "http://a.example/", Headers: crawl.Headers{{Name: "Authorization", Value: "Bearer t"}}}
	hop1 := mustRedirect(t, m, req, redirectResp(302, req.URL, "http://b.example/1"))
	hop2 := mustRedirect(t, m, hop1, redirectResp(302, hop1.URL, "/2"))
	if hop2.Headers.Has("Authorization") || hop2.URL != "http://b.example/2" {
		t.Fatalf("hop2 %s headers %v", hop2.URL, hop2.Headers)
	}
}

// R06: method and body rules.
func TestRedirectMethods(t *testing.T) {
	m := NewRedirect(nil)
	for _, tc := range []struct {
		status     int
		method     string
		wantMethod string
		keepBody   bool
	}{
		{301, "POST", "GET", false}, {302, "POST", "GET", false}, {303, "POST", "GET", false},
		{303, "PUT", "GET", false}, {303, "HEAD", "HEAD", true}, {307, "POST", "POST", true},
		{308, "POST", "POST", true}, {301, "GET", "GET", true}, {302, "PUT", "PUT", true},
	} {
		req := &crawl.Request{URL: "http://a.example/form", Method: tc.method, Body: []byte("x=1"),
			Headers: crawl.Headers{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}}}
		next := mustRedirect(t, m, req, redirectResp(tc.status, req.URL, "/done"))
		gotBody := len(next.Body) > 0
		if next.GetMethod() != tc.wantMethod || gotBody != tc.keepBody || next.Headers.Has("Content-Type") != tc.keepBody {
			t.Errorf("%d after %s: %s body=%v content-type=%v", tc.status, tc.method, next.GetMethod(), gotBody, next.Headers.Has("Content-Type"))
		}
		if next.RedirectTimes != 1 || len(next.RedirectURLs) != 1 || next.RedirectURLs[0] != req.URL || next.Priority != 2 {
			t.Errorf("redirect bookkeeping: %+v", next)
		}
	}
}

// R04: only http(s) targets.
func TestRedirectSchemes(t *testing.T) {
	m := NewRedirect(nil)
	for _, loc := range []string{"file:///etc/passwd", "ftp://example.com/x", "data:text/html,hi", "javascript:alert(1)", "gopher://x/", "s3://bucket/k"} {
		scheme, _, _ := strings.Cut(loc, ":")
		_, err := m.ProcessResponse(context.Background(), &crawl.Request{URL: "http://a.example/"}, redirectResp(302, "http://a.example/", loc))
		mustFailure(t, err, crawl.IgnoreRequest, "redirect to disallowed scheme "+scheme)
	}
	next := mustRedirect(t, m, &crawl.Request{URL: "http://a.example/"}, redirectResp(302, "http://a.example/", "HTTPS://b.example/x"))
	if next.URL != "https://b.example/x" {
		t.Fatalf("got %s", next.URL)
	}
}

// R01/R02: hop limit and cycles.
func TestRedirectLimits(t *testing.T) {
	m := NewRedirect(nil)
	m.MaxTimes = 3
	req := &crawl.Request{URL: "http://a.example/r/0"}
	for i := 1; i <= 3; i++ {
		req = mustRedirect(t, m, req, redirectResp(302, req.URL, "/r/"+string(rune('0'+i))))
	}
	_, err := m.ProcessResponse(context.Background(), req, redirectResp(302, req.URL, "/r/4"))
	mustFailure(t, err, crawl.TooManyRedirects, "too many redirects (3): http://a.example/r/0 → http://a.example/r/1 → http://a.example/r/2 → http://a.example/r/3 → http://a.example/r/4")

	// Request.MaxRedirects wins over the setting.
	one := &crawl.Request{URL: "http://a.example/", MaxRedirects: 1, RedirectTimes: 1}
	_, err = m.ProcessResponse(context.Background(), one, redirectResp(302, one.URL, "/x"))
	mustFailure(t, err, crawl.TooManyRedirects, "too many redirects (1)")

	a := &crawl.Request{URL: "http://a.example/a"}
	b := mustRedirect(t, m, a, redirectResp(302, a.URL, "/b"))
	_, err = m.ProcessResponse(context.Background(), b, redirectResp(302, b.URL, "/a"))
	mustFailure(t, err, crawl.TooManyRedirects, "redirect cycle: http://a.example/a → http://a.example/b → http://a.example/a")

	// With a cookie set on the way, a return to a URL may be legitimate.
	withCookie := redirectResp(302, b.URL, "/a")
	withCookie.Headers.Add("Set-Cookie", "s=1")
	mustRedirect(t, m, b, withCookie)
	// Self-redirect.
	_, err = m.ProcessResponse(context.Background(), a, redirectResp(301, a.URL, "/a"))
	mustFailure(t, err, crawl.TooManyRedirects, "redirect cycle")
}

func TestRedirectPassThrough(t *testing.T) {
	m := NewRedirect(nil)
	ctx := context.Background()
	no := false
	for _, tc := range []struct {
		name string
		req  *crawl.Request
		resp *crawl.Response
	}{
		{"no Location", &crawl.Request{URL: "http://a.example/"}, redirectResp(302, "http://a.example/", "")},
		{"dont_redirect", &crawl.Request{URL: "http://a.example/", Meta: map[string]any{"dont_redirect": true}}, redirectResp(302, "http://a.example/", "/x")},
		{"allow_redirects false", &crawl.Request{URL: "http://a.example/", AllowRedirects: &no}, redirectResp(302, "http://a.example/", "/x")},
		{"handle_httpstatus_list", &crawl.Request{URL: "http://a.example/", Meta: map[string]any{"handle_httpstatus_list": []any{302.0}}}, redirectResp(302, "http://a.example/", "/x")},
		{"handle_httpstatus_all", &crawl.Request{URL: "http://a.example/", Meta: map[string]any{"handle_httpstatus_all": true}}, redirectResp(301, "http://a.example/", "/x")},
		{"200", &crawl.Request{URL: "http://a.example/"}, redirectResp(200, "http://a.example/", "/x")},
	} {
		res, err := m.ProcessResponse(ctx, tc.req, tc.resp)
		if err != nil || res.Request != nil || res.Response != nil {
			t.Errorf("%s: want pass-through, got %+v %v", tc.name, res, err)
		}
	}
	m.Enabled = false
	if res, _ := m.ProcessResponse(ctx, &crawl.Request{URL: "http://a.example/"}, redirectResp(302, "http://a.example/", "/x")); res.Request != nil {
		t.Error("REDIRECT_ENABLED false still redirected")
	}
}

// R07: a latin-1 Location is percent-encoded (Scrapy's test_latin1_location).
func TestRedirectLatin1AndRelative(t *testing.T) {
	m := NewRedirect(nil)
	next := mustRedirect(t, m, &crawl.Request{URL: "http://a.example/dir/page"}, redirectResp(302, "http://a.example/dir/page", "/a\xe7\xe3o"))
	if next.URL != "http://a.example/a%E7%E3o" {
		t.Fatalf("latin-1 location → %s", next.URL)
	}
	next = mustRedirect(t, m, &crawl.Request{URL: "http://a.example/dir/page", Cookies: []crawl.Cookie{{Name: "a", Value: "b"}}},
		redirectResp(302, "http://a.example/dir/page", "other?q=1"))
	if next.URL != "http://a.example/dir/other?q=1" || next.Cookies != nil {
		t.Fatalf("relative location → %s, cookies %v", next.URL, next.Cookies)
	}
	_, err := m.ProcessResponse(context.Background(), &crawl.Request{URL: "http://a.example/"}, redirectResp(302, "http://a.example/", "http://[::1"))
	mustFailure(t, err, crawl.IgnoreRequest, "invalid Location")
	// R03: a redirect trap that grows the URL stops at URLLENGTH_LIMIT.
	_, err = m.ProcessResponse(context.Background(), &crawl.Request{URL: "http://a.example/"}, redirectResp(302, "http://a.example/", "/r?n="+strings.Repeat("1", 2100)))
	mustFailure(t, err, crawl.IgnoreRequest, "exceeds URLLENGTH_LIMIT 2083")
}

func TestMetaRefresh(t *testing.T) {
	m := NewRedirect(nil)
	html := func(body string) *crawl.Response {
		return &crawl.Response{Status: 200, URL: "http://a.example/p", Body: []byte(body), Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}}
	}
	for _, tc := range []struct {
		name, body, want string
	}{
		{"basic", `<html><head><meta http-equiv="refresh" content="0; url=/next"></head></html>`, "http://a.example/next"},
		{"quoted url, upper case", `<META HTTP-EQUIV=Refresh CONTENT="5;URL='http://b.example/x'">`, "http://b.example/x"},
		{"content first", `<meta content="1;url=other" http-equiv="refresh">`, "http://a.example/other"},
		{"in a comment", `<!-- <meta http-equiv="refresh" content="0; url=/next"> -->`, ""},
		// Scrapy's METAREFRESH_IGNORE_TAGS is empty by default: a refresh
		// for clients without JavaScript is followed.
		{"in noscript", `<noscript><meta http-equiv="refresh" content="0; url=/nojs"></noscript>`, "http://a.example/nojs"},
		{"no url", `<meta http-equiv="refresh" content="30">`, ""},
		{"over max delay", `<meta http-equiv="refresh" content="200; url=/next">`, ""},
	} {
		res, err := m.ProcessResponse(context.Background(), &crawl.Request{URL: "http://a.example/p", Method: "POST", Body: []byte("x")}, html(tc.body))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := ""
		if res.Request != nil {
			got = res.Request.URL
			if res.Request.GetMethod() != "GET" || res.Request.Body != nil {
				t.Errorf("%s: meta refresh keeps %s with body", tc.name, res.Request.GetMethod())
			}
		}
		if got != tc.want {
			t.Errorf("%s: redirect to %q, want %q", tc.name, got, tc.want)
		}
	}
	// R08: a meta refresh to itself is a cycle.
	_, err := m.ProcessResponse(context.Background(), &crawl.Request{URL: "http://a.example/p"}, html(`<meta http-equiv="refresh" content="0; url=/p">`))
	mustFailure(t, err, crawl.TooManyRedirects, "redirect cycle")
	m.MetaRefresh = false
	if res, _ := m.ProcessResponse(context.Background(), &crawl.Request{URL: "http://a.example/p"}, html(`<meta http-equiv="refresh" content="0; url=/n">`)); res.Request != nil {
		t.Error("METAREFRESH_ENABLED false still followed")
	}
	if d, u, ok := metaRefresh([]byte(`<meta http-equiv="refresh" content="2.5;url=/x">`), nil); !ok || d != 2500*time.Millisecond || u != "/x" {
		t.Errorf("metaRefresh = %v %q %v", d, u, ok)
	}
	if _, _, ok := metaRefresh([]byte(`<noscript><meta http-equiv="refresh" content="0;url=/x"></noscript>`), []string{"script", "noscript"}); ok {
		t.Error("METAREFRESH_IGNORE_TAGS noscript: refresh still found")
	}
	// Only the first 4096 characters are searched, as in Scrapy.
	if _, _, ok := metaRefresh([]byte(strings.Repeat("é", 4096)+`<meta http-equiv="refresh" content="0;url=/x">`), nil); ok {
		t.Error("a refresh after 4096 characters was found")
	}
}

// TestRedirectKeepsReferrerPolicies: each redirect response's
// Referrer-Policy is kept, one entry per URL of the chain, for the
// impersonating transport (Fetch, "set request's referrer policy on
// redirect"; TestRequestKinds' link-redir-policy).
func TestRedirectKeepsReferrerPolicies(t *testing.T) {
	m := NewRedirect(nil)
	r := &crawl.Request{URL: "https://a.test/1"}
	hops := []struct{ to, policy string }{{"https://b.test/2", "no-referrer"}, {"https://c.test/3", ""}, {"https://a.test/4", "unsafe-url, bogus"}}
	for _, h := range hops {
		resp := redirectResp(302, r.URL, h.to)
		if h.policy != "" {
			resp.Headers.Add("Referrer-Policy", h.policy)
		}
		res, err := m.ProcessResponse(context.Background(), r, resp)
		if err != nil || res.Request == nil {
			t.Fatalf("%s: %v", h.to, err)
		}
		r = res.Request
	}
	got, _ := r.Meta["redirect_referrer_policies"].([]string)
	if want := []string{"no-referrer", "", "unsafe-url"}; strings.Join(got, "|") != strings.Join(want, "|") || len(r.RedirectURLs) != len(got) {
		t.Errorf("policies %q for chain %v, want %q", got, r.RedirectURLs, want)
	}
}
