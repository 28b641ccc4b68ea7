package redisq

import (
	"context"
	"fmt"
	"testing"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// X11: memory in Redis per pending request and per dupefilter entry,
// measured with MEMORY USAGE on a real server. The figures go into
// specs/distributed.md.
func TestMemoryPerURL(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	const n = 50_000
	cases := []struct {
		df           string
		maxPerReq    float64
		maxPerFilter float64
	}{
		{DupefilterExact, 300, 70},
		{DupefilterBloom, 300, 20},
	}
	for _, c := range cases {
		t.Run(c.df, func(t *testing.T) {
			name := "mem-" + c.df
			s, _ := openSched(t, srv, Options{Name: name, Dupefilter: c.df, BloomCapacity: n, BloomErrorRate: 0.001, Persist: true})
			rdb := s.Client()
			for i := range n {
				mustEnq(t, s, &crawl.Request{URL: fmt.Sprintf("https://shop.example.com/catalogue/item-%d/index.html", i), Callback: "parse_item", Depth: 2})
			}
			q := rdb.MemoryUsage(ctx, name+":requests", 0).Val()
			df := rdb.MemoryUsage(ctx, s.keys.dupefilter, 0).Val()
			perReq, perFP := float64(q)/n, float64(df)/n
			t.Logf("%s: %d pending requests: queue %.0f B/request; dupefilter %.1f B/URL", c.df, n, perReq, perFP)
			if perReq > c.maxPerReq {
				t.Errorf("queue uses %.0f B per request, want at most %.0f", perReq, c.maxPerReq)
			}
			if perFP > c.maxPerFilter {
				t.Errorf("dupefilter uses %.1f B per URL, want at most %.0f", perFP, c.maxPerFilter)
			}
		})
	}
}
