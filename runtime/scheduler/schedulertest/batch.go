package schedulertest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// runBatch checks scheduler.BatchEnqueuer against Enqueue one by one: the
// same requests added, in the same order, duplicates inside a batch and
// across batches and Enqueue found. open returns an opened scheduler.
func runBatch(t *testing.T, open func(t *testing.T) scheduler.Scheduler) {
	if _, ok := open(t).(scheduler.BatchEnqueuer); !ok {
		return
	}
	t.Run("BatchLikeOneByOne", func(t *testing.T) {
		s := open(t)
		b := s.(scheduler.BatchEnqueuer)
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/0"}, true)
		batch := []*crawl.Request{
			{URL: "http://a.test/1"},
			{URL: "http://a.test/0"},      // seen by Enqueue
			{URL: "http://a.test/1#frag"}, // = 1, in this batch
			{URL: "http://a.test/hi", Priority: 5},
			{URL: "http://a.test/2"},
			{URL: "http://a.test/2", DontFilter: true},
			{URL: "http://A.TEST/2"}, // = 2
		}
		res := b.EnqueueBatch(ctx(t), batch)
		if len(res) != len(batch) {
			t.Fatalf("%d results for %d requests", len(res), len(batch))
		}
		var got []bool
		for i, r := range res {
			if r.Err != nil {
				t.Fatalf("request %d: %v", i, r.Err)
			}
			got = append(got, r.Added)
		}
		if want := []bool{true, false, false, true, true, true, false}; !slices.Equal(got, want) {
			t.Fatalf("added %v, want %v", got, want)
		}
		res = b.EnqueueBatch(ctx(t), []*crawl.Request{{URL: "http://a.test/2"}, {URL: "http://a.test/3"}})
		if res[0].Added || !res[1].Added {
			t.Fatalf("second batch %+v, want a duplicate then a new request", res)
		}
		mustEnqueue(t, s, &crawl.Request{URL: "http://a.test/3"}, false)
		want := []string{"http://a.test/hi", "http://a.test/0", "http://a.test/1", "http://a.test/2", "http://a.test/2", "http://a.test/3"}
		if got := drain(t, s); !slices.Equal(got, want) {
			t.Fatalf("order %v\nwant %v", got, want)
		}
	})
	t.Run("BatchLarge", func(t *testing.T) {
		s := open(t)
		b := s.(scheduler.BatchEnqueuer)
		var batch []*crawl.Request
		var want []string
		for i := range 600 {
			u := fmt.Sprintf("http://a.test/%d", i%450)
			batch = append(batch, &crawl.Request{URL: u})
			if i < 450 {
				want = append(want, u)
			}
		}
		n := 0
		for _, r := range b.EnqueueBatch(ctx(t), batch) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			if r.Added {
				n++
			}
		}
		if n != 450 {
			t.Fatalf("added %d of 600 (450 distinct)", n)
		}
		if got := drain(t, s); !slices.Equal(got, want) {
			t.Fatalf("order of a large batch differs (%d requests)", len(got))
		}
	})
}
