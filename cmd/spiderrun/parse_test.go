package main

import (
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
export function detail(response) {
  return { detail: response.css(".sku::text").get(), tag: response.meta.tag || null };
}
export function broken(response) {
  yield_nothing_here();
}
`)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"default callback", []string{srv.URL + "/site/0"}, 0, []string{
			"# items (1)", `{"name":"Product 0"}`, "# requests (2)", "GET " + srv.URL + "/site/1 callback=detail"}},
		{"named callback and meta", []string{srv.URL + "/site/3", "--callback", "detail", "--meta", `{"tag": "x"}`}, 0, []string{
			"# items (1)", `{"detail":"SKU-000003","tag":"x"}`, "# requests (0)"}},
		{"callback error", []string{srv.URL + "/site/3", "--callback", "broken"}, 1, []string{"# errors (1)", "ReferenceError"}},
		{"download failure", []string{srv.URL + "/status?code=500", "-s", "RETRY_ENABLED=false"}, 1, []string{"HttpError"}},
		{"bad meta", []string{srv.URL + "/site/3", "--meta", "[1]"}, 2, []string{"--meta"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"parse", spec}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			all := stdout + stderr
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q\nstdout:\n%s\nstderr:\n%s", w, stdout, stderr)
				}
			}
		})
	}
}
