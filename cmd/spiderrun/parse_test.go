package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
)

func TestParseCommand(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 10, Links: 2})
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: p\nstart_urls:\n  - "+srv.URL+"/site/0\nscript: spider.js\n")
	write(t, filepath.Join(dir, "spider.js"), `
export function* parse(response) {
  yield { name: response.css("h1.name::text").get() };
  yield* response.follow_all(response.css("ul.links a"), { callback: detail });
}
export function detail(response, kw) {
  return { detail: response.css(".sku::text").get(), tag: response.meta.tag || null, kw: (kw && kw.k) || null };
}
export function broken(response) {
  yield_nothing_here();
}
`)
	rule := "# Scraped Items  " + strings.Repeat("-", 60)
	reqRule := "# Requests  " + strings.Repeat("-", 65)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // in this order
	}{
		{"default callback", []string{srv.URL + "/site/0"}, 0, []string{
			"\n>>> STATUS DEPTH LEVEL 1 <<<\n", rule + "\n", `[{"name":"Product 0"}]` + "\n", reqRule + "\n",
			"[<GET " + srv.URL + "/site/1 callback=detail>,\n <GET " + srv.URL + "/site/"}},
		{"named callback, meta and cb_kwargs", []string{srv.URL + "/site/3", "--callback", "detail", "--meta", `{"tag": "x"}`, "--cbkwargs", `{"k": "v"}`}, 0, []string{
			rule + "\n", `[{"detail":"SKU-000003","tag":"x","kw":"v"}]` + "\n", reqRule + "\n[]\n"}},
		{"--noitems --nolinks", []string{srv.URL + "/site/0", "--noitems", "--nolinks"}, 0, []string{"\n>>> STATUS DEPTH LEVEL 1 <<<\n"}},
		{"callback error", []string{srv.URL + "/site/3", "--callback", "broken"}, 1, []string{"# Errors ", "depth 1: ", "ReferenceError"}},
		{"download failure", []string{srv.URL + "/status?code=500", "-s", "RETRY_ENABLED=false"}, 1, []string{"# Errors ", "HttpError"}},
		{"unknown callback", []string{srv.URL + "/site/3", "--callback", "nope"}, 1, []string{"nope"}},
		{"bad meta", []string{srv.URL + "/site/3", "--meta", "[1]"}, 2, []string{"--meta: invalid JSON object"}},
		{"bad cbkwargs", []string{srv.URL + "/site/3", "--cbkwargs", "{"}, 2, []string{"--cbkwargs: invalid JSON object"}},
		{"depth 0", []string{srv.URL + "/site/3", "--depth", "0"}, 2, []string{"--depth 0: want 1 or more"}},
		{"depth not a number", []string{srv.URL + "/site/3", "--depth", "two"}, 2, []string{`invalid argument "two" for "-d, --depth"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"parse", spec}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			all := stdout + stderr
			rest := all
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("output lacks %q (in order)\nstdout:\n%s\nstderr:\n%s", w, stdout, stderr)
				}
				rest = rest[i+len(w):]
			}
			if strings.Contains(all, "goroutine ") {
				t.Errorf("a Go stack trace reached the user:\n%s", all)
			}
		})
	}
	code, _, stderr := runCLI(t, "parse", filepath.Join(dir, "missing.yaml"), srv.URL)
	if code != exitUsage || !strings.Contains(stderr, "missing.yaml") {
		t.Errorf("missing spec: exit %d %q", code, stderr)
	}
}

// TestParseDepth: --depth N follows the requests callbacks yield, level by
// level, as scrapy parse --depth: duplicates and offsite requests are not
// followed, a request without a callback runs --callback, and the output
// is Scrapy's (STATUS DEPTH LEVEL with every item and the last level's
// requests; -v one block per level).
func TestParseDepth(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	// /t/0 -> 1, 2; 1 -> 3, 0 (seen); 2 -> 3 (dup), offsite, 9 (500); 3 -> 4; 4 -> nothing.
	links := map[string][]string{
		"0": {"/t/1", "/t/2"},
		"1": {"/t/3", "/t/0"},
		"2": {"/t/3", "http://offsite.example/t/5", "/t/9"},
		"3": {"/t/4"},
		"4": nil,
	}
	srv.Handle("/t/{id}", func(w http.ResponseWriter, r *http.Request) {
		l, ok := links[r.PathValue("id")]
		if !ok {
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "<html><title>t%s</title><body>", r.PathValue("id"))
		for _, h := range l {
			fmt.Fprintf(w, `<a href="%s">x</a>`, h)
		}
		fmt.Fprint(w, "</body></html>")
	})
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: d\nallowed_domains: [127.0.0.1]\nstart_urls:\n  - "+srv.URL+"/t/0\nscript: spider.js\nsettings: {RETRY_ENABLED: false}\n")
	write(t, filepath.Join(dir, "spider.js"), `
export function* parse(response) {
  yield { page: response.css("title::text").get() };
  yield* response.follow_all(response.css("a"), { callback: parse });
}
export function* nocb(response) {
  yield { nocb: response.css("title::text").get() };
  yield* response.follow_all(response.css("a"));
}
`)
	u := srv.URL
	items := "# Scraped Items  " + strings.Repeat("-", 60) + "\n"
	reqs := "# Requests  " + strings.Repeat("-", 65) + "\n"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"depth 1 is the default", nil, 0, "\n>>> STATUS DEPTH LEVEL 1 <<<\n" + items + `[{"page":"t0"}]` + "\n" + reqs +
			"[<GET " + u + "/t/1 callback=parse>,\n <GET " + u + "/t/2 callback=parse>]\n"},
		{"depth 2", []string{"--depth", "2"}, 0, "\n>>> STATUS DEPTH LEVEL 2 <<<\n" + items + `[{"page":"t0"}, {"page":"t1"}, {"page":"t2"}]` + "\n" + reqs +
			"[<GET " + u + "/t/3 callback=parse>,\n <GET " + u + "/t/0 callback=parse>,\n <GET " + u + "/t/3 callback=parse>,\n" +
			" <GET http://offsite.example/t/5 callback=parse>,\n <GET " + u + "/t/9 callback=parse>]\n"},
		{"depth 3 -v", []string{"-d", "3", "-v"}, 1,
			"\n>>> DEPTH LEVEL: 1 <<<\n" + items + `[{"page":"t0"}]` + "\n" + reqs +
				"[<GET " + u + "/t/1 callback=parse>,\n <GET " + u + "/t/2 callback=parse>]\n" +
				"\n>>> DEPTH LEVEL: 2 <<<\n" + items + `[{"page":"t1"}, {"page":"t2"}]` + "\n" + reqs +
				"[<GET " + u + "/t/3 callback=parse>,\n <GET " + u + "/t/0 callback=parse>,\n <GET " + u + "/t/3 callback=parse>,\n" +
				" <GET http://offsite.example/t/5 callback=parse>,\n <GET " + u + "/t/9 callback=parse>]\n" +
				"\n>>> DEPTH LEVEL: 3 <<<\n" + items + `[{"page":"t3"}]` + "\n" + reqs +
				"[<GET " + u + "/t/4 callback=parse>]\n" +
				"# Errors  " + strings.Repeat("-", 67) + "\n" +
				"depth 3: GET " + u + "/t/9: HttpError: ignoring non-2xx response 500 Internal Server Error\n"},
		{"deeper than the site", []string{"--depth", "10", "--nolinks"}, 1, "\n>>> STATUS DEPTH LEVEL 4 <<<\n" + items +
			`[{"page":"t0"}, {"page":"t1"}, {"page":"t2"}, {"page":"t3"}, {"page":"t4"}]` + "\n" +
			"# Errors  " + strings.Repeat("-", 67) + "\n" +
			"depth 3: GET " + u + "/t/9: HttpError: ignoring non-2xx response 500 Internal Server Error\n"},
		{"--callback for requests without one", []string{"-c", "nocb", "-d", "2", "--nolinks"}, 0, "\n>>> STATUS DEPTH LEVEL 2 <<<\n" + items +
			`[{"nocb":"t0"}, {"nocb":"t1"}, {"nocb":"t2"}]` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"parse", spec, u + "/t/0"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if stdout != tt.want {
				t.Errorf("stdout:\n%s\nwant:\n%s\nstderr:\n%s", stdout, tt.want, stderr)
			}
		})
	}
}
