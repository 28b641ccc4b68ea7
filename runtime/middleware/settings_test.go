package middleware_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/settings"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// TestFromSettingsDefaults: the settings table's defaults configure the
// built-ins exactly as DefaultBuiltins (what a Go caller without settings
// gets), so neither can drift from specs/settings.md.
func TestFromSettingsDefaults(t *testing.T) {
	st := stats.NewMemory()
	v := settings.Defaults()
	got := middleware.BuiltinsFromSettings(&v, st, nil)
	want := middleware.DefaultBuiltins(st, nil)
	for name, pair := range map[string][2]any{
		"HTTPError":      {got.HTTPError, want.HTTPError},
		"DefaultHeaders": {got.DefaultHeaders, want.DefaultHeaders},
		"Retry":          {got.Retry, want.Retry},
		"Redirect":       {got.Redirect, want.Redirect},
		"Cookies":        {got.Cookies, want.Cookies},
		"Stats":          {got.Stats, want.Stats},
	} {
		if !reflect.DeepEqual(pair[0], pair[1]) {
			t.Errorf("%s: the table's defaults give\n%+v\nbut DefaultBuiltins has\n%+v", name, pair[0], pair[1])
		}
	}
	if got.Robots != nil || got.HTTPCache != nil || want.Robots != nil || want.HTTPCache != nil {
		t.Error("robots.txt and the HTTP cache are off by default")
	}
	if r := middleware.RobotsFromSettings(&v, nil); r != nil {
		t.Error("ROBOTSTXT_OBEY is off by default")
	}
	if c, err := middleware.HTTPCacheFromSettings(&v, t.TempDir(), "s", st, nil); c != nil || err != nil {
		t.Errorf("HTTPCACHE_ENABLED is off by default: %v, %v", c, err)
	}
}

func TestFromSettingsValues(t *testing.T) {
	v := settings.Defaults()
	v.DefaultRequestHeaders = []settings.KV{{Key: "DNT", Value: int64(1)}, {Key: "X-A", Value: "a"}}
	v.DefaultCookies = []settings.KV{{Key: "c", Value: true}}
	v.RobotsTxtObey = true
	v.UserAgent = "ua/1"
	v.HTTPCacheEnabled = true
	v.HTTPCacheDir = "cache"
	v.HTTPCacheExpirationSecs = time.Hour
	h := middleware.DefaultHeadersFromSettings(&v)
	if want := (crawl.Headers{{Name: "DNT", Value: "1"}, {Name: "X-A", Value: "a"}}); !reflect.DeepEqual(h.Headers, want) || h.UserAgent != "ua/1" {
		t.Errorf("headers %v, user agent %q", h.Headers, h.UserAgent)
	}
	if c := middleware.CookiesFromSettings(&v, nil); len(c.Defaults) != 1 || c.Defaults[0].Value != "true" {
		t.Errorf("cookies %v", c.Defaults)
	}
	if r := middleware.RobotsFromSettings(&v, nil); r == nil || r.UserAgent != "" || r.FallbackAgent != "ua/1" {
		t.Errorf("robots %+v", r)
	}
	v.RobotsTxtUserAgent = "bot"
	if r := middleware.RobotsFromSettings(&v, nil); r == nil || r.UserAgent != "bot" {
		t.Errorf("robots %+v", r)
	}
	dir := t.TempDir()
	c, err := middleware.HTTPCacheFromSettings(&v, dir+"/cache", "s", nil, nil)
	if err != nil || c.Dir != dir+"/cache" || c.Expiration != time.Hour {
		t.Fatalf("cache %+v, %v", c, err)
	}
}
