package spiderrun

import (
	"testing"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
)

func TestRedisBatchSize(t *testing.T) {
	for _, tc := range []struct {
		set  []string
		want int
	}{
		{nil, 16}, // CONCURRENT_REQUESTS' default
		{[]string{"CONCURRENT_REQUESTS=40"}, 40},
		{[]string{"CONCURRENT_REQUESTS=40", "REDIS_START_URLS_BATCH_SIZE=5"}, 5},
	} {
		s := dsl.DefaultSettings()
		for _, kv := range tc.set {
			if err := s.SetFromCLI(kv); err != nil {
				t.Fatal(err)
			}
		}
		v := ResolveSettings(s)
		if got := redisq.TasksFromSettings(&v).BatchSize; got != tc.want {
			t.Errorf("%v: batch %d, want %d", tc.set, got, tc.want)
		}
	}
}
