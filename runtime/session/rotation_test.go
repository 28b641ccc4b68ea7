package session_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/session"
)

// members sends n requests of group sid to url, one after the other, and
// returns the member each was sent as.
func members(t *testing.T, reg *session.Registry, sid, url string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		req := sentAsURL(t, reg, sid, url)
		out = append(out, req.Meta[session.MetaMember].(string))
	}
	return out
}

// TestRotationPolicies: each SESSION_ROTATION picks as documented.
func TestRotationPolicies(t *testing.T) {
	t.Run("round_robin", func(t *testing.T) {
		reg := session.NewRegistry(middleware.NewCookieJars())
		reg.Rotation = session.RotateRoundRobin
		sid := register(t, reg, 3)
		got := members(t, reg, sid, "https://shop.test/", 7)
		if want := []string{"user1", "user2", "user3", "user1", "user2", "user3", "user1"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("least_used", func(t *testing.T) {
		reg := session.NewRegistry(middleware.NewCookieJars())
		reg.Rotation = session.RotateLeastUsed
		sid := register(t, reg, 3)
		// user1 is pinned twice: the next picks fill user2 and user3 first.
		sentAs(t, reg, sid, "user1", nil)
		sentAs(t, reg, sid, "user1", nil)
		got := members(t, reg, sid, "https://shop.test/", 5)
		if want := []string{"user2", "user3", "user2", "user3", "user1"}; !slices.Equal(got, want) {
			t.Errorf("got %v, want %v", got, want)
		}
	})
	t.Run("random uses every member", func(t *testing.T) {
		reg := session.NewRegistry(middleware.NewCookieJars())
		sid := register(t, reg, 3)
		seen := map[string]int{}
		for _, m := range members(t, reg, sid, "https://shop.test/", 300) {
			seen[m]++
		}
		if len(seen) != 3 {
			t.Errorf("members used: %v", seen)
		}
	})
}

// TestStickyDomain: each domain keeps the member it got first, domains
// are spread over the least used members, and a retired member's domain
// moves on.
func TestStickyDomain(t *testing.T) {
	reg := session.NewRegistry(middleware.NewCookieJars())
	reg.Rotation = session.RotateStickyDomain
	sid := register(t, reg, 2)
	byHost := map[string]string{}
	for i := range 12 {
		host := fmt.Sprintf("h%d.test", i%3)
		req := sentAsURL(t, reg, sid, "https://"+host+"/p")
		m := req.Meta[session.MetaMember].(string)
		if prev, ok := byHost[host]; ok && prev != m {
			t.Fatalf("%s moved from %s to %s", host, prev, m)
		}
		byHost[host] = m
	}
	if byHost["h0.test"] == byHost["h1.test"] {
		t.Errorf("the first two domains got the same member: %v", byHost)
	}
	if err := reg.End(sid, byHost["h0.test"]); err != nil {
		t.Fatal(err)
	}
	if m := sentAsURL(t, reg, sid, "https://h0.test/p").Meta[session.MetaMember]; m == byHost["h0.test"] {
		t.Errorf("a retired member kept its domain")
	}
}

// TestMaxUsesAndAge: a member is retired after SESSION_MAX_USES requests
// and SESSION_MAX_AGE after its first one; OnRetire says why.
func TestMaxUsesAndAge(t *testing.T) {
	reg := session.NewRegistry(middleware.NewCookieJars())
	reg.Rotation = session.RotateRoundRobin
	reg.MaxUses = 2
	var retired []string
	reg.OnRetire = func(_, m, why string) { retired = append(retired, m+":"+why) }
	sid := register(t, reg, 2)
	got := members(t, reg, sid, "https://shop.test/", 4)
	if want := []string{"user1", "user2", "user1", "user2"}; !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
	if _, err := reg.ProcessRequest(t.Context(), newReq(sid)); err == nil {
		t.Error("a fifth request was sent although every member is used up")
	}
	if want := []string{"user1:max_uses", "user2:max_uses"}; !slices.Equal(retired, want) {
		t.Errorf("retired %v, want %v", retired, want)
	}

	now := time.Unix(1000, 0)
	reg = session.NewRegistry(middleware.NewCookieJars())
	reg.Rotation = session.RotateRoundRobin
	reg.MaxAge = time.Minute
	reg.Now = func() time.Time { return now }
	retired = nil
	reg.OnRetire = func(_, m, why string) { retired = append(retired, m+":"+why) }
	sid = register(t, reg, 2)
	members(t, reg, sid, "https://shop.test/", 1) // user1 starts its clock
	now = now.Add(61 * time.Second)
	got = members(t, reg, sid, "https://shop.test/", 2)
	if want := []string{"user2", "user2"}; !slices.Equal(got, want) {
		t.Errorf("after a minute: %v, want %v", got, want)
	}
	if want := []string{"user1:max_age"}; !slices.Equal(retired, want) {
		t.Errorf("retired %v, want %v", retired, want)
	}
}

// TestSlotPerMember: with SESSION_SLOT member each member has its own
// download slot on each domain.
func TestSlotPerMember(t *testing.T) {
	reg := session.NewRegistry(middleware.NewCookieJars())
	reg.Rotation = session.RotateRoundRobin
	reg.SlotPerMember = true
	sid := register(t, reg, 2)
	a, b := sentAsURL(t, reg, sid, "https://Shop.test/a"), sentAsURL(t, reg, sid, "https://shop.test/b")
	sa, sb := a.Meta["download_slot"], b.Meta["download_slot"]
	if sa != "shop.test#"+sid+"/user1" || sb != "shop.test#"+sid+"/user2" {
		t.Errorf("slots %v, %v", sa, sb)
	}
}
