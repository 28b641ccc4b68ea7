package redisq

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// X11: memory in Redis per pending request and per dupefilter entry,
// measured with MEMORY USAGE on a real server. The figures go into
// specs/distributed.md. Persistence is off for this test only: it measures
// memory, and fsync on every write would make it slow.
func TestMemoryPerURL(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	srv := redistest.Start(t, redistest.Options{Args: []string{"--appendonly", "no"}})
	ctx := context.Background()

	t.Run("queue", func(t *testing.T) {
		const n = 20_000
		s, _ := openSched(t, srv, Options{Name: "memq", Persist: true})
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < n; i += 8 {
					_, err := s.Enqueue(ctx, &crawl.Request{URL: fmt.Sprintf("https://shop.example.com/catalogue/item-%d/index.html", i), Callback: "parse_item", Depth: 2})
					if err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if got, _ := s.Len(ctx); got != n {
			t.Fatalf("Len = %d, want %d", got, n)
		}
		per := float64(s.Client().MemoryUsage(ctx, "memq:requests", 0).Val()) / n
		t.Logf("queue: %.0f B per pending request (URL of ~55 chars, callback, depth)", per)
		if per > 300 {
			t.Errorf("queue uses %.0f B per request, want at most 300", per)
		}
	})

	// The same queue on a Redis Cluster: hash tags lengthen the key
	// names, not the entries, so the figure per request must not move.
	t.Run("cluster queue", func(t *testing.T) {
		const n = 20_000
		c := redistest.StartCluster(t, redistest.ClusterOptions{Args: []string{"--appendonly", "no"}})
		rdb, err := DialWith("redis://"+c.Nodes[0].Addr+"/0", DialOptions{ClusterNodes: c.Addrs()})
		if err != nil {
			t.Fatal(err)
		}
		defer rdb.Close()
		s, _ := openSched(t, srv, Options{Client: rdb, Name: "memq", Persist: true})
		for i := range n {
			if _, err := s.Enqueue(ctx, &crawl.Request{URL: fmt.Sprintf("https://shop.example.com/catalogue/item-%d/index.html", i), Callback: "parse_item", Depth: 2}); err != nil {
				t.Fatal(err)
			}
		}
		q := float64(rdb.MemoryUsage(ctx, "{memq}:requests", 0).Val()) / n
		df := float64(rdb.MemoryUsage(ctx, "{memq}:dupefilter", 0).Val()) / n
		t.Logf("cluster: queue %.0f B per pending request, exact dupefilter %.1f B per URL at %d URLs", q, df, n)
		if q > 300 {
			t.Errorf("queue on a cluster uses %.0f B per request, want at most 300", q)
		}
	})

	t.Run("dupefilter", func(t *testing.T) {
		// Half a million 16-byte fingerprints, the exact dupefilter's content
		// (the hash table is then as full as at 1M: both fill 2^k buckets).
		const n = 500_000
		rdb := newClient(t, srv)
		fp := make([]byte, 16)
		for i := 0; i < n; {
			p := rdb.Pipeline()
			for j := 0; j < 50_000; j, i = j+1, i+1 {
				binary.BigEndian.PutUint64(fp, uint64(i))
				binary.BigEndian.PutUint64(fp[8:], uint64(i)*0x9e3779b97f4a7c15)
				p.SAdd(ctx, "memdf:dupefilter", string(fp))
			}
			if _, err := p.Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		per := float64(rdb.MemoryUsage(ctx, "memdf:dupefilter", 0).Val()) / n
		t.Logf("exact dupefilter: %.1f B per URL at 500k URLs", per)
		if per > 72 {
			t.Errorf("exact dupefilter uses %.1f B per URL, want at most 72", per)
		}
		bp, err := newBloomParams(100_000_000, 0.001)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bloom dupefilter: %.2f B per URL (100M capacity at 0.1%%: %d MiB, k=%d)", float64(bp.m)/8/1e8, bp.m/8>>20, bp.k)
	})
}
