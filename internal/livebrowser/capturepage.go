package livebrowser

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// FollowCapturePage does what the page of `spiderrun fingerprint capture
// --kinds` asks a person to do, in a session opened on it (base is the
// page's URL without the trailing slash): wait until its script has sent
// the fetch, the image and the WebSocket handshake, click its link, then
// the button of the page the link opens (trusted clicks, so the browser
// sends them as a user's navigations).
func FollowCapturePage(ctx context.Context, s *Session, base string) error {
	for {
		var state string
		if err := s.Eval(ctx, `document.getElementById("state").textContent`, &state); err != nil {
			return fmt.Errorf("capture page: %w", err)
		}
		if strings.Contains(state, "Now click") {
			break
		}
		if err := s.wait(ctx, 50*time.Millisecond); err != nil {
			return fmt.Errorf("the capture page's script never finished (%q): %w", state, err)
		}
	}
	if err := s.Click(ctx, "#link"); err != nil {
		return fmt.Errorf("capture page: link: %w", err)
	}
	if err := s.WaitLoaded(ctx, base+"/k/link"); err != nil {
		return fmt.Errorf("capture page: %w", err)
	}
	if err := s.Click(ctx, "#post"); err != nil {
		return fmt.Errorf("capture page: form: %w", err)
	}
	return nil
}
