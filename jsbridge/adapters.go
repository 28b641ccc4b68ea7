package jsbridge

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"

	"github.com/spiderrun/spiderrun/jsbridge/jsvalue"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
)

// callJS runs the exported function fn once with args (built on the loop)
// plus spider appended, awaits a returned promise, and converts the
// outcome on the loop with conv.
func (s *Spider) callJS(ctx context.Context, where, fn, url string, args func() []goja.Value, conv func(exc, val goja.Value) invResult) invResult {
	return s.callJSWith(ctx, where, fn, url, false, args, conv)
}

// callJSWith is callJS; spiderFirst passes spider first instead of last
// (Scrapy's spider_closed(spider, reason)).
func (s *Spider) callJSWith(ctx context.Context, where, fn, url string, spiderFirst bool, args func() []goja.Value, conv func(exc, val goja.Value) invResult) invResult {
	f, ok := s.exportFns[fn]
	if !ok {
		return invResult{err: fmt.Errorf("%s: %q is not an exported function (exported: %s)", where, fn, strings.Join(s.exportList(), ", "))}
	}
	inv := s.newInvocation(where, fn, url, nil)
	inv.onDone = func(exc, val goja.Value) invResult {
		if inv.ended.Load() {
			// The caller stopped waiting (its context ended): it no longer
			// owns what conv would write (a middleware's request).
			return invResult{}
		}
		return conv(exc, val)
	}
	s.start(inv, func() {
		var argv []goja.Value
		if spiderFirst {
			argv = append([]goja.Value{s.spiderObj}, args()...)
		} else {
			argv = append(args(), s.spiderObj)
		}
		sink := s.vm.NewDynamicObject(&sinkObject{inv: inv, s: s})
		if _, err := s.in.call(goja.Undefined(), f, s.spiderObj, s.vm.NewArray(toAny(argv)...), sink); err != nil {
			s.fail(inv, err)
		}
	})
	return s.wait(ctx, inv)
}

func (s *Spider) isDropItem(v goja.Value) bool {
	o, ok := v.(*goja.Object)
	return ok && instanceOf(s.vm, o, s.in.dropItem)
}

func (s *Spider) isIgnoreRequest(v goja.Value) bool {
	o, ok := v.(*goja.Object)
	return ok && instanceOf(s.vm, o, s.in.ignoreRequest)
}

// ---- item pipelines ------------------------------------------------------------

// jsPipeline is a JS process_item(item, spider) as a pipeline.Pipeline.
type jsPipeline struct {
	s  *Spider
	fn string
}

// Pipeline returns the exported function fn as an item pipeline: it gets a
// copy of the item as a plain object and returns the item (possibly changed)
// or a promise of it; null/undefined or throwing DropItem drops the item.
func (s *Spider) Pipeline(fn string) (pipeline.Pipeline, error) {
	if !s.HasExport(fn) {
		return nil, fmt.Errorf("pipelines: %q is not an exported function (exported: %s)", fn, strings.Join(s.exportList(), ", "))
	}
	return &jsPipeline{s: s, fn: fn}, nil
}

// ProcessItem implements pipeline.Pipeline.
func (p *jsPipeline) ProcessItem(ctx context.Context, it *crawl.Item) (*crawl.Item, error) {
	s := p.s
	where := "pipeline " + p.fn
	res := s.callJS(ctx, where, p.fn, "", func() []goja.Value {
		return []goja.Value{s.importer().value(it)}
	}, func(exc, val goja.Value) invResult {
		if exc != nil {
			if s.isDropItem(exc) {
				msg := exc.ToObject(s.vm).Get("message")
				reason := "dropped by " + p.fn
				if present(msg) && msg.String() != "" {
					reason = msg.String()
				}
				return invResult{err: &pipeline.DropError{Reason: reason}}
			}
			return invResult{err: s.jsError(exc, where, "")}
		}
		if !present(val) {
			return invResult{err: &pipeline.DropError{Reason: p.fn + " returned " + jsvalue.TypeName(val)}}
		}
		out, err := s.exporter().item(val)
		if err != nil {
			return invResult{err: &Error{Where: where, Type: "ItemError", Message: err.Error(), Err: err}}
		}
		return invResult{val: out}
	})
	if res.err != nil {
		return nil, res.err
	}
	return res.val.(*crawl.Item), nil
}

// ---- downloader middlewares ------------------------------------------------------

// DownloaderMiddleware is a JS downloader middleware; a method whose
// function name is empty passes everything through unchanged.
type DownloaderMiddleware struct {
	s                                                 *Spider
	processRequest, processResponse, processException string
}

var (
	_ middleware.RequestProcessor   = (*DownloaderMiddleware)(nil)
	_ middleware.ResponseProcessor  = (*DownloaderMiddleware)(nil)
	_ middleware.ExceptionProcessor = (*DownloaderMiddleware)(nil)
)

// DownloaderMiddleware builds a downloader middleware from exported
// functions (any may be ""): process_request(request, spider) may change the
// request in place and return nothing, or return a Request (scheduled
// instead) or a Response (the download is skipped); process_response(
// request, response, spider) returns a Response or a Request;
// process_exception(request, failure, spider) returns nothing (the error
// goes on), a Request or a Response. Each may be async. Throwing
// IgnoreRequest drops the request. As in Scrapy, the request is one
// object: response.request and failure.request are the request argument,
// and what a method changes in place on it (meta, headers, cb_kwargs, ...)
// or on response.flags is written back to the Go request and response
// that the rest of the chain and the callback get.
func (s *Spider) DownloaderMiddleware(processRequest, processResponse, processException string) (*DownloaderMiddleware, error) {
	for _, fn := range []string{processRequest, processResponse, processException} {
		if fn != "" && !s.HasExport(fn) {
			return nil, fmt.Errorf("downloader_middlewares: %q is not an exported function (exported: %s)", fn, strings.Join(s.exportList(), ", "))
		}
	}
	return &DownloaderMiddleware{s: s, processRequest: processRequest, processResponse: processResponse, processException: processException}, nil
}

// result converts a middleware's return value.
func (m *DownloaderMiddleware) result(where string, req *crawl.Request, reqObj *goja.Object, orig *crawl.Response, exc, val goja.Value) invResult {
	s := m.s
	if exc != nil {
		if s.isIgnoreRequest(exc) {
			je := s.jsError(exc, where, req.URL)
			return invResult{err: crawl.NewFailure(crawl.IgnoreRequest, req, je)}
		}
		return invResult{err: s.jsError(exc, where, req.URL)}
	}
	if !present(val) {
		return invResult{val: middleware.Result{}}
	}
	if j, ok := s.responseOf(val); ok {
		if j.r == orig {
			return invResult{val: middleware.Result{}}
		}
		// A response built for this very request object (new Response({
		// request}), response.replace()) answers req itself: the Go request
		// the engine tracks, with what the middleware changed written back.
		if ro, ok := j.cache["request"].(*goja.Object); j.r.Request == nil || (ok && ro == reqObj) {
			j.r.Request = req
		}
		return invResult{val: middleware.Result{Response: j.r}}
	}
	if o, ok := val.(*goja.Object); ok && s.isRequest(o) {
		r, err := s.requestFromObject(o)
		if err != nil {
			return invResult{err: &Error{Where: where, URL: req.URL, Type: "TypeError", Message: err.Error(), Err: err}}
		}
		absorbEngineMeta(r)
		if r.Parent == "" {
			r.Parent = req.Parent
		}
		return invResult{val: middleware.Result{Request: r}}
	}
	return invResult{err: &Error{Where: where, URL: req.URL, Type: "TypeError", Message: fmt.Sprintf("%s returned a %s; want nothing, a Request or a Response", where, jsvalue.TypeName(val))}}
}

// ProcessRequest implements middleware.RequestProcessor.
func (m *DownloaderMiddleware) ProcessRequest(ctx context.Context, req *crawl.Request) (middleware.Result, error) {
	if m.processRequest == "" {
		return middleware.Result{}, nil
	}
	s := m.s
	where := "process_request " + m.processRequest
	var reqObj *goja.Object
	res := s.callJS(ctx, where, m.processRequest, req.URL, func() []goja.Value {
		reqObj = s.requestObject(req)
		return []goja.Value{reqObj}
	}, func(exc, val goja.Value) invResult {
		// Scrapy middlewares change the request in place and return
		// nothing: carry those changes back.
		return m.finish(where, req, reqObj, nil, m.result(where, req, reqObj, nil, exc, val))
	})
	if res.err != nil {
		return middleware.Result{}, res.err
	}
	return res.val.(middleware.Result), nil
}

// updateRequest copies a Request object's state back into req, keeping the
// engine-owned fields, so that what a middleware changed in place (meta,
// headers, cb_kwargs, ...) is what the downloader and the callback see, as
// in Scrapy where they share the one Request. Loop only.
func (s *Spider) updateRequest(req *crawl.Request, o *goja.Object) error {
	r, err := s.requestFromObject(o)
	if err != nil {
		return err
	}
	saved := *req
	*req = *r
	copyEngineState(req, &saved)
	if req.Local == nil {
		req.Local = saved.Local
	}
	req.Parent = saved.Parent
	absorbEngineMeta(req)
	return nil
}

// absorbEngineMeta moves Scrapy's engine-owned meta keys (depth,
// retry_times, redirect_times, redirect_urls) that a script left in meta
// into the request's fields. metaObject shows the fields in meta, so a
// round trip through JS brings them back: a value the script changed wins
// (as a meta write does in Scrapy), and none is left in Meta to go stale
// when retry or redirect later update the field.
func absorbEngineMeta(r *crawl.Request) {
	if len(r.Meta) == 0 {
		return
	}
	if n, ok := metaInt(r.Meta["depth"]); ok {
		r.Depth = n
		delete(r.Meta, "depth")
	}
	if n, ok := metaInt(r.Meta["retry_times"]); ok {
		r.RetryTimes = n
		delete(r.Meta, "retry_times")
	}
	if n, ok := metaInt(r.Meta["redirect_times"]); ok {
		r.RedirectTimes = n
		delete(r.Meta, "redirect_times")
	}
	if v, ok := r.Meta["redirect_urls"]; ok {
		var urls []string
		ok := true
		switch l := v.(type) {
		case []string:
			urls = l
		case []any:
			for _, u := range l {
				str, isStr := u.(string)
				ok = ok && isStr
				urls = append(urls, str)
			}
		default:
			ok = false
		}
		if ok {
			r.RedirectURLs = urls
			delete(r.Meta, "redirect_urls")
		}
	}
	if len(r.Meta) == 0 {
		r.Meta = nil
	}
}

func metaInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case float64:
		if n == float64(int(n)) {
			return int(n), true
		}
	}
	return 0, false
}

// ProcessResponse implements middleware.ResponseProcessor. request and
// response.request are one object, so response.meta === request.meta (in
// Scrapy, response.meta is response.request.meta); what the middleware
// changes on it, and on response.flags, is carried back to the Go request
// and response, which the rest of the chain and the callback get.
func (m *DownloaderMiddleware) ProcessResponse(ctx context.Context, req *crawl.Request, resp *crawl.Response) (middleware.Result, error) {
	if m.processResponse == "" {
		return middleware.Result{}, nil
	}
	s := m.s
	where := "process_response " + m.processResponse
	var reqObj *goja.Object
	var respJS *jsResponse
	res := s.callJS(ctx, where, m.processResponse, req.URL, func() []goja.Value {
		if resp.Request == nil {
			resp.Request = req
		}
		reqObj = s.requestObject(req)
		respObj := s.newResponse(resp)
		respJS, _ = s.responseOf(respObj)
		if respJS != nil && resp.Request == req {
			respJS.shareRequest(reqObj)
		}
		return []goja.Value{reqObj, respObj}
	}, func(exc, val goja.Value) invResult {
		return m.finish(where, req, reqObj, respJS, m.result(where, req, reqObj, resp, exc, val))
	})
	if res.err != nil {
		return middleware.Result{}, res.err
	}
	return res.val.(middleware.Result), nil
}

// shareRequest makes reqObj the response's request property, so that
// response.request === request and response.meta === request.meta.
func (j *jsResponse) shareRequest(reqObj *goja.Object) {
	if j.cache == nil {
		j.cache = make(map[string]goja.Value, 4)
	}
	j.cache["request"] = reqObj
}

// finish writes the middleware's in-place changes back (also when it
// threw: in Scrapy the failed request is the changed one) and returns r,
// or the error of a request object the script broke. Loop only.
func (m *DownloaderMiddleware) finish(where string, req *crawl.Request, reqObj *goja.Object, respJS *jsResponse, r invResult) invResult {
	if err := m.writeBack(req, reqObj, respJS); err != nil && r.err == nil {
		return invResult{err: &Error{Where: where, URL: req.URL, Type: "TypeError", Message: err.Error(), Err: err}}
	}
	return r
}

// writeBack carries a middleware's in-place changes back to Go: the
// request object into req, and, when the response was given, the flags
// and the response's own request (when it is not req). Loop only.
func (m *DownloaderMiddleware) writeBack(req *crawl.Request, reqObj *goja.Object, respJS *jsResponse) error {
	s := m.s
	if reqObj != nil {
		if err := s.updateRequest(req, reqObj); err != nil {
			return err
		}
	}
	if respJS == nil {
		return nil
	}
	if ro, ok := respJS.cache["request"].(*goja.Object); ok && ro != reqObj && respJS.r.Request != nil && respJS.r.Request != req {
		if err := s.updateRequest(respJS.r.Request, ro); err != nil {
			return err
		}
	}
	if fo, ok := respJS.cache["flags"].(*goja.Object); ok {
		n := int(fo.Get("length").ToInteger())
		flags := make([]string, 0, n)
		for i := range n {
			flags = append(flags, fo.Get(strconv.Itoa(i)).String())
		}
		if n == 0 {
			flags = nil
		}
		respJS.r.Flags = flags
	}
	return nil
}

// ProcessException implements middleware.ExceptionProcessor; request and
// failure.request are one object, and in-place changes reach the request
// as in ProcessRequest.
func (m *DownloaderMiddleware) ProcessException(ctx context.Context, req *crawl.Request, err error) (middleware.Result, error) {
	if m.processException == "" {
		return middleware.Result{}, nil
	}
	s := m.s
	where := "process_exception " + m.processException
	var f *crawl.Failure
	if !errors.As(err, &f) {
		f = crawl.NewFailure(crawl.UnknownError, req, err)
	}
	var reqObj *goja.Object
	res := s.callJS(ctx, where, m.processException, req.URL, func() []goja.Value {
		reqObj = s.requestObject(req)
		fo := s.failureObject(f)
		if f.Request == nil || f.Request == req {
			_ = fo.Set("request", reqObj)
		}
		return []goja.Value{reqObj, fo}
	}, func(exc, val goja.Value) invResult {
		return m.finish(where, req, reqObj, nil, m.result(where, req, reqObj, nil, exc, val))
	})
	if res.err != nil {
		return middleware.Result{}, res.err
	}
	return res.val.(middleware.Result), nil
}

// ---- signal hooks ------------------------------------------------------------------

// HookFunc calls a JS signal handler with Go arguments; it returns when the
// handler (and a returned promise) settles.
type HookFunc func(ctx context.Context, args ...any) error

// Hook returns the exported function fn as a handler of signal. Arguments
// cross as JS values (*crawl.Item → object, *crawl.Request → Request,
// *crawl.Response → Response, error → Error, strings and numbers as is),
// followed by spider — e.g. item_scraped(item, response, spider),
// spider_closed(spider, reason) gets (reason, spider). A returned promise is
// awaited. spider_opened, spider_idle and spider_closed given in
// Options.Hooks already run from Open, Idle and Close.
func (s *Spider) Hook(signal, fn string) (HookFunc, error) {
	if !s.HasExport(fn) {
		return nil, fmt.Errorf("hooks.%s: %q is not an exported function (exported: %s)", signal, fn, strings.Join(s.exportList(), ", "))
	}
	return func(ctx context.Context, args ...any) error {
		_, err := s.callHook(ctx, signal, fn, args, spiderLast)
		return err
	}, nil
}

// hookOrder says where the spider goes in a hook's arguments.
type hookOrder bool

const (
	spiderLast  hookOrder = false
	spiderFirst hookOrder = true
)

func (s *Spider) callHook(ctx context.Context, signal, fn string, args []any, order hookOrder) (any, error) {
	where := "hook " + signal
	res := s.callJSWith(ctx, where, fn, "", bool(order), func() []goja.Value {
		out := make([]goja.Value, 0, len(args))
		for _, a := range args {
			out = append(out, s.hookArg(a))
		}
		return out
	}, func(exc, val goja.Value) invResult {
		if exc != nil {
			if s.isCloseSpider(exc) {
				s.closeFromJS(exc)
				return invResult{}
			}
			return invResult{err: s.jsError(exc, where, "")}
		}
		return invResult{}
	})
	return res.val, res.err
}

func (s *Spider) hookArg(a any) goja.Value {
	// Typed nil pointers (an event without a response) become null.
	switch t := a.(type) {
	case *crawl.Request:
		if t == nil {
			return goja.Null()
		}
		return s.requestObject(t)
	case *crawl.Response:
		if t == nil {
			return goja.Null()
		}
		return s.newResponse(t)
	case *crawl.Item:
		if t == nil {
			return goja.Null()
		}
	case *crawl.Failure:
		if t == nil {
			return goja.Null()
		}
		return s.failureObject(t)
	case error:
		if t == nil {
			return goja.Null()
		}
		return s.vm.NewGoError(t)
	}
	return s.importer().value(a)
}

// ---- Redis spiders ---------------------------------------------------------------

// MakeRequestsFromData runs the exported make_request_from_data(data) for a
// Redis entry (a string, or a Uint8Array when not UTF-8). It may return a
// Request, an array of them, a generator or a promise. ok is false when the
// script does not export it (the caller applies its default).
func (s *Spider) MakeRequestsFromData(ctx context.Context, data []byte) (reqs []*crawl.Request, ok bool, err error) {
	const fn = "make_request_from_data"
	if !s.HasExport(fn) {
		return nil, false, nil
	}
	out := &collectOutput{}
	inv := s.newInvocation("make_request_from_data", fn, "", out)
	s.start(inv, func() {
		var arg goja.Value
		if utf8.Valid(data) {
			arg = s.vm.ToValue(string(data))
		} else {
			arg = s.uint8Array(append([]byte(nil), data...))
		}
		s.runDriven(inv, s.exportFns[fn], []goja.Value{arg}, nil)
	})
	res := s.wait(ctx, inv)
	if res.err == nil && len(out.errs) > 0 {
		res.err = out.errs[0]
	}
	return out.reqs, true, res.err
}

// collectOutput gathers a driven function's output (loop only).
type collectOutput struct {
	reqs  []*crawl.Request
	items []*crawl.Item
	errs  []error
}

func (c *collectOutput) Request(r *crawl.Request) { c.reqs = append(c.reqs, r) }
func (c *collectOutput) Item(it *crawl.Item)      { c.items = append(c.items, it) }
func (c *collectOutput) Error(err error)          { c.errs = append(c.errs, err) }

// SignalHandler returns a subscriber for engine.Signals.Connect that runs
// the Options.Hooks of the engine's signals with Scrapy's arguments, then
// spider: item_scraped(item, response), item_dropped(item, response,
// error), item_error(item, response, error), request_scheduled(request),
// request_dropped(request), response_received(response, request),
// spider_error(error, response), engine_started(). spider_opened,
// spider_idle and spider_closed are not handled here: Open, Idle and Close
// run them (they need a result). Hook errors are logged and counted. When a
// SignalHandler is connected, Close leaves the loop running until the
// spider_closed event arrives, so hooks of earlier events still run.
func (s *Spider) SignalHandler() func(engine.Event) {
	s.signals.Store(true)
	return func(ev engine.Event) {
		if ev.Signal == engine.SpiderClosed {
			// The last event of a crawl: Close left the loop running for the
			// events before it.
			if s.closed.Load() {
				s.Shutdown()
			}
			return
		}
		fn := s.opts.Hooks[string(ev.Signal)]
		if fn == "" || s.loop.isDead() {
			return
		}
		var args []any
		switch ev.Signal {
		case engine.SpiderOpened, engine.SpiderIdle, engine.SpiderClosed:
			return
		case engine.ItemScraped:
			args = []any{ev.Item, ev.Response}
		case engine.ItemDropped, engine.ItemError:
			args = []any{ev.Item, ev.Response, ev.Err}
		case engine.RequestScheduled, engine.RequestDropped:
			args = []any{ev.Request}
		case engine.ResponseReceived:
			args = []any{ev.Response, ev.Request}
		case engine.SpiderError:
			args = []any{ev.Err, ev.Response}
		}
		for i, a := range args {
			// A nil pointer in an interface is not nil; JS gets null.
			switch t := a.(type) {
			case *crawl.Item:
				if t == nil {
					args[i] = nil
				}
			case *crawl.Response:
				if t == nil {
					args[i] = nil
				}
			case *crawl.Request:
				if t == nil {
					args[i] = nil
				}
			}
		}
		if _, err := s.callHook(s.ctx, string(ev.Signal), fn, args, spiderLast); err != nil && !s.loop.isDead() {
			s.Stats().Inc("spider_exceptions/"+errorType(err), 1)
			s.log.Error("signal hook failed", "signal", ev.Signal, "err", err.Error())
		}
	}
}

func errorType(err error) string {
	var je *Error
	if errors.As(err, &je) && je.Type != "" {
		return je.Type
	}
	return "Error"
}
