package jsbridge

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

const replaceScript = `
export function parse() {}

// Scrapy's HtmlResponse(url=request.url, body=..., request=request).
export function answer(request) {
  if (!request.url.endsWith("/cached")) return;
  request.meta.from_cache = true;
  return new Response({ url: request.url, status: 203, headers: { "Content-Type": "text/html; charset=utf-8" },
    body: "<title>cached</title>", request, flags: ["cached"] });
}

export function rewrite(request, response) {
  const r = response.replace({ body: "<title>" + response.css("title::text").get() + " (rewritten)</title>",
    headers: [...response.headers.items(), ["X-Mw", "1"]], flags: [...response.flags, "rewritten"] });
  if (r === response || r.request !== request || r.meta !== request.meta) throw new Error("replace lost the request");
  if (!(r instanceof Response) || r.status !== response.status || r.url !== response.url) throw new Error("replace changed what it was not given");
  r.meta.rewritten = true;
  return r;
}

export function bad_replace(request, response) { return response.replace({ stauts: 500 }); }
export function bad_new(request) { return new Response({ status: 200 }); }
`

// TestResponseReplace: a JS downloader middleware answers a request with
// new Response(...) (the download is skipped) and replaces a response with
// response.replace(...), as Scrapy's process_request/process_response may;
// the replacement carries the request (and what the middleware changed on
// it) and reaches the rest of the chain.
func TestResponseReplace(t *testing.T) {
	t.Parallel()
	s := newInlineSpider(t, replaceScript)
	ctx := context.Background()
	mw, err := s.DownloaderMiddleware("answer", "rewrite", "")
	if err != nil {
		t.Fatal(err)
	}

	req := &crawl.Request{URL: "http://example.test/cached", Callback: "parse", Depth: 3}
	res, err := mw.ProcessRequest(ctx, req)
	if err != nil || res.Response == nil || res.Request != nil {
		t.Fatalf("process_request: %+v %v", res, err)
	}
	r := res.Response
	if r.Request != req || r.Status != 203 || string(r.Body) != "<title>cached</title>" || r.URL != req.URL ||
		!slices.Equal(r.Flags, []string{"cached"}) || r.Headers.Get("content-type") != "text/html; charset=utf-8" {
		t.Errorf("new Response: status %d body %q flags %v headers %v, request is req: %v", r.Status, r.Body, r.Flags, r.Headers, r.Request == req)
	}
	if req.Meta["from_cache"] != true || req.Depth != 3 {
		t.Errorf("request after process_request: meta %v depth %d", req.Meta, req.Depth)
	}

	// Not answered: the download goes on.
	other := &crawl.Request{URL: "http://example.test/live"}
	if res, err := mw.ProcessRequest(ctx, other); err != nil || res.Response != nil || res.Request != nil {
		t.Fatalf("process_request on another URL: %+v %v", res, err)
	}

	res, err = mw.ProcessResponse(ctx, req, r)
	if err != nil || res.Response == nil || res.Response == r {
		t.Fatalf("process_response: %+v %v", res, err)
	}
	nr := res.Response
	if string(nr.Body) != "<title>cached (rewritten)</title>" || nr.Status != 203 || nr.Request != req ||
		nr.Headers.Get("X-Mw") != "1" || nr.Headers.Get("Content-Type") == "" || !slices.Equal(nr.Flags, []string{"cached", "rewritten"}) {
		t.Errorf("replaced: status %d body %q flags %v headers %v", nr.Status, nr.Body, nr.Flags, nr.Headers)
	}
	if string(r.Body) != "<title>cached</title>" || !slices.Equal(r.Flags, []string{"cached"}) {
		t.Errorf("replace changed the original: body %q flags %v", r.Body, r.Flags)
	}
	if req.Meta["rewritten"] != true {
		t.Errorf("meta set on the replacement did not reach the request: %v", req.Meta)
	}

	for _, tc := range []struct{ req, resp, want string }{
		{"", "bad_replace", `TypeError: response.replace: unknown option "stauts"`},
		{"bad_new", "", "TypeError: new Response: url is required"},
	} {
		m, err := s.DownloaderMiddleware(tc.req, tc.resp, "")
		if err != nil {
			t.Fatal(err)
		}
		q := &crawl.Request{URL: "http://example.test/x"}
		if tc.req != "" {
			_, err = m.ProcessRequest(ctx, q)
		} else {
			_, err = m.ProcessResponse(ctx, q, &crawl.Response{URL: q.URL, Status: 200, Request: q})
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s%s: %v, want %q", tc.req, tc.resp, err, tc.want)
		}
	}
}
