package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// refetchJS is crawlJS with an await between the response and its output,
// so that callbacks are in progress (holding leases) at the kill as well
// as fetches.
const refetchJS = `export async function* parse(response) {
  await new Promise((r) => setTimeout(r, 1));
  yield { url: response.url, title: response.css("title::text").get() };
  for (const href of response.css("a::attr(href)").getall()) {
    yield response.follow(href, { callback: parse });
  }
}
`

// TestRedisKill9RefetchBound: two workers of a Redis crawl, one SIGKILLed
// at a random moment after some progress, the other left to finish alone
// (it waits for the dead worker's leases to expire and fetches their
// requests). Every page has an item, and the pages fetched more than once
// are at most 2 × CONCURRENT_REQUESTS: a worker holds at most
// CONCURRENT_REQUESTS leases on requests it fetched plus a read-ahead of
// at most CONCURRENT_REQUESTS task entries it has not fetched
// (specs/distributed.md). Two crawls: one discovering its pages by links
// from one seed, one fed every page as a RedisSpider task (the task
// source's read-ahead is then in play).
func TestRedisKill9RefetchBound(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process Redis crawls killed with SIGKILL; runs in the full suite")
	}
	const concurrency = 8
	n := proctest.EnvInt(t, "SPIDERRUN_E2E_PAGES", 600)
	for _, c := range []struct {
		name  string
		tasks bool // every page pushed as a task, no links followed
	}{{"links", false}, {"tasks", true}} {
		t.Run(c.name, func(t *testing.T) {
			seed := time.Now().UnixNano()
			rng := rand.New(rand.NewPCG(uint64(seed), 0))
			t.Logf("seed %d", seed)
			srv := redistest.Start(t, redistest.Options{Args: []string{"--appendfsync", "everysec"}})
			// Each page answers after 2 to 12 ms, so that the worker has
			// requests in flight, in callbacks and waiting for the group
			// commit when it dies.
			var inFlight atomic.Int32
			site := proctest.NewTreeSite(t, n, func(w http.ResponseWriter, i int, links []string) {
				inFlight.Add(1)
				defer inFlight.Add(-1)
				time.Sleep(time.Duration(rand.IntN(10)) * time.Millisecond)
				w.Header().Set("Content-Type", "text/html; charset=utf-8")
				fmt.Fprintf(w, "<html><head><title>page %d</title></head><body>", i)
				if !c.tasks {
					for _, l := range links {
						fmt.Fprintf(w, `<a href="%s">%s</a> `, l, l)
					}
				}
				fmt.Fprint(w, "</body></html>")
			})
			name := "refetch" + c.name
			spec := writeRefetchSpec(t, srv, name, concurrency)
			seeds := []string{`{"url":"` + site.URL + `/page/0","dont_filter":false}`}
			if c.tasks {
				seeds = seeds[:0]
				for i := range n {
					seeds = append(seeds, fmt.Sprintf("%s/page/%d", site.URL, i))
				}
			}
			if code, _, stderr := runCLI(t, append([]string{"push", spec}, seeds...)...); code != exitOK {
				t.Fatalf("push: %s", stderr)
			}
			rdb, _ := redisq.Dial(srv.URL())
			defer rdb.Close()
			ctx := context.Background()
			dir := t.TempDir()
			statsOf := func(i int) string { return filepath.Join(dir, fmt.Sprintf("stats%d.json", i)) }
			victim := startCLI(t, "run", spec, "--stats-json", statsOf(0))
			other := startCLI(t, "run", spec, "--stats-json", statsOf(1))
			target := int64(n/8 + rng.IntN(n/2))
			if !proctest.Poll(5*time.Minute, func() bool { return rdb.LLen(ctx, name+":items").Val() >= target }) {
				t.Fatalf("no progress to %d items:\n%s", target, victim.Out)
			}
			time.Sleep(time.Duration(rng.IntN(50)) * time.Millisecond)
			atKill := inFlight.Load()
			if err := victim.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			victim.Wait(t, time.Minute)
			prefix := fmt.Sprintf("%s-%d-", mustHostname(t), victim.Cmd.Process.Pid)
			held := 0
			for _, rec := range rdb.HVals(ctx, name+":leases").Val() {
				if strings.HasPrefix(rec, prefix) {
					held++
				}
			}
			if err := other.Wait(t, 10*time.Minute); err != nil {
				t.Fatalf("surviving worker: %v\n%s", err, other.Out)
			}
			refetched := 0
			for i := range n {
				h := site.Hits(i)
				if h == 0 {
					t.Fatalf("page %d never fetched", i)
				}
				refetched += h - 1
			}
			missing, dups, total := itemCounts(t, rdb, name+":items", site.URL, n)
			st := readStats(t, statsOf(1))
			bound, peak := statInt(st, "redis/max_leases"), statInt(st, "redis/leases_held_max")
			t.Logf("killed at %d items with %d requests in flight at the site: it held %d leases; %d pages refetched (lease bound %d = 3 × CONCURRENT_REQUESTS %d + SCHEDULER_WAITING_MAX; the survivor held at most %d); %d items, %d duplicates",
				target, atKill, held, refetched, bound, concurrency, peak, total, dups)
			if missing > 0 {
				t.Fatalf("%d pages have no item", missing)
			}
			// The requests waiting in the engine for their download slot are
			// leased too (never fetched: the refetch bound below stays).
			waitingMax := settings.Defaults().SchedulerWaitingMax
			if bound != 3*concurrency+waitingMax {
				t.Errorf("stat redis/max_leases = %d, want 3 × CONCURRENT_REQUESTS + SCHEDULER_WAITING_MAX = %d", bound, 3*concurrency+waitingMax)
			}
			if peak > bound {
				t.Errorf("the surviving worker held %d leases at once, more than its bound %d", peak, bound)
			}
			if held > 3*concurrency+waitingMax {
				t.Errorf("the killed worker held %d leases, more than 3 × CONCURRENT_REQUESTS + SCHEDULER_WAITING_MAX = %d", held, 3*concurrency+waitingMax)
			}
			// The engine's bound (unackedBound): what it fetched and had not
			// acknowledged.
			if refetched > 2*concurrency {
				t.Fatalf("%d pages refetched after one kill, more than 2 × CONCURRENT_REQUESTS = %d", refetched, 2*concurrency)
			}
			if dups > refetched {
				t.Fatalf("%d duplicate items for %d refetched pages", dups, refetched)
			}
		})
	}
}

// writeRefetchSpec writes the RedisSpider spec of TestRedisKill9RefetchBound.
func writeRefetchSpec(t *testing.T, srv *redistest.Server, name string, concurrency int) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "crawl.js"), refetchJS)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, fmt.Sprintf(`name: %s
script: crawl.js
redis_key: %s:start_urls
settings:
  REDIS_URL: %s
  REDIS_ITEMS_KEY: "{name}:items"
  REDIS_LEASE_TIMEOUT: 2
  SCHEDULER_PERSIST: true
  MAX_IDLE_TIME_BEFORE_CLOSE: 1
  CONCURRENT_REQUESTS: %d
  ROBOTSTXT_OBEY: false
  LOG_LEVEL: WARNING
`, name, name, srv.URL(), concurrency))
	return spec
}
