package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

type kindDrop struct{}

func (kindDrop) Error() string      { return "duplicate" }
func (kindDrop) Is(t error) bool    { return t == pipeline.ErrDrop }
func (kindDrop) DropReason() string { return "DuplicateItem" }

func TestRunner(t *testing.T) {
	upper := pipeline.Func(func(ctx context.Context, it *crawl.Item) (*crawl.Item, error) {
		v, _ := it.Get("name")
		it.Set("name", fmt.Sprint(v)+"!")
		return it, nil
	})
	dropIf := func(name string, err error) pipeline.Pipeline {
		return pipeline.Func(func(ctx context.Context, it *crawl.Item) (*crawl.Item, error) {
			if v, _ := it.Get("name"); v == name {
				return nil, err
			}
			return it, nil
		})
	}
	cases := []struct {
		name      string
		pipes     []pipeline.Pipeline
		item      string
		want      pipeline.Outcome
		wantName  string
		wantStats map[string]int64
	}{
		{"pass", []pipeline.Pipeline{upper, upper}, "a", pipeline.Scraped, "a!!",
			map[string]int64{stats.ItemDroppedCount: 0, stats.ItemErrorCount: 0}},
		{"no pipelines", nil, "a", pipeline.Scraped, "a", map[string]int64{stats.ItemDroppedCount: 0}},
		{"drop stops the chain", []pipeline.Pipeline{dropIf("a", &pipeline.DropError{Reason: "bad"}), upper}, "a", pipeline.Dropped, "a",
			map[string]int64{stats.ItemDroppedCount: 1, stats.ItemDroppedReasons + "DropItem": 1, stats.ItemScrapedCount: 0}},
		{"wrapped ErrDrop", []pipeline.Pipeline{dropIf("a", fmt.Errorf("x: %w", pipeline.ErrDrop))}, "a", pipeline.Dropped, "a",
			map[string]int64{stats.ItemDroppedCount: 1}},
		{"drop reason kind", []pipeline.Pipeline{dropIf("a", kindDrop{})}, "a", pipeline.Dropped, "a",
			map[string]int64{stats.ItemDroppedReasons + "DuplicateItem": 1}},
		{"nil item drops", []pipeline.Pipeline{dropIf("a", nil)}, "a", pipeline.Dropped, "a",
			map[string]int64{stats.ItemDroppedCount: 1}},
		{"error", []pipeline.Pipeline{upper, dropIf("a!", errors.New("boom"))}, "a", pipeline.Failed, "a!",
			map[string]int64{stats.ItemErrorCount: 1, stats.ItemScrapedCount: 0}},
		{"panic is an error", []pipeline.Pipeline{pipeline.Func(func(context.Context, *crawl.Item) (*crawl.Item, error) { panic("oops") })}, "a", pipeline.Failed, "a",
			map[string]int64{stats.ItemErrorCount: 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := stats.NewMemory()
			r := pipeline.NewRunner(c.pipes, st, nil)
			out, got, err := r.Process(t.Context(), crawl.NewItem("name", c.item))
			if got != c.want {
				t.Fatalf("outcome = %v (err %v), want %v", got, err, c.want)
			}
			if (err != nil) != (c.want != pipeline.Scraped) {
				t.Fatalf("err = %v", err)
			}
			if v, _ := out.Get("name"); v != c.wantName {
				t.Errorf("name = %v, want %v", v, c.wantName)
			}
			for k, v := range c.wantStats {
				if g := stats.Int(st, k); g != v {
					t.Errorf("%s = %d, want %d", k, g, v)
				}
			}
		})
	}
}
