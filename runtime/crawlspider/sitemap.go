package crawlspider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/dlclark/regexp2/v2"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
)

// SitemapCallback is the callback name of sitemap and robots.txt requests;
// the wrapper handles them itself.
const SitemapCallback = "_parse_sitemap"

// SitemapRule sends the pages whose URL matches Pattern (a regex searched
// anywhere in the URL) to Callback ("" = the spider's default callback).
type SitemapRule struct {
	Pattern  string
	Callback string
}

// SitemapOptions configure a SitemapSpider (Scrapy's class attributes).
type SitemapOptions struct {
	// URLs are sitemap, sitemap index or robots.txt URLs (sitemap_urls).
	URLs []string
	// Rules: the first rule whose pattern matches a page URL wins
	// (sitemap_rules) [one rule matching everything, default callback].
	Rules []SitemapRule
	// Follow: sitemap index entries are followed only when they match one
	// of these patterns (sitemap_follow) [all].
	Follow []string
	// AlternateLinks also follows <xhtml:link rel="alternate"> URLs
	// (sitemap_alternate_links) [false].
	AlternateLinks bool
	// MaxSize bounds a gunzipped sitemap (DOWNLOAD_MAXSIZE) [32 MiB]; a
	// larger one is ignored with a warning, as in Scrapy.
	MaxSize int64
	Logger  *slog.Logger
}

type sitemapRule struct {
	re       *regexp2.Regexp
	callback string
}

// SitemapSpider is Scrapy's SitemapSpider around an inner spider: its start
// requests are the sitemap URLs; page URLs found in sitemaps are sent to
// the inner spider's callbacks by the rules.
//
// The embedded engine.Wrapper forwards Name, Errback and the optional
// interfaces (Open, Close, Idle, Stalled) to the inner spider.
type SitemapSpider struct {
	engine.Wrapper
	opts   SitemapOptions
	rules  []sitemapRule
	follow []*regexp2.Regexp
	log    *slog.Logger
}

var (
	_ engine.Spider        = (*SitemapSpider)(nil)
	_ engine.Opener        = (*SitemapSpider)(nil)
	_ engine.Closer        = (*SitemapSpider)(nil)
	_ engine.IdleHandler   = (*SitemapSpider)(nil)
	_ engine.StallReporter = (*SitemapSpider)(nil)
)

// NewSitemap compiles the rule and follow patterns and wraps inner.
func NewSitemap(inner engine.Spider, opts SitemapOptions) (*SitemapSpider, error) {
	s := &SitemapSpider{Wrapper: engine.Wrapper{Inner: inner}, opts: opts, log: opts.Logger}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	rules := opts.Rules
	if rules == nil {
		rules = []SitemapRule{{Pattern: ""}}
	}
	for i, r := range rules {
		re, err := extract.CompileRegex(r.Pattern)
		if err != nil {
			return nil, fmt.Errorf("sitemap_rules[%d]: %w", i, err)
		}
		s.rules = append(s.rules, sitemapRule{re, r.Callback})
	}
	follow := opts.Follow
	if follow == nil {
		follow = []string{""}
	}
	for i, p := range follow {
		re, err := extract.CompileRegex(p)
		if err != nil {
			return nil, fmt.Errorf("sitemap_follow[%d]: %w", i, err)
		}
		s.follow = append(s.follow, re)
	}
	return s, nil
}

// Start yields one request per sitemap URL (Scrapy ignores start_urls in a
// SitemapSpider).
func (s *SitemapSpider) Start(ctx context.Context) engine.StartIterator {
	return &sliceStart{urls: s.opts.URLs}
}

type sliceStart struct {
	urls []string
	i    int
}

func (it *sliceStart) Next(ctx context.Context) (*crawl.Request, error) {
	if it.i >= len(it.urls) {
		return nil, io.EOF
	}
	u := it.urls[it.i]
	it.i++
	return &crawl.Request{URL: u, Callback: SitemapCallback}, nil
}

// Callback parses sitemaps and robots.txt for requests it made, and hands
// every other response to the inner spider.
func (s *SitemapSpider) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	if resp.Request == nil || resp.Request.Callback != SitemapCallback {
		return s.Inner.Callback(ctx, resp, out)
	}
	if strings.HasSuffix(resp.URL, "/robots.txt") {
		for _, u := range extract.SitemapURLsFromRobots(extract.Text(resp), resp.URL) {
			out.Request(&crawl.Request{URL: u, Callback: SitemapCallback})
		}
		return nil
	}
	body, err := s.sitemapBody(resp)
	if err != nil {
		s.log.Warn("ignoring sitemap", "url", resp.URL, "reason", err.Error())
		return nil
	}
	if body == nil {
		s.log.Warn("ignoring invalid sitemap", "url", resp.URL)
		return nil
	}
	sm, err := extract.ParseSitemap(body)
	if err != nil {
		s.log.Warn("ignoring invalid sitemap", "url", resp.URL, "reason", err.Error())
		return nil
	}
	switch sm.Type {
	case "sitemapindex":
		for _, loc := range s.locs(sm) {
			ok, err := anyRegex(s.follow, loc)
			if err != nil {
				return err
			}
			if ok {
				out.Request(&crawl.Request{URL: loc, Callback: SitemapCallback})
			}
		}
	case "urlset":
		for _, loc := range s.locs(sm) {
			for _, r := range s.rules {
				ok, err := r.re.MatchString(loc)
				if err != nil {
					return fmt.Errorf("sitemap rule %q on %s: %w", r.re.String(), loc, err)
				}
				if ok {
					out.Request(&crawl.Request{URL: loc, Callback: r.callback})
					break
				}
			}
		}
	}
	return nil
}

func (s *SitemapSpider) locs(sm *extract.Sitemap) []string {
	var out []string
	for _, e := range sm.Entries {
		out = append(out, e.Loc)
		if s.opts.AlternateLinks {
			out = append(out, e.Alternate...)
		}
	}
	return out
}

func anyRegex(res []*regexp2.Regexp, s string) (bool, error) {
	for _, re := range res {
		ok, err := re.MatchString(s)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// sitemapBody is SitemapSpider._get_sitemap_body: an XML response as is, a
// gzip body decompressed within MaxSize, a .xml or .xml.gz URL whose body
// was already decompressed by the HTTP layer as is; anything else (nil) is
// not a sitemap.
func (s *SitemapSpider) sitemapBody(resp *crawl.Response) ([]byte, error) {
	if extract.ResponseType(resp) == extract.TypeXML {
		return resp.Body, nil
	}
	if extract.IsGzip(resp.Body) {
		b, err := extract.Gunzip(resp.Body, s.opts.MaxSize)
		if errors.Is(err, extract.ErrSitemapTooLarge) {
			return nil, err
		}
		return b, err
	}
	if strings.HasSuffix(resp.URL, ".xml") || strings.HasSuffix(resp.URL, ".xml.gz") {
		return resp.Body, nil
	}
	return nil, nil
}
