package spiderrun

import (
	"reflect"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// One source of truth for the defaults: the settings table. The typed
// Values are generated from it (internal/gensettings); resolving a spec
// without settings must give exactly settings.Defaults. Each component's
// builder is checked against the component's own defaults next to its
// code (TestFromSettingsDefaults in runtime/downloader, runtime/middleware,
// runtime/engine, runtime/websocket, runtime/scheduler (+diskq, redisq),
// runtime/spidermw, runtime/crawlspider, jsbridge, jsbridge/execjs).
func TestResolveSettingsDefaults(t *testing.T) {
	got, want := ResolveSettings(dsl.DefaultSettings()), settings.Defaults()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ResolveSettings(defaults) =\n%+v\nsettings.Defaults() =\n%+v", got, want)
	}
	if nilSet := ResolveSettings(nil); !reflect.DeepEqual(nilSet, want) {
		t.Fatal("a nil *dsl.Settings does not resolve to the defaults")
	}
}

// TestResolveSettings: values from -s (and so from the spec, which goes
// through the same table) reach their typed field, FEEDS decoded.
func TestResolveSettings(t *testing.T) {
	s := dsl.DefaultSettings()
	for _, kv := range []string{
		"DOWNLOAD_TIMEOUT=2.5",
		"DOWNLOAD_MAXSIZE=1MiB",
		"TIMEOUT=3", // an alias
		"PROXIES=http://a:1,http://b:2",
		"RETRY_HTTP_CODES=500,503",
		`DEFAULT_REQUEST_HEADERS={"DNT": 1, "X-A": "a"}`,
		`FEEDS={"out.csv": {"overwrite": true, "fields": ["a", "b"], "indent": 2}, "x.dat": {"format": "json"}}`,
		"SCHEDULER=redis",
	} {
		if err := s.SetFromCLI(kv); err != nil {
			t.Fatal(err)
		}
	}
	v := ResolveSettings(s)
	if v.DownloadTimeout != 3*time.Second || v.DownloadMaxSize != 1<<20 || v.Scheduler != settings.SchedulerRedis {
		t.Errorf("timeout %v, maxsize %d, scheduler %q", v.DownloadTimeout, v.DownloadMaxSize, v.Scheduler)
	}
	if !reflect.DeepEqual(v.Proxies, []string{"http://a:1", "http://b:2"}) || !reflect.DeepEqual(v.RetryHTTPCodes, []int{500, 503}) {
		t.Errorf("proxies %v, retry codes %v", v.Proxies, v.RetryHTTPCodes)
	}
	if h := v.DefaultRequestHeaders; len(h) != 2 || h[0].Key != "DNT" || h[0].Text() != "1" || h[1].Text() != "a" {
		t.Errorf("headers %+v", h)
	}
	yes, two := true, 2
	want := []settings.Feed{
		{URI: "out.csv", Overwrite: &yes, Fields: []settings.KV{{Key: "a", Value: "a"}, {Key: "b", Value: "b"}}, Indent: &two},
		{URI: "x.dat", Format: "json"},
	}
	if !reflect.DeepEqual(v.Feeds, want) {
		t.Errorf("feeds %+v", v.Feeds)
	}
}

// TestFeedConfigs: the spec's feeds: and FEEDS go through one mapping
// (feed.FromSettings), relative paths resolved against the spec.
func TestFeedConfigs(t *testing.T) {
	spec, err := dsl.Parse("spider.yaml", []byte("name: s\nstart_urls: [http://x/]\nscript: 'export function parse() {}'\nfeeds:\n  a.jsonl: {}\nsettings:\n  FEEDS: {b.csv: {store_empty: false}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec.Dir = "/specs"
	v := ResolveSettings(spec.Settings)
	cfgs, err := feedConfigs(spec, v.Feeds, nil, feed.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfgs) != 2 || cfgs[0].URI != "/specs/a.jsonl" || cfgs[0].Format != "jsonlines" || !cfgs[0].StoreEmpty ||
		cfgs[1].URI != "/specs/b.csv" || cfgs[1].Format != "csv" || cfgs[1].StoreEmpty {
		t.Fatalf("%+v", cfgs)
	}
}
