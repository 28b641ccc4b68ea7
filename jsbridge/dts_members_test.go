package jsbridge

import (
	"errors"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// dtsMembers returns the member names declared in the block of
// spiderrun.d.ts that starts with header (e.g. "interface Response {"),
// without optional ones (name?:).
func dtsMembers(t *testing.T, src, header string) []string {
	t.Helper()
	i := strings.Index(src, "\n"+header)
	if i < 0 {
		t.Fatalf("spiderrun.d.ts has no %q", header)
	}
	block := src[i+1:]
	block = block[:strings.Index(block, "\n}")]
	var out []string
	for _, m := range regexp.MustCompile(`(?m)^  (?:readonly )?([a-z_][A-Za-z0-9_]*)(\??)[(:]`).FindAllStringSubmatch(block, -1) {
		if m[2] == "" {
			out = append(out, m[1])
		}
	}
	return out
}

// TestDeclaredMembersExist: every member spiderrun.d.ts promises on the
// spider, a response, a request, a selector and a selector list is there
// at runtime (an editor completing a name that does not exist would be a
// lie).
func TestDeclaredMembersExist(t *testing.T) {
	data, err := os.ReadFile("spiderrun.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	src := string(data)
	// Members only WebSocket responses have.
	wsOnly := map[string]bool{"send": true, "close": true}
	var checks []string
	add := func(expr, header string, skip map[string]bool) {
		for _, m := range dtsMembers(t, src, header) {
			if !skip[m] {
				checks = append(checks, `["`+header+` `+m+`", `+expr+`, "`+m+`"]`)
			}
		}
	}
	add("spider", "interface Spider {", nil)
	add("response", "interface Response {", wsOnly)
	add("new Request({url: 'http://example.test/'})", "declare class Request {", map[string]bool{"constructor": true})
	add("response.css('title')[0]", "interface Selector {", nil)
	add("response.css('title')", "interface SelectorList extends Array<Selector> {", nil)
	add("response.headers", "interface Headers {", nil)
	add("new LinkExtractor().extract_links(response)[0]", "interface Link {", nil)
	add("new LinkExtractor()", "declare class LinkExtractor {", map[string]bool{"constructor": true})
	add("new ResultHolder()", "declare class ResultHolder {", map[string]bool{"constructor": true})
	add("new WebSocketMsg({data: 'x', flags: 'binary'})", "declare class WebSocketMsg {", map[string]bool{"constructor": true})
	add("new WebSocketMsg('x', {binary: true})", "declare class WebSocketMsg {", map[string]bool{"constructor": true})
	add("new TextEncoder()", "declare class TextEncoder {", nil)
	add("new TextDecoder()", "declare class TextDecoder {", map[string]bool{"constructor": true})
	add("new URL('http://example.test/a?b=c')", "declare class URL {", map[string]bool{"constructor": true})
	add("new URLSearchParams('a=1')", "declare class URLSearchParams {", map[string]bool{"constructor": true})
	add("console", "interface Console {", nil)
	add("new CloseSpider('x')", "declare class CloseSpider extends Error {", map[string]bool{"constructor": true})
	if len(checks) < 60 {
		t.Fatalf("only %d members found in spiderrun.d.ts: the parser is broken", len(checks))
	}
	var failureMembers []string
	for _, m := range dtsMembers(t, src, "interface Failure {") {
		failureMembers = append(failureMembers, `"`+m+`"`)
	}
	script := `export function parse(response) {
  const missing = [];
  for (const [what, obj, name] of [` + strings.Join(checks, ",\n    ") + `]) {
    if (!(name in Object(obj))) missing.push(what);
  }
  return { missing };
}
export function errback(failure) {
  const missing = [];
  for (const name of [` + strings.Join(failureMembers, ", ") + `]) {
    if (!(name in Object(failure))) missing.push("interface Failure { " + name);
  }
  return { missing };
}
`
	p, err := compile.Compile(compile.Source{Filename: "members.js", Code: script})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Program: p, Name: "members", Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	rec := &recorder{}
	page := htmlResponse("http://example.test/", "parse", `<title>T</title><a href="/next">next</a>`)
	if err := s.Callback(t.Context(), page, rec); err != nil {
		t.Fatal(err)
	}
	req := &crawl.Request{URL: "http://example.test/x", Errback: "errback"}
	if _, err := s.Errback(t.Context(), crawl.NewFailure(crawl.TimeoutError, req, errors.New("timed out")), rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.items) != 2 || len(failureMembers) < 6 {
		t.Fatalf("output: %s (Failure members found: %d)", rec, len(failureMembers))
	}
	for _, it := range rec.items {
		missing, _ := it.Get("missing")
		if l, ok := missing.([]any); !ok || len(l) > 0 {
			t.Fatalf("declared in spiderrun.d.ts but missing at runtime: %v", missing)
		}
	}
	t.Logf("%d declared members checked", len(checks))
}
