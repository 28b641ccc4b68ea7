package bench

import (
	"bytes"
	"encoding/json"
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
)

// benchPages is the site size: small by default so `go test -bench` stays
// short; run.sh sets SPIDERRUN_BENCH_PAGES=20000 for the real figures.
func benchPages() int {
	if n, err := strconv.Atoi(os.Getenv("SPIDERRUN_BENCH_PAGES")); err == nil && n > 1 {
		return n
	}
	return 2000
}

// BenchmarkCrawl runs the floor crawler and the engine crawler, each as a
// subprocess, against the same in-process site (pages of ~20 KB, 10 links,
// 4 product fields, concurrency 64, no delay). It reports pages/s, CPU
// milliseconds per page (getrusage of the crawler process), its peak RSS
// (VmHWM, reported by the crawler itself) and allocations per page; it fails if any page was not
// fetched exactly once or an item is missing.
func BenchmarkCrawl(b *testing.B) {
	pages := benchPages()
	s := site.New(pages, 10, 20<<10)
	srv := httptest.NewServer(s)
	defer srv.Close()
	dir := b.TempDir()
	for _, name := range []string{"floor", "enginecrawl"} {
		bin := filepath.Join(dir, name)
		out, err := exec.Command("go", "build", "-o", bin, "./"+name).CombinedOutput()
		if err != nil {
			b.Fatalf("build %s: %v\n%s", name, err, out)
		}
	}
	type acc struct{ secs, cpu, rss, mallocs, pages float64 }
	crawlers := []string{"floor", "enginecrawl"}
	if os.Getenv("SPIDERRUN_BENCH_CHAIN") != "" {
		// The engine again, downloading through the full middleware chain.
		crawlers = append(crawlers, "enginechain")
	}
	res := map[string]*acc{}
	for _, c := range crawlers {
		res[c] = &acc{}
	}
	for i := 0; i < b.N; i++ {
		// Rotate the order so that load from other processes on the
		// machine hits every crawler alike.
		order := append(slices.Clone(crawlers[i%len(crawlers):]), crawlers[:i%len(crawlers)]...)
		for _, name := range order {
			a := res[name]
			bin, args := filepath.Join(dir, name), []string(nil)
			if name == "enginechain" {
				bin, args = filepath.Join(dir, "enginecrawl"), []string{"-fetcher", "chain"}
			}
			rep, ru := runCrawler(b, s, bin, name, args, srv.URL+"/p/0", filepath.Join(dir, name+".jsonl"), pages)
			a.secs += rep.Seconds
			a.cpu += float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
			a.rss = max(a.rss, float64(rep.PeakRSS)/(1<<20))
			a.mallocs += float64(rep.Mallocs)
			a.pages += float64(pages)
		}
	}
	for _, name := range crawlers {
		a := res[name]
		short := strings.TrimSuffix(name, "crawl")
		b.ReportMetric(a.pages/a.secs, short+"-pages/s")
		b.ReportMetric(a.cpu/a.pages, short+"-cpu-ms/page")
		b.ReportMetric(a.rss, short+"-peak-rss-MB")
		b.ReportMetric(a.mallocs/a.pages, short+"-allocs/page")
	}
	f, e := res["floor"], res["enginecrawl"]
	b.ReportMetric(100*(e.pages/e.secs)/(f.pages/f.secs), "engine/floor-%")
	if c, ok := res["enginechain"]; ok {
		b.ReportMetric(100*(c.pages/c.secs)/(f.pages/f.secs), "enginechain/floor-%")
	}
	b.ReportMetric(0, "ns/op")
}

// runCrawler runs one crawler process and checks, from the server's
// counters and the items file, that every page was fetched exactly once
// and every item written.
func runCrawler(b *testing.B, s *site.Site, bin, name string, extra []string, startURL, items string, pages int) (product.Report, *syscall.Rusage) {
	b.Helper()
	s.Reset()
	args := append([]string{"-url", startURL, "-c", "64", "-o", items}, extra...)
	if v := os.Getenv("SPIDERRUN_BENCH_MAX_ACTIVE"); v != "" && name != "floor" {
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
	if hits, err := s.Check(); err != nil {
		b.Fatalf("%s: %v (%d hits for %d pages)", name, err, hits, pages)
	}
	if rep.Items != int64(pages) || rep.Pages != int64(pages) {
		b.Fatalf("%s: %d pages, %d items, want %d", name, rep.Pages, rep.Items, pages)
	}
	if n := countLines(b, items); n != pages {
		b.Fatalf("%s: %d lines in the items file, want %d", name, n, pages)
	}
	return rep, cmd.ProcessState.SysUsage().(*syscall.Rusage)
}

func countLines(b *testing.B, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Count(data, []byte("\n"))
}
