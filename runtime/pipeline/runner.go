package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Outcome is what became of an item after the pipelines.
type Outcome int

// Outcomes.
const (
	Scraped Outcome = iota // passed every pipeline: goes to the feeds (item_scraped)
	Dropped                // a pipeline raised DropItem (item_dropped)
	Failed                 // a pipeline failed (item_error)
)

// Runner passes items through pipelines in list order, with Scrapy's
// DropItem semantics: the first pipeline that drops or fails an item stops
// it. It counts item_dropped_count, item_dropped_reasons_count/<Reason>
// and item_error_count; item_scraped_count is the engine's, counted once
// the item is written.
type Runner struct {
	pipes  []Pipeline
	stats  stats.Collector
	logger *slog.Logger
}

// NewRunner returns a runner over pipes. st and logger may be nil.
func NewRunner(pipes []Pipeline, st stats.Collector, logger *slog.Logger) *Runner {
	if st == nil {
		st = stats.NewMemory()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{pipes: pipes, stats: st, logger: logger}
}

// Reasoner is implemented by drop errors that name their kind for the
// item_dropped_reasons_count/<Reason> stat (Scrapy uses the exception class
// name, e.g. a DropItem subclass).
type Reasoner interface{ DropReason() string }

// Process runs it through the pipelines. It returns the final item with
// Scraped, or the error that stopped it with Dropped or Failed. A pipeline
// returning a nil item with no error drops the item (a JS pipeline that
// returns null).
func (r *Runner) Process(ctx context.Context, it *crawl.Item) (*crawl.Item, Outcome, error) {
	for i, p := range r.pipes {
		out, err := r.call(ctx, p, it)
		if err == nil && out == nil {
			err = &DropError{Reason: fmt.Sprintf("pipeline %d returned no item", i)}
		}
		if err != nil {
			if errors.Is(err, ErrDrop) {
				reason := "DropItem"
				var rs Reasoner
				if errors.As(err, &rs) && rs.DropReason() != "" {
					reason = rs.DropReason()
				}
				r.stats.Inc(stats.ItemDroppedCount, 1)
				r.stats.Inc(stats.ItemDroppedReasons+reason, 1)
				r.logger.Info("dropped item", "reason", err.Error())
				return it, Dropped, err
			}
			r.stats.Inc(stats.ItemErrorCount, 1)
			err = fmt.Errorf("pipeline %d: %w", i, err)
			r.logger.Error("error processing item", "error", err)
			return it, Failed, err
		}
		it = out
	}
	return it, Scraped, nil
}

// call runs one pipeline and turns a panic into an item error: a bug in a
// Go pipeline must not kill the crawl.
func (r *Runner) call(ctx context.Context, p Pipeline, it *crawl.Item) (out *crawl.Item, err error) {
	defer func() {
		if v := recover(); v != nil {
			out, err = nil, fmt.Errorf("panic: %v", v)
		}
	}()
	return p.ProcessItem(ctx, it)
}

// Func adapts a function to Pipeline.
type Func func(ctx context.Context, it *crawl.Item) (*crawl.Item, error)

// ProcessItem implements Pipeline.
func (f Func) ProcessItem(ctx context.Context, it *crawl.Item) (*crawl.Item, error) {
	return f(ctx, it)
}
