package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestMain lets the multi-worker tests run real `spiderrun` processes: the
// test binary re-executed with SPIDERRUN_TEST_MAIN=1 is the CLI (os.Args
// after the binary are the command line), so a worker can be killed with
// SIGKILL for real without building a second binary.
func TestMain(m *testing.M) {
	if os.Getenv("SPIDERRUN_TEST_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	removeCLI()
	os.Exit(code)
}

// newLinkSite is the tree site of proctest with HTML pages.
func newLinkSite(t *testing.T, n int) *proctest.TreeSite {
	return proctest.NewTreeSite(t, n, func(w http.ResponseWriter, i int, links []string) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<html><head><title>page %d</title></head><body>", i)
		for _, l := range links {
			fmt.Fprintf(w, `<a href="%s">%s</a> `, l, l)
		}
		fmt.Fprint(w, "</body></html>")
	})
}

const crawlJS = `export function* parse(response) {
  yield { url: response.url, title: response.css("title::text").get() };
  for (const href of response.css("a::attr(href)").getall()) {
    yield response.follow(href, { callback: parse });
  }
}
`

// writeCrawlSpec writes a RedisSpider spec for the link site.
func writeCrawlSpec(t *testing.T, srv *redistest.Server, name string, lease string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "crawl.js"), []byte(crawlJS), 0o644)
	spec := fmt.Sprintf(`name: %s
script: crawl.js
redis_key: %s:start_urls
settings:
  REDIS_URL: %s
  REDIS_ITEMS_KEY: "{name}:items"
  REDIS_LEASE_TIMEOUT: %s
  SCHEDULER_PERSIST: true
  MAX_IDLE_TIME_BEFORE_CLOSE: 1
  CONCURRENT_REQUESTS: 8
  ROBOTSTXT_OBEY: false
  LOG_LEVEL: INFO # the final stats (finish_reason) are printed at INFO, as in Scrapy
`, name, name, srv.URL(), lease)
	p := filepath.Join(dir, "spider.yaml")
	os.WriteFile(p, []byte(spec), 0o644)
	return p
}

// redisCrawl starts a redis-server (appendfsync everysec), the link site of
// n pages and a RedisSpider spec called name with the given lease timeout,
// and pushes the site's first page.
func redisCrawl(t *testing.T, name, lease string, n int) (*redistest.Server, *proctest.TreeSite, string) {
	t.Helper()
	srv := redistest.Start(t, redistest.Options{Args: []string{"--appendfsync", "everysec"}})
	site := newLinkSite(t, n)
	spec := writeCrawlSpec(t, srv, name, lease)
	if code, _, stderr := runCLI(t, "push", spec, `{"url":"`+site.URL+`/page/0","dont_filter":false}`); code != exitOK {
		t.Fatalf("push: %s", stderr)
	}
	return srv, site, spec
}

// startCLI runs the test binary as the spiderrun CLI (TestMain) with args.
func startCLI(t *testing.T, args ...string) *proctest.Proc {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "SPIDERRUN_TEST_MAIN=1")
	return proctest.Start(t, cmd)
}

// itemCounts returns how many pages have no item in Redis, how many items
// are extra copies, and how many items there are.
func itemCounts(t *testing.T, rdb redis.UniversalClient, key, site string, n int) (missing, dups, total int) {
	t.Helper()
	items := rdb.LRange(context.Background(), key, 0, -1).Val()
	missing, dups = proctest.PageItems(t, items, site, n)
	return missing, dups, len(items)
}

// Three `spiderrun run` processes on one RedisSpider spec crawl a local site:
// every page is fetched exactly once overall (the server's count), every
// page has exactly one item in Redis, and every worker closes with reason
// idle and exit code 0.
func TestRunWorkersShareOneCrawl(t *testing.T) {
	n := proctest.EnvInt(t, "SPIDERRUN_E2E_PAGES", 1000)
	srv, site, spec := redisCrawl(t, "shared", "5", n)
	var ws []*proctest.Proc
	for range 3 {
		ws = append(ws, startCLI(t, "run", spec))
	}
	for i, w := range ws {
		if err := w.Wait(t, 10*time.Minute); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, w.Out)
		}
		if !strings.Contains(w.Out.String(), `finish_reason: "idle"`) {
			t.Fatalf("worker %d did not close with reason idle:\n%s", i, w.Out)
		}
	}
	for i := range n {
		if h := site.Hits(i); h != 1 {
			t.Fatalf("page %d fetched %d times, want exactly 1", i, h)
		}
	}
	rdb, _ := redisq.Dial(srv.URL())
	defer rdb.Close()
	if missing, dups, total := itemCounts(t, rdb, "shared:items", site.URL, n); missing+dups > 0 || total != n {
		t.Fatalf("items: %d for %d pages, %d missing, %d duplicates", total, n, missing, dups)
	}
}

// One of three `spiderrun run` workers is killed with SIGKILL mid-crawl and a
// fourth starts: afterwards every page has been scraped; only the pages the
// dead worker held leases for are fetched again.
func TestRunWorkerKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-process kill -9 crawl (seconds); runs in the full suite")
	}
	n := proctest.EnvInt(t, "SPIDERRUN_E2E_PAGES", 1000)
	srv, site, spec := redisCrawl(t, "killed", "4", n)
	rdb, _ := redisq.Dial(srv.URL())
	defer rdb.Close()
	ctx := context.Background()
	var ws []*proctest.Proc
	for range 3 {
		ws = append(ws, startCLI(t, "run", spec))
	}
	if !proctest.Poll(5*time.Minute, func() bool { return rdb.LLen(ctx, "killed:items").Val() >= int64(n/3) }) {
		t.Fatalf("no progress:\n%s", ws[0].Out)
	}
	victim := ws[0]
	if err := victim.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	victim.Wait(t, time.Minute)
	// The dead worker's leases stay in Redis until they expire: they bound
	// what is fetched twice.
	prefix := fmt.Sprintf("%s-%d-", mustHostname(t), victim.Cmd.Process.Pid)
	held := 0
	for _, rec := range rdb.HVals(ctx, "killed:leases").Val() {
		if strings.HasPrefix(rec, prefix) {
			held++
		}
	}
	ws = append(ws[1:], startCLI(t, "run", spec))
	for i, w := range ws {
		if err := w.Wait(t, 10*time.Minute); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, w.Out)
		}
	}
	refetched := 0
	for i := range n {
		h := site.Hits(i)
		if h == 0 {
			t.Fatalf("page %d never fetched", i)
		}
		refetched += int(h) - 1
	}
	missing, dups, total := itemCounts(t, rdb, "killed:items", site.URL, n)
	t.Logf("%d pages; killed worker held %d leases; %d refetched; %d items, %d duplicate", n, held, refetched, total, dups)
	if refetched > held {
		t.Fatalf("%d pages refetched, more than the %d leases the killed worker held", refetched, held)
	}
	// The lease bound of a worker (specs/distributed.md): 2 ×
	// CONCURRENT_REQUESTS (8 in writeCrawlSpec), plus the requests waiting
	// in the engine for their slot (SCHEDULER_WAITING_MAX, never fetched);
	// the pages fetched again stay within 2 × CONCURRENT_REQUESTS.
	waitingMax := settings.Defaults().SchedulerWaitingMax
	if held > 2*8+waitingMax {
		t.Fatalf("the killed worker held %d leases, more than 2 × CONCURRENT_REQUESTS + SCHEDULER_WAITING_MAX = %d", held, 2*8+waitingMax)
	}
	if refetched > 2*8 {
		t.Fatalf("%d pages fetched again, more than 2 × CONCURRENT_REQUESTS = 16", refetched)
	}
	if missing > 0 {
		t.Fatalf("%d pages have no item", missing)
	}
	// Items are exactly once when the engine runs pipelines with the request
	// in the context (crawl.WithRequest); until then a redelivered page can
	// add its item again, never more often than pages were refetched.
	if dups > refetched {
		t.Fatalf("%d duplicate items for %d refetched pages", dups, refetched)
	}
}

func mustHostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "worker"
	}
	return h
}
