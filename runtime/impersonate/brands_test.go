package impersonate

import (
	"strconv"
	"strings"
	"testing"
)

// TestGreasedBrands holds every shipped Chromium-based profile's sec-ch-ua
// (HTTP/2 and HTTP/1.1) to Chromium's rule: the captured chrome_148 and
// chrome_156 (unbranded Chromium) and the published Chrome 106-133 lists
// are where the rule comes from, and the derived edge_156 must follow it.
func TestGreasedBrands(t *testing.T) {
	brands := map[string]string{"chrome_106": "Google Chrome", "chrome_120": "Google Chrome", "chrome_131": "Google Chrome",
		"chrome_133": "Google Chrome", "chrome_148": "", "chrome_156": "", "edge_156": "Microsoft Edge"}
	for name, brand := range brands {
		p, err := LoadProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		major, _ := strconv.Atoi(p.Version)
		want := GreasedBrands(major, brand)
		for _, h := range []string{p.DefaultHeaders().Get("sec-ch-ua"), p.HTTP1Headers().Get("sec-ch-ua")} {
			if h != want {
				t.Errorf("%s: sec-ch-ua %s, Chromium's rule gives %s", name, h, want)
			}
		}
	}
	if got := GreasedBrands(156, "Google Chrome"); !strings.HasPrefix(got, `"Not:A-Brand";v="8", "Chromium";v="156", "Google Chrome"`) {
		t.Errorf("Chrome 156: %s", got)
	}
}
