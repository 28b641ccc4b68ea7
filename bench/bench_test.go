package bench

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
// milliseconds per page and peak RSS of the crawler process (from
// getrusage), and allocations per page; it fails if any page was not
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
	for _, name := range []string{"floor", "enginecrawl"} {
		b.Run(name, func(b *testing.B) {
			var secs, cpu, rss, mallocs float64
			var total int64
			for i := 0; i < b.N; i++ {
				s.Reset()
				items := filepath.Join(dir, name+".jsonl")
				args := []string{"-url", srv.URL + "/p/0", "-c", "64", "-o", items}
				if pd := os.Getenv("SPIDERRUN_BENCH_PROFILE"); pd != "" {
					args = append(args, "-cpuprofile", filepath.Join(pd, name+".pprof"))
				}
				cmd := exec.Command(filepath.Join(dir, name), args...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("%s: %v\n%s", name, err, stderr.String())
				}
				var rep product.Report
				if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
					b.Fatalf("%s report %q: %v", name, stdout.String(), err)
				}
				hits, err := s.Check()
				if err != nil {
					b.Fatalf("%s: %v (%d hits for %d pages)", name, err, hits, pages)
				}
				if rep.Items != int64(pages) || rep.Pages != int64(pages) {
					b.Fatalf("%s: %d pages, %d items, want %d", name, rep.Pages, rep.Items, pages)
				}
				if n := countLines(b, items); n != pages {
					b.Fatalf("%s: %d lines in the items file, want %d", name, n, pages)
				}
				ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
				secs += rep.Seconds
				cpu += float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
				rss = max(rss, float64(ru.Maxrss)/1024) // Maxrss is in KiB on Linux
				mallocs += float64(rep.Mallocs)
				total += int64(pages)
			}
			b.ReportMetric(float64(total)/secs, "pages/s")
			b.ReportMetric(cpu/float64(total), "cpu-ms/page")
			b.ReportMetric(rss, "peak-rss-MB")
			b.ReportMetric(mallocs/float64(total), "allocs/page")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func countLines(b *testing.B, path string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return bytes.Count(data, []byte("\n"))
}
