package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/internal/testenv"
	"github.com/spiderrun/spiderrun/runtime/scheduler/diskq"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// The tests here make the hostile conditions of specs/jobdir.md for real:
// SIGKILL at random moments, a full file system (a tmpfs mounted by the
// test: CI runs as root), /dev/full. What they check is the contract: an
// acknowledged request's items are on disk, a write error fails the run
// and keeps the work, a resume continues the same files.

// jobdirSpec writes a plain (not Redis) spec crawling the link site.
func jobdirSpec(t *testing.T, site string, concurrency int) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "crawl.js"), crawlJS)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, fmt.Sprintf("name: durable\nstart_urls: [%s/page/0]\nscript: crawl.js\nsettings: {CONCURRENT_REQUESTS: %d, ROBOTSTXT_OBEY: false}\n",
		site, concurrency))
	return spec
}

// lineCount counts the complete lines of a file.
func lineCount(path string) int {
	data, _ := os.ReadFile(path)
	return bytes.Count(data, []byte("\n"))
}

var requeuedRE = regexp.MustCompile(`requeued_in_flight=(\d+)`)

// requeued reads the "resuming crawl from jobdir" line of a run's output.
func requeued(t *testing.T, out string) int {
	t.Helper()
	m := requeuedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the resumed run did not log requeued_in_flight:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestJobdirKill9LosesNoItem: a crawl with --jobdir and -o items.jsonl is
// killed with SIGKILL three times at random moments (each after at least
// 10 % more progress) and resumed with the same command until it finishes.
// Every page has an item; the only duplicates are the requests in flight
// at each kill (at most CONCURRENT_REQUESTS; the resumed run's
// requeued_in_flight also counts up to diskq.ReadAhead requests read ahead
// and up to SCHEDULER_WAITING_MAX requests waiting in the engine for their
// download slot, never fetched) and the start page, which every run fetches again;
// every line of the feed is a whole item.
func TestJobdirKill9LosesNoItem(t *testing.T) {
	if testing.Short() {
		t.Skip("a 3 000-page crawl killed three times; runs in the full suite")
	}
	const concurrency = 16
	waitingMax := settings.Defaults().SchedulerWaitingMax
	n := proctest.EnvInt(t, "SPIDERRUN_KILL_PAGES", 3000)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	site := newLinkSite(t, n)
	spec := jobdirSpec(t, site.URL, concurrency)
	dir := t.TempDir()
	jobdir, items := filepath.Join(dir, "job"), filepath.Join(dir, "items.jsonl")
	args := []string{"run", spec, "--jobdir", jobdir, "-o", items}

	totalRequeued, runs := 0, 0
	for kill := range 3 {
		p := startCLI(t, args...)
		runs++
		target := lineCount(items) + n/10 + rng.IntN(n/10)
		if !proctest.Poll(3*time.Minute, func() bool { return lineCount(items) >= target }) {
			t.Fatalf("kill %d: no progress to %d items:\n%s", kill, target, p.Out)
		}
		if err := p.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		p.Wait(t, time.Minute)
		if kill > 0 {
			r := requeued(t, p.Out.String())
			if r > 2*concurrency+diskq.ReadAhead+waitingMax {
				t.Errorf("kill %d: %d requests requeued, more than 2 × CONCURRENT_REQUESTS %d + the scheduler's read-ahead %d + SCHEDULER_WAITING_MAX %d", kill, r, concurrency, diskq.ReadAhead, waitingMax)
			}
			totalRequeued += r
		}
		t.Logf("kill %d at %d items", kill+1, lineCount(items))
	}
	p := startCLI(t, args...)
	runs++
	if err := p.Wait(t, 5*time.Minute); err != nil {
		t.Fatalf("final run: %v\n%s", err, p.Out)
	}
	r := requeued(t, p.Out.String())
	if r > 2*concurrency+diskq.ReadAhead+waitingMax {
		t.Errorf("final run: %d requests requeued, more than 2 × CONCURRENT_REQUESTS %d + the scheduler's read-ahead %d + SCHEDULER_WAITING_MAX %d", r, concurrency, diskq.ReadAhead, waitingMax)
	}
	totalRequeued += r

	// readLines + PageItems fail the test on any line that is not a whole
	// JSON item: a torn line left by a kill must have been cut on resume.
	lines := readLines(t, items, "")
	missing, dups := proctest.PageItems(t, lines, site.URL, n)
	startRefetches := runs - 1 // start_urls are dont_filter: fetched by every run
	t.Logf("%d pages, %d items, %d duplicates; %d requeued over %d resumes", n, len(lines), dups, totalRequeued, runs-1)
	if missing > 0 {
		t.Fatalf("%d pages have no item after %d kills (lost items)", missing, runs-1)
	}
	// Requests read ahead and requeued were never fetched: the bound is
	// the requests in flight at each kill.
	if bound := min(totalRequeued, (runs-1)*2*concurrency) + startRefetches; dups > bound {
		t.Fatalf("%d duplicate items, more than %d (at most 2 × CONCURRENT_REQUESTS %d per kill and at most the %d requests requeued, plus %d start-page refetches)", dups, bound, concurrency, totalRequeued, startRefetches)
	}
}

// TestRedisWorkerKill9FileFeed: Redis workers with -o files are at least
// once. One of two workers, each writing its own items file, is SIGKILLed
// mid-crawl and a third takes over: every page has an item in one of the
// files; the extra copies are bounded by the refetched pages.
func TestRedisWorkerKill9FileFeed(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-process Redis crawl; runs in the full suite")
	}
	n := proctest.EnvInt(t, "SPIDERRUN_E2E_PAGES", 1000)
	srv, site, spec := redisCrawl(t, "filefeed", "4", n)
	dir := t.TempDir()
	feedOf := func(i int) string { return filepath.Join(dir, fmt.Sprintf("worker%d.jsonl", i)) }
	var ws []*proctest.Proc
	for i := range 2 {
		ws = append(ws, startCLI(t, "run", spec, "-o", feedOf(i)))
	}
	// The worker that has written n/6 items first is killed: the two
	// need not share the crawl evenly (one can lease most of it ahead).
	killed := -1
	if !proctest.Poll(5*time.Minute, func() bool {
		for i := range ws {
			if lineCount(feedOf(i)) >= n/6 {
				killed = i
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no progress:\n%s\n%s", ws[0].Out, ws[1].Out)
	}
	if err := ws[killed].Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ws[killed].Wait(t, time.Minute)
	ws = append(slices.Delete(ws, killed, killed+1), startCLI(t, "run", spec, "-o", feedOf(2)))
	for i, w := range ws {
		if err := w.Wait(t, 10*time.Minute); err != nil {
			t.Fatalf("worker %d: %v\n%s", i, err, w.Out)
		}
	}
	var lines []string
	for i := range 3 {
		data, _ := os.ReadFile(feedOf(i))
		// The killed worker's file may end with a torn line; nothing reads
		// it again, so it is not cut. Every complete line must be an item.
		if i == killed {
			if j := bytes.LastIndexByte(data, '\n'); j >= 0 {
				data = data[:j+1]
			}
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l != "" {
				lines = append(lines, l)
			}
		}
	}
	refetched := 0
	for i := range n {
		if h := site.Hits(i); h == 0 {
			t.Fatalf("page %d never fetched", i)
		} else {
			refetched += h - 1
		}
	}
	missing, dups := proctest.PageItems(t, lines, site.URL, n)
	t.Logf("%d pages, %d items in the files, %d duplicates, %d refetched", n, len(lines), dups, refetched)
	if missing > 0 {
		t.Fatalf("%d pages have no item in any worker's file: the killed worker acknowledged requests before their items were on disk", missing)
	}
	if dups > refetched {
		t.Fatalf("%d duplicate items for %d refetched pages", dups, refetched)
	}
	rdb, _ := redisq.Dial(srv.URL())
	defer rdb.Close()
	if m, _, _ := itemCounts(t, rdb, "filefeed:items", site.URL, n); m > 0 {
		t.Fatalf("%d pages have no item in Redis", m)
	}
}

// mountTmpfs mounts a tmpfs of size bytes (rounded up to pages) on a new
// directory, unmounted when the test ends. It needs root (CAP_SYS_ADMIN):
// CI runs as root and .ci/run sets CI, so there it must work; elsewhere
// the test is skipped with the reason.
func mountTmpfs(t *testing.T, size int) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput()
	if err != nil {
		testenv.Missing(t, "cannot mount a tmpfs (needs root; CI runs as root): %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// growTmpfs frees space by growing the tmpfs: what a user does by deleting
// files or growing the volume.
func growTmpfs(t *testing.T, dir string, size int) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", fmt.Sprintf("remount,size=%d", size), dir).CombinedOutput(); err != nil {
		t.Fatalf("remount: %v: %s", err, out)
	}
}

func statInt(m map[string]any, k string) int {
	f, _ := m[k].(float64)
	return int(f)
}

// TestDiskFullFailsLoudlyAndResumes: the feed's or the JOBDIR's file
// system fills up mid-crawl. The run stops with the dedicated close reason
// and exit 1; item_scraped_count counts only items that reached the file;
// after space is freed, the same command finishes the crawl and every page
// has its item.
func TestDiskFullFailsLoudlyAndResumes(t *testing.T) {
	if testing.Short() {
		t.Skip("mounts file systems; runs in the full suite")
	}
	const n = 600
	cases := []struct {
		name   string
		full   string // what is on the small file system: "feed" or "jobdir"
		reason string
		size   int
	}{
		{"feed", "feed", "feed_error", 16 << 10},
		{"jobdir", "jobdir", "jobdir_error", 160 << 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			site := newLinkSite(t, n)
			spec := jobdirSpec(t, site.URL, 8)
			small := mountTmpfs(t, c.size)
			dir := t.TempDir()
			jobdir, items := filepath.Join(dir, "job"), filepath.Join(dir, "items.jsonl")
			if c.full == "feed" {
				items = filepath.Join(small, "items.jsonl")
			} else {
				jobdir = filepath.Join(small, "job")
			}
			statsFile := filepath.Join(dir, "stats.json")
			args := []string{"run", spec, "--jobdir", jobdir, "-o", items, "--stats-json", statsFile}

			code, _, stderr := runCLI(t, args...)
			if os.Getenv("DBG") != "" {
				t.Log(stderr)
			}
			if code != exitFailed || !strings.Contains(stderr, "spider closed: "+c.reason) {
				t.Fatalf("full %s: exit %d, want %d with close reason %s:\n%s", c.full, code, exitFailed, c.reason, tail(stderr))
			}
			st := readStats(t, statsFile)
			if st["finish_reason"] != c.reason {
				t.Fatalf("finish_reason %v, want %s", st["finish_reason"], c.reason)
			}
			scraped := statInt(st, "item_scraped_count")
			if got := lineCount(items); scraped > got {
				t.Fatalf("item_scraped_count %d, but only %d items are in the file", scraped, got)
			}
			if c.full == "feed" && statInt(st, "item_write_failed_count") == 0 {
				t.Fatalf("item_write_failed_count not counted: %v", st)
			}
			if scraped >= n {
				t.Fatalf("the disk never filled (%d items)", scraped)
			}

			growTmpfs(t, small, 64<<20)
			code, _, stderr = runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("resume after freeing space: exit %d:\n%s", code, tail(stderr))
			}
			lines := readLines(t, items, "")
			missing, dups := proctest.PageItems(t, lines, site.URL, n)
			t.Logf("first run %d items; after resume %d items, %d duplicates", scraped, len(lines), dups)
			if missing > 0 {
				t.Fatalf("%d of %d pages have no item after the resume: work was lost at the full disk", missing, n)
			}
		})
	}
}

// TestDevFullFeedFails: a feed that cannot be written fails the run (exit
// 1, feed_error) and counts no item as scraped.
func TestDevFullFeedFails(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Fatalf("/dev/full: %v", err)
	}
	statsFile := filepath.Join(t.TempDir(), "stats.json")
	code, _, stderr := runCLI(t, "run", filepath.Join("..", "..", "examples", "offline", "spider.yaml"),
		"-o", "/dev/full:jsonlines", "--stats-json", statsFile)
	if code != exitFailed || !strings.Contains(stderr, "spider closed: feed_error") {
		t.Fatalf("exit %d, want %d with feed_error:\n%s", code, exitFailed, tail(stderr))
	}
	st := readStats(t, statsFile)
	if statInt(st, "item_scraped_count") != 0 || statInt(st, "item_write_failed_count") == 0 {
		t.Fatalf("item_scraped_count %v, item_write_failed_count %v: want 0 and > 0", st["item_scraped_count"], st["item_write_failed_count"])
	}
}

// tail is the end of a long log, for failure messages.
func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}
