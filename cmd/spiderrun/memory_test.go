package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
)

// The memory tests build the real CLI (a plain `go build`: this test binary
// may carry the race detector, which multiplies memory) and run `spiderrun
// run` against the fixture server at the default settings, reading the
// child's own peak RSS (VmHWM). They are the figures of specs/downloader.md
// ("Memory") and specs/crawling.md.

const (
	// defaultBudget is DOWNLOAD_MEMORY_BUDGET's default.
	defaultBudget = 256 << 20
	// memSlack is what a run holds besides the bodies being read: the Go
	// runtime, goja and the compiled spider, the engine, the decoders'
	// windows (≤ 16 MiB for br, 8 MiB for zstd, per body) and garbage not
	// yet collected. An idle `spiderrun run` peaks at about 30 MiB.
	memSlack = 96 << 20
)

// memRun is one child `spiderrun run` and what it left behind.
type memRun struct {
	peak  int64 // VmHWM, bytes
	out   string
	stats map[string]any
}

// runForMemory runs spec with args and returns the child's peak RSS
// (runMeasured).
func runForMemory(t *testing.T, bin, spec string, args ...string) memRun {
	t.Helper()
	statsFile := filepath.Join(t.TempDir(), "stats.json")
	// SPIDERRUN_MEMTEST_SET=K=V,K=V adds -s settings: the knob behind the
	// other figures of specs/downloader.md and specs/crawling.md.
	if set := os.Getenv("SPIDERRUN_MEMTEST_SET"); set != "" {
		for _, kv := range strings.Split(set, ",") {
			args = append(args, "-s", kv)
		}
	}
	cmd := exec.Command(bin, append([]string{"run", spec, "--stats-json", statsFile, "-L", "WARNING"}, args...)...)
	m := runMeasured(t, cmd, statsFile, 10*time.Minute)
	r := memRun{peak: m.peak, out: m.out, stats: m.stats}
	if reason, _ := r.stats["finish_reason"].(string); reason != "finished" && !strings.HasPrefix(reason, "closespider_") {
		t.Fatalf("finish_reason %q\n%s", reason, r.out)
	}
	return r
}

func writeSpider(t *testing.T, yaml, js string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "spider.js"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(dir, "spider.yaml")
	if err := os.WriteFile(spec, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return spec
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// TestMemoryBounded: bodies and link extraction stay within their bounds
// at the default settings (heavy: skipped with -short).
func TestMemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("heavy: builds the CLI and runs it against 10 GiB bombs and a 1 000 000-link page")
	}
	bin := buildCLI(t)
	t.Run("bodies", func(t *testing.T) { testMemoryBodies(t, bin) })
	t.Run("links", func(t *testing.T) { testMemoryLinks(t, bin) })
}

// Decompression bombs (10 GiB of zeros) and an endless chunked body, three
// at a time, at the default settings: every one is refused at
// DOWNLOAD_MAXSIZE and the process never holds more than the memory budget
// plus its fixed overhead. Sixteen at a time (CONCURRENT_REQUESTS, over two
// host names so two download slots of 8 fill up) is where the budget binds:
// 16 × 32 MiB would be 512 MiB.
func testMemoryBodies(t *testing.T, bin string) {
	srv := fixture.New(t, fixture.Options{})
	cases := []struct {
		name string
		urls []string
	}{}
	for _, enc := range []string{"gzip", "br", "zstd", "identity"} {
		var urls []string
		for i := range 3 {
			urls = append(urls, fmt.Sprintf("%s/bomb?enc=%s&size=10GiB&n=%d", srv.URL, enc, i))
		}
		cases = append(cases, struct {
			name string
			urls []string
		}{enc, urls})
	}
	var many []string
	for i := range 16 {
		host := "127.0.0.1"
		if i%2 == 1 {
			host = "localhost"
		}
		enc := []string{"gzip", "identity"}[i/2%2]
		many = append(many, srv.URLFor(host, fmt.Sprintf("/bomb?enc=%s&size=10GiB&n=%d", enc, i)))
	}
	cases = append(cases, struct {
		name string
		urls []string
	}{"16 at once", many})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := writeSpider(t, fmt.Sprintf("name: bombs\nscript: spider.js\nstart_urls: [%s]\n", strings.Join(tc.urls, ", ")),
				"export function parse(response) { return { url: response.url, size: response.body.length }; }\n")
			r := runForMemory(t, bin, spec)
			t.Logf("%d bodies: peak RSS %s", len(tc.urls), mib(r.peak))
			for _, u := range tc.urls {
				if !strings.Contains(r.out, u) {
					t.Errorf("no error line names %s:\n%s", u, r.out)
				}
			}
			if !strings.Contains(r.out, "DOWNLOAD_MAXSIZE") {
				t.Errorf("no error names DOWNLOAD_MAXSIZE:\n%s", r.out)
			}
			if n, _ := r.stats["item_scraped_count"].(float64); n != 0 {
				t.Errorf("%v items: a bomb was accepted", n)
			}
			if r.peak > defaultBudget+memSlack {
				t.Errorf("peak RSS %s, want ≤ DOWNLOAD_MEMORY_BUDGET %s + %s", mib(r.peak), mib(defaultBudget), mib(memSlack))
			}
		})
	}
}

// A 33 MB page with 1 000 000 links through a CrawlSpider rule (the only
// setting changed is DOWNLOAD_MAXSIZE, which the page is over): the links
// are read up to LINKEXTRACTOR_MAX_LINKS with one warning, and the whole
// run stays under 300 MB of peak RSS.
func testMemoryLinks(t *testing.T, bin string) {
	srv := fixture.New(t, fixture.Options{})
	page := srv.URL + "/links?n=1000000"
	spec := writeSpider(t, fmt.Sprintf(`name: links
script: spider.js
start_urls: [%s]
rules:
  - link_extractor: {allow: ['/ok\?i=']}
    callback: parse_item
settings:
  DOWNLOAD_MAXSIZE: 64MiB
  CLOSESPIDER_ITEMCOUNT: 50
`, page), "export function parse_item(response) { return { url: response.url }; }\n")
	r := runForMemory(t, bin, spec)
	t.Logf("peak RSS %s", mib(r.peak))
	if r.peak > 300e6 {
		t.Errorf("peak RSS %s, want ≤ 300 MB", mib(r.peak))
	}
	if n, _ := r.stats["item_scraped_count"].(float64); n < 50 {
		t.Errorf("%v items, want the links followed (50)\n%s", n, r.out)
	}
	if n, _ := r.stats["linkextractor/pages_truncated"].(float64); n != 1 {
		t.Errorf("linkextractor/pages_truncated = %v, want 1", n)
	}
	if !strings.Contains(r.out, "LINKEXTRACTOR_MAX_LINKS") || !strings.Contains(r.out, page) || !strings.Contains(r.out, "max_links=10000") {
		t.Errorf("want one warning naming the page and the cap:\n%s", r.out)
	}
}
