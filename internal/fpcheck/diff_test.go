package fpcheck

import (
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestHeaders: names in order first (one Diff for a different list), then
// values, except those skipped.
func TestHeaders(t *testing.T) {
	browser := crawl.Headers{{Name: "a", Value: "1"}, {Name: "b", Value: "2"}, {Name: "Key", Value: "k1"}}
	if d := Headers(browser.Clone(), browser); len(d) != 0 {
		t.Errorf("equal lists: %v", d)
	}
	swapped := crawl.Headers{browser[1], browser[0], browser[2]}
	if d := Headers(swapped, browser); len(d) != 1 || !strings.Contains(d[0].String(), "header names and order\n got [b a Key]\nwant [a b Key]") {
		t.Errorf("swapped: %v", d)
	}
	values := crawl.Headers{{Name: "a", Value: "1"}, {Name: "b", Value: "3"}, {Name: "Key", Value: "k2"}}
	if d := Headers(values, browser, "key"); len(d) != 1 || d[0].String() != `b = "3", browser "2"` {
		t.Errorf("values, key skipped: %v", d)
	}
	if d := Headers(values, browser); len(d) != 2 {
		t.Errorf("values: %v", d)
	}
}
