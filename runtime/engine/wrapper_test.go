package engine_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
)

// hookSpider implements Spider and every optional interface, recording
// which methods ran.
type hookSpider struct {
	goSpider
	calls []string
}

var errOpen = errors.New("open failed")

func (s *hookSpider) Open(ctx context.Context, c *engine.Crawl) error {
	s.calls = append(s.calls, "Open")
	return errOpen
}

func (s *hookSpider) Close(ctx context.Context, reason string) error {
	s.calls = append(s.calls, "Close "+reason)
	return nil
}

func (s *hookSpider) Idle(ctx context.Context, out engine.Output) (bool, error) {
	s.calls = append(s.calls, "Idle")
	return true, nil
}

func (s *hookSpider) Stalled() []string {
	s.calls = append(s.calls, "Stalled")
	return []string{"parse at spider.js:3:5"}
}

// TestWrapperForwards checks that a spider embedding engine.Wrapper
// forwards every optional interface to its inner spider, and that each is
// a no-op when the inner spider does not implement it.
func TestWrapperForwards(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cases := []struct {
		name string
		call func(w engine.Spider) any
		want any // result when the inner spider implements it
		none any // result when it does not
		rec  string
	}{
		{"Opener", func(w engine.Spider) any { return w.(engine.Opener).Open(ctx, nil) }, errOpen, nil, "Open"},
		{"Closer", func(w engine.Spider) any { return w.(engine.Closer).Close(ctx, "finished") }, nil, nil, "Close finished"},
		{"IdleHandler", func(w engine.Spider) any { keep, _ := w.(engine.IdleHandler).Idle(ctx, nil); return keep }, true, false, "Idle"},
		{"StallReporter", func(w engine.Spider) any { return len(w.(engine.StallReporter).Stalled()) }, 1, 0, "Stalled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			inner := &hookSpider{}
			// A wrapping spider as crawlspider writes one.
			w := &struct{ engine.Wrapper }{engine.Wrapper{Inner: inner}}
			if got := c.call(w); got != c.want {
				t.Errorf("wrapping a spider that implements it: got %v, want %v", got, c.want)
			}
			if !slices.Equal(inner.calls, []string{c.rec}) {
				t.Errorf("inner spider saw %q, want [%q]", inner.calls, c.rec)
			}
			bare := &struct{ engine.Wrapper }{engine.Wrapper{Inner: &goSpider{}}}
			if got := c.call(bare); got != c.none {
				t.Errorf("wrapping a spider that does not implement it: got %v, want %v", got, c.none)
			}
		})
	}
}

// TestWrapperSpider checks that the Spider methods reach the inner spider.
func TestWrapperSpider(t *testing.T) {
	t.Parallel()
	var got []string
	inner := &goSpider{
		start: func(ctx context.Context) engine.StartIterator { got = append(got, "Start"); return startURLs() },
		callback: func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
			got = append(got, "Callback "+resp.URL)
			return nil
		},
		errback: func(ctx context.Context, f *crawl.Failure, out engine.Output) (bool, error) {
			got = append(got, "Errback "+f.Request.URL)
			return true, nil
		},
	}
	w := engine.Wrapper{Inner: inner}
	ctx := context.Background()
	if w.Name() != "test" {
		t.Errorf("Name = %q, want test", w.Name())
	}
	w.Start(ctx)
	_ = w.Callback(ctx, &crawl.Response{URL: "http://a/"}, nil)
	if handled, _ := w.Errback(ctx, &crawl.Failure{Request: &crawl.Request{URL: "http://b/"}}, nil); !handled {
		t.Error("Errback: not handled")
	}
	want := []string{"Start", "Callback http://a/", "Errback http://b/"}
	if !slices.Equal(got, want) {
		t.Errorf("inner spider saw %q, want %q", got, want)
	}
}
