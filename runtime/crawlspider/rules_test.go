package crawlspider

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// testHooks implements Hooks (and ResultsHook) with Go functions keyed by
// name, recording calls.
type testHooks struct {
	links   map[string]func([]extract.Link) ([]extract.Link, error)
	reqs    map[string]func(*crawl.Request, *crawl.Response) (*crawl.Request, error)
	values  map[string]func(string) (string, bool, error)
	results map[string]func([]any) ([]any, error)
}

func (h *testHooks) ProcessLinks(ctx context.Context, name string, l []extract.Link) ([]extract.Link, error) {
	return h.links[name](l)
}
func (h *testHooks) ProcessRequest(ctx context.Context, name string, r *crawl.Request, resp *crawl.Response) (*crawl.Request, error) {
	return h.reqs[name](r, resp)
}
func (h *testHooks) ProcessValue(name, v string) (string, bool, error) { return h.values[name](v) }
func (h *testHooks) ProcessResults(ctx context.Context, name string, resp *crawl.Response, r []any) ([]any, error) {
	return h.results[name](r)
}

const rulesPage = `<html><body>
<a href="/item/1">one</a>
<a href="/item/2">two</a>
<a href="/list/2">next</a>
<a href="/item/1">one again</a>
<a href="/item/3" rel="nofollow">three</a>
</body></html>`

func bp(b bool) *bool { return &b }

func itemSpider() *goSpider {
	return &goSpider{name: "t", callbacks: map[string]func(*crawl.Response, engine.Output) error{
		"parse_item": func(resp *crawl.Response, out engine.Output) error {
			out.Item(crawl.NewItem("url", resp.URL, "kw", resp.Request.CbKwargs["k"], "own", resp.Request.CbKwargs["own"]))
			return nil
		},
		"start": func(resp *crawl.Response, out engine.Output) error {
			out.Item(crawl.NewItem("start", resp.URL))
			return nil
		},
		"broken": func(resp *crawl.Response, out engine.Output) error {
			out.Item(crawl.NewItem("before", "error"))
			return errTest
		},
		"explicit": func(resp *crawl.Response, out engine.Output) error {
			out.Item(crawl.NewItem("explicit", resp.URL))
			return nil
		},
	}}
}

func TestRulesFirstMatchWinsAndLinksAreNotReoffered(t *testing.T) {
	t.Parallel()
	cs, err := New(itemSpider(), Options{Rules: []Rule{
		{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{`/item/`}}, Callback: "parse_item", Errback: "on_err", CbKwargs: map[string]any{"k": "v"}},
		// matches everything: the links rule 0 took are not offered again
		// (the extractor's unique already drops "one again").
		{LinkExtractor: extract.LinkExtractorOptions{}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := cs.Callback(context.Background(), page("http://t.test/", rulesPage, nil), rec); err != nil {
		t.Fatal(err)
	}
	type got struct {
		URL, Callback, Errback string
		Rule                   any
		Text                   any
		Kw                     any
	}
	var g []got
	for _, r := range rec.requests {
		g = append(g, got{r.URL, r.Callback, r.Errback, r.Meta[MetaRule], r.Meta[MetaLinkText], r.CbKwargs["k"]})
	}
	want := []got{
		{"http://t.test/item/1", "parse_item", "on_err", 0, "one", nil},
		{"http://t.test/item/2", "parse_item", "on_err", 0, "two", nil},
		{"http://t.test/item/3", "parse_item", "on_err", 0, "three", nil},
		{"http://t.test/list/2", "", "", 1, "next", nil},
	}
	if !reflect.DeepEqual(g, want) {
		t.Errorf("got  %+v\nwant %+v", g, want)
	}
	if len(rec.items) != 0 {
		t.Errorf("no parse_start_url configured, got items %v", rec.items)
	}
}

func TestRuleResponsesCallbackFollowAndKwargs(t *testing.T) {
	t.Parallel()
	rules := []Rule{
		{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{`/item/`}}, Callback: "parse_item", CbKwargs: map[string]any{"k": "rule"}},
		{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{`/list/`}}},
		{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{`/item/`}}, Callback: "parse_item", Follow: bp(true)},
	}
	cs, err := New(itemSpider(), Options{Rules: rules, ParseStartURL: "start"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// start response: parse_start_url then the rules
	rec := &recorder{}
	if err := cs.Callback(ctx, page("http://t.test/", rulesPage, nil), rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.items) != 1 || rec.items[0].Fields[0].Key != "start" || len(rec.requests) != 4 {
		t.Fatalf("start: items %v requests %v", rec.items, rec.urls())
	}

	// a rule with a callback does not follow by default; cb_kwargs merge
	// with the request's own (the request wins)
	req := &crawl.Request{URL: "http://t.test/item/1", Callback: "parse_item", Meta: map[string]any{MetaRule: 0},
		CbKwargs: map[string]any{"own": "mine", "k": "request"}}
	rec = &recorder{}
	if err := cs.Callback(ctx, page(req.URL, rulesPage, req), rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.requests) != 0 || len(rec.items) != 1 {
		t.Fatalf("rule 0: requests %v items %d", rec.urls(), len(rec.items))
	}
	if v, _ := rec.items[0].Get("kw"); v != "request" {
		t.Errorf("cb_kwargs merge: %v", v)
	}
	if v, _ := rec.items[0].Get("own"); v != "mine" {
		t.Errorf("own cb_kwargs lost: %v", v)
	}

	// a rule without a callback follows and calls nothing; meta rule read
	// back from JSON (float64) works
	req = &crawl.Request{URL: "http://t.test/list/2", Meta: map[string]any{MetaRule: 1.0}}
	rec = &recorder{}
	if err := cs.Callback(ctx, page(req.URL, rulesPage, req), rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.items) != 0 || len(rec.requests) != 4 {
		t.Errorf("rule 1: items %d requests %v", len(rec.items), rec.urls())
	}

	// follow: true with a callback does both
	req = &crawl.Request{URL: "http://t.test/item/9", Callback: "parse_item", Meta: map[string]any{MetaRule: 2}}
	rec = &recorder{}
	if err := cs.Callback(ctx, page(req.URL, rulesPage, req), rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.items) != 1 || len(rec.requests) != 4 {
		t.Errorf("rule 2: items %d requests %v", len(rec.items), rec.urls())
	}

	// an explicit callback set by the spider bypasses the rules
	req = &crawl.Request{URL: "http://t.test/x", Callback: "explicit"}
	rec = &recorder{}
	if err := cs.Callback(ctx, page(req.URL, rulesPage, req), rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.items) != 1 || len(rec.requests) != 0 {
		t.Errorf("explicit: items %d requests %v", len(rec.items), rec.urls())
	}

	// process_request gave it another callback: no rule handling
	req = &crawl.Request{URL: "http://t.test/item/1", Callback: "explicit", Meta: map[string]any{MetaRule: 0}}
	rec = &recorder{}
	if err := cs.Callback(ctx, page(req.URL, rulesPage, req), rec); err != nil || len(rec.items) != 1 || len(rec.requests) != 0 {
		t.Errorf("re-targeted rule request: %v items %d requests %v", err, len(rec.items), rec.urls())
	}
	if v, _ := rec.items[0].Get("explicit"); v != "http://t.test/item/1" {
		t.Errorf("re-targeted rule request went to %v", rec.items[0])
	}

	// a failing callback keeps its earlier output but follows nothing
	broken, _ := New(itemSpider(), Options{Rules: []Rule{{Callback: "broken", Follow: bp(true)}}})
	req = &crawl.Request{URL: "http://t.test/b", Callback: "broken", Meta: map[string]any{MetaRule: 0}}
	rec = &recorder{}
	if err := broken.Callback(ctx, page(req.URL, rulesPage, req), rec); err != errTest || len(rec.items) != 1 || len(rec.requests) != 0 {
		t.Errorf("failing callback: err %v items %d requests %v", err, len(rec.items), rec.urls())
	}

	// the default callback's name means the CrawlSpider's own parse
	withDefault, _ := New(itemSpider(), Options{Rules: rules, ParseStartURL: "start", DefaultCallback: "parse"})
	req = &crawl.Request{URL: "http://t.test/", Callback: "parse"}
	rec = &recorder{}
	if err := withDefault.Callback(ctx, page(req.URL, rulesPage, req), rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.items) != 1 || len(rec.requests) != 4 {
		t.Errorf("default callback: items %d requests %v", len(rec.items), rec.urls())
	}

	// non-HTML responses are not followed
	js := page("http://t.test/data.json", `{"a": "<a href='/item/5'>x</a>"}`, nil)
	js.Headers = crawl.Headers{{Name: "Content-Type", Value: "application/json"}}
	rec = &recorder{}
	if err := cs.Callback(ctx, js, rec); err != nil || len(rec.requests) != 0 {
		t.Errorf("json followed: %v %v", rec.urls(), err)
	}

	// an out-of-range rule index is an error, not a panic
	req = &crawl.Request{URL: "http://t.test/z", Meta: map[string]any{MetaRule: 7}}
	if err := cs.Callback(ctx, page(req.URL, rulesPage, req), &recorder{}); err == nil || !strings.Contains(err.Error(), "rule=7") {
		t.Errorf("bad rule index: %v", err)
	}
}

func TestRuleHooks(t *testing.T) {
	t.Parallel()
	var sawResp string
	hooks := &testHooks{
		links: map[string]func([]extract.Link) ([]extract.Link, error){
			"keep_first": func(l []extract.Link) ([]extract.Link, error) { return l[:1], nil },
		},
		reqs: map[string]func(*crawl.Request, *crawl.Response) (*crawl.Request, error){
			"tag": func(r *crawl.Request, resp *crawl.Response) (*crawl.Request, error) {
				sawResp = resp.URL
				if strings.HasSuffix(r.URL, "/2") {
					return nil, nil // dropped
				}
				r.Headers.Set("X-Rule", "tagged")
				return r, nil
			},
			"fail": func(*crawl.Request, *crawl.Response) (*crawl.Request, error) { return nil, errTest },
		},
		values: map[string]func(string) (string, bool, error){
			"item_only": func(v string) (string, bool, error) {
				if !strings.Contains(v, "/item/") {
					return "", false, nil
				}
				return strings.Replace(v, "/item/", "/product/", 1), true, nil
			},
		},
		results: map[string]func([]any) ([]any, error){
			"double": func(r []any) ([]any, error) { return append(r, r...), nil },
		},
	}
	ctx := context.Background()
	cases := []struct {
		name string
		opts Options
		want []string
	}{
		{"process_links", Options{Hooks: hooks, Rules: []Rule{{ProcessLinks: "keep_first"}}}, []string{"http://t.test/item/1"}},
		{"process_request drops and edits", Options{Hooks: hooks, Rules: []Rule{{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{"item"}}, ProcessRequest: "tag"}}},
			[]string{"http://t.test/item/1", "http://t.test/item/3"}},
		{"process_value rewrites", Options{Hooks: hooks, Rules: []Rule{{ProcessValue: "item_only"}}},
			[]string{"http://t.test/product/1", "http://t.test/product/2", "http://t.test/product/3"}},
	}
	for _, tc := range cases {
		cs, err := New(itemSpider(), tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		if err := cs.Callback(ctx, page("http://t.test/", rulesPage, nil), rec); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !reflect.DeepEqual(rec.urls(), tc.want) {
			t.Errorf("%s: got %v want %v", tc.name, rec.urls(), tc.want)
		}
		if tc.name == "process_request drops and edits" {
			if rec.requests[0].Headers.Get("X-Rule") != "tagged" || sawResp != "http://t.test/" {
				t.Errorf("process_request did not see/edit: %v %q", rec.requests[0].Headers, sawResp)
			}
		}
	}
	cs, _ := New(itemSpider(), Options{Hooks: hooks, Rules: []Rule{{ProcessRequest: "fail"}}})
	if err := cs.Callback(ctx, page("http://t.test/", rulesPage, nil), &recorder{}); err == nil || !strings.Contains(err.Error(), "process_request fail") {
		t.Errorf("hook error: %v", err)
	}
	// process_results sees the callback's whole output
	cs, _ = New(itemSpider(), Options{Hooks: hooks, ParseStartURL: "start", ProcessResults: "double", FollowLinks: bp(false)})
	rec := &recorder{}
	if err := cs.Callback(ctx, page("http://t.test/", rulesPage, nil), rec); err != nil || len(rec.items) != 2 {
		t.Errorf("process_results: %d items, %v", len(rec.items), err)
	}
	// configuration errors
	if _, err := New(itemSpider(), Options{Rules: []Rule{{ProcessLinks: "x"}}}); err == nil {
		t.Error("hook without Hooks accepted")
	}
	if _, err := New(itemSpider(), Options{Rules: []Rule{{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{"("}}}}}); err == nil ||
		!strings.Contains(err.Error(), "rules[0].link_extractor") {
		t.Errorf("bad regex: %v", err)
	}
	if _, err := New(itemSpider(), Options{ProcessResults: "x", Hooks: noResults{}}); err == nil {
		t.Error("process_results without a ResultsHook accepted")
	}
}

type noResults struct{}

func (noResults) ProcessLinks(context.Context, string, []extract.Link) ([]extract.Link, error) {
	return nil, nil
}
func (noResults) ProcessRequest(context.Context, string, *crawl.Request, *crawl.Response) (*crawl.Request, error) {
	return nil, nil
}
func (noResults) ProcessValue(string, string) (string, bool, error) { return "", false, nil }

// Failures of rule requests reach the rule's errback (named on the request)
// through the inner spider, over a real engine run.
func TestRuleErrbackThroughEngine(t *testing.T) {
	hits := &hitLog{}
	srv := newShop(t, hits)
	inner := shopSpider(srv.URL + "/")
	var failed []string
	inner.errbacks = map[string]func(*crawl.Failure, engine.Output){
		"on_missing": func(f *crawl.Failure, out engine.Output) { failed = append(failed, f.Request.URL) },
	}
	cs, err := New(inner, Options{Rules: []Rule{
		// the home page links /about.html, which exists, and a missing page
		{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{`about`}}, Callback: "parse_item", Errback: "on_missing",
			ProcessValue: "broken"},
	}, Hooks: &testHooks{values: map[string]func(string) (string, bool, error){
		"broken": func(v string) (string, bool, error) {
			return strings.Replace(v, "about", "about-missing", 1), true, nil
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(engine.Options{Spider: cs, Fetcher: newFetcher(t), MemUsageInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	res, err := eng.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !strings.HasSuffix(failed[0], "/about-missing.html") {
		t.Errorf("errback calls: %v (result %+v)", failed, res)
	}
}

// LINKEXTRACTOR_MAX_LINKS: each rule reads at most MaxLinks links of a
// page; a page cut short is warned about once (URL and cap), however many
// rules were cut, and counted in linkextractor/pages_truncated. A rule's
// own cap wins over the spider's.
func TestRulesMaxLinks(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("<html><body>")
	for i := range 50 {
		fmt.Fprintf(&b, `<a href="/item/%d">%d</a><a href="/list/%d">list</a>`, i, i, i)
	}
	b.WriteString("</body></html>")
	logs := &proctest.Buffer{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	st := stats.NewMemory()
	cs, err := New(itemSpider(), Options{MaxLinks: 10, Logger: logger, Stats: st, Rules: []Rule{
		{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{`/item/`}}, Callback: "parse_item"},
		{LinkExtractor: extract.LinkExtractorOptions{Allow: []string{`/list/`}, MaxLinks: 6}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	if err := cs.Callback(context.Background(), page("http://t.test/big", b.String(), nil), rec); err != nil {
		t.Fatal(err)
	}
	// Rule 0 read the first 10 links (5 items, 5 lists), rule 1 the first
	// 6 (3 items, 3 lists).
	want := []string{
		"http://t.test/item/0", "http://t.test/item/1", "http://t.test/item/2", "http://t.test/item/3", "http://t.test/item/4",
		"http://t.test/list/0", "http://t.test/list/1", "http://t.test/list/2",
	}
	if got := rec.urls(); !reflect.DeepEqual(got, want) {
		t.Fatalf("requests %v\nwant %v", got, want)
	}
	out := logs.String()
	if n := strings.Count(out, "LINKEXTRACTOR_MAX_LINKS"); n != 1 || !strings.Contains(out, "url=http://t.test/big") || !strings.Contains(out, "max_links=10") {
		t.Fatalf("want one warning with the URL and the cap, got:\n%s", out)
	}
	if v, _ := st.Get(StatLinksTruncated); v != int64(1) {
		t.Fatalf("%s = %v, want 1", StatLinksTruncated, v)
	}

	// Under the cap: no warning, no stat.
	rec = &recorder{}
	if err := cs.Callback(context.Background(), page("http://t.test/small", rulesPage, nil), rec); err != nil {
		t.Fatal(err)
	}
	if v, _ := st.Get(StatLinksTruncated); v != int64(1) || strings.Count(logs.String(), "LINKEXTRACTOR_MAX_LINKS") != 1 {
		t.Fatalf("a page under the cap was reported as cut: stat %v\n%s", v, logs)
	}
}
