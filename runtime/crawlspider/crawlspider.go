// Package crawlspider implements Scrapy's CrawlSpider and SitemapSpider as
// wrappers around any engine.Spider (in practice the JavaScript spider of
// jsbridge): the wrapper extracts and follows links by rules, or reads
// sitemaps, and calls the inner spider's named callbacks for the pages the
// rules or sitemap rules select. Functions named in a spec (process_links,
// process_request, process_value, process_results) are reached through the
// Hooks interface, which jsbridge implements.
package crawlspider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Hooks calls the user functions a rule names. Name is the function name
// from the spec. jsbridge implements it by calling the exported JS function.
type Hooks interface {
	// ProcessLinks filters or rewrites the links a rule extracted from a
	// page (Rule.process_links).
	ProcessLinks(ctx context.Context, name string, links []extract.Link) ([]extract.Link, error)
	// ProcessRequest may change or drop (nil) a request built for a link
	// (Rule.process_request(request, response)).
	ProcessRequest(ctx context.Context, name string, r *crawl.Request, resp *crawl.Response) (*crawl.Request, error)
	// ProcessValue is the link extractor's process_value: ok=false drops
	// the value.
	ProcessValue(name string, v string) (string, bool, error)
}

// ResultsHook is implemented by Hooks that can run process_results
// (CrawlSpider.process_results(response, results)); results are
// *crawl.Request and *crawl.Item values, and the returned slice replaces
// them.
type ResultsHook interface {
	ProcessResults(ctx context.Context, name string, resp *crawl.Response, results []any) ([]any, error)
}

// Rule is one CrawlSpider rule (scrapy.spiders.Rule).
type Rule struct {
	LinkExtractor extract.LinkExtractorOptions
	// ProcessValue names a hook for the link extractor's process_value.
	ProcessValue string
	// Callback names the inner spider's callback for followed pages; ""
	// means none (the page is only used to follow more links).
	Callback string
	Errback  string
	CbKwargs map[string]any
	// Follow says whether links are extracted from pages this rule led to;
	// nil means Scrapy's default: true without Callback, false with one.
	Follow         *bool
	ProcessLinks   string
	ProcessRequest string
}

// Options configure a CrawlSpider.
type Options struct {
	Rules []Rule
	// ParseStartURL names the inner callback that parses start responses
	// (and any response of a request without a callback); "" means none,
	// as Scrapy's default parse_start_url returns nothing.
	ParseStartURL string
	// DefaultCallback is the spider's default callback name (the spec's
	// callback:, "parse"). In a CrawlSpider, parse is the rule machinery
	// itself, so a request naming it is treated like one naming no callback:
	// parse_start_url, then the rules. "" means only requests without a
	// callback are.
	DefaultCallback string
	// ProcessResults names a hook for process_results ("" means none).
	ProcessResults string
	// FollowLinks is CRAWLSPIDER_FOLLOW_LINKS [true].
	FollowLinks *bool
	// MaxLinks caps the links each rule reads from a page
	// (LINKEXTRACTOR_MAX_LINKS; 0 = no cap; a rule's own
	// LinkExtractor.MaxLinks wins). A page cut short is logged once, with
	// its URL and the cap, and counted in the stat StatLinksTruncated.
	MaxLinks int
	Hooks    Hooks
	Logger   *slog.Logger
	// Stats receives StatLinksTruncated (nil = not counted).
	Stats stats.Collector
}

// StatLinksTruncated counts the pages whose links were cut short by
// LINKEXTRACTOR_MAX_LINKS.
const StatLinksTruncated = "linkextractor/pages_truncated"

// MetaRule and MetaLinkText are the meta keys of requests built from
// links, as in Scrapy: the index of the rule that extracted the link, and the
// link's text.
const (
	MetaRule     = "rule"
	MetaLinkText = "link_text"
)

type compiledRule struct {
	Rule
	le     *extract.LinkExtractor
	follow bool
}

// Spider is a CrawlSpider around an inner spider. It implements
// engine.Spider; the embedded engine.Wrapper forwards Name, Start, Errback
// and the optional interfaces (Open, Close, Idle, Stalled) to the inner
// spider.
type Spider struct {
	engine.Wrapper
	rules       []compiledRule
	opts        Options
	followLinks bool
	log         *slog.Logger
}

var (
	_ engine.Spider        = (*Spider)(nil)
	_ engine.Opener        = (*Spider)(nil)
	_ engine.Closer        = (*Spider)(nil)
	_ engine.IdleHandler   = (*Spider)(nil)
	_ engine.StallReporter = (*Spider)(nil)
)

// New compiles the rules (regexes, XPath and CSS of every link extractor)
// and wraps inner. A rule naming a hook needs opts.Hooks.
func New(inner engine.Spider, opts Options) (*Spider, error) {
	s := &Spider{Wrapper: engine.Wrapper{Inner: inner}, opts: opts, followLinks: opts.FollowLinks == nil || *opts.FollowLinks, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if opts.ProcessResults != "" {
		if _, ok := opts.Hooks.(ResultsHook); !ok {
			return nil, fmt.Errorf("process_results %q: the spider's hooks cannot run it", opts.ProcessResults)
		}
	}
	for i, r := range opts.Rules {
		leOpts := r.LinkExtractor
		if r.ProcessValue != "" || r.ProcessLinks != "" || r.ProcessRequest != "" {
			if opts.Hooks == nil {
				return nil, fmt.Errorf("rules[%d]: names a hook but no hooks were given", i)
			}
		}
		if r.ProcessValue != "" {
			name, hooks := r.ProcessValue, opts.Hooks
			leOpts.ProcessValueErr = func(v string) (string, bool, error) { return hooks.ProcessValue(name, v) }
		}
		if leOpts.MaxLinks == 0 {
			leOpts.MaxLinks = opts.MaxLinks
		}
		le, err := extract.NewLinkExtractor(leOpts)
		if err != nil {
			return nil, fmt.Errorf("rules[%d].link_extractor: %w", i, err)
		}
		follow := r.Callback == ""
		if r.Follow != nil {
			follow = *r.Follow
		}
		s.rules = append(s.rules, compiledRule{Rule: r, le: le, follow: follow})
	}
	return s, nil
}

// ruleIndex reads meta["rule"]; JSON round trips (Redis) turn it into a
// float64.
func ruleIndex(r *crawl.Request) (int, bool) {
	if r == nil || r.Meta == nil {
		return 0, false
	}
	switch v := r.Meta[MetaRule].(type) {
	case int:
		return v, true
	case int64:
		return int(v), true
	case float64:
		return int(v), true
	}
	return 0, false
}

// Callback implements CrawlSpider._parse_response: the rule's callback (or
// parse_start_url for a request without a callback) runs first, its output
// passes through process_results, then, when the rule follows, every rule
// extracts links from the page.
func (s *Spider) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	req := resp.Request
	if idx, ok := ruleIndex(req); ok {
		if idx < 0 || idx >= len(s.rules) {
			return fmt.Errorf("%s: request meta rule=%d but the spider has %d rules", resp.URL, idx, len(s.rules))
		}
		// A process_request that gave the request another callback takes
		// it out of the rules, as replacing Scrapy's _callback does.
		if rule := s.rules[idx]; req.Callback == rule.Callback {
			return s.parseResponse(ctx, resp, out, rule.Callback, rule.CbKwargs, rule.follow)
		}
	}
	if req != nil && req.Callback != "" && req.Callback != s.opts.DefaultCallback {
		// A callback set by the spider itself (response.follow(url, {callback})).
		return s.Inner.Callback(ctx, resp, out)
	}
	return s.parseResponse(ctx, resp, out, s.opts.ParseStartURL, nil, true)
}

func (s *Spider) parseResponse(ctx context.Context, resp *crawl.Response, out engine.Output, callback string, ruleKwargs map[string]any, follow bool) error {
	var cbErr error
	if callback != "" {
		// The inner spider dispatches on resp.Request.Callback: point it at
		// the rule's callback with the rule's cb_kwargs under the request's
		// own. Replacing the Request pointer keeps the response (and its
		// parsed document) shared.
		r := &crawl.Request{}
		if resp.Request != nil {
			r = resp.Request.Copy()
		}
		r.Callback = callback
		if len(ruleKwargs) > 0 {
			merged := make(map[string]any, len(ruleKwargs)+len(r.CbKwargs))
			for k, v := range ruleKwargs {
				merged[k] = v
			}
			for k, v := range r.CbKwargs {
				merged[k] = v
			}
			r.CbKwargs = merged
		}
		resp.Request = r
		cbErr = s.runCallback(ctx, resp, out)
	}
	// As in Scrapy, where the error escapes _parse_response before it
	// reaches the rules, a failed callback follows no links from the page.
	if cbErr == nil && follow && s.followLinks {
		return s.requestsToFollow(ctx, resp, out)
	}
	return cbErr
}

func (s *Spider) runCallback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	if s.opts.ProcessResults == "" {
		return s.Inner.Callback(ctx, resp, out)
	}
	// process_results needs the whole output, as Scrapy collects it.
	buf := &bufferOutput{out: out}
	err := s.Inner.Callback(ctx, resp, buf)
	results, herr := s.opts.Hooks.(ResultsHook).ProcessResults(ctx, s.opts.ProcessResults, resp, buf.results)
	if herr != nil {
		return errors.Join(err, fmt.Errorf("process_results %s: %w", s.opts.ProcessResults, herr))
	}
	for _, r := range results {
		switch v := r.(type) {
		case *crawl.Request:
			out.Request(v)
		case *crawl.Item:
			out.Item(v)
		case nil:
		default:
			out.Error(fmt.Errorf("process_results %s returned %T, want a request or an item", s.opts.ProcessResults, r))
		}
	}
	return err
}

type bufferOutput struct {
	out     engine.Output
	results []any
}

func (b *bufferOutput) Request(r *crawl.Request) { b.results = append(b.results, r) }
func (b *bufferOutput) Item(it *crawl.Item)      { b.results = append(b.results, it) }
func (b *bufferOutput) Error(err error)          { b.out.Error(err) }

// IsHTML reports whether rules apply to resp: Scrapy follows links only
// from HtmlResponse (text/html or application/xhtml+xml, or an untyped body
// that looks like HTML).
func IsHTML(resp *crawl.Response) bool {
	ct := strings.ToLower(resp.Headers.Get("Content-Type"))
	if ct != "" {
		return strings.Contains(ct, "html")
	}
	b := strings.TrimLeft(string(resp.Body[:min(len(resp.Body), 512)]), " \t\r\n\ufeff")
	return strings.HasPrefix(b, "<")
}

// requestsToFollow is CrawlSpider._requests_to_follow: every rule in order
// extracts links; a link already taken by an earlier rule (same URL, text
// and nofollow) is not offered again.
func (s *Spider) requestsToFollow(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	if !IsHTML(resp) {
		return nil
	}
	seen := map[extract.Link]bool{}
	warned := false
	for i := range s.rules {
		rule := &s.rules[i]
		all, truncated, err := rule.le.Extract(resp)
		if err != nil {
			return fmt.Errorf("rules[%d]: %w", i, err)
		}
		if truncated && !warned {
			warned = true
			s.log.Warn("page has more links than LINKEXTRACTOR_MAX_LINKS: the rest were not read",
				"url", resp.URL, "max_links", rule.le.MaxLinks())
			if s.opts.Stats != nil {
				s.opts.Stats.Inc(StatLinksTruncated, 1)
			}
		}
		links := all[:0:0]
		for _, l := range all {
			if !seen[l] {
				links = append(links, l)
			}
		}
		if rule.ProcessLinks != "" {
			if links, err = s.opts.Hooks.ProcessLinks(ctx, rule.ProcessLinks, links); err != nil {
				return fmt.Errorf("rules[%d].process_links %s: %w", i, rule.ProcessLinks, err)
			}
		}
		for _, l := range links {
			seen[l] = true
			req := buildRequest(i, rule, l)
			if rule.ProcessRequest != "" {
				if req, err = s.opts.Hooks.ProcessRequest(ctx, rule.ProcessRequest, req, resp); err != nil {
					return fmt.Errorf("rules[%d].process_request %s: %w", i, rule.ProcessRequest, err)
				}
				if req == nil {
					continue
				}
			}
			out.Request(req)
		}
	}
	return nil
}

func buildRequest(i int, rule *compiledRule, l extract.Link) *crawl.Request {
	// Like Scrapy, the rule's cb_kwargs are not copied here but merged
	// under the request's own when its response arrives (parseResponse),
	// so process_request sees only what it set itself.
	return &crawl.Request{
		URL:      l.URL,
		Callback: rule.Callback,
		Errback:  rule.Errback,
		Meta:     map[string]any{MetaRule: i, MetaLinkText: l.Text},
		Kind:     crawl.KindLink, // a followed link is a click on it
	}
}

// Errback runs the rule's errback for requests built from links (the
// request carries it), or the inner spider's errback otherwise. Unlike
// Scrapy, a rule without an errback does not swallow the failure: it goes
// to the spider's default errback or is reported.
func (s *Spider) Errback(ctx context.Context, f *crawl.Failure, out engine.Output) (bool, error) {
	return s.Inner.Errback(ctx, f, out)
}
