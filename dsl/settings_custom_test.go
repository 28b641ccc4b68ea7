package dsl

import (
	"reflect"
	"strings"
	"testing"
)

// TestSettingsCustomSpec: UPPER_CASE names the table does not know are a
// project's own settings (as in Scrapy's settings.py): kept with their
// YAML value, visible in All (spider.settings), with a warning only when
// the name is a likely typo of a known setting. Lower-case and malformed
// names stay errors with file:line:col, and so do Scrapy's refused
// settings, unless they hold Scrapy's default.
func TestSettingsCustomSpec(t *testing.T) {
	t.Parallel()
	const head = "name: custom\nstart_urls: [https://example.com/]\nscript: 'export function parse() {}'\nsettings:\n"
	cases := []struct {
		name     string
		settings string
		want     map[string]any // custom values
		warns    []string
		errs     []string
	}{
		{name: "scalars and structures",
			settings: "  MY_LIMIT: 5\n  MY_RATE: 0.5\n  MY_NAME: shop\n  MY_ON: true\n  MY_NOTHING: null\n  MY_LIST: [a, 2]\n  MY_MAP: {k: v}\n",
			want: map[string]any{"MY_LIMIT": int64(5), "MY_RATE": 0.5, "MY_NAME": "shop", "MY_ON": true, "MY_NOTHING": nil,
				"MY_LIST": []any{"a", int64(2)}, "MY_MAP": map[string]any{"k": "v"}}},
		{name: "typo of a known setting warns",
			settings: "  DOWNLOAD_DELAI: 2\n  CONCURENT_REQUESTS: 4\n",
			want:     map[string]any{"DOWNLOAD_DELAI": int64(2), "CONCURENT_REQUESTS": int64(4)},
			warns: []string{
				`spider.yaml:5:3: settings.DOWNLOAD_DELAI: unknown setting "DOWNLOAD_DELAI" kept as a custom setting (did you mean "DOWNLOAD_DELAY"?)`,
				`spider.yaml:6:3: settings.CONCURENT_REQUESTS: unknown setting "CONCURENT_REQUESTS" kept as a custom setting (did you mean "CONCURRENT_REQUESTS"?)`,
			}},
		{name: "short name one edit away warns", settings: "  JOBDIRS: x\n",
			want:  map[string]any{"JOBDIRS": "x"},
			warns: []string{`spider.yaml:5:3: settings.JOBDIRS: unknown setting "JOBDIRS" kept as a custom setting (did you mean "JOBDIR"?)`}},
		{name: "scrapy ignored settings are silent",
			settings: "  BOT_NAME: shop\n  TWISTED_REACTOR: twisted.internet.asyncioreactor.AsyncioSelectorReactor\n  SPIDER_MODULES: [shop.spiders]\n",
			want: map[string]any{"BOT_NAME": "shop", "TWISTED_REACTOR": "twisted.internet.asyncioreactor.AsyncioSelectorReactor",
				"SPIDER_MODULES": []any{"shop.spiders"}}},
		{name: "scrapy refused at its default is accepted", settings: "  ITEM_PIPELINES: {}\n  CONCURRENT_REQUESTS_PER_IP: 0\n",
			want: map[string]any{"ITEM_PIPELINES": map[string]any{}, "CONCURRENT_REQUESTS_PER_IP": int64(0)}},
		{name: "lower case with a suggestion", settings: "  download_delay: 1\n",
			errs: []string{`spider.yaml:5:3: settings.download_delay: unknown setting "download_delay" (did you mean "DOWNLOAD_DELAY"?)`}},
		{name: "lower case without a suggestion", settings: "  my_limit: 1\n",
			errs: []string{`spider.yaml:5:3: settings.my_limit: unknown setting "my_limit": a custom setting's name is UPPER_CASE (letters, digits and _, starting with a letter), such as MY_LIMIT`}},
		{name: "malformed", settings: "  MY-LIMIT: 1\n  _PRIVATE: 2\n",
			errs: []string{
				`spider.yaml:5:3: settings["MY-LIMIT"]: unknown setting "MY-LIMIT": a custom setting's name is UPPER_CASE (letters, digits and _, starting with a letter), such as MY_LIMIT`,
				`spider.yaml:6:3: settings._PRIVATE: unknown setting "_PRIVATE": a custom setting's name is UPPER_CASE (letters, digits and _, starting with a letter), such as PRIVATE`,
			}},
		{name: "scrapy refused", settings: "  ITEM_PIPELINES:\n    shop.pipelines.Clean: 300\n  CONCURRENT_REQUESTS_PER_IP: 4\n",
			errs: []string{
				`spider.yaml:6:5: settings.ITEM_PIPELINES: Scrapy's ITEM_PIPELINES is not supported: pipelines are JavaScript functions: list them under the spec's pipelines: key.`,
				`spider.yaml:7:31: settings.CONCURRENT_REQUESTS_PER_IP: Scrapy's CONCURRENT_REQUESTS_PER_IP is not supported: download slots are per domain: use CONCURRENT_REQUESTS_PER_DOMAIN (0, Scrapy's default, is accepted).`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec, err := Parse("spider.yaml", []byte(head+tc.settings))
			if len(tc.errs) > 0 {
				var got []string
				if list, ok := err.(ErrorList); ok {
					for _, e := range list {
						got = append(got, e.Error())
					}
				}
				if !reflect.DeepEqual(got, tc.errs) {
					t.Fatalf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.errs, "\n"))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			set := spec.Settings
			all := set.All()
			for name, want := range tc.want {
				if got := set.Get(name); !reflect.DeepEqual(got, want) {
					t.Errorf("Get(%s) = %#v, want %#v", name, got, want)
				}
				if got, ok := all[name]; !ok || !reflect.DeepEqual(got, want) {
					t.Errorf("All()[%s] = %#v, want %#v", name, got, want)
				}
				if got := set.Source(name); got != "spec" {
					t.Errorf("Source(%s) = %q", name, got)
				}
			}
			if got := set.Custom(); len(got) != len(tc.want) {
				t.Errorf("Custom() = %v, want the %d names of %v", got, len(tc.want), tc.want)
			}
			if got := set.Warnings(); !reflect.DeepEqual(got, tc.warns) {
				t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.warns, "\n"))
			}
			if c := set.Clone(); !reflect.DeepEqual(c.All(), all) || !reflect.DeepEqual(c.Warnings(), set.Warnings()) {
				t.Error("Clone lost custom settings or warnings")
			}
		})
	}
}

// TestSettingsCustomCLI: -s takes the same names; the value is read as
// YAML (a number, a list), else kept as text.
func TestSettingsCustomCLI(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kv, name string
		want     any
		warn     string
		err      string
	}{
		{kv: "MY_LIMIT=5", name: "MY_LIMIT", want: int64(5)},
		{kv: "MY_TEXT=hello world", name: "MY_TEXT", want: "hello world"},
		{kv: "MY_EMPTY=", name: "MY_EMPTY", want: ""},
		{kv: "MY_LIST=[a, b]", name: "MY_LIST", want: []any{"a", "b"}},
		{kv: "MY_MAP={\"k\": 1}", name: "MY_MAP", want: map[string]any{"k": int64(1)}},
		{kv: "MY_URL=http://x/?a=b", name: "MY_URL", want: "http://x/?a=b"},
		{kv: "MY_BROKEN=[a", name: "MY_BROKEN", want: "[a"},
		{kv: "BOT_NAME=shop", name: "BOT_NAME", want: "shop"},
		{kv: "DOWNLOAD_DELAI=2", name: "DOWNLOAD_DELAI", want: int64(2),
			warn: `-s DOWNLOAD_DELAI: unknown setting "DOWNLOAD_DELAI" kept as a custom setting (did you mean "DOWNLOAD_DELAY"?)`},
		{kv: "download_delay=2", err: `-s download_delay: unknown setting "download_delay" (did you mean "DOWNLOAD_DELAY"?)`},
		{kv: "my.limit=2", err: `-s my.limit: unknown setting "my.limit": a custom setting's name is UPPER_CASE (letters, digits and _, starting with a letter), such as MY_LIMIT`},
		{kv: "FEED_URI_PARAMS=shop.utils.uri_params", err: `-s FEED_URI_PARAMS: Scrapy's FEED_URI_PARAMS is not supported: a Python function: feed paths take %(name)s (the spider's name), %(time)s (the start time, as 2026-12-07T06-16-00), %(batch_id)d and %(batch_time)s (batch_item_count) and %(ARG)s for each spider argument (-a ARG=...).`},
	}
	for _, tc := range cases {
		t.Run(tc.kv, func(t *testing.T) {
			t.Parallel()
			s := DefaultSettings()
			err := s.SetFromCLI(tc.kv)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("err = %v\nwant %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Get(tc.name); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Get = %#v, want %#v", got, tc.want)
			}
			if got := s.Source(tc.name); got != "cli" {
				t.Errorf("Source = %q", got)
			}
			var want []string
			if tc.warn != "" {
				want = []string{tc.warn}
			}
			if got := s.Warnings(); !reflect.DeepEqual(got, want) {
				t.Errorf("Warnings = %q, want %q", got, want)
			}
		})
	}
}

// TestSettingsAddedRows: the settings this change adds decode and check
// like the rest of the table, from -s and from the spec.
func TestSettingsAddedRows(t *testing.T) {
	t.Parallel()
	s := DefaultSettings()
	for _, kv := range []string{"FEED_EXPORT_FIELDS=b,a", "FEED_EXPORT_INDENT=2", "FEED_EXPORT_ENCODING=latin-1",
		"METAREFRESH_IGNORE_TAGS=noscript,script", "SHUTDOWN_GRACE_PERIOD=2.5"} {
		if err := s.SetFromCLI(kv); err != nil {
			t.Fatal(err)
		}
	}
	if got := s.Pairs("FEED_EXPORT_FIELDS"); !reflect.DeepEqual(got, []KV{{"b", "b"}, {"a", "a"}}) {
		t.Errorf("FEED_EXPORT_FIELDS = %v", got)
	}
	// A mapping renames the fields (Scrapy's {"field": "Output name"}),
	// in the order written.
	if err := s.SetFromCLI(`FEED_EXPORT_FIELDS={"price": "Price", "name": "Name"}`); err != nil {
		t.Fatal(err)
	}
	if got := s.Pairs("FEED_EXPORT_FIELDS"); !reflect.DeepEqual(got, []KV{{"price", "Price"}, {"name", "Name"}}) {
		t.Errorf("FEED_EXPORT_FIELDS = %v", got)
	}
	if s.Int("FEED_EXPORT_INDENT") != 2 || s.String("FEED_EXPORT_ENCODING") != "latin-1" || s.Duration("SHUTDOWN_GRACE_PERIOD").String() != "2.5s" {
		t.Errorf("got %d %q %s", s.Int("FEED_EXPORT_INDENT"), s.String("FEED_EXPORT_ENCODING"), s.Duration("SHUTDOWN_GRACE_PERIOD"))
	}
	if got := s.Strings("METAREFRESH_IGNORE_TAGS"); !reflect.DeepEqual(got, []string{"noscript", "script"}) {
		t.Errorf("METAREFRESH_IGNORE_TAGS = %v", got)
	}
	for kv, want := range map[string]string{
		"SHUTDOWN_GRACE_PERIOD=0":  "-s SHUTDOWN_GRACE_PERIOD: must be greater than 0",
		"FEED_EXPORT_INDENT=wide":  `-s FEED_EXPORT_INDENT: expected an integer, got "wide"`,
		"SHUTDOWN_GRACE_PERIOD=-1": "-s SHUTDOWN_GRACE_PERIOD: must not be negative, got -1s",
	} {
		if err := DefaultSettings().SetFromCLI(kv); err == nil || err.Error() != want {
			t.Errorf("%s: %v, want %s", kv, err, want)
		}
	}
	_, err := Parse("spider.yaml", []byte("name: a\nstart_urls: [https://example.com/]\nscript: 'export function parse() {}'\nsettings:\n  SHUTDOWN_GRACE_PERIOD: 0\n  FEED_EXPORT_FIELDS: {a: [x]}\n"))
	want := "spider.yaml:5:26: settings.SHUTDOWN_GRACE_PERIOD: must be greater than 0\n" +
		"spider.yaml:6:27: settings.FEED_EXPORT_FIELDS.a: expected a field name, got a list"
	if err == nil || err.Error() != want {
		t.Errorf("spec errors:\n%v\nwant:\n%s", err, want)
	}
}
