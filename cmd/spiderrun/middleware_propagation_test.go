package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
)

// middlewareSpider exercises JS downloader middlewares through the real
// CLI, for scheduled requests and for `await spider.download(req)`, with
// Scrapy 2.8's semantics (scrapy/core/downloader/middleware.py, and
// response.meta being response.request.meta):
//
//   - mutate / mutate_inline: what process_request and process_response
//     change on the request (meta, headers, cb_kwargs) or on the response
//     (meta, flags) reaches the callback; process_request runs in list
//     order, process_response in reverse (the trace);
//   - resp_request / resp_request_inline: process_response returning a
//     new Request: it is scheduled (or, inline, followed) and the original
//     callback is not called;
//   - self_dupe / self_dupe_df: a Request returned by process_response
//     goes through the scheduler's dupefilter: the same request without
//     dont_filter is dropped, with dont_filter it is fetched again;
//   - req_request: process_request returning a Request: it is scheduled,
//     nothing else runs for the original;
//   - req_response: process_request returning a Response skips the
//     download and the later process_request, but every process_response
//     runs on it, and its own request's callback gets it;
//   - exc_request / exc_response / exc_mutate: process_exception returning
//     a Request (scheduled), a Response (every process_response runs on
//     it), or nothing after changing request.meta (the errback sees it).
const middlewareSpider = `const SERVER = "$SERVER";

const caseOf = (u) => (u.match(/[?&]case=([^&]+)/) || [])[1] || "";
const trace = (meta, step) => { (meta.trace = meta.trace || []).push(step); };
const hdr = (headers, name) => {
  for (const k of Object.keys(headers || {})) if (k.toLowerCase() === name.toLowerCase()) return headers[k];
  return null;
};
const echoed = (response, name) => {
  if (!response.url.includes("/echo")) return null;
  const h = response.json().headers.find((kv) => kv.name.toLowerCase() === name.toLowerCase());
  return h ? h.value : null;
};

export async function* start() {
  for (const c of ["mutate", "resp_request", "self_dupe", "self_dupe_df", "req_response", "req_request", "inline", "inline_resched"]) {
    yield new Request({ url: SERVER + (c === "mutate" ? "/echo" : "/ok") + "?case=" + c });
  }
  for (const c of ["exc_request", "exc_response", "exc_mutate"]) {
    yield new Request({ url: SERVER + "/reset?case=" + c, meta: { dont_retry: true }, errback: "on_error" });
  }
  yield new Request({ url: SERVER + "/redirect?code=302&case=redirect_src&to=" + encodeURIComponent("/echo?case=redirected") });
  yield new Request({ url: SERVER + "/status?code=503&case=retried", meta: { max_retry_times: 1 }, retry_delay: 0.01, errback: "on_error" });
}

export function req1(request, spider) {
  const c = caseOf(request.url);
  spider.stats.inc("mw/req1/" + c);
  trace(request.meta, "req1");
  request.headers["X-Req1"] = "a";
  if (c === "req_response") {
    return spider.download(new Request({ url: SERVER + "/echo?inline_for=req_response", meta: { trace: ["inline"], from: "req_response" }, callback: "parse_other", dont_filter: true }));
  }
}

export function req2(request, spider) {
  const c = caseOf(request.url);
  spider.stats.inc("mw/req2/" + c);
  trace(request.meta, "req2");
  if (c === "req_request") {
    return new Request({ url: SERVER + "/ok?from=req_request", callback: "parse_other", meta: { from: "req_request" } });
  }
}

export function resp2(request, response, spider) {
  const c = caseOf(request.url);
  spider.stats.inc("mw/resp2/" + c);
  trace(response.meta, "resp2");
  if (c === "mutate" || c === "mutate_inline") {
    request.meta.tag = "set-by-resp2";
    request.cb_kwargs.k = "kw";
    request.headers["X-Late"] = "late";
    response.flags.push("mw-flag");
  }
  return response;
}

export async function resp1(request, response, spider) {
  await null;
  const c = caseOf(request.url);
  spider.stats.inc("mw/resp1/" + c);
  trace(response.meta, "resp1");
  if (c === "mutate" || c === "mutate_inline") response.meta.tag1 = "set-on-response.meta";
  if (c === "resp_request" || c === "resp_request_inline") {
    return new Request({ url: SERVER + "/ok?from=" + c, callback: "parse_other", meta: { from: c } });
  }
  if (c === "self_dupe") return request.replace({});
  if (c === "self_dupe_df" && !request.meta.again) {
    return request.replace({ dont_filter: true, meta: Object.assign({}, request.meta, { again: true }) });
  }
  return response;
}

export async function exc1(request, failure, spider) {
  const c = caseOf(request.url);
  spider.stats.inc("mw/exc1/" + c);
  if (c === "exc_request") {
    return new Request({ url: SERVER + "/ok?from=exc_request", callback: "parse_other", meta: { from: "exc_request" } });
  }
  if (c === "exc_response") {
    return spider.download(new Request({ url: SERVER + "/echo?from=exc_response", callback: "parse_other", meta: { from: "exc_response" }, dont_filter: true }));
  }
  if (c === "exc_mutate") {
    request.meta.exc_seen = failure.type;
    request.meta.same = failure.request.meta === request.meta;
  }
}

function view(c, r, kw) {
  return {
    case: c,
    trace: r.meta.trace || null,
    tag: r.meta.tag || null,
    tag1: r.meta.tag1 || null,
    kw: kw.k || null,
    kw_resp: r.cb_kwargs.k || null,
    flags: r.flags,
    late: hdr(r.request.headers, "X-Late"),
    echoed: echoed(r, "X-Req1"),
    again: r.meta.again || null,
    redirect_reasons: r.meta.redirect_reasons || null,
  };
}

export async function* parse(response, cb_kwargs) {
  const c = caseOf(response.url);
  if (c === "inline") {
    const r = await spider.download(new Request({ url: SERVER + "/echo?case=mutate_inline" }));
    yield view("inline", r, r.cb_kwargs);
    return;
  }
  if (c === "inline_resched") {
    const r = await spider.download(new Request({ url: SERVER + "/ok?case=resp_request_inline" }));
    yield { case: c, url: r.url.slice(SERVER.length), from: r.meta.from || null };
    return;
  }
  yield view(c, response, cb_kwargs);
}

export function parse_other(response) {
  return { case: "other", from: response.meta.from || null, url: response.url.slice(SERVER.length), trace: response.meta.trace || null };
}

export function on_error(failure) {
  const m = failure.request.meta;
  return { case: "errback " + caseOf(failure.request.url), type: failure.type, exc_seen: m.exc_seen || null, same: m.same === undefined ? null : m.same, trace: m.trace || null, retry_times: m.retry_times || null };
}
`

const middlewareSpec = `name: mwprop
script: spider.js
downloader_middlewares:
  - {process_request: req1, process_response: resp1, process_exception: exc1}
  - {process_request: req2, process_response: resp2}
settings: {CONCURRENT_REQUESTS: 4}
`

// TestMiddlewarePropagation runs middlewareSpider and checks every item.
func TestMiddlewarePropagation(t *testing.T) {
	t.Parallel()
	srv := fixture.New(t, fixture.Options{})
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), strings.ReplaceAll(middlewareSpider, "$SERVER", srv.URL))
	write(t, filepath.Join(dir, "spider.yaml"), middlewareSpec)
	out := filepath.Join(dir, "items.jsonl")
	statsFile := filepath.Join(dir, "stats.json")
	code, _, stderr := runCLI(t, "run", filepath.Join(dir, "spider.yaml"), "-O", out, "--stats-json", statsFile)
	if code != exitOK {
		t.Fatalf("exit code %d\n%s", code, stderr)
	}
	mutated := func(c string) string {
		return `{"case":"` + c + `","trace":["req1","req2","resp2","resp1"],"tag":"set-by-resp2","tag1":"set-on-response.meta","kw":"kw","kw_resp":"kw","flags":["mw-flag"],"late":"late","echoed":"a","again":null,"redirect_reasons":null}`
	}
	want := map[string]string{
		"mutate": mutated("mutate"),
		"inline": mutated("inline"),
		// The rescheduled request went through the whole chain again.
		"self_dupe_df":       `{"case":"self_dupe_df","trace":["req1","req2","resp2","resp1","req1","req2","resp2","resp1"],"tag":null,"tag1":null,"kw":null,"kw_resp":null,"flags":[],"late":null,"echoed":null,"again":true,"redirect_reasons":null}`,
		"inline_resched":     `{"case":"inline_resched","url":"/ok?from=resp_request_inline","from":"resp_request_inline"}`,
		"other resp_request": `{"case":"other","from":"resp_request","url":"/ok?from=resp_request","trace":["req1","req2","resp2","resp1"]}`,
		// The inline download's own chain, then the outer request's
		// process_response methods (not its second process_request).
		"other req_response": `{"case":"other","from":"req_response","url":"/echo?inline_for=req_response","trace":["inline","req1","req2","resp2","resp1","resp2","resp1"]}`,
		"other req_request":  `{"case":"other","from":"req_request","url":"/ok?from=req_request","trace":["req1","req2","resp2","resp1"]}`,
		"other exc_request":  `{"case":"other","from":"exc_request","url":"/ok?from=exc_request","trace":["req1","req2","resp2","resp1"]}`,
		"other exc_response": `{"case":"other","from":"exc_response","url":"/echo?from=exc_response","trace":["req1","req2","resp2","resp1","resp2","resp1"]}`,
		"errback exc_mutate": `{"case":"errback exc_mutate","type":"ConnectionResetError","exc_seen":"ConnectionResetError","same":true,"trace":["req1","req2"],"retry_times":null}`,
		// Order with the built-ins (Scrapy's: user middlewares at 543,
		// Retry 550 and Redirect 600 closer to the downloader): the
		// redirect and the retry happen before the user's process_response
		// runs, which sees only the final response; the copies carry the
		// meta, so the trace shows each attempt's process_request.
		"redirected":      `{"case":"redirected","trace":["req1","req2","req1","req2","resp2","resp1"],"tag":null,"tag1":null,"kw":null,"kw_resp":null,"flags":[],"late":null,"echoed":"a","again":null,"redirect_reasons":[302]}`,
		"errback retried": `{"case":"errback retried","type":"HttpError","exc_seen":null,"same":null,"trace":["req1","req2","req1","req2","resp2","resp1"],"retry_times":1}`,
	}
	got := map[string]string{}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var item map[string]any
		if err := json.Unmarshal(sc.Bytes(), &item); err != nil {
			t.Fatal(err)
		}
		key, _ := item["case"].(string)
		if key == "other" {
			key += " " + item["from"].(string)
		}
		if _, dup := got[key]; dup {
			t.Errorf("item %q twice", key)
		}
		got[key] = sc.Text()
	}
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !sameJSONText(got[k], want[k]) {
			t.Errorf("%s:\n got %s\nwant %s", k, got[k], want[k])
		}
	}
	if t.Failed() {
		t.Logf("stderr:\n%s", stderr)
	}

	var st map[string]any
	data, err := os.ReadFile(statsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]float64{
		"mw/req1/req_response":  1,
		"mw/req2/req_response":  0, // skipped: req1 answered with a Response
		"mw/resp1/req_response": 1,
		"mw/resp2/req_response": 1,
		"mw/resp1/self_dupe":    1, // its request is dropped by the dupefilter
		"mw/resp2/req_request":  0, // req2 answered with a Request
		"mw/req1/self_dupe_df":  2,
		"mw/exc1/exc_mutate":    1,
		"mw/resp1/exc_response": 1,
		"dupefilter/filtered":   1,
		"mw/req1/retried":       2,
		"mw/resp1/retried":      1, // the given-up 503 only
		"mw/resp1/redirect_src": 0, // Redirect answered first
		"retry/count":           1,
	} {
		if got, _ := st[key].(float64); got != want {
			t.Errorf("stat %s = %v, want %v", key, st[key], want)
		}
	}
}

func sameJSONText(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
