package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/spiderrun/spiderrun/bench/internal/product"
	"github.com/spiderrun/spiderrun/bench/internal/site"
	"github.com/spiderrun/spiderrun/internal/redistest"
)

// benchPages is the site size: small by default so `go test -bench` stays
// short; run.sh sets SPIDERRUN_BENCH_PAGES=20000 for the real figures.
func benchPages() int {
	if n, err := strconv.Atoi(os.Getenv("SPIDERRUN_BENCH_PAGES")); err == nil && n > 1 {
		return n
	}
	return 2000
}

// benchRounds is how many rounds of every crawler one benchmark iteration
// runs (SPIDERRUN_BENCH_ROUNDS; run.sh sets it with -benchtime 1x, because
// -benchtime Nx first runs a discarded probe iteration of b.N = 1).
func benchRounds() int {
	if n, err := strconv.Atoi(os.Getenv("SPIDERRUN_BENCH_ROUNDS")); err == nil && n > 0 {
		return n
	}
	return 1
}

// BenchmarkCrawl runs the floor crawler and the engine crawler, each as a
// subprocess, against the same in-process site (pages of ~20 KB, 10 links,
// 4 product fields, concurrency 64, no delay). It reports pages/s, CPU
// milliseconds per page (getrusage of the crawler process), its peak RSS
// (VmHWM, reported by the crawler itself or read from /proc while it runs)
// and allocations per page, as medians over the rounds (b.N); it fails if
// any page was not fetched exactly once or an item is missing. The
// crawlers are the floor (bench/floor), the engine with a Go spider
// (bench/enginecrawl) and the JS spider through `spiderrun run`
// (bench/jsspider).
func BenchmarkCrawl(b *testing.B) {
	pages := benchPages()
	s := site.New(pages, 10, 20<<10)
	s.Latency = benchLatency(b)
	srv := httptest.NewServer(s)
	defer srv.Close()
	dir := b.TempDir()
	// The JS spider runs through the real CLI binary; with profiling on,
	// through its twin bench/jscrawl (same code path, plus -cpuprofile).
	for name, pkg := range map[string]string{"floor": "./floor", "enginecrawl": "./enginecrawl", "spiderrun": "../cmd/spiderrun", "jscrawl": "./jscrawl"} {
		bin := filepath.Join(dir, name)
		out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput()
		if err != nil {
			b.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	// One figure per round and crawler; the medians are reported, because
	// the machine is shared and a single round can be hit by other load.
	type round struct{ pps, cpuMs, rssMB, allocs float64 }
	crawlers := []string{"floor", "enginecrawl", "js"}
	if os.Getenv("SPIDERRUN_BENCH_JOBDIR") != "" {
		crawlers = []string{"floor", "js"} // the JS spider with --jobdir
	}
	if os.Getenv("SPIDERRUN_BENCH_CHAIN") != "" {
		// The engine again, downloading through the full middleware chain.
		crawlers = append(crawlers, "enginechain")
	}
	if v := os.Getenv("SPIDERRUN_BENCH_CRAWLERS"); v != "" {
		crawlers = strings.Split(v, ",")
	}
	// Variants of the JS spider (other settings, environment or binary)
	// run in the same rotation, as crawlers "js-NAME".
	variants := jsVariants(b)
	for _, v := range variants {
		crawlers = append(crawlers, "js-"+v.name)
	}
	// The JS spider in Redis mode (SPIDERRUN_BENCH_REDIS=1,2: one and two
	// workers), against a redis-server started here with appendfsync
	// everysec (specs/distributed.md's advice for throughput).
	redisN := redisModes(b)
	var rsrv *redistest.Server
	if len(redisN) > 0 {
		rsrv = redistest.Start(b, redistest.Options{Args: []string{"--appendfsync", "everysec"}})
		for _, name := range slices.Sorted(maps.Keys(redisN)) {
			crawlers = append(crawlers, name)
		}
	}
	redisRes := map[string][]redisRun{}
	res := map[string][]round{}
	for i := 0; i < b.N*benchRounds(); i++ {
		// Rotate the order so that load from other processes on the
		// machine hits every crawler alike.
		order := append(slices.Clone(crawlers[i%len(crawlers):]), crawlers[:i%len(crawlers)]...)
		for _, name := range order {
			var (
				rep product.Report
				ru  *syscall.Rusage
			)
			load := loadAvg()
			var rr redisRun
			switch {
			case redisN[name].n > 0:
				rep, ru, rr = runJSRedis(b, s, dir, srv.URL, pages, redisN[name], rsrv)
				redisRes[name] = append(redisRes[name], rr)
			case name == "js":
				rep, ru = runJS(b, s, dir, srv.URL, pages, jsVariant{})
			case strings.HasPrefix(name, "js-"):
				rep, ru = runJS(b, s, dir, srv.URL, pages, variants[strings.TrimPrefix(name, "js-")])
			case name == "enginechain":
				rep, ru = runCrawler(b, s, filepath.Join(dir, "enginecrawl"), name, []string{"-fetcher", "chain"}, srv.URL+"/p/0", filepath.Join(dir, name+".jsonl"), pages)
			default:
				rep, ru = runCrawler(b, s, filepath.Join(dir, name), name, nil, srv.URL+"/p/0", filepath.Join(dir, name+".jsonl"), pages)
			}
			r := round{
				pps:    float64(pages) / rep.Seconds,
				cpuMs:  float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6 / float64(pages),
				rssMB:  float64(rep.PeakRSS) / (1 << 20),
				allocs: float64(rep.Mallocs) / float64(pages),
			}
			if redisN[name].n > 0 {
				// The Redis server's CPU is part of the crawl's cost.
				r.cpuMs += rr.serverCPUMs
			}
			res[name] = append(res[name], r)
			// Stderr, not b.Logf: the testing package cuts a benchmark's
			// log to 10 lines.
			fmt.Fprintf(os.Stderr, "round %d %-14s %6.0f pages/s %.3f cpu-ms/page %6.1f MB peak RSS (load average %s)\n", i+1, name, r.pps, r.cpuMs, r.rssMB, load)
			if redisN[name].n > 0 {
				fmt.Fprintf(os.Stderr, "round %d %-14s workers %.3f + redis-server %.3f cpu-ms/page, %.1f redis commands/page (%.2f script calls): %v\n",
					i+1, name, rr.workerCPUMs, rr.serverCPUMs, rr.commands, rr.scriptCalls, rr.commandsByOp)
			}
		}
	}
	med := func(name string, f func(round) float64) float64 {
		var v []float64
		for _, r := range res[name] {
			v = append(v, f(r))
		}
		return median(v)
	}
	for _, name := range crawlers {
		short := strings.TrimSuffix(name, "crawl")
		b.ReportMetric(med(name, func(r round) float64 { return r.pps }), short+"-pages/s")
		b.ReportMetric(med(name, func(r round) float64 { return r.cpuMs }), short+"-cpu-ms/page")
		b.ReportMetric(med(name, func(r round) float64 { return r.rssMB }), short+"-peak-rss-MB")
		if a := med(name, func(r round) float64 { return r.allocs }); a > 0 { // the CLI cannot count its allocations
			b.ReportMetric(a, short+"-allocs/page")
		}
	}
	// Ratios are taken within each round (the crawlers ran back to back
	// under about the same load), then the median over rounds.
	ratio := func(name string) float64 {
		var v []float64
		for i, r := range res[name] {
			v = append(v, 100*r.pps/res["floor"][i].pps)
		}
		return median(v)
	}
	if _, ok := res["enginecrawl"]; ok && res["floor"] != nil {
		b.ReportMetric(ratio("enginecrawl"), "engine/floor-%")
	}
	if _, ok := res["floor"]; ok {
		for _, name := range crawlers {
			if name == "js" || strings.HasPrefix(name, "js-") || name == "enginechain" {
				b.ReportMetric(ratio(name), name+"/floor-%")
			}
		}
	}
	// A variant against the plain JS spider, within each round: pages/s
	// and CPU per page.
	if _, ok := res["js"]; ok {
		for name := range variants {
			var pps, cpu []float64
			for i, r := range res["js-"+name] {
				pps = append(pps, 100*r.pps/res["js"][i].pps)
				cpu = append(cpu, 100*r.cpuMs/res["js"][i].cpuMs)
			}
			b.ReportMetric(median(pps), "js-"+name+"/js-pages-%")
			b.ReportMetric(median(cpu), "js-"+name+"/js-cpu-%")
		}
	}
	// Redis mode against memory mode ("js") within each round: pages/s
	// and CPU per page (workers + redis-server), and the commands.
	for name, m := range redisN {
		var pps, cpu, cmds, scripts, scpu []float64
		for i, r := range res[name] {
			if js := res["js"]; i < len(js) {
				pps = append(pps, 100*r.pps/js[i].pps)
				cpu = append(cpu, 100*r.cpuMs/js[i].cpuMs)
			}
			cmds = append(cmds, redisRes[name][i].commands)
			scripts = append(scripts, redisRes[name][i].scriptCalls)
			scpu = append(scpu, redisRes[name][i].serverCPUMs)
		}
		if len(pps) > 0 {
			b.ReportMetric(median(pps), name+"/js-pages-%")
			b.ReportMetric(median(cpu), name+"/js-cpu-%")
		}
		b.ReportMetric(median(cmds), name+"-redis-cmds/page")
		b.ReportMetric(median(scripts), name+"-redis-scripts/page")
		b.ReportMetric(median(scpu), name+"-redis-server-cpu-ms/page")
		if one := res[redisCrawler(1)]; m.n > 1 && m.bin == "" && len(one) > 0 {
			var sc []float64
			for i, r := range res[name] {
				sc = append(sc, 100*r.pps/one[i].pps)
			}
			b.ReportMetric(median(sc), name+"/js-redis-pages-%")
		}
	}
	b.ReportMetric(0, "ns/op")
}

// runCrawler runs one crawler process and checks, from the server's
// counters and the items file, that every page was fetched exactly once
// and every item written.
func runCrawler(b testing.TB, s *site.Site, bin, name string, extra []string, startURL, items string, pages int) (product.Report, *syscall.Rusage) {
	b.Helper()
	s.Reset()
	args := append([]string{"-url", startURL, "-c", "64", "-o", items}, extra...)
	if v := os.Getenv("SPIDERRUN_BENCH_MAX_ACTIVE"); v != "" && strings.HasPrefix(name, "engine") {
		args = append(args, "-max-active", v)
	}
	if pd := os.Getenv("SPIDERRUN_BENCH_PROFILE"); pd != "" {
		args = append(args, "-cpuprofile", filepath.Join(pd, name+".pprof"))
	}
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		b.Fatalf("%s: %v\n%s", name, err, stderr.String())
	}
	var rep product.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		b.Fatalf("%s report %q: %v", name, stdout.String(), err)
	}
	checkRun(b, s, name, rep, items, pages)
	return rep, cmd.ProcessState.SysUsage().(*syscall.Rusage)
}

// checkRun fails the benchmark unless the site saw every page exactly
// once and the crawler reported, and wrote, one item per page.
func checkRun(b testing.TB, s *site.Site, name string, rep product.Report, items string, pages int) {
	b.Helper()
	if hits, err := s.Check(); err != nil {
		b.Fatalf("%s: %v (%d hits for %d pages)", name, err, hits, pages)
	}
	if rep.Items != int64(pages) || rep.Pages != int64(pages) {
		b.Fatalf("%s: %d pages, %d items, want %d", name, rep.Pages, rep.Items, pages)
	}
	if n := countLines(b, items); n != pages {
		b.Fatalf("%s: %d lines in the items file, want %d", name, n, pages)
	}
}

func countLines(b testing.TB, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Count(data, []byte("\n"))
}

// median of v (v is sorted in place; 0 when empty).
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

// loadAvg is the 1-, 5- and 15-minute load average, for the log: figures
// from a loaded machine are read with it.
func loadAvg() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
