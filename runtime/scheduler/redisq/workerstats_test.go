package redisq

import (
	"context"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/redistest"
)

// TestWorkerStats: each worker's snapshot is its own key under the crawl's
// prefix, with the TTL given; ReadWorkerStats finds exactly the crawl's
// (SCAN's glob characters in a name are literal, so "a*" does not read
// "ab"'s), and ReadStatus carries them.
func TestWorkerStats(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	rdb := newClient(t, srv)
	pub := func(name, worker, js string, ttl time.Duration) {
		s, _ := newSched(t, srv, Options{Client: rdb, Name: name, WorkerID: worker})
		if err := s.PublishStats(ctx, []byte(js), ttl); err != nil {
			t.Fatal(err)
		}
	}
	pub("a*", "w1", `{"pages":1}`, time.Minute)
	pub("a*", "w2", `{"pages":2}`, time.Hour)
	pub("ab", "w3", `{"pages":3}`, time.Minute)
	pub("{fleet}", "w4", `{"pages":4}`, time.Minute)
	if ms := rdb.PTTL(ctx, "a*:workers:w2:stats").Val(); ms < 59*time.Minute || ms > time.Hour {
		t.Errorf("TTL of a*:workers:w2:stats = %v, want the hour given", ms)
	}
	got, err := ReadWorkerStats(ctx, rdb, "a*")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || string(got["w1"]) != `{"pages":1}` || string(got["w2"]) != `{"pages":2}` {
		t.Errorf("ReadWorkerStats(a*) = %v, want w1 and w2 only", got)
	}
	// A hash tag in the name stays the key's first braces: the crawl's slot.
	if v := rdb.Get(ctx, "{fleet}:workers:w4:stats").Val(); v != `{"pages":4}` {
		t.Errorf("{fleet}'s worker key holds %q", v)
	}
	st, err := ReadStatus(ctx, rdb, StatusOptions{Name: "ab"})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.WorkerStats) != 1 || string(st.WorkerStats["w3"]) != `{"pages":3}` {
		t.Errorf("ReadStatus(ab).WorkerStats = %v", st.WorkerStats)
	}
}
