package crawlspider

import (
	"bytes"
	"compress/gzip"
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
	"github.com/spiderrun/spiderrun/runtime/weburl"
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
	// Filter, when set, is Scrapy's sitemap_filter(entries): it gets the
	// entries of every sitemap and sitemap index in document order and
	// returns the ones to use (it may drop, reorder or change them; alternates
	// are taken from what it returns). An error fails the sitemap's callback.
	Filter func(ctx context.Context, resp *crawl.Response, entries []extract.SitemapEntry) ([]extract.SitemapEntry, error)
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
// SitemapSpider), made safe as Scrapy's Request does; a URL Scrapy's
// Request rejects (no scheme) is skipped with a warning.
func (s *SitemapSpider) Start(ctx context.Context) engine.StartIterator {
	return &sliceStart{s: s, urls: s.opts.URLs}
}

type sliceStart struct {
	s    *SitemapSpider
	urls []string
	i    int
}

func (it *sliceStart) Next(ctx context.Context) (*crawl.Request, error) {
	for it.i < len(it.urls) {
		u := it.urls[it.i]
		it.i++
		if r := it.s.request(u, SitemapCallback, "sitemap_urls"); r != nil {
			return r, nil
		}
	}
	return nil, io.EOF
}

// request is Scrapy's Request(raw, callback): the URL made safe
// (safe_url_string), or nil, with a warning, for a URL Scrapy's Request
// rejects with ValueError (no "://": a relative or empty <loc>, mailto:,
// a port that is no number, ...). Scrapy's ValueError ends the whole
// _parse_sitemap generator and loses the rest of the sitemap; one bad
// entry loses only itself here (specs/scrapy-differences.md).
func (s *SitemapSpider) request(raw, callback, from string) *crawl.Request {
	u, err := weburl.SafeURL(raw, nil)
	if err == nil && !strings.Contains(u, "://") && !strings.HasPrefix(u, "about:") && !strings.HasPrefix(u, "data:") {
		err = errors.New("missing scheme")
	}
	if err != nil {
		s.log.Warn("ignoring sitemap URL", "url", raw, "from", from, "reason", err.Error())
		return nil
	}
	return &crawl.Request{URL: u, Callback: callback}
}

// Callback parses sitemaps and robots.txt for requests it made, and hands
// every other response to the inner spider. It fails where Scrapy's
// _parse_sitemap raises: a body that is no XML at all, a gzip body of
// which nothing can be decompressed, a rule regex that times out.
func (s *SitemapSpider) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	if resp.Request == nil || resp.Request.Callback != SitemapCallback {
		return s.Inner.Callback(ctx, resp, out)
	}
	if strings.HasSuffix(resp.URL, "/robots.txt") {
		for _, u := range extract.SitemapURLsFromRobots(extract.Text(resp), resp.URL) {
			if r := s.request(u, SitemapCallback, resp.URL); r != nil {
				out.Request(r)
			}
		}
		return nil
	}
	body, err := s.sitemapBody(resp)
	if errors.Is(err, extract.ErrSitemapTooLarge) {
		s.log.Warn("ignoring sitemap", "url", resp.URL, "reason", err.Error())
		return nil
	}
	if err != nil {
		return fmt.Errorf("sitemap %s: %w", resp.URL, err)
	}
	if body == nil {
		s.log.Warn("ignoring invalid sitemap", "url", resp.URL)
		return nil
	}
	sm, err := extract.ParseSitemap(body)
	if err != nil {
		return fmt.Errorf("sitemap %s: %w", resp.URL, err)
	}
	if s.opts.Filter != nil && (sm.Type == "sitemapindex" || sm.Type == "urlset") {
		if sm.Entries, err = s.opts.Filter(ctx, resp, sm.Entries); err != nil {
			return fmt.Errorf("sitemap filter on %s: %w", resp.URL, err)
		}
	}
	switch sm.Type {
	case "sitemapindex":
		for _, loc := range s.locs(sm) {
			ok, err := anyRegex(s.follow, loc)
			if err != nil {
				return fmt.Errorf("sitemap_follow on %s: %w", loc, err)
			}
			if !ok {
				continue
			}
			if r := s.request(loc, SitemapCallback, resp.URL); r != nil {
				out.Request(r)
			}
		}
	case "urlset":
		for _, loc := range s.locs(sm) {
			for _, rule := range s.rules {
				ok, err := rule.re.MatchString(loc)
				if err != nil {
					return fmt.Errorf("sitemap rule %q on %s: %w", rule.re.String(), loc, err)
				}
				if ok {
					if r := s.request(loc, rule.callback, resp.URL); r != nil {
						out.Request(r)
					}
					break
				}
			}
		}
	}
	return nil
}

// locs is Scrapy's iterloc: each entry's <loc>, then its alternate links
// when enabled (for index entries too). Rules and follow patterns are
// searched in these raw strings; the request URL is made safe after.
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

// sitemapBody is SitemapSpider._get_sitemap_body: a gzip body (magic
// bytes 1f 8b 08) decompressed within MaxSize, an XmlResponse's body as
// is, a .xml or .xml.gz URL's body (one the HTTP layer already
// decompressed) as is; anything else (nil) is not a sitemap.
//
// Scrapy looks at the response class first, so it parses the compressed
// bytes of a gzip body served as application/xml, and fails; we gunzip
// any gzip body first (specs/scrapy-differences.md).
func (s *SitemapSpider) sitemapBody(resp *crawl.Response) ([]byte, error) {
	if extract.IsGzip(resp.Body) {
		return gunzipSitemap(resp.Body, s.opts.MaxSize)
	}
	if isXMLResponse(resp) {
		return resp.Body, nil
	}
	if strings.HasSuffix(resp.URL, ".xml") || strings.HasSuffix(resp.URL, ".xml.gz") {
		return resp.Body, nil
	}
	return nil, nil
}

// gunzipSitemap is scrapy.utils.gz.gunzip, bounded: as much as can be
// decompressed (a truncated stream, a bad CRC, garbage or zero padding
// after the last member keep what came before), an error only when nothing
// could be, and ErrSitemapTooLarge past maxSize (<= 0: 32 MiB), where
// Scrapy 2.8 has no limit.
func gunzipSitemap(body []byte, maxSize int64) ([]byte, error) {
	if maxSize <= 0 {
		maxSize = 32 << 20
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	var out bytes.Buffer
	_, err = io.Copy(&out, io.LimitReader(zr, maxSize+1))
	if int64(out.Len()) > maxSize {
		return nil, fmt.Errorf("%w (%d bytes)", extract.ErrSitemapTooLarge, maxSize)
	}
	if err != nil && out.Len() == 0 {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	return out.Bytes(), nil
}

// isXMLResponse reports whether Scrapy would make resp an XmlResponse:
// scrapy.responsetypes.from_args(headers, url, body), the class Scrapy's
// download handler picks. The first of these that names a class decides:
// the Content-Type (none when a Content-Encoding is set), the
// Content-Disposition filename, the URL's extension (Python's mimetypes
// with Scrapy's mime.types), the body's first 5000 bytes ("<?xml" and no
// "<html>" make it XML; control characters make it binary).
func isXMLResponse(resp *crawl.Response) bool {
	cls := classNone
	if ct := resp.Headers.Values("Content-Type"); len(ct) > 0 {
		if ce := resp.Headers.Values("Content-Encoding"); len(ce) == 0 || ce[len(ce)-1] == "" {
			m, _, _ := strings.Cut(ct[len(ct)-1], ";")
			cls = classOfMIME(strings.ToLower(strings.TrimSpace(m)))
		}
	}
	if cd := resp.Headers.Values("Content-Disposition"); cls == classNone && len(cd) > 0 {
		if parts := strings.Split(cd[len(cd)-1], ";"); len(parts) > 1 {
			if kv := strings.Split(parts[1], "="); len(kv) > 1 {
				cls = classOfFilename(strings.Trim(kv[1], `"'`))
			}
		}
	}
	if cls == classNone {
		cls = classOfFilename(resp.URL)
	}
	if cls == classNone {
		cls = classOfBody(resp.Body)
	}
	return cls == classXML
}

// Scrapy's response classes, as far as a sitemap cares.
const (
	classNone  = iota // Response: undecided, the next clue is tried
	classXML          // XmlResponse
	classOther        // HtmlResponse, TextResponse
)

// classOfMIME is ResponseTypes.from_mimetype.
func classOfMIME(m string) int {
	switch m {
	case "text/xml", "application/xml", "application/atom+xml", "application/rdf+xml", "application/rss+xml":
		return classXML
	case "text/html", "application/xhtml+xml", "application/vnd.wap.xhtml+xml",
		"application/json", "application/x-json", "application/json-amazonui-streaming",
		"application/javascript", "application/x-javascript":
		return classOther
	}
	if base, _, _ := strings.Cut(m, "/"); base == "text" {
		return classOther
	}
	return classNone
}

// The extensions Python 3.11's mimetypes (with Scrapy 2.8's mime.types)
// maps to a type that makes an XmlResponse, and to one that makes an
// HtmlResponse or TextResponse; every other extension makes a Response.
var (
	xmlExtensions   = setOf(".atom .rdf .rss .wsdl .xml .xpdl .xsd .xsl")
	otherExtensions = setOf(".323 .asc .bib .boo .brf .c .c++ .cc .cls .cpp .csh .css .csv .cxx .d .diff .etx " +
		".gcd .h .h++ .hh .hpp .hs .htc .htm .html .hxx .ics .icz .jad .java .js .json .ksh .lhs .ltx .mjs " +
		".mml .moc .n3 .p .pas .patch .pl .pm .pot .py .rtx .scala .sct .sgm .sgml .sh .shtml .srt .sty .tcl " +
		".tex .text .tk .tm .ts .tsv .txt .uls .vcf .vcs .vtt .wml .wmls .wsc .xht .xhtml")
	// mimetypes' suffix_map and encodings_map: a compressed file's type
	// is never used.
	compressedSuffixes = setOf(".svgz .tgz .taz .tz .tbz2 .txz")
	encodingSuffixes   = setOf(".gz .Z .bz2 .xz .br")
)

func setOf(s string) map[string]bool {
	m := map[string]bool{}
	for _, f := range strings.Fields(s) {
		m[f] = true
	}
	return m
}

// classOfFilename is ResponseTypes.from_filename: mimetypes.guess_type on
// a URL or file name (the scheme cut off, the extension after the last
// "." of the last path segment, query included, a leading dot not
// counting).
func classOfFilename(name string) int {
	if i := strings.IndexByte(name, ':'); i > 0 && !strings.Contains(name[:i], "/") {
		if strings.EqualFold(name[:i], "data") {
			return classNone // not a file name; sitemaps never come as data: URLs
		}
		name = name[i+1:]
	}
	ext := pyExt(name)
	if compressedSuffixes[strings.ToLower(ext)] || encodingSuffixes[ext] {
		return classNone
	}
	switch ext = strings.ToLower(ext); {
	case xmlExtensions[ext]:
		return classXML
	case otherExtensions[ext]:
		return classOther
	}
	return classNone
}

// pyExt is the extension posixpath.splitext gives.
func pyExt(p string) string {
	base := p[strings.LastIndexByte(p, '/')+1:]
	dot := strings.LastIndexByte(base, '.')
	if dot <= 0 || strings.Trim(base[:dot], ".") == "" {
		return ""
	}
	return base[dot:]
}

// classOfBody is ResponseTypes.from_body.
func classOfBody(body []byte) int {
	chunk := body[:min(len(body), 5000)]
	for _, c := range chunk {
		if c < 32 && c != 0 && c != '\t' && c != '\n' && c != '\r' {
			return classNone // application/octet-stream
		}
	}
	lower := bytes.ToLower(chunk)
	switch {
	case bytes.Contains(lower, []byte("<html>")):
		return classOther
	case bytes.Contains(lower, []byte("<?xml")):
		return classXML
	}
	return classOther // <!doctype html>: HtmlResponse, else TextResponse
}
