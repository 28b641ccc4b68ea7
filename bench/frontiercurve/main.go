// Command frontiercurve measures the crawler's memory against the size of
// its frontier (issue #21, specs/benchmarks.md "Frontier memory"): it
// serves a tree site on loopback where page N links to the ten pages
// 10N+1 … 10N+10, so every link is a URL never seen before, runs
// `spiderrun run` on it as a subprocess (bench/frontiercurve/spider.yaml)
// until the crawl has seen -urls URLs, and samples the crawler's RSS every
// -interval against the URLs seen and queued so far. From the repository
// root:
//
//	go run ./bench/frontiercurve                     # 300 000 URLs, memory mode
//	go run ./bench/frontiercurve -urls 1000000 -jobdir
//	go run ./bench/frontiercurve -bin /tmp/spiderrun-old   # another build
//
// URLs seen are 1 + 10 × pages served (the tree has no duplicate links):
// the crawler has seen them once their parents' callbacks ran, so the
// figure is ahead of the crawler's own count by at most the requests in
// flight (64). Queued is seen minus served. It prints one CSV row per
// sample and, at the end, RSS per URL seen over the second half of the run
// (the slope, which excludes the process's fixed cost).
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

func main() {
	urls := flag.Int("urls", 300_000, "stop once the crawl has seen this many URLs")
	bin := flag.String("bin", "", "spiderrun binary (default: go build ./cmd/spiderrun)")
	spec := flag.String("spider", "bench/frontiercurve/spider.yaml", "spider spec")
	interval := flag.Duration("interval", time.Second, "sampling interval")
	jobdir := flag.Bool("jobdir", false, "run with a fresh --jobdir (disk frontier)")
	concurrency := flag.Int("concurrency", 64, "CONCURRENT_REQUESTS")
	flag.Parse()
	if err := run(*urls, *bin, *spec, *interval, *jobdir, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "frontiercurve:", err)
		os.Exit(1)
	}
}

func run(urls int, bin, spec string, interval time.Duration, jobdir bool, concurrency int) error {
	tmp, err := os.MkdirTemp("", "frontiercurve")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if bin == "" {
		bin = filepath.Join(tmp, "spiderrun")
		if out, err := exec.Command("go", "build", "-o", bin, "./cmd/spiderrun").CombinedOutput(); err != nil {
			return fmt.Errorf("build spiderrun (run from the repository root): %v\n%s", err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var served atomic.Int64
	go http.Serve(ln, treeSite(&served)) //nolint:errcheck // ends with the process
	pages := (urls - 1 + 9) / 10
	args := []string{"run", spec, "-a", "base=http://" + ln.Addr().String(),
		"-s", "CONCURRENT_REQUESTS=" + strconv.Itoa(concurrency),
		"-s", "CONCURRENT_REQUESTS_PER_DOMAIN=" + strconv.Itoa(concurrency),
		"-s", "CLOSESPIDER_PAGECOUNT=" + strconv.Itoa(pages),
		"-s", "LOG_LEVEL=WARNING"}
	if jobdir {
		args = append(args, "--jobdir", filepath.Join(tmp, "job"))
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	fmt.Println("seconds,pages,urls_seen,urls_queued,rss_mb,hwm_mb")
	var samples []sample
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			if err != nil {
				return fmt.Errorf("spiderrun: %v\n%s", err, stderr.String())
			}
			summary(samples)
			return nil
		case <-tick.C:
		}
		rss, hwm, err := procMem(cmd.Process.Pid)
		if err != nil {
			continue // the process is exiting
		}
		p := served.Load()
		seen := 1 + 10*p
		fmt.Printf("%.1f,%d,%d,%d,%.1f,%.1f\n", time.Since(start).Seconds(), p, seen, seen-p, rss, hwm)
		samples = append(samples, sample{float64(seen), rss})
	}
}

type sample struct{ seen, rss float64 }

func summary(samples []sample) {
	if len(samples) < 4 {
		fmt.Fprintln(os.Stderr, "frontiercurve: too few samples for a slope; raise -urls or lower -interval")
		return
	}
	last := samples[len(samples)-1]
	mid := samples[len(samples)/2]
	for _, s := range samples {
		if s.seen >= last.seen/2 {
			mid = s
			break
		}
	}
	fmt.Printf("# last sample: %.0f URLs seen, %.1f MB RSS (%.0f B per URL seen, fixed cost included)\n",
		last.seen, last.rss, last.rss*1e6/last.seen)
	if last.seen > mid.seen {
		fmt.Printf("# slope over the second half: %.0f B of RSS per URL seen (%.0f B per URL queued at 9 queued per 10 seen)\n",
			(last.rss-mid.rss)*1e6/(last.seen-mid.seen), (last.rss-mid.rss)*1e6/(0.9*(last.seen-mid.seen)))
	}
}

// procMem reads the resident set (VmRSS) and its peak (VmHWM), in MB.
func procMem(pid int) (rss, hwm float64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb * 1024 / 1e6
		} else {
			hwm = kb * 1024 / 1e6
		}
	}
	if rss == 0 {
		return 0, 0, errors.New("no VmRSS")
	}
	return rss, hwm, sc.Err()
}

// treeSite serves /t/N: a small page linking to /t/10N+1 … /t/10N+10.
func treeSite(served *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.ParseInt(strings.TrimPrefix(r.URL.Path, "/t/"), 10, 64)
		if err != nil || !strings.HasPrefix(r.URL.Path, "/t/") {
			http.NotFound(w, r)
			return
		}
		served.Add(1)
		var b strings.Builder
		fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><title>Page %d</title></head><body><h1>Page %d</h1><ul>\n", n, n)
		for j := int64(1); j <= 10; j++ {
			fmt.Fprintf(&b, "<li><a href=\"/t/%d\">page %d</a></li>\n", 10*n+j, 10*n+j)
		}
		b.WriteString("</ul></body></html>\n")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(b.String()))
	})
}
