// Package pipeline runs scraped items through the item pipelines, in order.
package pipeline

import (
	"context"
	"errors"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Pipeline processes one item. It returns the item (possibly changed) to pass
// it on, or an error: a DropError (or an error wrapping ErrDrop) drops the
// item quietly (item_dropped); any other error is an item_error.
type Pipeline interface {
	ProcessItem(ctx context.Context, it *crawl.Item) (*crawl.Item, error)
}

// ErrDrop is Scrapy's DropItem.
var ErrDrop = errors.New("item dropped")

// DropError drops an item with a reason.
type DropError struct{ Reason string }

func (e *DropError) Error() string { return "item dropped: " + e.Reason }

// Is makes errors.Is(err, ErrDrop) true for a DropError.
func (e *DropError) Is(target error) bool { return target == ErrDrop }
