package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
)

// TestProxyRotationAndRedaction: PROXIES rotates an HTTP CONNECT proxy and
// a SOCKS5 proxy, both with credentials, for https:// pages; the password
// (a canary) never shows in the debug log, the stats or the items.
func TestProxyRotationAndRedaction(t *testing.T) {
	const canary = "CANARY_PROXY_PW_7f3a"
	srv := fixture.New(t, fixture.Options{TLS: true, Pages: 10, Links: 1})
	httpProxy := fixture.NewProxy(t, "user", canary)
	socks := fixture.NewSOCKS5(t, "user", canary)
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	httpURL := strings.Replace(httpProxy.URL, "http://", "http://user:"+canary+"@", 1)
	write(t, spec, `name: proxied
start_urls:
  - `+srv.URL+`/site/0
script: spider.js
settings:
  TLS_VERIFY: false
  CONCURRENT_REQUESTS: 1
  PROXIES:
    - `+httpURL+`
    - socks5://user:`+canary+`@`+socks.Addr+`
`)
	write(t, filepath.Join(dir, "spider.js"), `export function* parse(response) {
  yield { id: response.css("div.product::attr(data-id)").get() };
  yield* response.follow_all(response.css("ul.links a"));
}
`)
	out := filepath.Join(dir, "items.jsonl")
	statsFile := filepath.Join(dir, "stats.json")
	code, stdout, stderr := runCLI(t, "run", spec, "-O", out, "-L", "DEBUG", "--stats-json", statsFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if n := len(readLines(t, out, "")); n < 10 {
		t.Fatalf("%d items, want every page\n%s", n, stderr)
	}
	if len(httpProxy.Headers()) == 0 || len(socks.Targets()) == 0 {
		t.Fatalf("rotation did not use both proxies: http %d, socks5 %d", len(httpProxy.Headers()), len(socks.Targets()))
	}
	items, _ := os.ReadFile(out)
	st, _ := os.ReadFile(statsFile)
	for what, text := range map[string]string{"stderr": stderr, "stdout": stdout, "items": string(items), "stats": string(st)} {
		if strings.Contains(text, canary) {
			t.Errorf("the proxy password leaked into %s", what)
		}
	}
}
