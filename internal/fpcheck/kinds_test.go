package fpcheck

import (
	"context"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
)

// A browser whose first navigation went over a resumed connection (seen
// from Chromium 156 in CI: a connection made before the navigation gave it
// a session ticket) is held to our navigation over a resumed connection
// too, and one whose navigation was a full handshake to ours without. The
// "browser" captures are our own client's, so every field must agree.
func TestKindsNavigationResumedOrNot(t *testing.T) {
	ctx := context.Background()
	const profile = "chrome_156"
	nav := func(resumed bool) fingerprint.Capture {
		s, err := newSender(profile, "localhost:8443")
		if err != nil {
			t.Fatal(err)
		}
		defer s.close()
		if resumed {
			if err := s.prime(ctx, "2"); err != nil {
				t.Fatal(err)
			}
		}
		b := fingerprint.Capture{Path: "/", Method: "GET", HTTPVersion: "2"}
		c, err := s.send(ctx, fingerprint.PageNavigate, b, map[string]fingerprint.Capture{fingerprint.PageNavigate: b})
		if err != nil {
			t.Fatal(err)
		}
		if c.Resumed() != resumed {
			t.Fatalf("our navigation resumed = %v, want %v", c.Resumed(), resumed)
		}
		return c
	}
	for _, resumed := range []bool{false, true} {
		browser := nav(resumed)
		res, err := Kinds(ctx, profile, map[string]fingerprint.Capture{fingerprint.PageNavigate: browser})
		if err != nil {
			t.Fatal(err)
		}
		if len(res) != 1 {
			t.Fatalf("navigation resumed=%v: %d results, want 1", resumed, len(res))
		}
		if len(res[0].Diffs) != 0 {
			t.Fatalf("navigation resumed=%v: differs from our own capture: %v", resumed, res[0].Diffs)
		}
		if got := res[0].Note != ""; got != resumed {
			t.Errorf("navigation resumed=%v: note %q", resumed, res[0].Note)
		}
	}
}
