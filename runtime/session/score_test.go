package session_test

import (
	"context"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/session"
)

// sentAs runs the registry's process_request on a request of group sid
// (pinned to member when member is set) and returns it.
func sentAs(t *testing.T, reg *session.Registry, sid, member string, meta map[string]any) *crawl.Request {
	t.Helper()
	req := &crawl.Request{URL: "https://shop.test/", SessionID: sid, Meta: meta}
	if member != "" {
		req.SetMeta(session.MetaMember, member)
	}
	if _, err := reg.ProcessRequest(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	return req
}

// TestBlockScore: each block adds 1 to a member's error score and each
// page served takes 0.5 off, down to 0; the member is retired when the
// score reaches RetireScore, and only then.
func TestBlockScore(t *testing.T) {
	reg := session.NewRegistry(middleware.NewCookieJars())
	reg.RetireScore = 2
	sid := register(t, reg, 2)
	req := sentAs(t, reg, sid, "user1", nil)
	steps := []struct {
		blocked     bool
		wantRetired bool
	}{
		{true, false},  // 1
		{false, false}, // 0.5
		{false, false}, // 0
		{false, false}, // 0, not below
		{true, false},  // 1
		{true, true},   // 2: retired
	}
	for i, s := range steps {
		if !s.blocked {
			reg.Served(req)
			continue
		}
		member, retired := reg.Blocked(req)
		if member != "user1" || retired != s.wantRetired {
			t.Fatalf("step %d: Blocked = %q, %v; want user1, %v", i, member, retired, s.wantRetired)
		}
	}
	if got := reg.Active(sid); len(got) != 1 || got[0] != "user2" {
		t.Fatalf("active after retirement: %v", got)
	}
	if member, retired := reg.Blocked(req); member != "user1" || retired {
		t.Errorf("a retired member is retired once: %q %v", member, retired)
	}
	// A request outside any group is nobody's.
	if member, _ := reg.Blocked(&crawl.Request{URL: "https://shop.test/"}); member != "" {
		t.Errorf("request without a group blamed on %q", member)
	}
}

// TestAvoidBlockedMember: a request sent again after a block goes to
// another active member, and to the blocked one only when it is the last.
func TestAvoidBlockedMember(t *testing.T) {
	reg := session.NewRegistry(middleware.NewCookieJars())
	sid := register(t, reg, 3)
	for range 50 {
		req := sentAs(t, reg, sid, "", map[string]any{session.MetaAvoid: "user2"})
		if m := req.Meta[session.MetaMember]; m == "user2" {
			t.Fatal("avoided member picked while others are active")
		}
	}
	for _, m := range []string{"user1", "user3"} {
		if err := reg.End(sid, m); err != nil {
			t.Fatal(err)
		}
	}
	req := sentAs(t, reg, sid, "", map[string]any{session.MetaAvoid: "user2"})
	if m := req.Meta[session.MetaMember]; m != "user2" {
		t.Fatalf("the last active member not used: %v", m)
	}
}

func newReq(sid string) *crawl.Request {
	return &crawl.Request{URL: "https://shop.test/", SessionID: sid}
}

// sentAsURL runs the registry's process_request on a request of group sid
// for url.
func sentAsURL(t *testing.T, reg *session.Registry, sid, url string) *crawl.Request {
	t.Helper()
	req := &crawl.Request{URL: url, SessionID: sid}
	if _, err := reg.ProcessRequest(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	return req
}
