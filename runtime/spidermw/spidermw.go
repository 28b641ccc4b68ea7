// Package spidermw holds the built-in spider middlewares: output filters
// that sit between a callback and the scheduler (Scrapy's
// OffsiteMiddleware and DepthMiddleware). They implement
// engine.SpiderMiddleware and engine.StartWrapper.
package spidermw

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Offsite drops requests to hosts outside AllowedDomains (a domain also
// allows its subdomains). Start requests (Request.Start), requests with
// DontFilter and requests with meta allow_offsite are never dropped. Each
// dropped domain is logged once at debug level and counted in
// offsite/domains; every dropped request in offsite/filtered.
type Offsite struct {
	domains []string // lower-case, no port
	stats   stats.Collector
	log     *slog.Logger

	mu   sync.Mutex
	seen map[string]bool
}

// NewOffsite returns the offsite filter for allowed domains. Entries may be
// given with a scheme or port by mistake ("https://a.com", "a.com:8080");
// they are reduced to the host, as Scrapy warns and does. An empty list
// allows everything.
func NewOffsite(allowed []string, st stats.Collector, logger *slog.Logger) *Offsite {
	if st == nil {
		st = stats.NewMemory()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	o := &Offsite{stats: st, log: logger, seen: map[string]bool{}}
	for _, d := range allowed {
		d = strings.ToLower(strings.TrimSpace(d))
		if i := strings.Index(d, "://"); i >= 0 {
			d = d[i+3:]
		}
		d, _, _ = strings.Cut(d, "/")
		if h, _, err := net.SplitHostPort(d); err == nil {
			d = h
		}
		d = strings.TrimPrefix(strings.TrimSuffix(d, "."), ".")
		if d != "" {
			o.domains = append(o.domains, d)
		}
	}
	return o
}

// Allowed reports whether rawURL's host is one of the allowed domains or a
// subdomain of one.
func (o *Offsite) Allowed(rawURL string) bool {
	if len(o.domains) == 0 {
		return true
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, d := range o.domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// WrapOutput implements engine.SpiderMiddleware.
func (o *Offsite) WrapOutput(resp *crawl.Response, next engine.Output) engine.Output {
	return &offsiteOutput{Output: next, o: o}
}

type offsiteOutput struct {
	engine.Output
	o *Offsite
}

func (w *offsiteOutput) Request(r *crawl.Request) {
	if r.Start || r.DontFilter || r.MetaBool("allow_offsite") || w.o.Allowed(r.URL) {
		w.Output.Request(r)
		return
	}
	w.o.stats.Inc(stats.OffsiteFiltered, 1)
	host := r.URL
	if u, err := url.Parse(r.URL); err == nil {
		host = u.Hostname()
	}
	w.o.mu.Lock()
	first := !w.o.seen[host]
	w.o.seen[host] = true
	w.o.mu.Unlock()
	if first {
		w.o.stats.Inc(stats.OffsiteDomains, 1)
		w.o.log.Debug(fmt.Sprintf("Filtered offsite request to %s: %s", pyQuote(host), r))
	}
}

// Depth sets each request's depth (its parent's plus one), drops requests
// deeper than Limit (DEPTH_LIMIT, 0 = no limit), lowers priority by
// depth × Priority (DEPTH_PRIORITY: positive gives breadth-first, negative
// depth-first order), and keeps request_depth_max (and, with Verbose,
// request_depth_count/<depth>, DEPTH_STATS_VERBOSE).
type Depth struct {
	Limit    int
	Priority int
	Verbose  bool
	stats    stats.Collector
	log      *slog.Logger
}

// NewDepth returns the depth middleware.
func NewDepth(limit, priority int, verbose bool, st stats.Collector, logger *slog.Logger) *Depth {
	if st == nil {
		st = stats.NewMemory()
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Depth{Limit: limit, Priority: priority, Verbose: verbose, stats: st, log: logger}
}

// WrapOutput implements engine.SpiderMiddleware.
func (d *Depth) WrapOutput(resp *crawl.Response, next engine.Output) engine.Output {
	parent := 0
	if resp != nil && resp.Request != nil {
		parent = resp.Request.Depth
	}
	return &depthOutput{Output: next, d: d, depth: parent + 1}
}

type depthOutput struct {
	engine.Output
	d     *Depth
	depth int
}

func (w *depthOutput) Request(r *crawl.Request) {
	r.Depth = w.depth
	if w.d.Priority != 0 {
		r.Priority -= w.depth * w.d.Priority
	}
	if w.d.Limit > 0 && w.depth > w.d.Limit {
		w.d.log.Debug("ignoring link: depth limit reached", "depth", w.depth, "limit", w.d.Limit, "url", r.URL)
		return
	}
	w.d.stats.Max(stats.RequestDepthMax, int64(w.depth))
	if w.d.Verbose {
		w.d.stats.Inc(stats.RequestDepthCount+strconv.Itoa(w.depth), 1)
	}
	w.Output.Request(r)
}

// WrapStart implements engine.StartWrapper: start requests are depth 0
// (counted in request_depth_count/0 when Verbose).
func (d *Depth) WrapStart(start engine.StartIterator) engine.StartIterator {
	if !d.Verbose {
		return start
	}
	return startFunc(func(ctx context.Context) (*crawl.Request, error) {
		r, err := start.Next(ctx)
		if r != nil {
			d.stats.Inc(stats.RequestDepthCount+"0", 1)
		}
		return r, err
	})
}

type startFunc func(ctx context.Context) (*crawl.Request, error)

func (f startFunc) Next(ctx context.Context) (*crawl.Request, error) { return f(ctx) }

// pyQuote writes s as Python's repr of a str does ('example.com'), for
// log lines in Scrapy's words.
func pyQuote(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}
