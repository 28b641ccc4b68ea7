package jsbridge

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// internalName matches what a script author must never see in an error:
// goja's GoError class, the bundle's and the prelude's file names, Go
// symbols and Go types.
var internalName = regexp.MustCompile(`GoError|spiderrun-bundle\.js|spiderrun-prelude\.js|github\.com/|\(\*[A-Za-z]+\)|\*[a-z]+\.[A-Z][A-Za-z]+\b|\bfunc[0-9]+\b`)

// goErrorCases call every Go-backed JS method with input its Go side
// rejects. want is the error's name; msg a regexp its message must match
// (naming the method or the query).
var goErrorCases = []struct {
	name, call, want, msg string
}{
	{"response.css", `response.css(q("::txt"))`, "TypeError", `^css "::txt": unsupported pseudo-element`},
	{"response.xpath", `response.xpath(q("//["))`, "TypeError", `^xpath "//\[": `},
	{"response.re", `response.re(q("("))`, "TypeError", `^response\.re: regex "\(": `},
	{"response.re_first", `response.re_first(q("("))`, "TypeError", `^response\.re_first: regex "\(": `},
	{"response.jmespath", `response.jmespath(q("a"))`, "Error", `^response\.jmespath: .*response body is not JSON`},
	{"response.extract_json", `response.extract_json(q("#nope"))`, "Error", `^response\.extract_json: .*no embedded JSON found for "#nope"`},
	{"response.urljoin", `response.urljoin(q("http://[::1"))`, "TypeError", `^urljoin "http://\[::1" with .*: invalid URL$`},
	{"response.follow", `response.follow(q("http://[::1"))`, "TypeError", `^response\.follow: urljoin "http://\[::1"`},
	{"response.follow_all", `response.follow_all({ css: q("::txt") })`, "TypeError", `^response\.follow_all: css "::txt"`},
	{"response.follow bad target", `response.follow(42 > 1 ? {} : "")`, "TypeError", `^follow: want a URL`},
	{"response.send", `response.send(q("x"))`, "TypeError", `^response\.send: not a WebSocket response$`},
	{"headers.get", `response.headers.get()`, "TypeError", `^headers\.get: argument 1 is required$`},
	{"selector.css", `response.css("title")[0].css(q("::txt"))`, "TypeError", `^css "::txt"`},
	{"selector.xpath", `response.css("title")[0].xpath(q("//["))`, "TypeError", `^xpath "//\["`},
	{"selector.re", `response.css("title")[0].re(q("("))`, "TypeError", `^regex "\("`},
	{"selector.re_first", `response.css("title")[0].re_first(q("("))`, "TypeError", `^regex "\("`},
	{"selectorlist.css", `response.css("title").css(q("::txt"))`, "TypeError", `^css "::txt"`},
	{"selectorlist.xpath", `response.css("title").xpath(q("//["))`, "TypeError", `^xpath "//\["`},
	{"selectorlist.re", `response.css("title").re(q("("))`, "TypeError", `^regex "\("`},
	{"selectorlist.re_first", `response.css("title").re_first(q("("))`, "TypeError", `^regex "\("`},
	{"LinkExtractor", `new LinkExtractor({ allow: [q("(")] })`, "TypeError", `regex "\("`},
	{"FormRequest.from_response", `FormRequest.from_response(response)`, "Error", `form`},
	{"use_execjs", `spider.use_execjs(q("nope"), "f", [])`, "TypeError", `^spider\.use_execjs: no js_path contexts`},
	{"TextDecoder", `new TextDecoder(q("nope"))`, "TypeError", `^TextDecoder: `},
}

// TestGoErrorNames: an error a Go function of the bridge throws into JS is
// a JS error with a meaningful name (TypeError for an argument Go rejects,
// the failure type for a download, Error otherwise) and a message that
// names the method or the query, never GoError, a Go symbol or the
// bundle; uncaught, it is logged and counted under that name. Run through
// the engine against a local page.
func TestGoErrorNames(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<html><head><title>T</title></head><body><a href="/x">x</a></body></html>`)
	})
	mux.HandleFunc("/missing", http.NotFound)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	var b strings.Builder
	b.WriteString(`
// q hides a literal from validate's static checks: the query is a variable.
const q = (s) => String(s);
// goSymbol is the first Go function name in a stack, or "".
const goSymbol = (st) => (/GoError|github\.com\/|\(\*[A-Za-z]+\)|\bfunc[0-9]+\b/.exec(String(st)) || [""])[0];
function probe(id, f) {
  try { f(); return { id, name: "no error" }; }
  catch (e) { return { id, name: e.name, message: e.message, str: String(e), ctor: e.constructor.name, isError: e instanceof Error, head: String(e.stack).split("\n")[0], stack: goSymbol(e.stack) }; }
}
export async function* parse(response) {
`)
	for _, tc := range goErrorCases {
		fmt.Fprintf(&b, "  yield probe(%q, () => %s);\n", tc.name, tc.call)
	}
	b.WriteString(`  try { await spider.download(new Request(response.urljoin("/missing"))); }
  catch (e) { yield { id: "spider.download", name: e.name, message: e.message, str: String(e), ctor: e.constructor.name, isError: e instanceof Error, head: String(e.stack).split("\n")[0], type: e.type }; }
  yield new Request({ url: response.urljoin("/?uncaught"), callback: uncaught });
  yield new Request({ url: response.urljoin("/?download"), callback: uncaught_download });
}
export function uncaught(response) { response.extract_json(q("#nope")); }
export async function uncaught_download(response) { await spider.download(new Request(response.urljoin("/missing"))); }
export function errRet() {}
`)
	p, err := compile.Compile(compile.Source{Filename: "errs.js", Code: b.String()})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	s, err := New(Options{Program: p, Name: "errs", StartURLs: []string{srv.URL + "/"}, Logger: newTestLogger(logs)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	res, sink := runEngine(t, s, nil)

	type probe struct {
		ID, Name, Message, Str, Ctor, Head, Type, Stack string
		IsError                                         bool
	}
	got := map[string]probe{}
	for _, line := range sink.jsonLines() {
		var p probe
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		got[p.ID] = p
	}
	check := func(t *testing.T, p probe, want, msg string) {
		if p.Name != want {
			t.Errorf("name %q, want %q (message %q)", p.Name, want, p.Message)
		}
		if !regexp.MustCompile(msg).MatchString(p.Message) {
			t.Errorf("message %q does not match %s", p.Message, msg)
		}
		if !p.IsError || p.Str != p.Name+": "+p.Message || p.Head != p.Str {
			t.Errorf("not an Error named %s: String(e) %q, stack %q, instanceof Error %v", p.Name, p.Str, p.Head, p.IsError)
		}
		if p.Ctor == "GoError" {
			t.Errorf("constructor.name %q", p.Ctor)
		}
		for _, s := range []string{p.Name, p.Message, p.Str, p.Head} {
			if m := internalName.FindString(s); m != "" {
				t.Errorf("internal name %q in %q", m, s)
			}
		}
		// The stack a script reads may show the prelude's frames, never a
		// Go function (goja names a native frame after its Go symbol).
		if p.Stack != "" {
			t.Errorf("Go symbol %q in the stack", p.Stack)
		}
	}
	for _, tc := range goErrorCases {
		t.Run(tc.name, func(t *testing.T) {
			p, ok := got[tc.name]
			if !ok {
				t.Fatalf("no probe item; items:\n%s\nlogs:\n%s", strings.Join(sink.jsonLines(), "\n"), logs)
			}
			check(t, p, tc.want, tc.msg)
		})
	}
	t.Run("spider.download", func(t *testing.T) {
		p := got["spider.download"]
		check(t, p, "HttpError", `HttpError|404`)
		if p.Type != "HttpError" {
			t.Errorf("type %q", p.Type)
		}
	})
	t.Run("uncaught", func(t *testing.T) {
		if res.Errors != 2 {
			t.Errorf("errors %d, want 2\nlogs:\n%s", res.Errors, logs)
		}
		for k, want := range map[string]int64{stats.SpiderExceptions + "Error": 1, stats.SpiderExceptions + "HttpError": 1} {
			if n, _ := res.Stats[k].(int64); n != want {
				t.Errorf("%s = %v, want %d (stats %v)", k, res.Stats[k], want, res.Stats)
			}
		}
		for k := range res.Stats {
			if internalName.MatchString(k) {
				t.Errorf("stat %s", k)
			}
		}
		if m := internalName.FindString(logs.String()); m != "" {
			t.Errorf("internal name %q in the log:\n%s", m, logs)
		}
		if !strings.Contains(logs.String(), "Error: response.extract_json: ") {
			t.Errorf("log does not name response.extract_json:\n%s", logs)
		}
	})
	_ = engine.ReasonFinished
}
