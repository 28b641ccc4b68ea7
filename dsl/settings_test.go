package dsl

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSettingsDefaults(t *testing.T) {
	s := DefaultSettings()
	if got := s.Int("CONCURRENT_REQUESTS"); got != 16 {
		t.Errorf("CONCURRENT_REQUESTS = %d, want 16", got)
	}
	if got := s.Duration("TIMEOUT"); got != 30*time.Second {
		t.Errorf("TIMEOUT (alias) = %s, want 30s", got)
	}
	if got := s.Pairs("DEFAULT_HEADERS"); len(got) != 2 || got[0].Key != "Accept" || got[1].Key != "Accept-Language" {
		t.Errorf("DEFAULT_HEADERS = %v, want Accept then Accept-Language", got)
	}
	if err := s.SetFromCLI(`DEFAULT_COOKIES={"sid": "a", "DNT": 1, "x": true}`); err != nil {
		t.Fatal(err)
	}
	if got := s.StringPairs("DEFAULT_COOKIES"); !reflect.DeepEqual(got, [][2]string{{"sid", "a"}, {"DNT", "1"}, {"x", "true"}}) {
		t.Errorf("StringPairs = %v", got)
	}
	if got := s.Bytes("JS_MEMORY_LIMIT"); got != 512<<20 {
		t.Errorf("JS_MEMORY_LIMIT = %d", got)
	}
	if got := s.Source("CONCURRENT_REQUESTS"); got != "default" {
		t.Errorf("Source = %q", got)
	}
	if s.Get("NO_SUCH_SETTING") != nil || s.Int("NO_SUCH_SETTING") != 0 {
		t.Error("unknown names must give zero values")
	}
}

// TestSettingsTableConsistent checks every default against its own kind and
// range, so a typo in the table fails here rather than in a user's run.
func TestSettingsTableConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, d := range Table() {
		for _, n := range append([]string{d.Name}, d.Aliases...) {
			if seen[n] {
				t.Errorf("%s defined twice", n)
			}
			seen[n] = true
		}
		if d.Doc == "" || !strings.HasSuffix(d.Doc, ".") {
			t.Errorf("%s: doc must be a sentence", d.Name)
		}
		if err := d.validate(d.Default); err != nil {
			t.Errorf("%s: default %v invalid: %v", d.Name, d.Default, err)
		}
		want := map[Kind]reflect.Type{
			KindInt: reflect.TypeOf(0), KindFloat: reflect.TypeOf(0.0), KindBool: reflect.TypeOf(true),
			KindDuration: reflect.TypeOf(time.Duration(0)), KindString: reflect.TypeOf(""), KindEnum: reflect.TypeOf(""),
			KindStrings: reflect.TypeOf([]string{}), KindInts: reflect.TypeOf([]int{}), KindMap: reflect.TypeOf([]KV{}),
			KindFields: reflect.TypeOf([]KV{}), KindSize: reflect.TypeOf(int64(0)),
		}[d.Kind]
		if reflect.TypeOf(d.Default) != want {
			t.Errorf("%s: default has type %T, want %v", d.Name, d.Default, want)
		}
	}
	for _, name := range []string{"CONCURRENT_REQUESTS", "CONCURRENT_REQUESTS_PER_DOMAIN", "DOWNLOAD_DELAY",
		"RANDOMIZE_DOWNLOAD_DELAY", "AUTOTHROTTLE_ENABLED", "RETRY_ENABLED", "RETRY_TIMES", "RETRY_HTTP_CODES",
		"REDIRECT_ENABLED", "REDIRECT_MAX_TIMES", "ROBOTSTXT_OBEY", "DOWNLOAD_TIMEOUT", "TIMEOUT", "DOWNLOAD_MAXSIZE",
		"DOWNLOAD_WARNSIZE", "DEPTH_LIMIT", "DEPTH_PRIORITY", "CLOSESPIDER_ITEMCOUNT", "CLOSESPIDER_PAGECOUNT",
		"CLOSESPIDER_TIMEOUT", "CLOSESPIDER_ERRORCOUNT", "USER_AGENT", "DEFAULT_HEADERS", "DEFAULT_REQUEST_HEADERS",
		"DEFAULT_COOKIES", "COOKIES_ENABLED", "PROXIES", "DONT_FILTER", "IMPERSONATE", "TLS_VERIFY",
		"HTTPERROR_ALLOWED_CODES", "HTTPCACHE_ENABLED", "HTTPCACHE_DIR", "JOBDIR", "FEEDS", "LOG_LEVEL", "JS_TIMEOUT",
		"JS_MEMORY_LIMIT", "DENY_PRIVATE_NETWORKS", "CRAWLSPIDER_FOLLOW_LINKS", "SCHEDULER", "REDIS_URL",
		"SCHEDULER_PERSIST", "SCHEDULER_FLUSH_ON_START", "REDIS_ITEMS_KEY", "REDIS_START_URLS_AS_SET",
		"REDIS_START_URLS_AS_ZSET", "MAX_IDLE_TIME_BEFORE_CLOSE", "DUPEFILTER", "WS_END_TAG", "WS_IDLE_TIMEOUT",
		"REDIS_LEASE_TIMEOUT", "DUPEFILTER_DEBUG", "DEPTH_STATS_VERBOSE", "METAREFRESH_ENABLED", "HTTPERROR_ALLOW_ALL",
		"RETRY_PRIORITY_ADJUST", "DOWNLOAD_FAIL_ON_DATALOSS", "REFERER_ENABLED", "DNS_TIMEOUT", "STATS_DUMP",
		"MEMUSAGE_ENABLED", "MEMUSAGE_LIMIT_MB", "AUTOTHROTTLE_START_DELAY", "AUTOTHROTTLE_MAX_DELAY",
		"AUTOTHROTTLE_TARGET_CONCURRENCY", "AUTOTHROTTLE_DEBUG", "ROBOTSTXT_USER_AGENT"} {
		if _, ok := Lookup(name); !ok {
			t.Errorf("setting %s of DESIGN.md §4 / the issues is missing", name)
		}
	}
}

func TestSetFromCLI(t *testing.T) {
	tests := []struct {
		kv      string
		name    string
		want    any
		wantErr string
	}{
		{kv: "CONCURRENT_REQUESTS=4", name: "CONCURRENT_REQUESTS", want: 4},
		{kv: "DOWNLOAD_DELAY=0.5", name: "DOWNLOAD_DELAY", want: 500 * time.Millisecond},
		{kv: "DOWNLOAD_DELAY=2", name: "DOWNLOAD_DELAY", want: 2 * time.Second},
		{kv: "DOWNLOAD_DELAY=250ms", name: "DOWNLOAD_DELAY", want: 250 * time.Millisecond},
		{kv: "TIMEOUT=1m", name: "DOWNLOAD_TIMEOUT", want: time.Minute},
		{kv: "ROBOTSTXT_OBEY=true", name: "ROBOTSTXT_OBEY", want: true},
		{kv: "ROBOTSTXT_OBEY=0", name: "ROBOTSTXT_OBEY", want: false},
		{kv: "DOWNLOAD_MAXSIZE=32MiB", name: "DOWNLOAD_MAXSIZE", want: int64(32 << 20)},
		{kv: "DOWNLOAD_MAXSIZE=1.5KB", name: "DOWNLOAD_MAXSIZE", want: int64(1500)},
		{kv: "DOWNLOAD_MAXSIZE=1024", name: "DOWNLOAD_MAXSIZE", want: int64(1024)},
		{kv: "RETRY_HTTP_CODES=500, 503", name: "RETRY_HTTP_CODES", want: []int{500, 503}},
		{kv: "RETRY_HTTP_CODES=[429]", name: "RETRY_HTTP_CODES", want: []int{429}},
		{kv: "PROXIES=http://a:1,http://b:2", name: "PROXIES", want: []string{"http://a:1", "http://b:2"}},
		{kv: `PROXIES=["http://a:1"]`, name: "PROXIES", want: []string{"http://a:1"}},
		{kv: "SCHEDULER=redis", name: "SCHEDULER", want: "redis"},
		{kv: "USER_AGENT=a=b c", name: "USER_AGENT", want: "a=b c"},
		{kv: `DEFAULT_HEADERS={"X-B": "1", "X-A": 2}`, name: "DEFAULT_REQUEST_HEADERS", want: []KV{{"X-B", "1"}, {"X-A", int64(2)}}},
		{kv: "AUTOTHROTTLE_TARGET_CONCURRENCY=2.5", name: "AUTOTHROTTLE_TARGET_CONCURRENCY", want: 2.5},
		{kv: "CONCURRENT_REQUESTS=sixteen", wantErr: `-s CONCURRENT_REQUESTS: expected an integer, got "sixteen"`},
		{kv: "CONCURRENT_REQUESTS=0", wantErr: "-s CONCURRENT_REQUESTS: must be at least 1, got 0"},
		{kv: "concurent_requests=3", wantErr: `-s concurent_requests: unknown setting "concurent_requests" (did you mean "CONCURRENT_REQUESTS"?)`},
		{kv: "CONCURRENT_REQUESTS", wantErr: `-s "CONCURRENT_REQUESTS": expected KEY=VALUE`},
		{kv: "DOWNLOAD_DELAY=-1", wantErr: "-s DOWNLOAD_DELAY: must not be negative, got -1s"},
		{kv: "DOWNLOAD_DELAY=soon", wantErr: `-s DOWNLOAD_DELAY: invalid duration "soon" (write seconds such as 0.5, or "500ms", "2s", "1m")`},
		{kv: "ROBOTSTXT_OBEY=yes", wantErr: `-s ROBOTSTXT_OBEY: expected true or false, got "yes"`},
		{kv: "SCHEDULER=postgres", wantErr: `-s SCHEDULER: must be one of memory, disk, redis, got "postgres"`},
		{kv: "REDIS_URL=http://x", wantErr: `-s REDIS_URL: scheme must be redis, rediss or unix, got "http"`},
		{kv: "DEFAULT_HEADERS=[1]", wantErr: "-s DEFAULT_HEADERS: expected a JSON object such as {\"Accept\": \"text/html\"}: got ["},
		{kv: "DUPEFILTER_BLOOM_ERROR_RATE=1", wantErr: "-s DUPEFILTER_BLOOM_ERROR_RATE: must be between 0 and 1 (exclusive)"},
	}
	for _, tt := range tests {
		t.Run(tt.kv, func(t *testing.T) {
			t.Parallel()
			s := DefaultSettings()
			err := s.SetFromCLI(tt.kv)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Get(tt.name); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %#v, want %#v", tt.name, got, tt.want)
			}
			if s.Source(tt.name) != "cli" {
				t.Errorf("source = %q, want cli", s.Source(tt.name))
			}
		})
	}
}

// TestSettingsPrecedence: defaults < spec settings < -s.
func TestSettingsPrecedence(t *testing.T) {
	s, err := Parse("p.yaml", []byte("name: p\nscript: 'export function parse(){}'\nsettings: {CONCURRENT_REQUESTS: 3, DOWNLOAD_DELAY: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	st := s.Settings
	if st.Int("CONCURRENT_REQUESTS") != 3 || st.Source("CONCURRENT_REQUESTS") != "spec" {
		t.Fatalf("spec value not applied: %d from %s", st.Int("CONCURRENT_REQUESTS"), st.Source("CONCURRENT_REQUESTS"))
	}
	if st.Int("RETRY_TIMES") != 2 || st.Source("RETRY_TIMES") != "default" {
		t.Fatalf("default not kept")
	}
	if err := st.SetFromCLI("CONCURRENT_REQUESTS=7"); err != nil {
		t.Fatal(err)
	}
	if st.Int("CONCURRENT_REQUESTS") != 7 || st.Duration("DOWNLOAD_DELAY") != 2*time.Second {
		t.Fatalf("-s must override the spec and keep the rest: %d %s", st.Int("CONCURRENT_REQUESTS"), st.Duration("DOWNLOAD_DELAY"))
	}
	all := st.All()
	if all["CONCURRENT_REQUESTS"] != 7 || all["DOWNLOAD_DELAY"] != 2.0 || all["RETRY_TIMES"] != 2 {
		t.Fatalf("All() = %v", all)
	}
}

func TestDurationForms(t *testing.T) {
	for _, tt := range []struct {
		yaml string
		want time.Duration
	}{
		{"0.5", 500 * time.Millisecond}, {"2", 2 * time.Second}, {`"500ms"`, 500 * time.Millisecond},
		{"2s", 2 * time.Second}, {`"1.5"`, 1500 * time.Millisecond}, {"1m30s", 90 * time.Second},
	} {
		s, err := Parse("d.yaml", []byte("name: d\nscript: 'export function parse(){}'\nsettings: {DOWNLOAD_DELAY: "+tt.yaml+"}\n"))
		if err != nil {
			t.Fatalf("%s: %v", tt.yaml, err)
		}
		if got := s.Settings.Duration("DOWNLOAD_DELAY"); got != tt.want {
			t.Errorf("DOWNLOAD_DELAY: %s = %s, want %s", tt.yaml, got, tt.want)
		}
	}
}

func TestZeroSettingsUsable(t *testing.T) {
	var s Settings
	if s.Int("CONCURRENT_REQUESTS") != 16 {
		t.Fatal("zero Settings must read defaults")
	}
	if err := s.SetFromCLI("CONCURRENT_REQUESTS=2"); err != nil {
		t.Fatal(err)
	}
	c := s.Clone()
	if err := c.Set("CONCURRENT_REQUESTS", 3, "test"); err != nil {
		t.Fatal(err)
	}
	if s.Int("CONCURRENT_REQUESTS") != 2 || c.Int("CONCURRENT_REQUESTS") != 3 || c.Source("CONCURRENT_REQUESTS") != "test" {
		t.Fatalf("Clone is not independent: %d %d", s.Int("CONCURRENT_REQUESTS"), c.Int("CONCURRENT_REQUESTS"))
	}
	if err := c.Set("CONCURRENT_REQUESTS", "4", "test"); err == nil {
		t.Fatal("Set accepted a string for an integer setting")
	}
}
