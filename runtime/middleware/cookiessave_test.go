package middleware

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Saved cookies, set again into fresh jars, make the jars send exactly
// what the original jars send (the original net/http/cookiejar is the
// reference): host-only and domain cookies, default and explicit paths,
// Secure, Max-Age and Expires; deleted, expired and refused cookies are not
// saved.
func TestSavedCookiesRestoreTheSameJars(t *testing.T) {
	t.Parallel()
	m := NewCookies()
	future := time.Now().Add(48 * time.Hour).UTC().Format(http.TimeFormat)
	past := time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat)
	www := &crawl.Request{URL: "http://www.example.com/a/b/page"}
	setCookie(t, m, www, www.URL,
		"host=1",
		"dom=2; Domain=.Example.com; Path=/",
		"sec=3; Secure; HttpOnly; SameSite=Lax; Path=/",
		"max=4; Max-Age=3600; Path=/",
		"exp=5; Expires="+future+"; Path=/a",
		"old=6; Expires="+past,
		"gone=7; Path=/",
		"upd=1; Path=/",
		"bad=1; Domain=other.com",
		"ps=1; Domain=com",
	)
	setCookie(t, m, www, "http://www.example.com/", "gone=; Path=/; Max-Age=-1", "upd=2; Path=/")
	ip := &crawl.Request{URL: "https://127.0.0.1:8443/x/y"}
	setCookie(t, m, ip, ip.URL, "ip=1", "ipd=2; Domain=127.0.0.1; Path=/", "ipbad=3; Domain=127.0.0.2")
	alice := &crawl.Request{URL: "http://www.example.com/", Meta: map[string]any{"cookiejar": "\x00session:session1/alice"}}
	setCookie(t, m, alice, alice.URL, "sessionid=a2; Path=/")

	saved := m.Jars.Saved()
	data, err := json.Marshal(saved)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string][]SavedCookie
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	names := map[string][]string{}
	for k, cs := range back {
		for _, c := range cs {
			names[k] = append(names[k], c.Name)
		}
	}
	want := map[string][]string{
		"":                           {"host", "dom", "sec", "max", "exp", "upd", "ip", "ipd"},
		"\x00session:session1/alice": {"sessionid"},
	}
	if g, w := mustJSON(t, names), mustJSON(t, want); g != w {
		t.Fatalf("saved cookies %s, want %s", g, w)
	}

	restored := NewCookies()
	restored.Jars.Restore(back)
	if g, w := mustJSON(t, restored.Jars.Saved()), string(data); g != w {
		t.Errorf("saved again after a restore:\n%s\nwant\n%s", g, w)
	}
	for _, u := range []string{
		"http://www.example.com/a/b/c", "http://www.example.com/a/x", "http://www.example.com/",
		"https://www.example.com/a/b/c", "http://sub.example.com/a/b/c", "http://example.com/",
		"https://127.0.0.1/x/y/z", "http://127.0.0.1/", "http://other.com/", "http://com/",
	} {
		for _, jar := range []any{nil, "\x00session:session1/alice"} {
			r := func() *crawl.Request { return &crawl.Request{URL: u, Meta: map[string]any{"cookiejar": jar}} }
			orig, got := cookieHeader(t, m, r()), cookieHeader(t, restored, r())
			if got != orig {
				t.Errorf("%s (jar %q): restored jar sends %q, the original %q", u, jar, got, orig)
			}
		}
	}
	if got := cookieHeader(t, restored, &crawl.Request{URL: "https://www.example.com/a/b/c"}); got != "host=1; exp=5; dom=2; sec=3; max=4; upd=2" {
		t.Errorf("restored https Cookie header %q", got)
	}
}

// Cookies that expired while the crawl was paused are not restored, and a
// jar no longer lists a cookie once it has expired.
func TestSavedCookiesDropExpired(t *testing.T) {
	t.Parallel()
	jars := NewCookieJars()
	soon := time.Now().Add(50 * time.Millisecond)
	jars.Restore(map[string][]SavedCookie{"k": {
		{Name: "stale", Value: "1", Domain: "a.example", HostOnly: true, Path: "/", Expires: time.Now().Add(-time.Minute)},
		{Name: "soon", Value: "2", Domain: "a.example", HostOnly: true, Path: "/", Expires: soon},
		{Name: "session", Value: "3", Domain: "a.example", HostOnly: true, Path: "/"},
	}})
	u, _ := url.Parse("http://a.example/")
	if got := len(jars.Jar("k").Cookies(u)); got != 2 {
		t.Fatalf("jar holds %d cookies, want 2 (the stale one dropped)", got)
	}
	time.Sleep(time.Until(soon) + 10*time.Millisecond) // let the cookie expire: the behaviour under test
	saved := jars.Saved()["k"]
	if len(saved) != 1 || saved[0].Name != "session" || !saved[0].Expires.IsZero() {
		t.Fatalf("saved after expiry: %+v", saved)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
