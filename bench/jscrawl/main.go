// Command jscrawl runs a spec the way `spiderrun run` does (dsl.Load, -s
// overrides, spiderrun.CompileScript, spiderrun.New, Run) and prints the
// benchmark report. It exists because the CLI has no profiling flag: the
// benchmark measures the JS spider through the real CLI binary, and uses
// this twin only to take a CPU profile of the same code path and to count
// allocations (SPIDERRUN_BENCH_PROFILE, see run.sh).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spiderrun/spiderrun"
	"github.com/spiderrun/spiderrun/bench/internal/product"
	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// settingsFlag collects repeated -s KEY=VALUE.
type settingsFlag []string

func (s *settingsFlag) String() string     { return fmt.Sprint(*s) }
func (s *settingsFlag) Set(v string) error { *s = append(*s, v); return nil }

func main() {
	spec := flag.String("spec", "", "spider.yaml")
	base := flag.String("url", "", "the site's base URL (spider.args.base)")
	conc := flag.Int("c", 64, "CONCURRENT_REQUESTS and CONCURRENT_REQUESTS_PER_DOMAIN")
	out := flag.String("o", os.DevNull, "items file (JSON lines)")
	profile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	heap := flag.String("heapprofile", "", "write a heap profile to this file, -heapafter into the run")
	heapAfter := flag.Duration("heapafter", 3*time.Second, "when to write -heapprofile (mid-crawl, where memory peaks)")
	var sets settingsFlag
	flag.Var(&sets, "s", "setting KEY=VALUE (repeatable)")
	flag.Parse()
	// Every page is on one host: the per-domain limit must not be the
	// bottleneck, as with the other crawlers' -c.
	sets = append(settingsFlag{fmt.Sprintf("CONCURRENT_REQUESTS=%d", *conc), fmt.Sprintf("CONCURRENT_REQUESTS_PER_DOMAIN=%d", *conc), "LOG_LEVEL=WARNING"}, sets...)
	if *profile != "" {
		pf, err := os.Create(*profile)
		if err == nil && pprof.StartCPUProfile(pf) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if *heap != "" {
		// The peak is mid-crawl (responses and requests queued), not at the
		// end, so the profile is taken on a timer.
		time.AfterFunc(*heapAfter, func() {
			if f, err := os.Create(*heap); err == nil {
				_ = pprof.Lookup("heap").WriteTo(f, 0)
				_ = f.Close()
			}
		})
	}
	if err := run(*spec, *base, *out, sets); err != nil {
		fmt.Fprintln(os.Stderr, "jscrawl:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(path, base, out string, sets []string) error {
	t0 := time.Now()
	spec, err := dsl.Load(path)
	if err != nil {
		return err
	}
	for _, kv := range sets {
		if err := spec.Settings.SetFromCLI(kv); err != nil {
			return fmt.Errorf("-s %s: %w", kv, err)
		}
	}
	prog, err := spiderrun.CompileScript(spec)
	if err != nil {
		return err
	}
	c, err := spiderrun.New(spiderrun.Options{
		Spec: spec, Program: prog, Args: map[string]string{"base": base},
		Outputs: []feed.Config{{URI: out, Format: feed.JSONLines, Overwrite: true}},
		Log:     os.Stderr, Stdout: os.Stdout,
	})
	if err != nil {
		return err
	}
	res, err := c.Run(context.Background())
	if err != nil {
		return err
	}
	return product.Print(os.Stdout, stats.Int(c.Stats, stats.ResponseReceivedCount), stats.Int(c.Stats, stats.ItemScrapedCount), t0, res.Reason)
}
