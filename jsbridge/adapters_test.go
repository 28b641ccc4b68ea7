package jsbridge

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/jsbridge/execjs"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func TestStartIsLazy(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "misc.js", nil)
	it := s.Start(context.Background())
	for i := 0; i < 3; i++ {
		r, err := it.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := "http://example.test/" + string(rune('0'+i)); r.URL != want || !r.Start {
			t.Fatalf("start request %d: %s start=%v", i, r.URL, r.Start)
		}
	}
	rec, err := call(t, s, "count")
	if err != nil {
		t.Fatal(err)
	}
	// One value may be produced ahead by the generator protocol, never more.
	if rec.String() != `I {"produced":3}` {
		t.Errorf("the start generator ran ahead: %s", rec)
	}
}

func TestStartURLs(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "shapes.js", func(o *Options) {
		o.StartURLs = []string{"http://a.test/", "http://b.test/"}
		o.SessionID = "sess"
	})
	it := s.Start(context.Background())
	var got []string
	for {
		r, err := it.Next(context.Background())
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !r.DontFilter || !r.Start || r.SessionID != "sess" {
			t.Errorf("start request %+v: want dont_filter, start and the session", r)
		}
		got = append(got, r.URL)
	}
	if strings.Join(got, " ") != "http://a.test/ http://b.test/" {
		t.Errorf("got %q", got)
	}
}

// TestDownloaderMiddleware calls each method the way Scrapy's middleware
// tests do: build a request (and a response), call, assert on the result.
func TestDownloaderMiddleware(t *testing.T) {
	t.Parallel()
	ctxs, err := execjs.Load([]string{"testdata/js"}, execjs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctxs.Close)
	s, _ := newSpider(t, "misc.js", func(o *Options) { o.ExecJS = ctxs })
	ctx := context.Background()

	mw, err := s.DownloaderMiddleware("sign", "check_response", "on_exception")
	if err != nil {
		t.Fatal(err)
	}
	req := &crawl.Request{URL: "http://example.test/a", Depth: 3, Headers: crawl.Headers{{Name: "Accept", Value: "*/*"}}}
	res, err := mw.ProcessRequest(ctx, req)
	if err != nil || res.Request != nil || res.Response != nil {
		t.Fatalf("process_request: %+v %v", res, err)
	}
	if got := req.Headers.Get("X-Sign"); got != "http://example.test/a|7|k3y" || req.Depth != 3 || req.Headers.Get("Accept") != "*/*" {
		t.Errorf("request after process_request: sign %q depth %d headers %v", got, req.Depth, req.Headers)
	}

	ok := &crawl.Response{URL: req.URL, Status: 200, Request: req}
	if res, err := mw.ProcessResponse(ctx, req, ok); err != nil || res.Response != nil || res.Request != nil {
		t.Errorf("process_response pass-through: %+v %v", res, err)
	}
	busy := &crawl.Response{URL: req.URL, Status: 503, Request: req}
	if res, err := mw.ProcessResponse(ctx, req, busy); err != nil || res.Request == nil || !res.Request.DontFilter {
		t.Errorf("process_response retry: %+v %v", res, err)
	}
	timeout := crawl.NewFailure(crawl.TimeoutError, req, errors.New("timeout after 500ms"))
	res, err = mw.ProcessException(ctx, req, timeout)
	if err != nil || res.Request == nil || res.Request.Meta["retried"] != true {
		t.Errorf("process_exception: %+v %v", res, err)
	}

	async, _ := s.DownloaderMiddleware("replace_request", "", "")
	res, err = async.ProcessRequest(ctx, &crawl.Request{URL: "http://example.test/redirect-me"})
	if err != nil || res.Request == nil || res.Request.URL != "http://example.test/elsewhere" {
		t.Errorf("async process_request returning a Request: %+v %v", res, err)
	}
	ign, _ := s.DownloaderMiddleware("ignore", "", "")
	_, err = ign.ProcessRequest(ctx, &crawl.Request{URL: "http://example.test/x"})
	var f *crawl.Failure
	if !errors.As(err, &f) || f.Type != crawl.IgnoreRequest || !strings.Contains(err.Error(), "not wanted") {
		t.Errorf("IgnoreRequest: %v", err)
	}
	if _, err := s.DownloaderMiddleware("absent", "", ""); err == nil || !strings.Contains(err.Error(), `"absent" is not an exported function`) {
		t.Errorf("unknown function: %v", err)
	}
}

func TestHookAndRedisData(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "misc.js", nil)
	st := stats.NewMemory()
	s.stats = st
	h, err := s.Hook("item_scraped", "scraped")
	if err != nil {
		t.Fatal(err)
	}
	resp := &crawl.Response{URL: "http://example.test/p", Status: 200, Request: &crawl.Request{URL: "http://example.test/p"}}
	if err := h(context.Background(), crawl.NewItem("n", int64(5)), resp); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Get("js/scraped"); v != "5 http://example.test/p" {
		t.Errorf("hook saw %v", v)
	}
	reqs, ok, err := s.MakeRequestsFromData(context.Background(), []byte(`{"ids": [1, 2]}`))
	if err != nil || !ok || len(reqs) != 2 || reqs[1].URL != "http://example.test/item/2" || reqs[1].Meta["id"] != int64(2) {
		t.Errorf("make_request_from_data: %v %v %+v", ok, err, reqs)
	}
}

func TestGlobals(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "misc.js", func(o *Options) { o.JSTimeout = 5 * time.Second })
	rec, err := call(t, s, "encoding")
	if err != nil || rec.String() != `I {"fired":0,"n":3}` {
		t.Errorf("encoding/timers: %v %s", err, rec)
	}
}

// TestRuntimeErrorPosition: a TypeError three functions deep names the
// user's file:line:col, then the JS stack, through the source map.
func TestRuntimeErrorPosition(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "misc.js", nil)
	_, err := call(t, s, "nested_error")
	if err == nil {
		t.Fatal("no error")
	}
	golden.CheckString(t, filepath.Join("testdata", "golden", "nested_error.txt"), err.Error()+"\n")
}

func TestCrawlSpiderHooks(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "misc.js", nil)
	h := s.CrawlSpiderHooks()
	ctx := context.Background()
	links, err := h.ProcessLinks(ctx, "keep_first", []extract.Link{{URL: "http://a.test/1", Text: "one"}, {URL: "http://a.test/2"}})
	if err != nil || len(links) != 1 || links[0].URL != "http://a.test/1" || links[0].Text != "one" {
		t.Errorf("process_links: %v %+v", err, links)
	}
	resp := &crawl.Response{URL: "http://a.test/page", Status: 200, Request: &crawl.Request{URL: "http://a.test/page"}}
	r, err := h.ProcessRequest(ctx, "add_header", &crawl.Request{URL: "http://a.test/x", Depth: 2}, resp)
	if err != nil || r == nil || r.Headers.Get("X-From") != "http://a.test/page" || r.Depth != 2 {
		t.Errorf("process_request: %v %+v", err, r)
	}
	if r, err := h.ProcessRequest(ctx, "add_header", &crawl.Request{URL: "http://a.test/skip"}, resp); err != nil || r != nil {
		t.Errorf("process_request drop: %v %+v", err, r)
	}
	for in, want := range map[string]string{"HTTP://A.test/X": "http://a.test/x", "http://a.test/logout": ""} {
		got, ok, err := h.ProcessValue("lower", in)
		if err != nil || got != want || ok != (want != "") {
			t.Errorf("process_value(%q) = %q %v %v", in, got, ok, err)
		}
	}
	out, err := h.ProcessResults(ctx, "tag_results", resp, []any{&crawl.Request{URL: "http://a.test/next"}, crawl.NewItem("n", int64(1))})
	if err != nil || len(out) != 3 {
		t.Fatalf("process_results: %v %v", err, out)
	}
	if r, ok := out[0].(*crawl.Request); !ok || r.URL != "http://a.test/next" {
		t.Errorf("process_results[0] = %v", out[0])
	}
	if it, ok := out[1].(*crawl.Item); !ok || jsonOf(it) != `{"n":1,"tagged":true}` {
		t.Errorf("process_results[1] = %v", jsonOf(out[1]))
	}
}

// TestTopLevelErrors: an error while the script loads names its position;
// so does a reference to a callback that is not exported.
func TestTopLevelErrors(t *testing.T) {
	t.Parallel()
	prog, err := compile.Compile(compile.Source{Filename: "spider.yaml", Code: "export function parse() {}\nconst x = null;\nx.boom();\n", Line: 7, Col: 3})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{Program: prog})
	if err == nil || !strings.HasPrefix(err.Error(), "spider.yaml:9:3: TypeError: ") {
		t.Errorf("got %v", err)
	}
	prog, err = compile.Compile(compile.Source{Filename: "s.js", Code: "export function parse() {}\n"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(Options{Program: prog, Hooks: map[string]string{"spider_opened": "opened"}})
	if err == nil || err.Error() != `hooks.spider_opened: "opened" is not an exported function (exported: parse)` {
		t.Errorf("got %v", err)
	}
}

// TestHookNilArguments: a signal without a response passes null, not a
// broken object.
func TestHookNilArguments(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "misc.js", nil)
	h, err := s.Hook("item_scraped", "scraped_nil")
	if err != nil {
		t.Fatal(err)
	}
	if err := h(context.Background(), crawl.NewItem("n", int64(1)), (*crawl.Response)(nil)); err != nil {
		t.Fatal(err)
	}
}

// TestGoPanicIsContained: a Go panic inside a loop job (a bridge bug)
// abandons the runtime with a clear error instead of crashing the process.
func TestGoPanicIsContained(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "misc.js", nil)
	inv := s.newInvocation("callback x", "x", "", nil)
	s.start(inv, func() { panic("boom") })
	res := s.wait(context.Background(), inv)
	if !errors.Is(res.err, ErrAbandoned) || !strings.Contains(res.err.Error(), "internal error in the javascript bridge: boom") {
		t.Fatalf("got %v", res.err)
	}
	if _, err := call(t, s, "count"); !errors.Is(err, ErrAbandoned) {
		t.Errorf("after the panic: %v", err)
	}
}
