package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/bench/internal/product"
	"github.com/spiderrun/spiderrun/bench/internal/site"
	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// jsSpec is the JS spider of the benchmark (spec + script).
const jsSpec = "jsspider/spider.yaml"

// jsSettings give the JS spider the other crawlers' concurrency (64), all
// of it to the one host of the site, and keep its log quiet.
var jsSettings = []string{"CONCURRENT_REQUESTS=64", "CONCURRENT_REQUESTS_PER_DOMAIN=64", "LOG_LEVEL=WARNING"}

// runJS crawls the site with the JS spider through the real CLI binary
// (`spiderrun run`), or through its profiling twin bench/jscrawl when
// SPIDERRUN_BENCH_PROFILE is set, and checks the run like the others.
func runJS(b testing.TB, s *site.Site, dir, base string, pages int, v jsVariant) (product.Report, *syscall.Rusage) {
	b.Helper()
	items := filepath.Join(dir, "js.jsonl")
	if os.Getenv("SPIDERRUN_BENCH_PROFILE") != "" && v.name == "" {
		return runCrawler(b, s, filepath.Join(dir, "jscrawl"), "js", []string{"-spec", jsSpec}, base, items, pages)
	}
	s.Reset()
	statsFile := filepath.Join(dir, "js-stats.json")
	args := []string{"run", jsSpec, "-O", items + ":jsonlines", "--stats-json", statsFile, "-a", "base=" + base}
	for _, kv := range append(slices.Clone(jsSettings), v.sets...) {
		args = append(args, "-s", kv)
	}
	if os.Getenv("SPIDERRUN_BENCH_JOBDIR") != "" || v.jobdir {
		// A fresh JOBDIR each round: the group commit's cost (fsync of
		// the feed, batched acks) is in the figure.
		jd, err := os.MkdirTemp(dir, "job")
		if err != nil {
			b.Fatal(err)
		}
		args = append(args, "--jobdir", jd)
	}
	bin := filepath.Join(dir, "spiderrun")
	if v.bin != "" {
		bin = v.bin
	}
	cmd := exec.Command(bin, args...)
	// The benchmark's own GOGC/GOMEMLIMIT must not leak into the CLI's
	// GC policy; a variant sets them explicitly.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, v.env...)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("js: %v", err)
	}
	// The CLI does not report its own high-water mark, so read the child's
	// VmHWM while it runs. Start returns after the exec, so these are the
	// CLI's pages, not the test binary's (which getrusage's ru_maxrss of a
	// child would include).
	done := make(chan struct{})
	hwm := make(chan int64, 1)
	go func() { hwm <- pollHWM(cmd.Process.Pid, done) }()
	err := cmd.Wait()
	secs := time.Since(t0).Seconds()
	close(done)
	peak := <-hwm
	if err != nil {
		b.Fatalf("js: spiderrun run: %v\n%s", err, stderr.String())
	}
	st := readStats(b, statsFile)
	if r, _ := st["finish_reason"].(string); r != "finished" {
		b.Fatalf("js: finish_reason %q\n%s", r, stderr.String())
	}
	// memusage/max is the engine's own RSS sample (every second): it
	// covers the last moments after the final poll.
	rep := product.Report{
		Pages:   statInt(st, "response_received_count"),
		Items:   statInt(st, "item_scraped_count"),
		Seconds: secs,
		PeakRSS: max(peak, statInt(st, "memusage/max")),
		Reason:  "finished",
	}
	checkRun(b, s, "js", rep, items, pages)
	return rep, cmd.ProcessState.SysUsage().(*syscall.Rusage)
}

// pollHWM returns the highest VmHWM of process pid read every 5 ms until
// done is closed (VmHWM only grows, so the last read is the peak up to
// then).
func pollHWM(pid int, done <-chan struct{}) int64 {
	path := "/proc/" + strconv.Itoa(pid) + "/status"
	var peak int64
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		if v := stats.PeakRSS(path); v > peak {
			peak = v
		}
		select {
		case <-done:
			return peak
		case <-t.C:
		}
	}
}

func readStats(b testing.TB, path string) map[string]any {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatalf("js stats: %v", err)
	}
	st := map[string]any{}
	if err := json.Unmarshal(data, &st); err != nil {
		b.Fatalf("js stats %s: %v", path, err)
	}
	return st
}

func statInt(st map[string]any, key string) int64 {
	f, _ := st[key].(float64)
	return int64(f)
}

// TestJSSpider runs the benchmark's JS spider through the CLI on a small
// site: every page fetched exactly once, and every item equal to what the
// floor's Go extraction (bench/internal/product) gets from the same page,
// so the JS spider does the same work as the crawlers it is compared with.
func TestJSSpider(t *testing.T) {
	const pages = 300
	s := site.New(pages, 10, 4<<10)
	srv := httptest.NewServer(s)
	defer srv.Close()
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "spiderrun"), "../cmd/spiderrun").CombinedOutput(); err != nil {
		t.Fatalf("build spiderrun: %v\n%s", err, out)
	}
	rep, _ := runJS(t, s, dir, srv.URL, pages, jsVariant{})
	if rep.PeakRSS <= 0 {
		t.Errorf("peak RSS %d, want the CLI's VmHWM", rep.PeakRSS)
	}
	data, err := os.ReadFile(filepath.Join(dir, "js.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var got product.Product
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&got); err != nil {
			t.Fatalf("item %s: %v", line, err)
		}
		u, err := url.Parse(got.URL)
		if err != nil {
			t.Fatalf("item URL %q: %v", got.URL, err)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u.Path, nil))
		want, _, err := product.Extract(rec.Body.Bytes(), got.URL)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("item\n got %+v\nwant %+v", got, want)
		}
		if want.Name == "" || want.SKU == "" {
			t.Errorf("%s: empty product fields %+v", got.URL, want)
		}
		if seen[got.URL] {
			t.Errorf("%s: two items", got.URL)
		}
		seen[got.URL] = true
	}
	if len(seen) != pages {
		t.Errorf("%d distinct items, want %d", len(seen), pages)
	}
}

// jsVariant is the JS spider run differently: extra -s settings,
// environment variables (GOGC=…), another spiderrun binary (the code
// before a change, built from a copy of the tree), or a fresh --jobdir.
type jsVariant struct {
	name string
	sets []string // KEY=VALUE, passed as -s
	env  []string // KEY=VALUE
	bin  string   // path of the spiderrun binary; "" = the tree's
	// jobdir runs with a fresh --jobdir each round (token "jobdir:").
	jobdir bool
}

// jsVariants parses SPIDERRUN_BENCH_VARIANTS: variants separated by ";",
// each NAME:TOKEN..., tokens separated by spaces: s:KEY=VALUE (a setting),
// env:KEY=VALUE (an environment variable), bin:PATH (a binary). Example:
//
//	SPIDERRUN_BENCH_VARIANTS='gc100:env:GOGC=100;slot100k:s:SCRAPER_SLOT_MAX_ACTIVE_SIZE=100KB;old:bin:/tmp/spiderrun-old'
func jsVariants(b testing.TB) map[string]jsVariant {
	out := map[string]jsVariant{}
	for _, spec := range strings.Split(os.Getenv("SPIDERRUN_BENCH_VARIANTS"), ";") {
		spec = strings.TrimSpace(spec)
		if spec == "" {
			continue
		}
		name, toks, ok := strings.Cut(spec, ":")
		if !ok || name == "" {
			b.Fatalf("SPIDERRUN_BENCH_VARIANTS: %q: want NAME:TOKEN...", spec)
		}
		v := jsVariant{name: name}
		for _, t := range strings.Fields(toks) {
			kind, val, _ := strings.Cut(t, ":")
			switch kind {
			case "s":
				v.sets = append(v.sets, val)
			case "env":
				v.env = append(v.env, val)
			case "bin":
				v.bin = val
			case "jobdir":
				v.jobdir = true
			default:
				b.Fatalf("SPIDERRUN_BENCH_VARIANTS: %q: token %q: want s:K=V, env:K=V, bin:PATH or jobdir:", spec, t)
			}
		}
		out[name] = v
	}
	return out
}

// benchLatency is SPIDERRUN_BENCH_LATENCY (a duration, e.g. 50ms): the
// site's delay before every response.
func benchLatency(b testing.TB) time.Duration {
	v := os.Getenv("SPIDERRUN_BENCH_LATENCY")
	if v == "" {
		return 0
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		b.Fatalf("SPIDERRUN_BENCH_LATENCY: %v", err)
	}
	return d
}

// redisMode is one Redis-mode crawler of the rotation: n workers of a
// spiderrun binary (bin; "" = the tree's).
type redisMode struct {
	n   int
	bin string
}

// redisModes is SPIDERRUN_BENCH_REDIS: comma-separated worker counts of
// the JS spider in Redis mode (SCHEDULER redis), each a crawler of the
// rotation: "js-redis" for one worker, "js-redisN" for N. A count may name
// another binary, N@PATH (the code before a change), crawler
// "js-redis[N]-BASENAME". Example: 1,2,1@/tmp/spiderrun-before.
func redisModes(b testing.TB) map[string]redisMode {
	out := map[string]redisMode{}
	for _, f := range strings.Split(os.Getenv("SPIDERRUN_BENCH_REDIS"), ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		count, bin, _ := strings.Cut(f, "@")
		n, err := strconv.Atoi(count)
		if err != nil || n < 1 {
			b.Fatalf("SPIDERRUN_BENCH_REDIS: %q: want worker counts such as 1,2 (or N@BINARY)", f)
		}
		name := redisCrawler(n)
		if bin != "" {
			name += "-" + filepath.Base(bin)
		}
		out[name] = redisMode{n: n, bin: bin}
	}
	return out
}

// redisCrawler names the Redis-mode crawler of n workers of the tree.
func redisCrawler(n int) string {
	if n == 1 {
		return "js-redis"
	}
	return "js-redis" + strconv.Itoa(n)
}

// redisRun is what one Redis-mode round measured besides pages/s: the
// redis-server's CPU time and the commands it ran (INFO commandstats,
// script calls and the commands the scripts ran counted alike), per page.
type redisRun struct {
	serverCPUMs  float64 // redis-server user+sys CPU-ms per page
	commands     float64 // Redis commands per page (all of them)
	scriptCalls  float64 // EVALSHA/EVAL calls per page
	workerCPUMs  float64 // the workers' CPU-ms per page
	commandsByOp map[string]int64
}

// runJSRedis crawls the site with n `spiderrun run` workers sharing one
// crawl through srv (SCHEDULER redis, file feeds), started together from
// an empty server; the round ends when the last worker exits. It checks the
// run like the others (every page fetched exactly once, one item per page
// across the workers' files) and returns the workers' summed rusage.
func runJSRedis(b testing.TB, s *site.Site, dir, base string, pages int, m redisMode, srv *redistest.Server) (product.Report, *syscall.Rusage, redisRun) {
	b.Helper()
	n := m.n
	s.Reset()
	for _, c := range [][]string{{"FLUSHALL"}, {"CONFIG", "RESETSTAT"}} {
		if _, err := srv.Do(c...); err != nil {
			b.Fatalf("redis %v: %v", c, err)
		}
	}
	cpu0 := redisCPU(b, srv)
	bin := filepath.Join(dir, "spiderrun")
	if m.bin != "" {
		bin = m.bin
	}
	type worker struct {
		cmd          *exec.Cmd
		out          bytes.Buffer
		items, stats string
	}
	ws := make([]*worker, n)
	t0 := time.Now()
	for i := range ws {
		w := &worker{items: filepath.Join(dir, fmt.Sprintf("js-redis-%d.jsonl", i)), stats: filepath.Join(dir, fmt.Sprintf("js-redis-%d-stats.json", i))}
		args := []string{"run", jsSpec, "-O", w.items + ":jsonlines", "--stats-json", w.stats, "-a", "base=" + base,
			"-s", "SCHEDULER=redis", "-s", "REDIS_URL=" + srv.URL(), "-s", "MAX_IDLE_TIME_BEFORE_CLOSE=0"}
		for _, kv := range jsSettings {
			args = append(args, "-s", kv)
		}
		w.cmd = exec.Command(bin, args...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "GOGC=") && !strings.HasPrefix(kv, "GOMEMLIMIT=") {
				w.cmd.Env = append(w.cmd.Env, kv)
			}
		}
		w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
		if err := w.cmd.Start(); err != nil {
			b.Fatalf("js-redis: %v", err)
		}
		ws[i] = w
	}
	var ru syscall.Rusage
	rep := product.Report{Reason: "idle"}
	var lines []byte
	for i, w := range ws {
		if err := w.cmd.Wait(); err != nil {
			b.Fatalf("js-redis worker %d: spiderrun run: %v\n%s", i, err, w.out.String())
		}
		st := readStats(b, w.stats)
		if r, _ := st["finish_reason"].(string); r != "idle" && r != "finished" {
			b.Fatalf("js-redis worker %d: finish_reason %q\n%s", i, r, w.out.String())
		}
		rep.Pages += statInt(st, "response_received_count")
		rep.Items += statInt(st, "item_scraped_count")
		rep.PeakRSS = max(rep.PeakRSS, statInt(st, "memusage/max"))
		wr := w.cmd.ProcessState.SysUsage().(*syscall.Rusage)
		ru.Utime.Usec += wr.Utime.Usec + wr.Utime.Sec*1e6
		ru.Stime.Usec += wr.Stime.Usec + wr.Stime.Sec*1e6
		data, err := os.ReadFile(w.items)
		if err != nil {
			b.Fatal(err)
		}
		lines = append(lines, data...)
	}
	rep.Seconds = time.Since(t0).Seconds()
	all := filepath.Join(dir, "js-redis-all.jsonl")
	if err := os.WriteFile(all, lines, 0o600); err != nil {
		b.Fatal(err)
	}
	checkRun(b, s, redisCrawler(n), rep, all, pages)
	cpu1 := redisCPU(b, srv)
	rr := redisRun{serverCPUMs: (cpu1 - cpu0) * 1e3 / float64(pages), commandsByOp: redisCommandStats(b, srv)}
	for op, calls := range rr.commandsByOp {
		rr.commands += float64(calls)
		if op == "evalsha" || op == "eval" || op == "evalsha_ro" || op == "eval_ro" {
			rr.scriptCalls += float64(calls)
		}
	}
	rr.commands /= float64(pages)
	rr.scriptCalls /= float64(pages)
	rr.workerCPUMs = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6 / float64(pages)
	return rep, &ru, rr
}

// redisCPU is the redis-server's own CPU time so far, in seconds (INFO cpu:
// used_cpu_user + used_cpu_sys).
func redisCPU(b testing.TB, srv *redistest.Server) float64 {
	info, err := srv.Do("INFO", "cpu")
	if err != nil {
		b.Fatalf("redis INFO cpu: %v", err)
	}
	var total float64
	for _, line := range strings.Split(info, "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return total
}

// redisCommandStats reads INFO commandstats: calls per command since the
// last CONFIG RESETSTAT (the commands a script runs are counted too; the
// INFO and CONFIG calls of the benchmark itself are left out).
func redisCommandStats(b testing.TB, srv *redistest.Server) map[string]int64 {
	info, err := srv.Do("INFO", "commandstats")
	if err != nil {
		b.Fatalf("redis INFO commandstats: %v", err)
	}
	out := map[string]int64{}
	for _, line := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		op, isCmd := strings.CutPrefix(name, "cmdstat_")
		if !ok || !isCmd || op == "info" || op == "config|resetstat" || op == "config" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		out[op] = n
	}
	return out
}
