package redisq

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestFromSettingsDefaults: the table's defaults give what New and Tasks do
// with zero options: lease timeout, lease bound, keys (SCHEDULER_QUEUE_KEY and
// SCHEDULER_DUPEFILTER_KEY expand to New's own names), duplicate filter and
// Bloom sizing, task key type and batch size.
func TestFromSettingsDefaults(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"}) // never dialled
	defer rdb.Close()
	for _, dupefilter := range []string{settings.DupefilterExact, settings.DupefilterBloom} {
		v := settings.Defaults()
		v.Dupefilter = dupefilter
		o := FromSettings(&v)
		o.Client, o.Name = rdb, "s"
		got, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		want, err := New(Options{Client: rdb, Name: "s", Dupefilter: dupefilter})
		if err != nil {
			t.Fatal(err)
		}
		if got.keys != want.keys || got.bloom != want.bloom {
			t.Errorf("%s: keys %+v bloom %+v; zero options: %+v %+v", dupefilter, got.keys, got.bloom, want.keys, want.bloom)
		}
		g, w := got.opts, want.opts
		if g.LeaseTimeout != w.LeaseTimeout || g.Persist != w.Persist || g.FlushOnStart != w.FlushOnStart || g.Dupefilter != w.Dupefilter || g.ItemsKey != w.ItemsKey ||
			g.MaxLeases != w.MaxLeases {
			t.Errorf("%s: options %+v; zero options: %+v", dupefilter, g, w)
		}
	}
	v := settings.Defaults()
	s, err := New(Options{Client: rdb, Name: "s"})
	if err != nil {
		t.Fatal(err)
	}
	got, want := s.Tasks(TasksFromSettings(&v)).opts, s.Tasks(TaskOptions{}).opts
	if got.Kind != want.Kind || got.BatchSize != want.BatchSize || got.MaxIdle != want.MaxIdle {
		t.Errorf("tasks %+v; zero options: %+v", got, want)
	}
}

func TestTasksFromSettings(t *testing.T) {
	for _, tc := range []struct {
		set       func(*settings.Values)
		kind      string
		batchSize int
	}{
		{func(*settings.Values) {}, KindList, 16}, // CONCURRENT_REQUESTS' default
		{func(v *settings.Values) { v.ConcurrentRequests = 40 }, KindList, 40},
		{func(v *settings.Values) { v.ConcurrentRequests, v.RedisStartURLsBatchSize = 40, 5 }, KindList, 5},
		{func(v *settings.Values) { v.RedisStartURLsAsSet = true }, KindSet, 16},
		{func(v *settings.Values) { v.RedisStartURLsAsSet, v.RedisStartURLsAsZSet = true, true }, KindZSet, 16},
	} {
		v := settings.Defaults()
		tc.set(&v)
		if o := TasksFromSettings(&v); o.Kind != tc.kind || o.BatchSize != tc.batchSize {
			t.Errorf("kind %s batch %d, want %s %d", o.Kind, o.BatchSize, tc.kind, tc.batchSize)
		}
	}
}

// TestMaxLeasesFromSettings: the lease bound is 3 × CONCURRENT_REQUESTS.
func TestMaxLeasesFromSettings(t *testing.T) {
	for _, c := range []struct{ concurrency, want int }{{16, 48}, {8, 24}, {1, 3}, {0, 3}} {
		v := settings.Defaults()
		v.ConcurrentRequests = c.concurrency
		if got := FromSettings(&v).MaxLeases; got != c.want {
			t.Errorf("CONCURRENT_REQUESTS %d: MaxLeases %d, want %d", c.concurrency, got, c.want)
		}
	}
}

// On a cluster, {name} expands to the hash tag {<name>} and a key setting
// without it, which would put a key outside the crawl's slot (and make its
// scripts fail with CROSSSLOT mid-crawl), is refused up front, naming the
// setting. No server is needed: New does not connect.
func TestClusterKeysShareTheCrawlSlot(t *testing.T) {
	rdb, err := DialWith("redis://127.0.0.1:1/0", DialOptions{ClusterNodes: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	s, err := New(Options{Client: rdb, Name: "books", ItemsKey: "{name}:items", QueueKey: "{name}:q"})
	if err != nil {
		t.Fatal(err)
	}
	if s.keys.requests != "{books}:q" || s.keys.items != "{books}:items" || s.keys.leases != "{books}:leases" || s.keys.dupefilter != "{books}:dupefilter" {
		t.Fatalf("keys not hash-tagged: %+v", s.keys)
	}
	for setting, o := range map[string]Options{
		"REDIS_ITEMS_KEY":          {ItemsKey: "items"},
		"SCHEDULER_QUEUE_KEY":      {QueueKey: "books:requests"},
		"SCHEDULER_DUPEFILTER_KEY": {DupefilterKey: "{other}:dupefilter"},
	} {
		o.Client, o.Name = rdb, "books"
		if _, err := New(o); err == nil || !strings.Contains(err.Error(), setting) || !strings.Contains(err.Error(), "{name}") {
			t.Errorf("%s outside the slot: New = %v; want an error naming the setting and {name}", setting, err)
		}
	}
	ts := s.Tasks(TaskOptions{Keys: []string{"{name}:start_urls", "books:urgent"}})
	if _, err := ts.Next(context.Background()); err == nil || !strings.Contains(err.Error(), `redis_key "books:urgent"`) {
		t.Fatalf("task key outside the slot: Next = %v", err)
	}
	if got := s.Tasks(TaskOptions{Keys: []string{"{name}:start_urls"}}).opts.Keys[0]; got != "{books}:start_urls" {
		t.Fatalf("task key = %q, want {books}:start_urls", got)
	}
	// One server: names unchanged (scrapy-redis's layout, and a crawl
	// started before this release resumes).
	one, _ := Dial("redis://127.0.0.1:1/0")
	defer one.Close()
	s1, err := New(Options{Client: one, Name: "books", ItemsKey: "{name}:items"})
	if err != nil || s1.keys.requests != "books:requests" || s1.keys.items != "books:items" {
		t.Fatalf("standalone keys: %+v, %v", s1.keys, err)
	}
}

func TestDialModes(t *testing.T) {
	for _, c := range []struct {
		o    DialOptions
		mode Mode
		err  string
	}{
		{DialOptions{}, ModeStandalone, ""},
		{DialOptions{Sentinels: []string{"127.0.0.1:26379, 127.0.0.1:26380"}, MasterName: "m"}, ModeSentinel, ""},
		{DialOptions{ClusterNodes: []string{"127.0.0.1:7000"}}, ModeCluster, ""},
		{DialOptions{ClusterNodes: []string{"[::1]:7000", "localhost:7001"}}, ModeCluster, ""},
		{DialOptions{Sentinels: []string{"127.0.0.1:26379"}}, 0, "REDIS_MASTER_NAME is empty"},
		{DialOptions{MasterName: "m"}, 0, "REDIS_SENTINELS is empty"},
		{DialOptions{ClusterNodes: []string{"127.0.0.1:7000"}, MasterName: "m"}, 0, "a master name is for Sentinel"},
		{DialOptions{ClusterNodes: []string{"127.0.0.1:7000"}, Sentinels: []string{"127.0.0.1:1"}, MasterName: "m"}, 0, "both set"},
		{DialOptions{ClusterNodes: []string{"node1"}}, 0, `REDIS_CLUSTER_NODES: "node1" is not host:port`},
		{DialOptions{Sentinels: []string{"h:0"}, MasterName: "m"}, 0, "port \"0\" is not a number from 1 to 65535"},
	} {
		m, err := c.o.Mode()
		if c.err == "" && (err != nil || m != c.mode) || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%+v: Mode = %v, %v; want %v, %q", c.o, m, err, c.mode, c.err)
		}
	}
	if _, err := DialWith("redis://127.0.0.1:1/2", DialOptions{ClusterNodes: []string{"127.0.0.1:7000"}}); err == nil || !strings.Contains(err.Error(), "database 2") {
		t.Errorf("cluster with database 2: %v", err)
	}
}

func TestDialFromSettings(t *testing.T) {
	v := settings.Defaults()
	if m, err := DialFromSettings(&v).Mode(); err != nil || m != ModeStandalone || FromSettings(&v).WaitReplicas != 0 {
		t.Fatalf("defaults: mode %v, %v, wait %d; want one server, asynchronous", m, err, FromSettings(&v).WaitReplicas)
	}
	v.RedisSentinels, v.RedisMasterName, v.RedisSentinelPassword = []string{"127.0.0.1:26379"}, "mymaster", "pw"
	v.RedisWaitReplicas = 1
	do := DialFromSettings(&v)
	if m, err := do.Mode(); err != nil || m != ModeSentinel || do.MasterName != "mymaster" || do.SentinelPassword != "pw" || FromSettings(&v).WaitReplicas != 1 {
		t.Fatalf("sentinel settings: %+v, mode %v, %v", do, m, err)
	}
	v = settings.Defaults()
	v.RedisClusterNodes = []string{"127.0.0.1:7000,127.0.0.1:7001"}
	if m, err := DialFromSettings(&v).Mode(); err != nil || m != ModeCluster {
		t.Fatalf("cluster settings: mode %v, %v", m, err)
	}
}
