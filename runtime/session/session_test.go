package session_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/session"
)

// rig is a real downloader behind the session and cookies middlewares.
type rig struct {
	reg   *session.Registry
	chain *middleware.Chain
}

func newRig(t *testing.T) *rig {
	t.Helper()
	dl, err := downloader.New(downloader.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	cookies := middleware.NewCookies()
	reg := session.NewRegistry(cookies.Jars)
	chain, err := middleware.NewChain(dl, reg, cookies)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{reg: reg, chain: chain}
}

// get fetches url as session sid and returns the response and the member
// that sent it.
func (r *rig) get(t *testing.T, url, sid string) (*crawl.Response, string, error) {
	t.Helper()
	req := &crawl.Request{URL: url, SessionID: sid, DontFilter: true}
	resp, err := r.chain.Download(context.Background(), req, 5)
	member, _ := req.Meta[session.MetaMember].(string)
	return resp, member, err
}

func register(t *testing.T, reg *session.Registry, n int) string {
	t.Helper()
	members := map[string]session.Spec{}
	for i := 1; i <= n; i++ {
		name := "user" + string(rune('0'+i))
		spec, err := session.ParseSpec(map[string]any{"user": name, "lang": "en"})
		if err != nil {
			t.Fatal(err)
		}
		members[name] = spec
	}
	sid, err := reg.Register(members)
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

func TestRotationCarriesExactlyOneMembersCookies(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	r := newRig(t)
	sid := register(t, r.reg, 4)
	used := map[string]int{}
	for i := 0; i < 200; i++ {
		resp, member, err := r.get(t, srv.URL+"/cookies", sid)
		if err != nil {
			t.Fatal(err)
		}
		got := string(resp.Body)
		if strings.Count(got, "user=") != 1 || !strings.Contains(got, "user="+member) {
			t.Fatalf("request %d as %s carried %q, want exactly that member's cookies", i, member, got)
		}
		used[member]++
	}
	if len(used) != 4 {
		t.Fatalf("members used: %v, want all 4", used)
	}
}

func TestSetCookieUpdatesOnlyThatMembersJar(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	r := newRig(t)
	sid := register(t, r.reg, 4)
	_, setter, err := r.get(t, srv.URL+"/setcookie?name=token&value=fresh", sid)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		resp, member, err := r.get(t, srv.URL+"/cookies", sid)
		if err != nil {
			t.Fatal(err)
		}
		has := strings.Contains(string(resp.Body), "token=fresh")
		if has != (member == setter) {
			t.Fatalf("%s carried %q; only %s got the Set-Cookie", member, resp.Body, setter)
		}
		seen[member] = true
	}
	if len(seen) < 2 {
		t.Fatalf("rotation used only %v", seen)
	}
}

func TestEndedMembersAreNotUsedAndNoneLeftFails(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	r := newRig(t)
	sid := register(t, r.reg, 3)
	if err := r.reg.End(sid, "user2"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		_, member, err := r.get(t, srv.URL+"/cookies", sid)
		if err != nil {
			t.Fatal(err)
		}
		if member == "user2" {
			t.Fatal("an ended member was used")
		}
	}
	for _, m := range []string{"user1", "user3"} {
		if err := r.reg.End(sid, m); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := r.get(t, srv.URL+"/cookies", sid)
	var f *crawl.Failure
	if !errors.As(err, &f) || f.Type != crawl.SessionError || !errors.Is(err, session.ErrNoMembers) {
		t.Fatalf("err = %v, want a SessionError failure wrapping ErrNoMembers", err)
	}
	if !strings.Contains(f.Message, "user1, user2, user3") {
		t.Errorf("message %q should list the group's sessions", f.Message)
	}
	if err := r.reg.End(sid, "nobody"); err == nil || !strings.Contains(err.Error(), `no session "nobody"`) {
		t.Errorf("End(unknown) = %v", err)
	}
	if err := r.reg.End("session99", "user1"); err == nil {
		t.Error("End on an unknown group must fail")
	}
}

func TestCookiesNeverLeakAcrossGroupsOrHosts(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	r := newRig(t)
	a := register(t, r.reg, 2)
	b, err := r.reg.Register(map[string]session.Spec{"solo": {Cookies: session.ParseCookieHeader("other=1")}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.get(t, srv.URL+"/setcookie?name=secret&value=A", a); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		resp, _, err := r.get(t, srv.URL+"/cookies", b)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(resp.Body); got != "other=1" {
			t.Fatalf("group b carried %q, want only its own cookie", got)
		}
		// No session at all: the default jar is empty.
		resp, _, err = r.get(t, srv.URL+"/cookies", "")
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Body) != 0 {
			t.Fatalf("default jar carried %q", resp.Body)
		}
	}
	// Same server under another host name: host-only cookies stay behind.
	other := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	resp, _, err := r.get(t, other+"/cookies", b)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Body); strings.Contains(got, "secret") {
		t.Fatalf("cookie leaked to another host: %q", got)
	}
}

func TestMemberHeadersProxyAndProfile(t *testing.T) {
	reg := session.NewRegistry(middleware.NewCookieJars())
	spec, err := session.ParseSpec(map[string]any{
		"cookies":     "a=1; b=2",
		"headers":     map[string]any{"X-Account": "u1"},
		"proxy":       "http://127.0.0.1:9",
		"impersonate": "chrome",
	})
	if err != nil {
		t.Fatal(err)
	}
	sid, err := reg.Register(map[string]session.Spec{"u1": spec})
	if err != nil {
		t.Fatal(err)
	}
	req := &crawl.Request{URL: "http://127.0.0.1/x", SessionID: sid, Headers: crawl.Headers{{Name: "X-Own", Value: "1"}}}
	if _, err := reg.ProcessRequest(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if req.Headers.Get("X-Account") != "u1" || req.Headers.Get("X-Own") != "1" {
		t.Errorf("headers = %v", req.Headers)
	}
	if req.Proxy != "http://127.0.0.1:9" || req.Impersonate != "chrome" {
		t.Errorf("proxy %q impersonate %q", req.Proxy, req.Impersonate)
	}
	// A request's own proxy and profile win over the member's.
	req2 := &crawl.Request{URL: "http://127.0.0.1/x", SessionID: sid, Proxy: "socks5://127.0.0.1:1", Impersonate: "firefox"}
	if _, err := reg.ProcessRequest(context.Background(), req2); err != nil {
		t.Fatal(err)
	}
	if req2.Proxy != "socks5://127.0.0.1:1" || req2.Impersonate != "firefox" {
		t.Errorf("request values overridden: %q %q", req2.Proxy, req2.Impersonate)
	}
}

func TestParseSpecShapes(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		cookies string
		wantErr string
	}{
		{"header string", "a=1; b = 2 ;junk", "a=1 b=2", ""},
		{"cookie object", map[string]any{"b": "2", "a": int64(1)}, "a=1 b=2", ""},
		{"identity", map[string]any{"cookies": map[string]any{"s": "x"}, "proxy": "http://p"}, "s=x", ""},
		{"bad value", map[string]any{"a": []any{1}}, "", "a: a cookie value must be a string"},
		{"bad identity key", map[string]any{"cookies": "a=1", "proxies": "x"}, "", `unknown key "proxies"`},
		{"bad type", int64(3), "", "a session must be"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := session.ParseSpec(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, c := range s.Cookies {
				got = append(got, c.Name+"="+c.Value)
			}
			if strings.Join(got, " ") != tt.cookies {
				t.Errorf("cookies = %v, want %s", got, tt.cookies)
			}
		})
	}
}
