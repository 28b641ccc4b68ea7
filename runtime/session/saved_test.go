package session_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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

// TestResumedMembersKeepScoresAndUses: a member's block score, uses and
// first use survive a pause (saved as JSON, restored into a new registry
// whose group is registered again), so BLOCK_RETIRE_SCORE and
// SESSION_MAX_USES go on counting instead of starting over.
func TestResumedMembersKeepScoresAndUses(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	first := session.NewRegistry(middleware.NewCookieJars())
	first.Rotation = session.RotateRoundRobin
	first.Now = func() time.Time { return now }
	sid := register(t, first, 2)
	req := sentAs(t, first, sid, "user1", nil)
	sentAs(t, first, sid, "user1", nil)
	first.Blocked(req) // score 1
	data, err := json.Marshal(first.Saved())
	if err != nil {
		t.Fatal(err)
	}
	var states map[string]session.MemberState
	if err := json.Unmarshal(data, &states); err != nil {
		t.Fatal(err)
	}
	if st := states[sid+"/user1"]; st.Score != 1 || st.Uses != 2 || st.FirstUse != now.UnixMilli() {
		t.Fatalf("saved state %+v", st)
	}

	resumed := session.NewRegistry(middleware.NewCookieJars())
	resumed.RetireScore = 2
	resumed.MaxUses = 3
	resumed.Rotation = session.RotateRoundRobin
	resumed.Restore(states)
	if got := register(t, resumed, 2); got != sid {
		t.Fatalf("group %s, want %s", got, sid)
	}
	// One more block retires user1 (1 + 1 = 2).
	r2 := sentAs(t, resumed, sid, "user1", nil) // user1's third use
	if _, retired := resumed.Blocked(r2); !retired {
		t.Error("the restored score was not counted: a second block did not retire user1")
	}
	// user2 had no use: three are left.
	for range 3 {
		if m := sentAsURL(t, resumed, sid, "https://shop.test/").Meta[session.MetaMember]; m != "user2" {
			t.Fatalf("sent as %v, want user2", m)
		}
	}
	if _, err := resumed.ProcessRequest(t.Context(), newReq(sid)); err == nil {
		t.Error("user2 used past SESSION_MAX_USES")
	}
}
