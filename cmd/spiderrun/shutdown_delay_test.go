package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/proctest"
)

// delayedCrawl writes a spec for a 30-page site whose first page links to
// every other page, crawled with DOWNLOAD_DELAY 2s: after the first page,
// up to CONCURRENT_REQUESTS requests sit in the downloader waiting for the
// slot's delay, the situation a Ctrl-C usually meets.
func delayedCrawl(t *testing.T) (srv *fixture.Server, spec string) {
	t.Helper()
	srv = fixture.New(t, fixture.Options{Pages: 30, Links: 29})
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `export function* parse(response) {
  yield { url: response.url, name: response.css("h1.name::text").get() };
  yield* response.follow_all(response.css("ul.links a"));
}
`)
	spec = filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: delayed\nstart_urls: ["+srv.URL+"/site/0]\nscript: spider.js\n"+
		"settings: {CONCURRENT_REQUESTS: 16, DOWNLOAD_DELAY: 2, RANDOMIZE_DOWNLOAD_DELAY: false, ROBOTSTXT_OBEY: false}\n")
	return srv, spec
}

// feedURLs reads a JSON array feed (or a JSON-lines one) and returns the
// url of each item.
func feedURLs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var items []struct{ URL string }
	if strings.HasSuffix(path, ".json") {
		if err := json.Unmarshal(data, &items); err != nil {
			t.Fatalf("%s is not a valid JSON array: %v\n%s", path, err, data)
		}
	} else {
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l == "" {
				continue
			}
			var it struct{ URL string }
			if err := json.Unmarshal([]byte(l), &it); err != nil {
				t.Fatalf("%s: bad line %q: %v", path, l, err)
			}
			items = append(items, it)
		}
	}
	urls := make([]string, len(items))
	for i, it := range items {
		urls[i] = it.URL
	}
	return urls
}

// TestShutdownLeavesDelayedRequestsQueued: one SIGINT or SIGTERM while
// requests wait for DOWNLOAD_DELAY: exit 0, a valid feed, no ERROR line
// and no failure counted for the waiting requests, which stay pending in
// the JOBDIR; the resumed crawl fetches them, so the two runs together
// scrape every page, refetching at most the start request (dont_filter)
// and the request in flight at the stop.
func TestShutdownLeavesDelayedRequestsQueued(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			srv, spec := delayedCrawl(t)
			dir := t.TempDir()
			jobdir := filepath.Join(dir, "job")
			first, second := filepath.Join(dir, "first.json"), filepath.Join(dir, "second.jsonl")
			p := startCLI(t, "run", spec, "-o", first, "--jobdir", jobdir)
			// Two pages fetched: the first page's links are queued and
			// all but one wait for the delay.
			if !proctest.Poll(30*time.Second, func() bool { return srv.Count("/site/*") >= 2 }) {
				t.Fatalf("no second page fetched:\n%s", p.Out)
			}
			atSignal := srv.Count("/site/*")
			if err := p.Cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := p.Wait(t, 30*time.Second)
			out := p.Out.String()
			// The delay serialises the slot: at most one download was
			// under way; the requests waiting for the delay are not
			// fetched during the grace period.
			if after := srv.Count("/site/*") - atSignal; after > 1 {
				t.Errorf("%d pages fetched after the signal; the requests waiting for DOWNLOAD_DELAY should stay queued", after)
			}
			if code := exitCode(err); code != exitOK {
				t.Fatalf("exit %d after one %s, want %d\n%s", code, sig, exitOK, out)
			}
			if !strings.Contains(out, `finish_reason: "shutdown"`) {
				t.Errorf("close reason is not shutdown:\n%s", out)
			}
			for _, l := range strings.Split(out, "\n") {
				if strings.Contains(l, "ERROR") {
					t.Errorf("ERROR line after a graceful stop: %s", l)
				}
			}
			for _, stat := range []string{"downloader/exception_count", "log_count/ERROR", "spider_exceptions"} {
				if strings.Contains(out, stat) {
					t.Errorf("stat %s after a graceful stop: the waiting requests were counted as failures\n%s", stat, out)
				}
			}
			urls1 := feedURLs(t, first)
			fetched1 := srv.Count("/site/*")
			if len(urls1) == 0 || fetched1 >= 30 {
				t.Fatalf("first run: %d items, %d pages fetched; the stop should come mid-crawl\n%s", len(urls1), fetched1, out)
			}
			// Resume without the delay: the requests left waiting are
			// in the JOBDIR.
			code, _, stderr := runCLI(t, "run", spec, "-o", second, "--jobdir", jobdir, "-s", "DOWNLOAD_DELAY=0")
			if code != exitOK {
				t.Fatalf("resumed run: exit %d\n%s", code, stderr)
			}
			seen := map[string]int{}
			for _, u := range append(urls1, feedURLs(t, second)...) {
				seen[u]++
			}
			dups := 0
			for _, n := range seen {
				dups += n - 1
			}
			if len(seen) != 30 {
				t.Fatalf("%d distinct pages over both runs (first %d), want all 30: requests waiting for the delay were lost\nfirst run:\n%s\nresume:\n%s", len(seen), len(urls1), out, stderr)
			}
			// In flight at the stop: at most one download (the delay
			// serialises the slot), plus the start request.
			if dups > 2 {
				t.Errorf("%d pages scraped twice, want at most 2 (the start request and the one in flight)", dups)
			}
			if hits := srv.Count("/site/*"); hits > 30+2 {
				t.Errorf("server saw %d page fetches for 30 pages", hits)
			}
		})
	}
}
