package jsbridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// spider.state is Scrapy's spider.state: an object the spider keeps across
// the runs of a paused crawl. It starts empty; with a JOBDIR the root
// package loads it with SetState before the crawl opens and saves what
// State returns (periodically and when the crawl closes). Without a JOBDIR
// it lives in memory only, as in Scrapy.

// installState defines spider.state, an empty object the script may fill
// or replace (writable, like the attribute of a Scrapy spider).
func (s *Spider) installState(o *goja.Object) {
	_ = o.Set("state", s.vm.NewObject())
}

// StateError is returned by State when spider.state cannot be saved: it is
// not an object, or holds something that is not data (a function, a
// cyclic reference, a BigInt, NaN).
type StateError struct {
	Err error
}

func (e *StateError) Error() string { return "spider.state cannot be saved: " + e.Err.Error() }

// Unwrap returns the cause (a *ValueError for a value that is not data).
func (e *StateError) Unwrap() error { return e.Err }

// SetState makes spider.state the JSON object data (what State returned
// in an earlier run), keeping its key order. Call it before the crawl
// opens: the spider_opened hook and start() then see it.
func (s *Spider) SetState(ctx context.Context, data []byte) error {
	var it crawl.Item
	if err := json.Unmarshal(data, &it); err != nil {
		return fmt.Errorf("spider.state: the saved state is not a JSON object: %w", err)
	}
	return s.onLoop(ctx, func() error {
		return s.spiderObj.Set("state", s.importer().value(&it))
	})
}

// State returns spider.state as JSON, read on the loop between two turns
// of JavaScript (so never half-updated by a callback). Values convert as
// item values do: Maps become objects, Sets arrays, Dates ISO strings;
// undefined becomes null. A state that is not JSON data is a *StateError.
// State fails once the spider's runtime is closed.
func (s *Spider) State(ctx context.Context) ([]byte, error) {
	var out []byte
	err := s.onLoop(ctx, func() error {
		var err error
		// A getter or proxy trap may throw while the state is read: that
		// is an error of the state, not of the bridge.
		if exc := s.vm.Try(func() { out, err = s.exportState() }); exc != nil {
			return &StateError{Err: errors.New(exc.Error())}
		}
		return err
	})
	return out, err
}

func (s *Spider) exportState() ([]byte, error) {
	v := s.spiderObj.Get("state")
	o, ok := v.(*goja.Object)
	if !ok || o.ClassName() == "Array" {
		return nil, &StateError{Err: fmt.Errorf("spider.state: want an object, got %s", jsvalue.TypeName(v))}
	}
	data, err := s.exporter().value(o, "spider.state", 0)
	if err != nil {
		return nil, &StateError{Err: err}
	}
	if _, ok := data.(*crawl.Item); !ok {
		return nil, &StateError{Err: fmt.Errorf("spider.state: want an object, got %s", jsvalue.TypeName(v))}
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, &StateError{Err: err}
	}
	return b, nil
}
