package crawlspider_test

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawlspider"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's defaults follow links as the zero
// Options do, cap a gunzipped sitemap at the 32 MiB a zero MaxSize means
// (extract.Gunzip), and cap the links a rule reads where the zero Options
// do not (the documented difference).
func TestFromSettingsDefaults(t *testing.T) {
	v := settings.Defaults()
	o := crawlspider.FromSettings(&v)
	if o.FollowLinks == nil || !*o.FollowLinks {
		t.Error("CRAWLSPIDER_FOLLOW_LINKS is on by default, as a nil FollowLinks")
	}
	if o.MaxLinks != 10_000 {
		t.Errorf("MaxLinks %d", o.MaxLinks)
	}
	if s := crawlspider.SitemapFromSettings(&v); s.MaxSize != 32<<20 {
		t.Errorf("sitemap MaxSize %d, the zero value's is 32 MiB", s.MaxSize)
	}
}
