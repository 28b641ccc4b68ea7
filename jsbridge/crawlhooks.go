package jsbridge

import (
	"context"
	"fmt"
	"strconv"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/crawlspider"
	"github.com/spiderrun/spiderrun/runtime/extract"
)

// CrawlHooks runs a CrawlSpider's rule hooks (process_links,
// process_request, process_value, process_results) as exported JS
// functions. It implements crawlspider.Hooks and crawlspider.ResultsHook.
type CrawlHooks struct{ s *Spider }

var (
	_ crawlspider.Hooks       = (*CrawlHooks)(nil)
	_ crawlspider.ResultsHook = (*CrawlHooks)(nil)
)

// CrawlSpiderHooks returns the JS hooks for crawlspider.Options.Hooks.
func (s *Spider) CrawlSpiderHooks() *CrawlHooks { return &CrawlHooks{s: s} }

// ProcessLinks calls process_links(links, spider) with [{url, text,
// fragment, nofollow}] and reads back the returned array (sync or async).
func (h *CrawlHooks) ProcessLinks(ctx context.Context, name string, links []extract.Link) ([]extract.Link, error) {
	s := h.s
	where := "process_links " + name
	res := s.callJS(ctx, where, name, "", func() []goja.Value {
		arr := make([]any, len(links))
		for i, l := range links {
			o := s.vm.NewObject()
			_ = o.Set("url", l.URL)
			_ = o.Set("text", l.Text)
			_ = o.Set("fragment", l.Fragment)
			_ = o.Set("nofollow", l.NoFollow)
			arr[i] = o
		}
		return []goja.Value{s.vm.NewArray(arr...)}
	}, func(exc, val goja.Value) invResult {
		if exc != nil {
			return invResult{err: s.jsError(exc, where, "")}
		}
		o, ok := val.(*goja.Object)
		if !ok || o.ClassName() != "Array" {
			return invResult{err: &Error{Where: where, Type: "TypeError", Message: where + " must return an array of links, got a " + jsvalue.TypeName(val)}}
		}
		n := int(o.Get("length").ToInteger())
		out := make([]extract.Link, 0, n)
		for i := 0; i < n; i++ {
			e := o.Get(strconv.Itoa(i))
			switch t := e.(type) {
			case *goja.Object:
				l := extract.Link{URL: t.Get("url").String()}
				if v := t.Get("text"); present(v) {
					l.Text = v.String()
				}
				if v := t.Get("fragment"); present(v) {
					l.Fragment = v.String()
				}
				if v := t.Get("nofollow"); present(v) {
					l.NoFollow = v.ToBoolean()
				}
				out = append(out, l)
			default:
				if present(e) {
					out = append(out, extract.Link{URL: e.String()})
				}
			}
		}
		return invResult{val: out}
	})
	if res.err != nil {
		return nil, res.err
	}
	return res.val.([]extract.Link), nil
}

// ProcessRequest calls process_request(request, response, spider); the
// returned Request replaces it, null drops it.
func (h *CrawlHooks) ProcessRequest(ctx context.Context, name string, r *crawl.Request, resp *crawl.Response) (*crawl.Request, error) {
	s := h.s
	where := "process_request " + name
	res := s.callJS(ctx, where, name, r.URL, func() []goja.Value {
		return []goja.Value{s.requestObject(r), s.newResponse(resp)}
	}, func(exc, val goja.Value) invResult {
		if exc != nil {
			return invResult{err: s.jsError(exc, where, r.URL)}
		}
		if !present(val) {
			return invResult{}
		}
		nr, err := s.requestFromObject(val)
		if err != nil {
			return invResult{err: &Error{Where: where, URL: r.URL, Type: "TypeError", Message: err.Error(), Err: err}}
		}
		return invResult{val: nr}
	})
	if res.err != nil || res.val == nil {
		return nil, res.err
	}
	return res.val.(*crawl.Request), nil
}

// ProcessValue calls process_value(value) synchronously (it runs inside
// link extraction): a string replaces the value, null/undefined/"" drops it.
// It must not be called from the loop goroutine.
func (h *CrawlHooks) ProcessValue(name string, v string) (string, bool, error) {
	s := h.s
	where := "process_value " + name
	res := s.callJS(context.Background(), where, name, "", func() []goja.Value {
		return []goja.Value{s.vm.ToValue(v)}
	}, func(exc, val goja.Value) invResult {
		if exc != nil {
			return invResult{err: s.jsError(exc, where, "")}
		}
		if !present(val) || val.String() == "" {
			return invResult{val: ""}
		}
		return invResult{val: val.String()}
	})
	if res.err != nil {
		return "", false, res.err
	}
	out := res.val.(string)
	return out, out != "", nil
}

// ProcessResults calls process_results(response, results, spider) with the
// page's requests and items; what it returns (driven like a callback's
// output) replaces them.
func (h *CrawlHooks) ProcessResults(ctx context.Context, name string, resp *crawl.Response, results []any) ([]any, error) {
	s := h.s
	if !s.HasExport(name) {
		return nil, fmt.Errorf("process_results: %q is not an exported function", name)
	}
	var out []any
	col := &orderedOutput{add: func(v any) { out = append(out, v) }}
	inv := s.newInvocation("process_results "+name, name, resp.URL, col)
	s.start(inv, func() {
		arr := make([]any, 0, len(results))
		for _, r := range results {
			switch t := r.(type) {
			case *crawl.Request:
				arr = append(arr, s.requestObject(t))
			case *crawl.Item:
				arr = append(arr, s.importer().value(t))
			}
		}
		s.runDriven(inv, s.exportFns[name], []goja.Value{s.newResponse(resp), s.vm.NewArray(arr...), s.spiderObj}, nil)
	})
	res := s.wait(ctx, inv)
	if res.err == nil && len(col.errs) > 0 {
		res.err = col.errs[0]
	}
	return out, res.err
}

// orderedOutput keeps requests and items in one ordered list (loop only).
type orderedOutput struct {
	add  func(any)
	errs []error
}

func (o *orderedOutput) Request(r *crawl.Request) { o.add(r) }
func (o *orderedOutput) Item(it *crawl.Item)      { o.add(it) }
func (o *orderedOutput) Error(err error)          { o.errs = append(o.errs, err) }
