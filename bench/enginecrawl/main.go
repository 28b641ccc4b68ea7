// Command enginecrawl crawls the benchmark site with the spiderrun engine
// and a Go spider (the same extraction as the floor crawler), writing items
// through a JSON lines feed.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"time"

	"github.com/spiderrun/spiderrun/bench/internal/product"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func main() {
	start := flag.String("url", "", "start URL")
	conc := flag.Int("c", 64, "CONCURRENT_REQUESTS")
	out := flag.String("o", os.DevNull, "items file (JSON lines)")
	active := flag.Int("max-active", -1, "MaxActiveRequests (-1: same as -c)")
	fetcher := flag.String("fetcher", "plain", "plain (net/http) or chain (the downloader middleware chain with the built-ins)")
	profile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	if *profile != "" {
		pf, err := os.Create(*profile)
		if err == nil && pprof.StartCPUProfile(pf) == nil {
			defer pprof.StopCPUProfile()
		}
	}
	if *active < 0 {
		*active = *conc
	}
	if err := run(*start, *conc, *active, *out, *fetcher); err != nil {
		fmt.Fprintln(os.Stderr, "enginecrawl:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(startURL string, conc, active int, out, fetcher string) error {
	t0 := time.Now()
	fd, err := feed.Open(feed.Config{URI: out, Format: feed.JSONLines, Overwrite: true}, nil)
	if err != nil {
		return err
	}
	st := stats.NewMemory()
	var f engine.Fetcher
	switch fetcher {
	case "plain":
		f = newFetcher(conc)
	case "chain":
		if f, err = newChain(conc, st); err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown -fetcher %q", fetcher)
	}
	e, err := engine.New(engine.Options{
		Spider:             &spider{start: startURL},
		Fetcher:            f,
		Feeds:              []engine.Exporter{fd},
		Stats:              st,
		ConcurrentRequests: conc,
		// A Go spider's callbacks only compute: bound the requests being
		// fetched or parsed like the floor's worker pool (see
		// Options.MaxActiveRequests).
		MaxActiveRequests: active,
		MemUsageInterval:  -1,
	})
	if err != nil {
		return err
	}
	res, err := e.Run(context.Background())
	if err != nil {
		return err
	}
	return product.Print(os.Stdout, stats.Int(st, stats.ResponseReceivedCount), stats.Int(st, stats.ItemScrapedCount), t0, res.Reason)
}

type spider struct{ start string }

func (s *spider) Name() string { return "bench" }

func (s *spider) Start(ctx context.Context) engine.StartIterator {
	return &oneStart{url: s.start}
}

func (s *spider) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	p, links, err := product.Extract(resp.Body, resp.URL)
	if err != nil {
		return err
	}
	out.Item(&crawl.Item{Fields: []crawl.Field{
		{Key: "URL", Value: p.URL}, {Key: "Name", Value: p.Name}, {Key: "Price", Value: p.Price},
		{Key: "SKU", Value: p.SKU}, {Key: "Description", Value: p.Description},
	}})
	for _, l := range links {
		out.Request(&crawl.Request{URL: l})
	}
	return nil
}

func (s *spider) Errback(ctx context.Context, f *crawl.Failure, out engine.Output) (bool, error) {
	return false, nil
}

type oneStart struct {
	url  string
	done bool
}

func (o *oneStart) Next(ctx context.Context) (*crawl.Request, error) {
	if o.done {
		return nil, io.EOF
	}
	o.done = true
	return &crawl.Request{URL: o.url}, nil
}

// plainFetcher is a Fetcher over net/http with the same client settings as
// the floor crawler.
type plainFetcher struct{ c *http.Client }

func newFetcher(conc int) engine.Fetcher {
	return &plainFetcher{c: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conc, MaxIdleConns: conc}}}
}

func (f *plainFetcher) Fetch(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
	req, err := http.NewRequestWithContext(ctx, r.GetMethod(), r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, nil, crawl.NewFailure(crawl.UnknownError, r, err)
	}
	resp, err := f.c.Do(req)
	if err != nil {
		return nil, nil, crawl.NewFailure(crawl.ConnectionError, r, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, crawl.NewFailure(crawl.ConnectionReset, r, err)
	}
	out := &crawl.Response{URL: r.URL, Status: resp.StatusCode, Body: body, Protocol: resp.Proto, Request: r}
	if resp.StatusCode >= 400 {
		return nil, nil, &crawl.Failure{Type: crawl.HttpError, Message: resp.Status, Request: r, Response: out, Err: errors.New(resp.Status)}
	}
	return out, nil, nil
}

// newChain is the full downloading stack of `spiderrun run`: the built-in
// downloader middlewares (default headers, retry, redirect, cookies,
// HTTP errors, stats) over the default downloader, with the per-domain
// limit raised to conc (every page is on one host).
func newChain(conc int, st stats.Collector) (engine.Fetcher, error) {
	opts := downloader.DefaultOptions()
	opts.ConcurrentPerDomain = conc
	opts.HTTP.MaxIdleConnsPerHost = conc
	dl, err := downloader.New(opts)
	if err != nil {
		return nil, err
	}
	return middleware.NewChain(dl, middleware.DefaultBuiltins(st, nil).Stack()...)
}
