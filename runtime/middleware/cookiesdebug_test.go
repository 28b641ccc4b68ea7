package middleware_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/middleware"
)

// COOKIES_DEBUG logs Scrapy's two messages at debug level, with the
// cookies in full and URL credentials redacted; off, it logs nothing.
func TestCookiesDebug(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	credURL := strings.Replace(srv.URL, "http://", "http://user:pw-secret@", 1)
	for _, debug := range []bool{true, false} {
		var logs logRecorder
		s := newStack(t, func(_ *downloader.Options, b *middleware.Builtins) {
			*b = middleware.DefaultBuiltins(b.Stats.Stats, logs.logger())
			b.Cookies.Debug = debug
		})
		for _, r := range []*crawl.Request{
			{URL: srv.URL + "/setcookie?name=sid&value=s1&attrs=Path=/"},
			{URL: credURL + "/cookies", Method: "POST", Cookies: []crawl.Cookie{{Name: "extra", Value: "e"}}},
			{URL: srv.URL + "/ok", Meta: map[string]any{"dont_merge_cookies": true}},
		} {
			if _, err := s.chain.Download(context.Background(), r, 1); err != nil {
				t.Fatal(err)
			}
		}
		got := append(logs.messages("DEBUG", "Received cookies"), logs.messages("DEBUG", "Sending cookies")...)
		var want []string
		if debug {
			want = []string{
				"Received cookies from: <200 " + srv.URL + "/setcookie?name=sid&value=s1&attrs=Path=/>\nSet-Cookie: sid=s1; Path=/",
				"Sending cookies to: <POST " + strings.Replace(srv.URL, "http://", "http://user:***@", 1) + "/cookies>\nCookie: sid=s1; extra=e",
			}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("debug %v: logged\n%q\nwant\n%q", debug, got, want)
		}
		if all := logs.String(); strings.Contains(all, "pw-secret") {
			t.Errorf("credentials logged: %s", all)
		}
	}
}

// One line per Set-Cookie header, as Scrapy prints them.
func TestCookiesDebugSeveralSetCookies(t *testing.T) {
	var logs logRecorder
	m := middleware.NewCookies()
	m.Debug, m.Logger = true, logs.logger()
	resp := &crawl.Response{URL: "https://a.example/login", Status: 302,
		Headers: crawl.Headers{{Name: "Set-Cookie", Value: "a=1"}, {Name: "Location", Value: "/"}, {Name: "Set-Cookie", Value: "b=2; Secure"}}}
	if _, err := m.ProcessResponse(context.Background(), &crawl.Request{URL: resp.URL}, resp); err != nil {
		t.Fatal(err)
	}
	want := []string{"Received cookies from: <302 https://a.example/login>\nSet-Cookie: a=1\nSet-Cookie: b=2; Secure"}
	if got := logs.messages("DEBUG", ""); !reflect.DeepEqual(got, want) {
		t.Fatalf("logged %q", got)
	}
}
