// Command floor is the benchmark's reference crawler: the least a Go
// crawler must do (a net/http worker pool, htmlquery extraction, an
// in-memory seen set, items written as JSON lines). The engine is measured
// against it.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiderrun/spiderrun/bench/internal/product"
)

func main() {
	start := flag.String("url", "", "start URL")
	conc := flag.Int("c", 64, "workers")
	out := flag.String("o", os.DevNull, "items file (JSON lines)")
	profile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *profile != "" {
		pf, err := os.Create(*profile)
		if err == nil && pprof.StartCPUProfile(pf) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if err := run(*start, *conc, *out); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(startURL string, conc int, out string) error {
	t0 := time.Now()
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	bw := bufio.NewWriterSize(f, 64<<10)
	enc := json.NewEncoder(bw)
	var outMu sync.Mutex

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: conc}}
	var (
		mu    sync.Mutex
		cond  = sync.NewCond(&mu)
		queue = []string{startURL}
		seen  = map[string]struct{}{startURL: {}}
		busy  int
		pages atomic.Int64
		items atomic.Int64
		ferr  atomic.Value
	)
	worker := func() {
		for {
			mu.Lock()
			for len(queue) == 0 && busy > 0 {
				cond.Wait()
			}
			if len(queue) == 0 {
				mu.Unlock()
				cond.Broadcast()
				return
			}
			u := queue[len(queue)-1]
			queue = queue[:len(queue)-1]
			busy++
			mu.Unlock()

			links := fetch(client, u, func(p product.Product) {
				outMu.Lock()
				if err := enc.Encode(p); err != nil {
					ferr.Store(err)
				}
				outMu.Unlock()
				items.Add(1)
			}, &pages)

			mu.Lock()
			for _, l := range links {
				if _, ok := seen[l]; !ok {
					seen[l] = struct{}{}
					queue = append(queue, l)
				}
			}
			busy--
			mu.Unlock()
			cond.Broadcast()
		}
	}
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() { defer wg.Done(); worker() }()
	}
	wg.Wait()
	if err := bw.Flush(); err != nil {
		return err
	}
	if err, ok := ferr.Load().(error); ok {
		return err
	}
	return product.Print(os.Stdout, pages.Load(), items.Load(), t0, "finished")
}

func fetch(c *http.Client, u string, emit func(product.Product), pages *atomic.Int64) []string {
	resp, err := c.Get(u)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return nil
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "floor:", u, resp.Status, err)
		return nil
	}
	pages.Add(1)
	p, links, err := product.Extract(body, u)
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		return nil
	}
	emit(p)
	return links
}
