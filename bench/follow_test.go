package bench

import (
	"context"
	"fmt"
	"github.com/spiderrun/spiderrun/internal/cputime"
	"math"
	"runtime"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// followScript yields n Requests built by response.follow, as the crawl
// benchmark's spider does for every link of a page: relative URLs, a
// callback, nothing else. "plain" is new Request with an absolute URL (the
// sink without follow), "follow_all" the same links through follow_all.
const followScript = `
export function* follow(response, cb_kwargs) {
  for (let i = 0; i < cb_kwargs.n; i++) yield response.follow("/p/" + i, { callback: follow });
}
export function* follow_bare(response, cb_kwargs) {
  for (let i = 0; i < cb_kwargs.n; i++) yield response.follow("/p/" + i);
}
export function follow_all(response, cb_kwargs) {
  const links = [];
  for (let i = 0; i < cb_kwargs.n; i++) links.push("/p/" + i);
  return response.follow_all(links, { callback: follow });
}
export function other() {}
// modified yields Request objects changed between response.follow and the
// yield: the engine must get the changed request.
export function* modified(response) {
  let r = response.follow("/a", { callback: follow }); r.url = "http://bench.test/changed"; yield r;
  r = response.follow("/b", { callback: follow }); r.priority = 7; yield r;
  r = response.follow("/c"); r.meta.x = 1; yield r;
  r = response.follow("/d"); Object.defineProperty(r, "dont_filter", { value: true, enumerable: true }); yield r;
  r = response.follow("/e", { callback: follow }); yield r; yield r;
  r = response.follow("/f"); const g = response.follow("/g", { priority: 2 }); yield r; yield g;
  r = response.follow("/h", { callback: follow }); r.callback = other; yield r;
  r = response.follow("/i"); r.proxies = "http://127.0.0.1:9"; yield r;
  r = response.follow("/j", { callback: follow }); delete r.method; r.method = "POST"; yield r;
  r = response.follow("/k", { callback: follow, meta: { a: 1 } }); r.meta.b = 2; yield r;
  r = response.follow("/l", { callback: (resp) => null }); yield r;
  r = response.follow("/m"); Object.defineProperty(r, "proxies", { value: "http://127.0.0.1:8", enumerable: true }); yield r;
  r = response.follow("/n"); r.headers; yield r;
  r = response.follow("/o"); r.headers["X-A"] = "1"; yield r;
  r = response.follow("/p", { callback: follow }); Object.freeze(r); yield r;
  r = response.follow("/q"); r.session_id = "s1"; yield r;
  r = response.follow("/r", { callback: follow });
  Object.defineProperty(r, "url", { get() { return "http://bench.test/r2"; }, enumerable: true, configurable: true }); yield r;
  r = response.follow("/s", { dont_filter: true }); r.dont_filter = false; yield r;
  r = response.follow("/t"); Object.defineProperty(r, "max_retry_times", { value: 3, enumerable: true }); yield r;
  r = new Request({ url: "http://bench.test/u", callback: follow }); yield r;
  r = new Request({ url: "http://bench.test/v", callback: follow }); r.url = "http://bench.test/v2"; yield r;
  r = new Request("http://bench.test/w", { priority: 1 }); r.errback = follow; yield r;
  r = new Request({ url: "http://bench.test/x", params: { a: "1" } }); yield r;
  r = response.follow("/y"); r.method = "put"; yield r;
  const all = response.follow_all(["/z1", "/z2"], { callback: follow }); all[0].priority = 3; yield* all;
  const all2 = response.follow_all(["/z3", "/z4", "/z5"]); all2[1].url = "http://bench.test/z4b";
  yield all2[2]; yield all2[0]; yield all2[1]; yield all2[2];
  // A getter that throws while the request is read: the callback fails,
  // the object keeps its prototype.
  r = response.follow("/boom"); thrown = r;
  Object.defineProperty(r, "timeout", { get() { throw new Error("boom"); }, enumerable: true }); yield r;
}
let thrown;
export function* after_throw() {
  yield { proto_ok: Object.getPrototypeOf(thrown) === Request.prototype, url: thrown.url };
}
export function* plain(response, cb_kwargs) {
  for (let i = 0; i < cb_kwargs.n; i++) yield new Request({ url: "http://bench.test/p/" + i, callback: follow });
}
`

// followN is the number of Requests one callback yields.
const followN = 100

func newFollowSpider(tb testing.TB) *jsbridge.Spider {
	tb.Helper()
	p, err := compile.Compile(compile.Source{Filename: "follow.js", Code: followScript})
	if err != nil {
		tb.Fatal(err)
	}
	s, err := jsbridge.New(jsbridge.Options{Program: p, Name: "follow"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.Shutdown)
	return s
}

// followCallback runs one callback that yields followN requests and checks
// them.
func followCallback(tb testing.TB, s *jsbridge.Spider, callback string, out *followOut) {
	req := &crawl.Request{URL: "http://bench.test/p/7", Callback: callback, CbKwargs: map[string]any{"n": int64(followN)}}
	resp := &crawl.Response{URL: req.URL, Status: 200, Request: req,
		Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html"}}}
	n := out.reqs
	if err := s.Callback(context.Background(), resp, out); err != nil {
		tb.Fatal(err)
	}
	if out.reqs-n != followN || out.errs != 0 {
		tb.Fatalf("%s: %d requests, %d errors, want %d requests", callback, out.reqs-n, out.errs, followN)
	}
}

// followOut checks the yielded requests as the engine would read them.
type followOut struct {
	reqs, errs int
	last       *crawl.Request
}

func (o *followOut) Request(r *crawl.Request) { o.reqs++; o.last = r }
func (o *followOut) Item(*crawl.Item)         { o.errs++ }
func (o *followOut) Error(error)              { o.errs++ }

// BenchmarkFollow is the cost of one Request yielded from a callback:
// response.follow (or follow_all, or new Request) and the output sink that
// hands it to the engine. Per-yield figures: allocs/op and B/op divided by
// followN are reported as allocs/request and B/request.
func BenchmarkFollow(b *testing.B) {
	for _, cb := range []string{"follow", "follow_bare", "follow_all", "plain"} {
		b.Run(cb, func(b *testing.B) {
			s := newFollowSpider(b)
			out := &followOut{}
			followCallback(b, s, cb, out) // warm up
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			cpu0 := cputime.Process()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				followCallback(b, s, cb, out)
			}
			b.StopTimer()
			cpu := cputime.Process() - cpu0
			runtime.ReadMemStats(&ms1)
			n := float64(b.N * followN)
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/request")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/n, "allocs/request")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/n, "B/request")
		})
	}
}

// followAllocCeilings bound the allocations of one Request yielded by a
// callback of followScript — the script's own (the URL string, the
// options object, the generator step: about 14 for follow), enumerating
// the options object's keys (8 for {callback}), the Request object and
// its url (about 9), the crawl.Request, and the sink — so that the path
// cannot silently regress: each is set just above what it measured, so
// one more allocation per request fails the test. Measured (go1.26,
// goja 2026-09, per request): follow 64.7 before issue 20, 55.6 after its
// first round, 34.65 after the fast path (follow_all 50.0 → 21.05, new
// Request 58.6 → 38.53).
var followAllocCeilings = []struct {
	callback string
	max      float64
}{
	{"follow", 35},
	{"follow_all", 21.5},
	{"plain", 39},
}

// TestFollowAllocs counts the allocations per Request yielded through
// response.follow, follow_all and new Request (the whole process's
// mallocs over callbacks yielding followN each, so a callback's own fixed
// cost is spread over them; the least of three measurements).
func TestFollowAllocs(t *testing.T) {
	for _, c := range followAllocCeilings {
		t.Run(c.callback, func(t *testing.T) {
			s := newFollowSpider(t)
			out := &followOut{}
			followCallback(t, s, c.callback, out)
			if out.last.URL != "http://bench.test/p/99" || out.last.Callback != "follow" || out.last.GetMethod() != "GET" {
				t.Fatalf("last request %+v", out.last)
			}
			const rounds = 20
			per, bytes := math.Inf(1), 0.0
			for range 3 {
				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				for range rounds {
					followCallback(t, s, c.callback, out)
				}
				runtime.ReadMemStats(&ms1)
				if n := float64(ms1.Mallocs-ms0.Mallocs) / (rounds * followN); n < per {
					per, bytes = n, float64(ms1.TotalAlloc-ms0.TotalAlloc)/(rounds*followN)
				}
			}
			t.Logf("%.2f allocations per Request (%.0f B)", per, bytes)
			max := c.max
			if raceDetector {
				// sync.Pool drops a quarter of what is put back under
				// -race: one pooled object per Request is allocated again
				// (measured: new Request 39.53 instead of 38.53).
				max++
			}
			if per > max {
				t.Errorf("%.2f allocations per Request yielded by %s, want ≤ %g", per, c.callback, max)
			}
		})
	}
}

// collectOut keeps the callback's output.
type collectOut struct {
	reqs  []*crawl.Request
	items []*crawl.Item
	errs  []error
}

func (o *collectOut) Request(r *crawl.Request) { o.reqs = append(o.reqs, r) }
func (o *collectOut) Item(it *crawl.Item)      { o.items = append(o.items, it) }
func (o *collectOut) Error(err error)          { o.errs = append(o.errs, err) }

// TestFollowModified: a Request object changed after response.follow
// returned it reaches the engine as changed (the follow path hands the
// engine the request it built only while the object is as it left it).
func TestFollowModified(t *testing.T) {
	s := newFollowSpider(t)
	req := &crawl.Request{URL: "http://bench.test/p/7", Callback: "modified"}
	resp := &crawl.Response{URL: req.URL, Status: 200, Request: req,
		Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html"}}}
	out := &collectOut{}
	err := s.Callback(context.Background(), resp, out)
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Errorf("callback error %v, want the getter's boom", err)
	}
	if len(out.errs) > 0 {
		t.Fatalf("errors: %v", out.errs)
	}
	type want struct {
		url, method, callback, errback string
		priority                       int
		dontFilter                     bool
		meta, headers                  string
		proxy, session                 string
		maxRetry                       int
		local                          bool
	}
	wants := []want{
		{url: "http://bench.test/changed", method: "GET", callback: "follow"},
		{url: "http://bench.test/b", method: "GET", callback: "follow", priority: 7},
		{url: "http://bench.test/c", method: "GET", meta: "map[x:1]"},
		{url: "http://bench.test/d", method: "GET", dontFilter: true},
		{url: "http://bench.test/e", method: "GET", callback: "follow"},
		{url: "http://bench.test/e", method: "GET", callback: "follow"},
		{url: "http://bench.test/f", method: "GET"},
		{url: "http://bench.test/g", method: "GET", priority: 2},
		{url: "http://bench.test/h", method: "GET", callback: "other"},
		{url: "http://bench.test/i", method: "GET", proxy: "http://127.0.0.1:9"},
		{url: "http://bench.test/j", method: "POST", callback: "follow"},
		{url: "http://bench.test/k", method: "GET", callback: "follow", meta: "map[a:1 b:2]"},
		{url: "http://bench.test/l", method: "GET", local: true},
		{url: "http://bench.test/m", method: "GET", proxy: "http://127.0.0.1:8"},
		{url: "http://bench.test/n", method: "GET"},
		{url: "http://bench.test/o", method: "GET", headers: "[{X-A 1}]"},
		{url: "http://bench.test/p", method: "GET", callback: "follow"},
		{url: "http://bench.test/q", method: "GET", session: "s1"},
		{url: "http://bench.test/r2", method: "GET", callback: "follow"},
		{url: "http://bench.test/s", method: "GET"},
		{url: "http://bench.test/t", method: "GET", maxRetry: 3},
		{url: "http://bench.test/u", method: "GET", callback: "follow"},
		{url: "http://bench.test/v2", method: "GET", callback: "follow"},
		{url: "http://bench.test/w", method: "GET", errback: "follow", priority: 1},
		{url: "http://bench.test/x?a=1", method: "GET"},
		{url: "http://bench.test/y", method: "PUT"},
		{url: "http://bench.test/z1", method: "GET", callback: "follow", priority: 3},
		{url: "http://bench.test/z2", method: "GET", callback: "follow"},
		{url: "http://bench.test/z5", method: "GET"},
		{url: "http://bench.test/z3", method: "GET"},
		{url: "http://bench.test/z4b", method: "GET"},
		{url: "http://bench.test/z5", method: "GET"},
	}
	if len(out.reqs) != len(wants) {
		t.Fatalf("%d requests, want %d", len(out.reqs), len(wants))
	}
	for i, w := range wants {
		r := out.reqs[i]
		got := want{url: r.URL, method: r.GetMethod(), callback: r.Callback, errback: r.Errback, priority: r.Priority,
			dontFilter: r.DontFilter, proxy: r.Proxy, session: r.SessionID, local: r.Local != nil}
		if len(r.Meta) > 0 {
			got.meta = fmt.Sprint(r.Meta)
		}
		if len(r.Headers) > 0 {
			got.headers = fmt.Sprint(r.Headers)
		}
		if r.MaxRetryTimes != nil {
			got.maxRetry = *r.MaxRetryTimes
		}
		if got != w {
			t.Errorf("request %d:\n got %+v\nwant %+v", i, got, w)
		}
	}
	if out.reqs[4] == out.reqs[5] {
		t.Error("the object yielded twice gave the same *crawl.Request twice")
	}
	// The object whose getter threw during the check kept its prototype.
	req = &crawl.Request{URL: "http://bench.test/p/7", Callback: "after_throw"}
	resp = &crawl.Response{URL: req.URL, Status: 200, Request: req}
	out = &collectOut{}
	if err := s.Callback(context.Background(), resp, out); err != nil {
		t.Fatal(err)
	}
	if len(out.items) != 1 || fmt.Sprint(out.items[0].Fields) != "[{proto_ok true} {url http://bench.test/boom}]" {
		t.Errorf("after the throwing getter: %v", out.items[0].Fields)
	}
}
