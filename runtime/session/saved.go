package session

import (
	"slices"
	"strings"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// MemberState is what a resumed crawl must know of a member besides the
// cookies of its jar (which the cookie jars save themselves): the hosts
// whose jar already got the member's initial cookies, so that restored
// cookies (updated by Set-Cookie) are not overwritten by the initial
// values again, whether the member was retired, and its block score, uses
// and first use (BLOCK_RETIRE_SCORE, SESSION_MAX_USES and SESSION_MAX_AGE
// go on counting across a pause: the age in wall-clock time, as the
// site's cookies age).
type MemberState struct {
	Seeded   []string `json:"seeded,omitempty"`
	Ended    bool     `json:"ended,omitempty"`
	Score    float64  `json:"score,omitempty"`
	Uses     int      `json:"uses,omitempty"`
	FirstUse int64    `json:"first_use_ms,omitempty"` // Unix milliseconds
	// Spec is what a member of an identity pool was made of (its
	// factory's result): a resumed crawl brings the member back from it
	// instead of running the factory again. Registered members have
	// none: the spider registers them again.
	Spec *SavedSpec `json:"spec,omitempty"`
}

// SavedSpec is a Spec as the JOBDIR keeps it.
type SavedSpec struct {
	Cookies     []crawl.Cookie `json:"cookies,omitempty"`
	Headers     [][2]string    `json:"headers,omitempty"`
	Proxy       string         `json:"proxy,omitempty"`
	Impersonate string         `json:"impersonate,omitempty"`
}

func savedSpec(s Spec) *SavedSpec {
	out := &SavedSpec{Cookies: s.Cookies, Proxy: s.Proxy, Impersonate: s.Impersonate}
	for _, h := range s.Headers {
		out.Headers = append(out.Headers, [2]string{h.Name, h.Value})
	}
	return out
}

func (s *SavedSpec) spec() Spec {
	out := Spec{Cookies: s.Cookies, Proxy: s.Proxy, Impersonate: s.Impersonate}
	for _, h := range s.Headers {
		out.Headers = append(out.Headers, crawl.Header{Name: h[0], Value: h[1]})
	}
	return out
}

// sortMembers orders a pool's members by their number (identity2 before
// identity10), as they were created.
func sortMembers(ms []*Member) {
	slices.SortFunc(ms, func(a, b *Member) int {
		if len(a.Name) != len(b.Name) {
			return len(a.Name) - len(b.Name)
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// Saved returns the state of every registered member, keyed
// "session_id/member" ("session1/alice").
func (r *Registry) Saved() map[string]MemberState {
	r.mu.Lock()
	groups := make([]*group, 0, len(r.groups))
	for _, g := range r.groups {
		groups = append(groups, g)
	}
	r.mu.Unlock()
	out := map[string]MemberState{}
	for _, g := range groups {
		for _, m := range r.list(g) {
			m.mu.Lock()
			// A member still being created is saved retired: half a
			// login is not an identity to resume with.
			st := MemberState{Ended: m.ended || m.pending, Score: m.score, Uses: m.uses}
			if g.pool != nil {
				st.Spec = savedSpec(m.Spec)
			}
			if !m.firstUse.IsZero() {
				st.FirstUse = m.firstUse.UnixMilli()
			}
			for h := range m.seeded {
				st.Seeded = append(st.Seeded, h)
			}
			m.mu.Unlock()
			slices.Sort(st.Seeded)
			out[g.id+"/"+m.Name] = st
		}
	}
	return out
}

// Restore gives saved member states back to the members of a resumed
// crawl. Session ids are given in registration order ("session1",
// "session2", ...), so a spider that registers its groups again in the
// same order (in start(), as on the first run) gets the same ids; a group
// registered later takes the states saved under its id and member names,
// and the cookie jars (keyed by id and member) hold the members' cookies.
// States of groups already registered are applied at once.
func (r *Registry) Restore(states map[string]MemberState) {
	r.mu.Lock()
	if r.restored == nil {
		r.restored = map[string]MemberState{}
	}
	for k, st := range states {
		r.restored[k] = st
	}
	groups := make([]*group, 0, len(r.groups))
	for _, g := range r.groups {
		groups = append(groups, g)
	}
	r.mu.Unlock()
	for _, g := range groups {
		for _, m := range r.list(g) {
			if st, ok := states[g.id+"/"+m.Name]; ok {
				m.restore(st)
			}
		}
	}
}

func (m *Member) restore(st MemberState) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, h := range st.Seeded {
		m.seeded[h] = true
	}
	m.ended = m.ended || st.Ended
	m.score = max(m.score, st.Score)
	m.uses = max(m.uses, st.Uses)
	if st.FirstUse != 0 && (m.firstUse.IsZero() || time.UnixMilli(st.FirstUse).Before(m.firstUse)) {
		m.firstUse = time.UnixMilli(st.FirstUse)
	}
}
