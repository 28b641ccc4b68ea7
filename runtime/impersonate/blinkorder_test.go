package impersonate

import (
	"slices"
	"testing"
)

// TestBlinkOrder: the hash and the table reproduce the orders Chromium
// 148 sent (testdata/reference/kinds_chromium_*.json): its own four
// headers, Content-Type among them, X-Token after sec-ch-ua, X-Zeta and
// X-Alpha before sec-ch-ua-platform.
func TestBlinkOrder(t *testing.T) {
	own := []string{"user-agent", "sec-ch-ua", "sec-ch-ua-mobile", "sec-ch-ua-platform"}
	for _, c := range []struct {
		author, want []string
	}{
		{nil, []string{"sec-ch-ua-platform", "user-agent", "sec-ch-ua", "sec-ch-ua-mobile"}},
		{[]string{"content-type"}, []string{"sec-ch-ua-platform", "user-agent", "sec-ch-ua", "content-type", "sec-ch-ua-mobile"}},
		{[]string{"content-type", "x-token"}, []string{"sec-ch-ua-platform", "user-agent", "sec-ch-ua", "x-token", "content-type", "sec-ch-ua-mobile"}},
		{[]string{"x-alpha", "x-zeta"}, []string{"x-zeta", "x-alpha", "sec-ch-ua-platform", "user-agent", "sec-ch-ua", "sec-ch-ua-mobile"}},
	} {
		if got := blinkOrder(append(slices.Clone(c.author), own...)); !slices.Equal(got, c.want) {
			t.Errorf("%v:\n got %v\nwant %v", c.author, got, c.want)
		}
	}
	for name, want := range map[string]uint32{"sec-ch-ua-platform": 0xffbec3, "user-agent": 0xc21178, "x-zeta": 0x322600} {
		if got := caseFoldingHash(name); got != want {
			t.Errorf("caseFoldingHash(%q) = %06x, want %06x", name, got, want)
		}
	}
}
