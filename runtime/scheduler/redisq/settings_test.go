package redisq

import (
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

// TestMaxLeasesFromSettings: the lease bound is 2 × CONCURRENT_REQUESTS.
func TestMaxLeasesFromSettings(t *testing.T) {
	for _, c := range []struct{ concurrency, want int }{{16, 32}, {8, 16}, {1, 2}, {0, 2}} {
		v := settings.Defaults()
		v.ConcurrentRequests = c.concurrency
		if got := FromSettings(&v).MaxLeases; got != c.want {
			t.Errorf("CONCURRENT_REQUESTS %d: MaxLeases %d, want %d", c.concurrency, got, c.want)
		}
	}
}
