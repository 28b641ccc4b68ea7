package jsbridge

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// mwScript checks, from JS, that request and response.request (or
// failure.request) are one object, and changes them in place the way
// Scrapy middlewares do.
const mwScript = `
export function parse() {}

export function on_response(request, response) {
  if (response.meta !== request.meta) throw new Error("response.meta is not request.meta");
  if (response.request !== request) throw new Error("response.request is not request");
  request.meta.tag = "t";
  response.meta.tag2 = 2;
  request.cb_kwargs.k = "v";
  request.headers["X-Late"] = "1";
  response.flags.push("mw");
  if (request.meta.set_retry) request.meta.retry_times = 5;
  return response;
}

export function on_exception(request, failure) {
  if (failure.request !== request) throw new Error("failure.request is not request");
  request.meta.seen = failure.type;
}

export function throwing(request) {
  request.meta.before_throw = true;
  throw new IgnoreRequest("no");
}

export function keep(request) {}

export function no_return(request, response) {
  request.meta.seen = true;
}

export function set_response_header(request, response) {
  response.headers["X-New"] = "1";
  return response;
}
`

func newInlineSpider(t *testing.T, code string) *Spider {
	t.Helper()
	p, err := compile.Compile(compile.Source{Filename: "mw.js", Code: code})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Program: p, Name: "mw", Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// TestMiddlewareWriteBack: every in-place change a JS middleware makes
// reaches the Go request and response the chain and the callback use.
func TestMiddlewareWriteBack(t *testing.T) {
	t.Parallel()
	s := newInlineSpider(t, mwScript)
	ctx := context.Background()

	mw, err := s.DownloaderMiddleware("keep", "on_response", "on_exception")
	if err != nil {
		t.Fatal(err)
	}
	req := &crawl.Request{URL: "http://example.test/a", Depth: 2, RetryTimes: 1, Parent: "http://example.test/", Meta: map[string]any{"x": int64(1)}}
	resp := &crawl.Response{URL: req.URL, Status: 200, Request: req}
	res, err := mw.ProcessResponse(ctx, req, resp)
	if err != nil || res.Request != nil || res.Response != nil {
		t.Fatalf("process_response: %+v %v", res, err)
	}
	if req.Meta["tag"] != "t" || req.Meta["tag2"] != int64(2) || req.Meta["x"] != int64(1) {
		t.Errorf("meta after process_response: %v", req.Meta)
	}
	if req.CbKwargs["k"] != "v" || req.Headers.Get("X-Late") != "1" {
		t.Errorf("cb_kwargs %v, headers %v", req.CbKwargs, req.Headers)
	}
	if !slices.Equal(resp.Flags, []string{"mw"}) {
		t.Errorf("flags %v", resp.Flags)
	}
	// Engine-owned state survives, and its meta mirror does not stay in
	// Meta to go stale.
	if req.Depth != 2 || req.RetryTimes != 1 || req.Parent != "http://example.test/" {
		t.Errorf("engine state: depth %d retry_times %d parent %q", req.Depth, req.RetryTimes, req.Parent)
	}
	for _, k := range []string{"depth", "retry_times"} {
		if _, ok := req.Meta[k]; ok {
			t.Errorf("meta %s left in Meta: %v", k, req.Meta)
		}
	}

	// A meta write to an engine key wins, as in Scrapy.
	req2 := &crawl.Request{URL: "http://example.test/b", Meta: map[string]any{"set_retry": true}}
	if _, err := mw.ProcessResponse(ctx, req2, &crawl.Response{URL: req2.URL, Status: 200}); err != nil {
		t.Fatal(err)
	}
	if req2.RetryTimes != 5 {
		t.Errorf("meta.retry_times = 5 gave RetryTimes %d", req2.RetryTimes)
	}

	// process_exception: failure.request is the request; changes stay.
	req3 := &crawl.Request{URL: "http://example.test/c"}
	f := crawl.NewFailure(crawl.TimeoutError, req3, errors.New("timeout"))
	if res, err := mw.ProcessException(ctx, req3, f); err != nil || res.Request != nil || res.Response != nil {
		t.Fatalf("process_exception: %+v %v", res, err)
	}
	if req3.Meta["seen"] != "TimeoutError" {
		t.Errorf("meta after process_exception: %v", req3.Meta)
	}

	// response.headers is read-only (specs/scrapy-differences.md): a
	// write is an error, not silently lost.
	hw, _ := s.DownloaderMiddleware("", "set_response_header", "")
	req5 := &crawl.Request{URL: "http://example.test/e"}
	if _, err := hw.ProcessResponse(ctx, req5, &crawl.Response{URL: req5.URL, Status: 200}); err == nil || !strings.Contains(err.Error(), "TypeError") {
		t.Errorf("writing response.headers: %v, want a TypeError", err)
	}

	// process_response returning nothing passes the response on (Scrapy
	// raises _InvalidOutput; specs/scrapy-differences.md).
	nr, _ := s.DownloaderMiddleware("", "no_return", "")
	req6 := &crawl.Request{URL: "http://example.test/f"}
	if res, err := nr.ProcessResponse(ctx, req6, &crawl.Response{URL: req6.URL, Status: 200}); err != nil || res.Request != nil || res.Response != nil || req6.Meta["seen"] != true {
		t.Errorf("process_response returning nothing: %+v %v, meta %v", res, err, req6.Meta)
	}

	// A throwing process_request keeps what it changed before (Scrapy's
	// request is the same object the errback gets).
	thr, _ := s.DownloaderMiddleware("throwing", "", "")
	req4 := &crawl.Request{URL: "http://example.test/d"}
	_, err = thr.ProcessRequest(ctx, req4)
	var fail *crawl.Failure
	if !errors.As(err, &fail) || fail.Type != crawl.IgnoreRequest || req4.Meta["before_throw"] != true {
		t.Errorf("throwing process_request: %v, meta %v", err, req4.Meta)
	}
}
