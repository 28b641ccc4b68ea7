package session_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/session"
)

// A crawl resumed from saved jars and member states, whose spider registers
// its group again, sends each member's cookies as they were at the pause:
// a cookie a Set-Cookie replaced is not overwritten by the member's initial
// value, and a retired member stays retired.
func TestResumedGroupKeepsCookiesAndRetirement(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	jars1 := middleware.NewCookies()
	reg1 := session.NewRegistry(jars1.Jars)
	sid := register(t, reg1, 3)
	get := func(reg *session.Registry, cookies *middleware.Cookies, url string) (string, string) {
		t.Helper()
		dl, err := downloader.New(downloader.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		chain, err := middleware.NewChain(dl, reg, cookies)
		if err != nil {
			t.Fatal(err)
		}
		req := &crawl.Request{URL: url, SessionID: sid, DontFilter: true}
		resp, err := chain.Download(context.Background(), req, 5)
		if err != nil {
			t.Fatal(err)
		}
		member, _ := req.Meta[session.MetaMember].(string)
		return string(resp.Body), member
	}
	// Every member visits the host (gets its initial cookies), then one
	// of them is given a new value by the site.
	for seen := map[string]bool{}; len(seen) < 3; {
		_, m := get(reg1, jars1, srv.URL+"/cookies")
		seen[m] = true
	}
	_, setter := get(reg1, jars1, srv.URL+"/setcookie?name=user&value=rotated")
	retired := "user1"
	if setter == retired {
		retired = "user2"
	}
	if err := reg1.End(sid, retired); err != nil {
		t.Fatal(err)
	}

	// Saved as the JOBDIR keeps them (JSON), restored into a new crawl.
	var cookies map[string][]middleware.SavedCookie
	var states map[string]session.MemberState
	roundTrip(t, jars1.Jars.Saved(), &cookies)
	roundTrip(t, reg1.Saved(), &states)
	if st := states[sid+"/"+retired]; !st.Ended || len(st.Seeded) != 1 {
		t.Fatalf("saved state of %s: %+v", retired, st)
	}
	jars2 := middleware.NewCookies()
	jars2.Jars.Restore(cookies)
	reg2 := session.NewRegistry(jars2.Jars)
	reg2.Restore(states)
	if again := register(t, reg2, 3); again != sid {
		t.Fatalf("registered again as %s, want %s", again, sid)
	}
	used := map[string]bool{}
	for range 60 {
		body, m := get(reg2, jars2, srv.URL+"/cookies")
		used[m] = true
		if m == retired {
			t.Fatalf("the retired member %s was used after the resume", m)
		}
		want := "user=" + m
		if m == setter {
			want = "user=rotated"
		}
		if !strings.Contains(body, want) || strings.Count(body, "user=") != 1 {
			t.Fatalf("%s sent %q after the resume, want %s", m, body, want)
		}
	}
	if len(used) != 2 {
		t.Fatalf("members used after the resume: %v", used)
	}
}

func roundTrip(t *testing.T, v, out any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatal(err)
	}
}
