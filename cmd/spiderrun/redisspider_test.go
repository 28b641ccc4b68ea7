package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/redistest"
)

// TestRedisSpiderEndToEnd: tasks pushed to redis_key (a URL and JSON
// entries) are crawled by `spiderrun run`, items go to REDIS_ITEMS_KEY and
// to the -o feed, and the spider closes with reason "idle" (exit 0) once no
// work is left anywhere for MAX_IDLE_TIME_BEFORE_CLOSE.
func TestRedisSpiderEndToEnd(t *testing.T) {
	rs := redistest.Start(t)
	srv := fixture.New(t, fixture.Options{Pages: 20, Links: 2})
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, `name: rtasks
redis_key: rtasks:start_urls
script: spider.js
settings:
  REDIS_URL: `+rs.URL()+`
  REDIS_ITEMS_KEY: "{name}:items"
  MAX_IDLE_TIME_BEFORE_CLOSE: 1
`)
	write(t, filepath.Join(dir, "spider.js"), `
export function parse(response, cb_kwargs) {
  return { id: response.css("div.product::attr(data-id)").get(), tag: (cb_kwargs && cb_kwargs.tag) || null };
}
export function tagged(response, cb_kwargs) {
  return { id: response.css("div.product::attr(data-id)").get(), tag: cb_kwargs.tag };
}
`)
	code, out, stderr := runCLI(t, "push", spec, srv.URL+"/site/1", srv.URL+"/site/2")
	if code != 0 {
		t.Fatalf("push: exit %d\n%s%s", code, out, stderr)
	}
	jsonTask := `{"url": "` + srv.URL + `/site/3", "callback": "tagged", "cb_kwargs": {"tag": "json"}}`
	if _, err := rs.Do("LPUSH", "rtasks:start_urls", jsonTask); err != nil {
		t.Fatal(err)
	}
	feed := filepath.Join(dir, "items.jsonl")
	code, _, stderr = runCLI(t, "run", spec, "-O", feed)
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, `finish_reason: "idle"`) {
		t.Errorf("finish reason is not idle:\n%s", stderr)
	}
	got := readLines(t, feed, "")
	slices.Sort(got)
	want := []string{`{"id":"1","tag":null}`, `{"id":"2","tag":null}`, `{"id":"3","tag":"json"}`}
	if !slices.Equal(got, want) {
		t.Fatalf("feed items = %v, want %v", got, want)
	}
	n, err := rs.Do("LLEN", "rtasks:items")
	if err != nil || n != ":3" {
		t.Fatalf("LLEN rtasks:items = %q (%v), want 3", n, err)
	}
	raw, err := rs.Do("LINDEX", "rtasks:items", "0")
	if err != nil || !json.Valid([]byte(raw)) {
		t.Fatalf("items entry %q is not JSON (%v)", raw, err)
	}
	if srv.Count("/site/1") != 1 || srv.Count("/site/3") != 1 {
		t.Errorf("server hits: %v", srv.CountByPath("/site/"))
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestSharedCrawlWithoutRedisKey: a start_urls spider on the Redis
// scheduler crawls everything and closes once the shared crawl is idle,
// exit 0, without waiting for pushed tasks.
func TestSharedCrawlWithoutRedisKey(t *testing.T) {
	rs := redistest.Start(t)
	srv := fixture.New(t, fixture.Options{Pages: 20, Links: 3})
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, `name: shared
start_urls:
  - `+srv.URL+`/site/0
script: spider.js
settings:
  SCHEDULER: redis
  REDIS_URL: `+rs.URL()+`
`)
	write(t, filepath.Join(dir, "spider.js"), `export function* parse(response) {
  yield { id: response.css("div.product::attr(data-id)").get() };
  yield* response.follow_all(response.css("ul.links a"));
}
`)
	code, _, stderr := runCLI(t, "run", spec, "-O", filepath.Join(dir, "items.jsonl"))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	// 21: the start request is dont_filter (as in Scrapy), so page 0 is
	// fetched again when a link leads back to it.
	if got := len(readLines(t, filepath.Join(dir, "items.jsonl"), "")); got != 21 {
		t.Fatalf("%d items, want 21\n%s", got, stderr)
	}
	if !strings.Contains(stderr, `finish_reason: "idle"`) {
		t.Errorf("finish reason:\n%s", stderr)
	}
}

// TestRedisTLSCAFile: a rediss:// server with a private certificate is
// refused by default and trusted through REDIS_TLS_CA_FILE, resolved
// relative to the spec.
func TestRedisTLSCAFile(t *testing.T) {
	rs := redistest.Start(t, redistest.Options{TLS: true})
	ca, err := os.ReadFile(rs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "ca.pem"), string(ca))
	write(t, filepath.Join(dir, "spider.js"), "export function parse() {}\n")
	url := "rediss://" + rs.Addr + "/0"
	base := "name: tlsq\nredis_key: tlsq:start_urls\nscript: spider.js\nsettings:\n  REDIS_URL: " + url + "\n"
	untrusted := filepath.Join(dir, "untrusted.yaml")
	write(t, untrusted, base)
	if code, _, stderr := runCLI(t, "status", untrusted); code == 0 || !strings.Contains(stderr, "certificate") {
		t.Fatalf("untrusted CA: exit %d, stderr %q; want a certificate error", code, stderr)
	}
	trusted := filepath.Join(dir, "trusted.yaml")
	write(t, trusted, base+"  REDIS_TLS_CA_FILE: ca.pem\n")
	if code, out, stderr := runCLI(t, "status", trusted); code != 0 {
		t.Fatalf("trusted CA: exit %d\n%s%s", code, out, stderr)
	}
}
