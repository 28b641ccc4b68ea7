package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/proctest"
)

// slowCrawl writes a spec that crawls a slow 300-page site, so a signal
// arrives mid-crawl.
func slowCrawl(t *testing.T, latency time.Duration) (spec, feedPath string) {
	t.Helper()
	srv := fixture.New(t, fixture.Options{Pages: 300, Links: 3, Latency: latency})
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `export function* parse(response) {
  yield { url: response.url, name: response.css("h1.name::text").get() };
  yield* response.follow_all(response.css("ul.links a"));
}
`)
	spec = filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: slow\nstart_urls: ["+srv.URL+"/site/0]\nscript: spider.js\nsettings: {CONCURRENT_REQUESTS: 4}\n")
	return spec, filepath.Join(dir, "items.json")
}

// waitForItems polls the log until some items were scraped.
func waitForItems(t *testing.T, p *proctest.Proc, feed string) {
	t.Helper()
	if !proctest.Poll(20*time.Second, func() bool { st, err := os.Stat(feed); return err == nil && st.Size() > 100 }) {
		t.Fatalf("no items written within 20s:\n%s", p.Out)
	}
}

// checkJSONFeed asserts the feed is one valid JSON array of items.
func checkJSONFeed(t *testing.T, feed string) int {
	t.Helper()
	data, err := os.ReadFile(feed)
	if err != nil {
		t.Fatal(err)
	}
	var items []map[string]any
	if err := json.Unmarshal(data, &items); err != nil {
		t.Fatalf("feed is not a valid JSON array after the stop: %v\n%s", err, data)
	}
	return len(items)
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestSIGINTStopsGracefully(t *testing.T) {
	spec, feed := slowCrawl(t, 100*time.Millisecond)
	p := startCLI(t, "run", spec, "-o", feed)
	waitForItems(t, p, feed)
	if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := p.Wait(t, 30*time.Second)
	out := p.Out.String()
	// A stop the user asked for is not a failure (DESIGN.md §5, Scrapy).
	if code := exitCode(err); code != exitOK {
		t.Fatalf("exit code %d, want %d (close reason shutdown after one SIGINT)\n%s", code, exitOK, out)
	}
	if !strings.Contains(out, "stopping gracefully") || !strings.Contains(out, `finish_reason: "shutdown"`) {
		t.Fatalf("missing graceful-stop messages:\n%s", out)
	}
	n := checkJSONFeed(t, feed)
	if n == 0 || n >= 300 {
		t.Fatalf("%d items: the stop should come mid-crawl", n)
	}
	if !strings.Contains(out, "item_scraped_count: "+strconv.Itoa(n)) {
		t.Errorf("feed has %d items but the stats say otherwise (an emitted item was lost?)\n%s", n, out)
	}
}

// TestSecondSignalAborts: a second SIGINT (Ctrl-C twice) or SIGTERM (what
// a container runtime's stop-then-kill escalation, or an impatient
// operator, sends) aborts: exit 1, and the feed is still a valid document.
func TestSecondSignalAborts(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			// Every page also asks for /hang, which never answers: the
			// graceful stop (waiting for in-flight requests) is surely
			// still under way when the second signal comes. (Slow pages
			// alone were not enough: the stop could land between two
			// waves of requests, with none in flight.)
			spec, feed := slowCrawl(t, 100*time.Millisecond)
			js := filepath.Join(filepath.Dir(spec), "spider.js")
			src, err := os.ReadFile(js)
			if err != nil {
				t.Fatal(err)
			}
			write(t, js, strings.Replace(string(src), "export function* parse(response) {",
				"export function* parse(response) {\n  yield response.follow(\"/hang\");", 1))
			p := startCLI(t, "run", spec, "-o", feed)
			waitForItems(t, p, feed)
			p.Cmd.Process.Signal(sig)
			proctest.Poll(10*time.Second, func() bool { return strings.Contains(p.Out.String(), "stopping gracefully") })
			p.Cmd.Process.Signal(sig)
			err = p.Wait(t, 15*time.Second)
			if code := exitCode(err); code != exitFailed {
				t.Fatalf("an aborted run exited %d, want %d\n%s", code, exitFailed, p.Out)
			}
			if !strings.Contains(p.Out.String(), "aborting") {
				t.Errorf("no abort message:\n%s", p.Out)
			}
			checkJSONFeed(t, feed)
		})
	}
}

// TestJobdirPauseResume: a crawl stopped with SIGINT resumes from its
// --jobdir: together the two runs scrape every page, each at most a few
// times (in-flight requests at the stop, and the start request, which is
// dont_filter as in Scrapy, are fetched again).
func TestJobdirPauseResume(t *testing.T) {
	spec, _ := slowCrawl(t, 30*time.Millisecond)
	dir := t.TempDir()
	jobdir := filepath.Join(dir, "job")
	first, second := filepath.Join(dir, "first.jsonl"), filepath.Join(dir, "second.jsonl")
	p := startCLI(t, "run", spec, "-o", first, "--jobdir", jobdir)
	waitForItems(t, p, first)
	p.Cmd.Process.Signal(syscall.SIGINT)
	if code := exitCode(p.Wait(t, 30*time.Second)); code != exitOK {
		t.Fatalf("first run: exit %d, want %d (shutdown)\n%s", code, exitOK, p.Out)
	}
	n1 := len(readLines(t, first, ""))
	code, _, stderr := runCLI(t, "run", spec, "-o", second, "--jobdir", jobdir)
	if code != 0 {
		t.Fatalf("resumed run: exit %d\n%s", code, stderr)
	}
	seen := map[string]int{}
	for _, f := range []string{first, second} {
		for _, line := range readLines(t, f, "") {
			var it struct{ URL string }
			if err := json.Unmarshal([]byte(line), &it); err != nil {
				t.Fatal(err)
			}
			seen[it.URL]++
		}
	}
	dups := 0
	for _, n := range seen {
		dups += n - 1
	}
	if len(seen) != 300 {
		t.Fatalf("%d distinct pages over both runs (first run %d items), want all 300", len(seen), n1)
	}
	if dups > 5 {
		t.Errorf("%d pages scraped twice; at most the 4 in flight plus the start request", dups)
	}
	if n1 == 0 || n1 >= 300 {
		t.Errorf("the first run scraped %d pages; the stop should come mid-crawl", n1)
	}
}

func TestJobdirErrors(t *testing.T) {
	spec, _ := slowCrawl(t, 100*time.Millisecond)
	jobdir := filepath.Join(t.TempDir(), "job")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"jobdir with redis", []string{"-s", "SCHEDULER=redis", "--jobdir", jobdir}, "JOBDIR is for crawls on one machine"},
	}
	for _, c := range cases {
		code, _, stderr := runCLI(t, append([]string{"run", spec}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 with %q", c.name, code, stderr, c.want)
		}
	}
	// A second process on a jobdir in use is refused with the holder's pid.
	p := startCLI(t, "run", spec, "--jobdir", jobdir, "-o", filepath.Join(t.TempDir(), "a.jsonl"))
	proctest.Poll(20*time.Second, func() bool { _, err := os.Stat(filepath.Join(jobdir, "lock")); return err == nil })
	code, _, stderr := runCLI(t, "run", spec, "--jobdir", jobdir)
	if code != exitUsage || !strings.Contains(stderr, "is in use by pid "+strconv.Itoa(p.Cmd.Process.Pid)) {
		t.Errorf("second opener: exit %d, stderr %q", code, stderr)
	}
}
