package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/statsnap"
)

// statusRow is a worker's row of `spiderrun status`'s worker stats table.
type statusRow struct {
	Pages, Items, Errors int
	Rate                 float64
	State                string
}

var statusRowRE = regexp.MustCompile(`(?m)^  (\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([0-9.]+)\s*(.*)$`)

// statusRows parses the worker stats table of `spiderrun status`.
func statusRows(t *testing.T, out string) map[string]statusRow {
	t.Helper()
	_, table, ok := strings.Cut(out, "worker stats:")
	if !ok {
		t.Fatalf("status prints no worker stats:\n%s", out)
	}
	rows := map[string]statusRow{}
	for _, m := range statusRowRE.FindAllStringSubmatch(table, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		rate, _ := strconv.ParseFloat(m[5], 64)
		rows[m[1]] = statusRow{Pages: n(2), Items: n(3), Errors: n(4), Rate: rate, State: strings.TrimSpace(m[6])}
	}
	return rows
}

// Two `spiderrun run` workers of one Redis crawl each store their stats
// snapshot in Redis; `spiderrun status`, run while they crawl, shows both
// with live figures (running, pages moving, a pages/min rate) and their
// total; once both have closed it shows each worker's final figures, equal
// to that worker's --stats-json, and totals equal to the whole crawl (every
// page once, the items list's length).
func TestStatusShowsEveryWorker(t *testing.T) {
	const n = 240
	var hits atomic.Int64
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/page/"))
		if err != nil || i < 0 || i >= n {
			http.NotFound(w, r)
			return
		}
		hits.Add(1)
		time.Sleep(80 * time.Millisecond) // a crawl of seconds: status looks at it live
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, "<html><head><title>page %d</title></head><body>", i)
		for c := 3*i + 1; c <= 3*i+3 && c < n; c++ {
			fmt.Fprintf(w, `<a href="/page/%d">%d</a>`, c, c)
		}
		fmt.Fprint(w, "</body></html>")
	}))
	defer site.Close()
	srv := redistest.Start(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "crawl.js"), crawlJS)
	spec := filepath.Join(dir, "spider.yaml")
	writeFile(t, spec, fmt.Sprintf(`name: fleet
script: crawl.js
redis_key: fleet:start_urls
settings:
  REDIS_URL: %s
  REDIS_ITEMS_KEY: "{name}:items"
  MAX_IDLE_TIME_BEFORE_CLOSE: 1
  CONCURRENT_REQUESTS: 2
  ROBOTSTXT_OBEY: false
  DENY_PRIVATE_NETWORKS: false
  STATS_SNAPSHOT_INTERVAL: 200ms
  LOGSTATS_INTERVAL: 0
`, srv.URL()))
	if code, _, stderr := runCLI(t, "push", spec, site.URL+"/page/0"); code != exitOK {
		t.Fatalf("push: %s", stderr)
	}
	var ws []*proctest.Proc
	for i := range 2 {
		ws = append(ws, startCLI(t, "run", spec, "--stats-json", filepath.Join(dir, fmt.Sprintf("stats%d.json", i))))
	}
	// A worker's id is HOST-PID-RANDOM: its row is found by its pid.
	idOf := func(rows map[string]statusRow, p *proctest.Proc) string {
		for id := range rows {
			if strings.Contains(id, fmt.Sprintf("-%d-", p.Cmd.Process.Pid)) {
				return id
			}
		}
		return ""
	}

	// Live: both workers running, with pages, and status agreeing with
	// itself (the total is the sum of the rows).
	var live map[string]statusRow
	var liveOut string
	proctest.WaitFor(t, "status showing both workers running with pages", 60*time.Second, func() bool {
		code, out, stderr := runCLI(t, "status", spec)
		if code != exitOK {
			t.Fatalf("status: code %d: %s", code, stderr)
		}
		rows := statusRows(t, out)
		for _, w := range ws {
			r, ok := rows[idOf(rows, w)]
			if !ok || !strings.HasPrefix(r.State, "running") || r.Pages < 5 || r.Rate <= 0 {
				return false
			}
		}
		live, liveOut = rows, out
		return hits.Load() < n-20 // still crawling
	})
	tot := live["total"]
	if sum := live[idOf(live, ws[0])].Pages + live[idOf(live, ws[1])].Pages; tot.Pages != sum || len(live) != 3 {
		t.Errorf("live status: total pages %d, rows sum to %d (%d rows):\n%s", tot.Pages, sum, len(live), liveOut)
	}
	if tot.Rate <= 0 {
		t.Errorf("live status: total pages/min %v:\n%s", tot.Rate, liveOut)
	}
	t.Logf("live status:\n%s", liveOut)

	// The keys: one per worker, named after the crawl, with a TTL.
	pttl := func(key string) int {
		v, err := srv.Do("PTTL", key)
		ms, cerr := strconv.Atoi(strings.TrimPrefix(v, ":"))
		if err != nil || cerr != nil {
			t.Fatalf("PTTL %s: %q %v %v", key, v, err, cerr)
		}
		return ms
	}
	for _, w := range ws {
		key := redisq.WorkerStatsKey("fleet", idOf(live, w))
		if ms := pttl(key); ms <= 0 || ms > 15_000 {
			t.Errorf("PTTL %s = %d ms, want a live snapshot's TTL (15 s at most for a 200ms interval)", key, ms)
		}
	}

	for i, w := range ws {
		if err := w.Wait(t, 2*time.Minute); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, tail(w.Out.String()))
		}
	}
	code, out, stderr := runCLI(t, "status", spec)
	if code != exitOK {
		t.Fatalf("status: code %d: %s", code, stderr)
	}
	t.Logf("final status:\n%s", out)
	rows := statusRows(t, out)
	var pages, items int
	for i, w := range ws {
		id := idOf(rows, w)
		r := rows[id]
		st := readStats(t, filepath.Join(dir, fmt.Sprintf("stats%d.json", i)))
		if r.State != "closed: idle" || r.Pages != statInt(st, "response_received_count") || r.Items != statInt(st, "item_scraped_count") || r.Errors != 0 {
			t.Errorf("worker %d (%s): status row %+v; its final stats: response_received_count %d, item_scraped_count %d",
				i, id, r, statInt(st, "response_received_count"), statInt(st, "item_scraped_count"))
		}
		if r.Pages == 0 {
			t.Errorf("worker %d crawled nothing: the test wants both at work", i)
		}
		pages, items = pages+r.Pages, items+r.Items
		// The last snapshot stays after the worker closed (an hour).
		if ms := pttl(redisq.WorkerStatsKey("fleet", id)); ms < 50*60_000 {
			t.Errorf("final snapshot of %s: PTTL %d ms, want about an hour", id, ms)
		}
	}
	listed, _ := srv.Do("LLEN", "fleet:items")
	listed = strings.TrimPrefix(listed, ":")
	if tot := rows["total"]; tot.Pages != pages || tot.Pages != n || int(hits.Load()) != n || strconv.Itoa(tot.Items) != listed || tot.Rate != 0 {
		t.Errorf("final total %+v, want %d pages (site hits %d), %s items (fleet:items) and no live rate", tot, n, hits.Load(), listed)
	}

	// The domains the workers crawled, summed over the workers: every
	// page once, all answered.
	if want := fmt.Sprintf("  127.0.0.1: requests=%d ok=%d blocked=0 failed=0 ", n, n); !strings.Contains(out, "domain health (all workers, the 1 busiest):\n"+want) {
		t.Errorf("status: want the domain line %q under the domain health header:\n%s", want, out)
	}

	// --json carries the same snapshots, by worker.
	code, js, _ := runCLI(t, "status", spec, "--json")
	var st struct {
		WorkerStats map[string]statsnap.Snapshot `json:"worker_stats"`
	}
	if code != exitOK || json.Unmarshal([]byte(js), &st) != nil || len(st.WorkerStats) != 2 {
		t.Fatalf("status --json: code %d: %.600s", code, js)
	}
	for id, s := range st.WorkerStats {
		if s.Worker != id || s.Spider != "fleet" || s.Running || int(s.Progress.Pages) != rows[id].Pages || len(s.Domains) != 1 {
			t.Errorf("status --json worker %s: worker %q spider %q running %v pages %d domains %v; text row %+v",
				id, s.Worker, s.Spider, s.Running, s.Progress.Pages, s.Domains, rows[id])
		}
	}
}
