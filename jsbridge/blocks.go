package jsbridge

import (
	"context"
	"fmt"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// BlockPredicate implements middleware.BlockPredicates: it calls the
// exported function fn as a block detector ("js:fn" in BLOCK_DETECTORS)
// with the response, as a callback would get it, and the spider. It may
// be async. A reason (a non-empty string) or true is a block; null,
// undefined, false or "" is content. Anything else, or a throw, is an
// error naming the script position, which the blocks middleware counts.
func (s *Spider) BlockPredicate(ctx context.Context, fn string, req *crawl.Request, resp *crawl.Response) (bool, string, error) {
	where := "block detector js:" + fn
	type verdict struct {
		hit    bool
		reason string
	}
	res := s.callJS(ctx, where, fn, resp.URL, func() []goja.Value {
		if resp.Request == nil {
			resp.Request = req
		}
		return []goja.Value{s.newResponse(resp)}
	}, func(exc, val goja.Value) invResult {
		if exc != nil {
			return invResult{err: s.jsError(exc, where, resp.URL)}
		}
		if !present(val) {
			return invResult{val: verdict{}}
		}
		switch v := val.Export().(type) {
		case bool:
			return invResult{val: verdict{hit: v}}
		case string:
			return invResult{val: verdict{hit: v != "", reason: v}}
		}
		return invResult{err: &Error{Where: where, URL: resp.URL, Type: "TypeError",
			Message: fmt.Sprintf("%s returned a %s; want a reason (string), true, or null", where, jsvalue.TypeName(val))}}
	})
	if res.err != nil {
		return false, "", res.err
	}
	v, _ := res.val.(verdict)
	return v.hit, v.reason, nil
}
