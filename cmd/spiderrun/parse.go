package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/spidermw"
)

func init() { register(newParseCmd) }

// parseOptions are parse's own flags.
type parseOptions struct {
	callback string
	metaJSON string
	cbKwargs string
	depth    int
	verbose  bool
	noItems  bool
	noLinks  bool
}

// parseConcurrency bounds the downloads of one depth level.
const parseConcurrency = 8

func newParseCmd() *cobra.Command {
	var (
		f  runFlags
		po parseOptions
	)
	cmd := &cobra.Command{
		Use:   "parse SPEC URL",
		Short: "Run a callback on one URL and print what it yields (scrapy parse)",
		Long: `Download URL as the spider would (through its middlewares, sessions and
impersonation), run one callback on the response (--callback, default the
spec's callback) and print the items and requests it yields — Scrapy's
parse command, the everyday debugging tool.

With --depth N (default 1) the requests a callback yields are followed too,
level by level, up to level N, as scrapy parse --depth does: each runs its
own callback (or --callback when it names none, or the spec's default),
requests outside allowed_domains and duplicates (same fingerprint, unless
dont_filter) are not followed. Nothing else is crawled, no feed is written.

Output (stdout) is scrapy parse's:

  >>> STATUS DEPTH LEVEL 2 <<<
  # Scraped Items  ------------------------------------------------------------
  [{"name":"Product 0"},
   {"name":"Product 1"}]
  # Requests  -----------------------------------------------------------------
  [<GET https://example.com/site/3 callback=detail>]

the items of every level, then the requests of the deepest level reached.
With -v each level is printed in turn under ">>> DEPTH LEVEL: n <<<" with its
own items and requests. Items are JSON; a list that does not fit in 80
columns puts one element per line. Requests print as <METHOD URL>, followed
by callback=NAME when the request names a callback. Download and callback
errors follow under "# Errors", and the exit status is then 1.

Examples:
  spiderrun parse spider.yaml https://books.toscrape.com/ --callback parse
  spiderrun parse spider.yaml https://books.toscrape.com/ --depth 2 -v
  spiderrun parse spider.yaml https://example.com/p/1 -c parse_item --meta '{"page": 1}'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runParse(cmd, &f, &po, a[0], a[1])
		},
	}
	f.bind(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&po.callback, "callback", "c", "", "callback `NAME` (default: the spec's callback, or parse)")
	fl.StringVarP(&po.metaJSON, "meta", "m", "", "request meta as a JSON object")
	fl.StringVar(&po.cbKwargs, "cbkwargs", "", "callback keyword arguments (cb_kwargs) as a JSON object")
	fl.IntVarP(&po.depth, "depth", "d", 1, "follow the requests callbacks yield down to this depth `N` (1: only URL)")
	fl.BoolVarP(&po.verbose, "verbose", "v", false, "print each depth level one by one")
	fl.BoolVar(&po.noItems, "noitems", false, "do not show scraped items")
	fl.BoolVar(&po.noLinks, "nolinks", false, "do not show requests (links to follow)")
	return cmd
}

func runParse(cmd *cobra.Command, f *runFlags, po *parseOptions, specPath, rawURL string) error {
	if po.depth < 1 {
		return usageErr(fmt.Errorf("--depth %d: want 1 or more (1 parses URL only)", po.depth))
	}
	l, err := f.load(specPath)
	if err != nil {
		return err
	}
	req := &crawl.Request{URL: rawURL, Callback: po.callback, Start: true, SessionID: l.spec.SessionID}
	if po.metaJSON != "" {
		if err := json.Unmarshal([]byte(po.metaJSON), &req.Meta); err != nil {
			return usageErr(fmt.Errorf("--meta: invalid JSON object: %w (example: --meta '{\"page\": 1}')", err))
		}
	}
	if po.cbKwargs != "" {
		if err := json.Unmarshal([]byte(po.cbKwargs), &req.CbKwargs); err != nil {
			return usageErr(fmt.Errorf("--cbkwargs: invalid JSON object: %w (example: --cbkwargs '{\"page\": 1}')", err))
		}
	}
	c, err := newOneOffCrawler(cmd, l)
	if err != nil {
		return usageErr(err)
	}
	defer c.Close()
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	p := &parser{
		c:        c,
		callback: po.callback,
		offsite:  spidermw.NewOffsite(l.spec.AllowedDomains, nil, nil),
		seen:     scheduler.NewMemoryDupeFilter(),
	}
	levels, err := p.run(ctx, req, po.depth)
	if err != nil {
		return failErr(err)
	}
	failed, err := printLevels(cmd.OutOrStdout(), levels, po)
	if err != nil {
		return err
	}
	if failed {
		return &exitError{code: exitFailed}
	}
	return nil
}

// parser follows the requests of a parse command level by level.
type parser struct {
	c        *spiderrun.Crawler
	callback string // --callback: for requests that name none
	offsite  *spidermw.Offsite
	seen     *scheduler.MemoryDupeFilter
}

// level is what the callbacks of one depth level yielded.
type level struct {
	n int
	collected
}

// run opens the spider, parses req (level 1) and follows the requests
// yielded down to depth, then closes the spider. Only levels where at
// least one callback ran are returned.
func (p *parser) run(ctx context.Context, req *crawl.Request, depth int) ([]*level, error) {
	closeSpider, err := openSpider(ctx, p.c)
	if err != nil {
		return nil, err
	}
	defer closeSpider()
	p.seen.Seen(scheduler.Fingerprint(req))
	var levels []*level
	todo := []*crawl.Request{req}
	for n := 1; n <= depth && len(todo) > 0; n++ {
		lv := &level{n: n}
		outs := make([]collected, len(todo))
		sem := make(chan struct{}, parseConcurrency)
		var wg sync.WaitGroup
		for i, r := range todo {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				p.parseOne(ctx, r, &outs[i])
			}()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return levels, err
		}
		// Keep the order of the requests, whatever order they finished in.
		for i := range outs {
			lv.items = append(lv.items, outs[i].items...)
			lv.reqs = append(lv.reqs, outs[i].reqs...)
			lv.errs = append(lv.errs, outs[i].errs...)
		}
		levels = append(levels, lv)
		todo = p.follow(lv.reqs, n)
	}
	return levels, nil
}

// parseOne downloads r and runs its callback (or errback), collecting the
// output in out.
func (p *parser) parseOne(ctx context.Context, r *crawl.Request, out *collected) {
	resp, err := p.c.Engine().Crawl().Download(ctx, r)
	if err != nil {
		var f *crawl.Failure
		if errors.As(err, &f) {
			if handled, eerr := p.c.Spider.Errback(ctx, f, out); handled {
				if eerr != nil {
					out.Error(eerr)
				}
				return
			}
		}
		out.Error(err)
		return
	}
	if err := p.c.Spider.Callback(ctx, resp, out); err != nil {
		out.Error(err)
	}
}

// follow picks the requests of level n to parse at level n+1: offsite and
// duplicate requests are dropped (as the engine would), a request without
// a callback gets --callback.
func (p *parser) follow(reqs []*crawl.Request, n int) []*crawl.Request {
	var next []*crawl.Request
	for _, r := range reqs {
		if !r.DontFilter && !r.MetaBool("allow_offsite") && !p.offsite.Allowed(r.URL) {
			continue
		}
		if !r.DontFilter && p.seen.Seen(scheduler.Fingerprint(r)) {
			continue
		}
		f := *r
		if f.Callback == "" {
			f.Callback = p.callback
		}
		f.Depth = n
		next = append(next, &f)
	}
	return next
}

// printLevels prints the levels as scrapy parse does; failed reports
// whether there were errors.
func printLevels(w io.Writer, levels []*level, po *parseOptions) (failed bool, err error) {
	section := func(lv *level, allItems []*crawl.Item) error {
		if !po.noItems {
			fmt.Fprintln(w, "# Scraped Items ", strings.Repeat("-", 60))
			elems := make([]string, len(allItems))
			for i, it := range allItems {
				b, err := json.Marshal(it)
				if err != nil {
					return failErr(fmt.Errorf("item: %w", err))
				}
				elems[i] = string(b)
			}
			fmt.Fprintln(w, pprintList(elems))
		}
		if !po.noLinks {
			fmt.Fprintln(w, "# Requests ", strings.Repeat("-", 65))
			var reqs []*crawl.Request
			if lv != nil {
				reqs = lv.reqs
			}
			elems := make([]string, len(reqs))
			for i, r := range reqs {
				elems[i] = requestRepr(r)
			}
			fmt.Fprintln(w, pprintList(elems))
		}
		return nil
	}
	if po.verbose {
		for _, lv := range levels {
			fmt.Fprintf(w, "\n>>> DEPTH LEVEL: %d <<<\n", lv.n)
			if err := section(lv, lv.items); err != nil {
				return false, err
			}
		}
	} else {
		var all []*crawl.Item
		var last *level
		for _, lv := range levels {
			all = append(all, lv.items...)
			last = lv
		}
		n := 0
		if last != nil {
			n = last.n
		}
		fmt.Fprintf(w, "\n>>> STATUS DEPTH LEVEL %d <<<\n", n)
		if err := section(last, all); err != nil {
			return false, err
		}
	}
	var errs []string
	for _, lv := range levels {
		for _, e := range lv.errs {
			errs = append(errs, fmt.Sprintf("depth %d: %v", lv.n, e))
		}
	}
	if len(errs) > 0 {
		fmt.Fprintln(w, "# Errors ", strings.Repeat("-", 67))
		for _, e := range errs {
			fmt.Fprintln(w, e)
		}
	}
	return len(errs) > 0, nil
}

// requestRepr is Scrapy's <GET URL>, with the callback when one is named.
func requestRepr(r *crawl.Request) string {
	s := "<" + r.GetMethod() + " " + r.URL
	if r.Callback != "" {
		s += " callback=" + r.Callback
	}
	return s + ">"
}

// pprintList lays out a list as Python's pprint does: on one line when it
// fits in 80 columns, else one element per line.
func pprintList(elems []string) string {
	one := "[" + strings.Join(elems, ", ") + "]"
	if len(one) <= 80 || len(elems) < 2 {
		return one
	}
	return "[" + strings.Join(elems, ",\n ") + "]"
}

// collected is an engine.Output that keeps everything a callback yields.
type collected struct {
	mu    sync.Mutex
	items []*crawl.Item
	reqs  []*crawl.Request
	errs  []error
}

func (c *collected) Request(r *crawl.Request) { c.mu.Lock(); c.reqs = append(c.reqs, r); c.mu.Unlock() }
func (c *collected) Item(it *crawl.Item)      { c.mu.Lock(); c.items = append(c.items, it); c.mu.Unlock() }
func (c *collected) Error(err error)          { c.mu.Lock(); c.errs = append(c.errs, err); c.mu.Unlock() }
