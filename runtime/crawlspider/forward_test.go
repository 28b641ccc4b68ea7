package crawlspider

import (
	"context"
	"slices"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/engine"
)

// hookInner is an inner spider implementing every optional engine
// interface, recording the calls.
type hookInner struct {
	goSpider
	calls []string
}

func (s *hookInner) Open(context.Context, *engine.Crawl) error {
	s.calls = append(s.calls, "Open")
	return nil
}

func (s *hookInner) Close(_ context.Context, reason string) error {
	s.calls = append(s.calls, "Close "+reason)
	return nil
}

func (s *hookInner) Idle(context.Context, engine.Output) (bool, error) {
	s.calls = append(s.calls, "Idle")
	return true, nil
}

func (s *hookInner) Stalled() []string {
	s.calls = append(s.calls, "Stalled")
	return []string{"waiting"}
}

// TestWrappersForward checks that the CrawlSpider and the SitemapSpider
// hand Open, Close, Idle and Stalled to the spider they wrap (through the
// embedded engine.Wrapper).
func TestWrappersForward(t *testing.T) {
	t.Parallel()
	wrappers := []struct {
		name string
		wrap func(inner engine.Spider) (engine.Spider, error)
	}{
		{"CrawlSpider", func(inner engine.Spider) (engine.Spider, error) { return New(inner, Options{}) }},
		{"SitemapSpider", func(inner engine.Spider) (engine.Spider, error) {
			return NewSitemap(inner, SitemapOptions{URLs: []string{"http://example.com/sitemap.xml"}})
		}},
	}
	for _, w := range wrappers {
		t.Run(w.name, func(t *testing.T) {
			t.Parallel()
			inner := &hookInner{goSpider: goSpider{name: "inner"}}
			sp, err := w.wrap(inner)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if sp.Name() != "inner" {
				t.Errorf("Name = %q, want inner", sp.Name())
			}
			if err := sp.(engine.Opener).Open(ctx, nil); err != nil {
				t.Fatal(err)
			}
			if keep, _ := sp.(engine.IdleHandler).Idle(ctx, nil); !keep {
				t.Error("Idle: keepOpen not forwarded")
			}
			if got := sp.(engine.StallReporter).Stalled(); !slices.Equal(got, []string{"waiting"}) {
				t.Errorf("Stalled = %q", got)
			}
			if err := sp.(engine.Closer).Close(ctx, "finished"); err != nil {
				t.Fatal(err)
			}
			want := []string{"Open", "Idle", "Stalled", "Close finished"}
			if !slices.Equal(inner.calls, want) {
				t.Errorf("inner spider saw %q, want %q", inner.calls, want)
			}
		})
	}
}
