package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
)

// settingsSpider writes a spec over the fixture site whose parse callback
// is body, and returns its path.
func settingsSpider(t *testing.T, srv *fixture.Server, body string) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), "export function* parse(response) {\n"+body+"\n}\n")
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: wiring\nstart_urls: ["+srv.URL+"/site/0]\nscript: spider.js\nsettings: {CONCURRENT_REQUESTS: 1}\n")
	return spec
}

// The settings of the crawl that are only wiring (the engine implements
// them, the CLI must pass them on), each checked end to end.
func TestSettingsWiring(t *testing.T) {
	t.Run("DONT_FILTER", func(t *testing.T) {
		// A page that links to itself: fetched again and again with
		// DONT_FILTER (until CLOSESPIDER_PAGECOUNT), twice without (the
		// start request is dont_filter, its repeat is not).
		for _, tc := range []struct {
			dontFilter bool
			wantHits   func(int) bool
			wantReason string
		}{
			{true, func(n int) bool { return n >= 5 }, "closespider_pagecount"},
			{false, func(n int) bool { return n == 2 }, "finished"},
		} {
			srv := fixture.New(t, fixture.Options{Pages: 3, Links: 1})
			spec := settingsSpider(t, srv, "  yield response.follow(response.url);")
			_, _, stderr := runCLI(t, "run", spec, "-s", fmt.Sprintf("DONT_FILTER=%v", tc.dontFilter), "-s", "CLOSESPIDER_PAGECOUNT=5")
			if n := srv.Count("/site/0"); !tc.wantHits(n) || !strings.Contains(stderr, `finish_reason: "`+tc.wantReason+`"`) {
				t.Fatalf("DONT_FILTER=%v: /site/0 fetched %d times\n%s", tc.dontFilter, n, stderr)
			}
		}
	})
	t.Run("CLOSESPIDER_TIMEOUT_NO_ITEM", func(t *testing.T) {
		srv := fixture.New(t, fixture.Options{Pages: 300, Links: 3, Latency: 20 * time.Millisecond})
		spec := settingsSpider(t, srv, "  yield* response.follow_all(response.css(\"ul.links a\"));")
		// A closespider_* reason is a normal end (exit 0), as in Scrapy.
		code, _, stderr := runCLI(t, "run", spec, "-s", "CLOSESPIDER_TIMEOUT_NO_ITEM=0.3")
		if code != exitOK || !strings.Contains(stderr, `finish_reason: "closespider_timeout_no_item"`) || srv.Count("/site/299") > 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
	})
	t.Run("MEMUSAGE_LIMIT_MB", func(t *testing.T) {
		srv := fixture.New(t, fixture.Options{Pages: 300, Links: 3, Latency: 20 * time.Millisecond})
		spec := settingsSpider(t, srv, "  yield { url: response.url };\n  yield* response.follow_all(response.css(\"ul.links a\"));")
		code, _, stderr := runCLI(t, "run", spec, "-s", "MEMUSAGE_LIMIT_MB=1", "-s", "MEMUSAGE_CHECK_INTERVAL_SECONDS=0.1")
		if code != exitFailed || !strings.Contains(stderr, `finish_reason: "memusage_exceeded"`) ||
			!strings.Contains(stderr, "memory usage exceeded MEMUSAGE_LIMIT_MB") || !strings.Contains(stderr, "memusage/limit_reached: 1") {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		// MEMUSAGE_ENABLED false turns the limit off.
		srv = fixture.New(t, fixture.Options{Pages: 5, Links: 1})
		spec = settingsSpider(t, srv, "  yield { url: response.url };\n  yield* response.follow_all(response.css(\"ul.links a\"));")
		code, _, stderr = runCLI(t, "run", spec, "-s", "MEMUSAGE_ENABLED=false", "-s", "MEMUSAGE_LIMIT_MB=1", "-s", "MEMUSAGE_CHECK_INTERVAL_SECONDS=0.01")
		if code != exitOK || strings.Contains(stderr, "memusage") {
			t.Fatalf("MEMUSAGE_ENABLED=false: exit %d\n%s", code, stderr)
		}
	})
	t.Run("STATS_DUMP", func(t *testing.T) {
		srv := fixture.New(t, fixture.Options{Pages: 2, Links: 1})
		spec := settingsSpider(t, srv, "  yield { url: response.url };")
		for _, dump := range []bool{true, false} {
			code, _, stderr := runCLI(t, "run", spec, "-s", fmt.Sprintf("STATS_DUMP=%v", dump))
			if code != exitOK || strings.Contains(stderr, "finish_reason") != dump {
				t.Fatalf("STATS_DUMP=%v: exit %d\n%s", dump, code, stderr)
			}
		}
	})
}

// HTTPCACHE_*: a second run of the same crawl is served from the cache
// (nothing reaches the server) and writes the same items.
func TestHTTPCacheThroughCLI(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 20, Links: 3})
	spec := settingsSpider(t, srv, "  yield { url: response.url, name: response.css(\"h1.name::text\").get(), cached: response.flags.includes(\"cached\") };\n  yield* response.follow_all(response.css(\"ul.links a\"));")
	cacheDir := filepath.Join(t.TempDir(), "cache")
	var items [2]string
	for i := range 2 {
		out := filepath.Join(t.TempDir(), "items.jsonl")
		code, _, stderr := runCLI(t, "run", spec, "-O", out, "-s", "HTTPCACHE_ENABLED=true", "-s", "HTTPCACHE_DIR="+cacheDir)
		if code != exitOK {
			t.Fatalf("run %d: exit %d\n%s", i+1, code, stderr)
		}
		if i == 0 {
			if !strings.Contains(stderr, "httpcache/store: ") {
				t.Fatalf("first run stored nothing:\n%s", stderr)
			}
			srv.Reset()
		} else if n := len(srv.CountByPath("/site/")); n != 0 || !strings.Contains(stderr, "httpcache/hit: ") {
			t.Fatalf("second run fetched %d pages from the server\n%s", n, stderr)
		}
		items[i] = sortedLines(t, out)
	}
	first := strings.ReplaceAll(items[0], `"cached":false`, `"cached":true`)
	if first != items[1] || !strings.Contains(items[1], `"cached":true`) {
		t.Fatalf("items differ between the downloaded and the cached run:\n%s\n---\n%s", items[0], items[1])
	}
}

// COOKIES_DEBUG logs the cookies sent and received (at DEBUG).
func TestCookiesDebugThroughCLI(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `export function* parse(response) {
  if (response.url.includes("setcookie")) yield response.follow("/cookies");
}
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: cookies\nstart_urls: ["+srv.URL+"/setcookie?name=sid&value=42]\nscript: spider.js\n")
	for _, debug := range []bool{true, false} {
		code, _, stderr := runCLI(t, "run", spec, "-L", "DEBUG", "-s", fmt.Sprintf("COOKIES_DEBUG=%v", debug))
		logged := strings.Contains(stderr, "Received cookies from: <200 "+srv.URL+"/setcookie") &&
			strings.Contains(stderr, "Sending cookies to: <GET "+srv.URL+"/cookies>") && strings.Contains(stderr, "sid=42")
		if code != exitOK || logged != debug {
			t.Fatalf("COOKIES_DEBUG=%v: exit %d, cookies logged %v\n%s", debug, code, logged, stderr)
		}
	}
}

// sortedLines returns the file's lines, sorted (the crawl order varies).
func sortedLines(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// feeds.<uri>.indent and store_empty through a spec; -o keeps writing the
// empty document of an empty crawl.
func TestFeedOptionsThroughCLI(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 2, Links: 1})
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `export function* parse(response) {
  if (spider.args.items === "yes") yield { url: response.url, tags: ["a", "b"] };
}
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: feeds\nstart_urls: ["+srv.URL+"/site/0]\nscript: spider.js\nfeeds:\n"+
		"  pretty.json: {indent: 2}\n  kept.json: {}\n  skipped.json: {store_empty: false}\n")
	// With items: pretty.json is indented.
	if code, _, stderr := runCLI(t, "run", spec, "-a", "items=yes"); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	pretty, err := os.ReadFile(filepath.Join(dir, "pretty.json"))
	if err != nil || !strings.Contains(string(pretty), "\n  \"tags\": [\n    \"a\",\n    \"b\"\n  ]\n}") {
		t.Fatalf("pretty.json (%v):\n%s", err, pretty)
	}
	// Without items: the default writes "[]", store_empty false writes
	// nothing, and -o writes the empty document too.
	for _, f := range []string{"pretty.json", "kept.json", "skipped.json"} {
		os.Remove(filepath.Join(dir, f))
	}
	out := filepath.Join(dir, "cli.json")
	if code, _, stderr := runCLI(t, "run", spec, "-o", out); code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for f, want := range map[string]bool{"kept.json": true, "skipped.json": false, "cli.json": true} {
		_, err := os.Stat(filepath.Join(dir, f))
		if (err == nil) != want {
			t.Errorf("%s exists = %v, want %v", f, err == nil, want)
		}
	}
}
