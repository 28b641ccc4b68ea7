package dsl

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"strings"
)

// Spec is a spider as described by spider.yaml. Field comments are written
// for spec authors: the JSON Schema (schema/spider.schema.json) and
// specs/spec.md are generated from them.
type Spec struct {
	// The spider's name: used in logs, stats, Redis keys ({name}:requests) and
	// feed URIs. Required; letters, digits, "_" and "-" only.
	// Example: quotes
	Name string `yaml:"name" json:"name" required:"true" pattern:"^[A-Za-z0-9_-]+$"`

	// URLs the spider starts from; each response goes to `callback` (default
	// parse). Absolute http, https or file URLs. A single URL may be written
	// without the list.
	// Example: [https://quotes.toscrape.com/]
	StartURLs []string `yaml:"start_urls" json:"start_urls,omitempty"`

	// Host names the spider may follow links to (Scrapy's offsite filter;
	// subdomains are included). Start requests are never filtered. Empty means
	// no restriction.
	// Example: [quotes.toscrape.com]
	AllowedDomains []string `yaml:"allowed_domains" json:"allowed_domains,omitempty"`

	// Scheme used to fetch robots.txt when ROBOTSTXT_OBEY is true: http or
	// https. Default https.
	// Example: https
	RobotScheme string `yaml:"robot_scheme" json:"robot_scheme,omitempty" enum:"http,https"`

	// Default session_id of start requests (see the sessions documentation).
	// Example: user1
	SessionID string `yaml:"session_id" json:"session_id,omitempty"`

	// The JavaScript (or TypeScript) with the callbacks: a path relative to
	// this file ending in .js, .mjs, .cjs or .ts, or the source
	// itself inline (any value with a line break, or not ending in one of
	// those suffixes). Required.
	// Example: quotes.js
	Script ScriptRef `yaml:"script" json:"script" required:"true"`

	// Files or directories (all *.js inside, sorted) loaded as use_execjs
	// contexts; each file is its own isolated context keyed by its file name
	// without suffix. Paths are relative to this file.
	// Example: [js/sign.js]
	JSPath []string `yaml:"js_path" json:"js_path,omitempty"`

	// Exported function that parses start_urls responses. Default parse.
	// Example: parse
	Callback string `yaml:"callback" json:"callback,omitempty"`

	// Default errback for requests without one. Default errRet when the script
	// exports it.
	// Example: errRet
	Errback string `yaml:"errback" json:"errback,omitempty"`

	// Redis key (or list of keys, in priority order) the spider pulls its
	// tasks from: makes it a RedisSpider. An entry is a URL, JSON with url, or
	// whatever the exported make_request_from_data(data) turns it into.
	// Example: quotes:start_urls
	RedisKeys []string `yaml:"redis_key" json:"redis_key,omitempty"`

	// RedisKey is the first of RedisKeys ("" when the spider is not a
	// RedisSpider). Filled by the loader.
	RedisKey string `yaml:"-" json:"-"`

	// CrawlSpider rules, applied in order to every HTML response: a link is
	// taken by the first rule whose link extractor matches it (Scrapy
	// semantics).
	Rules []Rule `yaml:"rules" json:"rules,omitempty"`

	// Exported function that receives the start responses of a CrawlSpider
	// before the rules run (Scrapy's parse_start_url). Default: none.
	// Example: parse_start
	ParseStartURL string `yaml:"parse_start_url" json:"parse_start_url,omitempty"`

	// Sitemap URLs (sitemap.xml, sitemap index, or robots.txt whose Sitemap:
	// lines are followed): makes it a SitemapSpider.
	// Example: [https://example.com/robots.txt]
	SitemapURLs []string `yaml:"sitemap_urls" json:"sitemap_urls,omitempty"`

	// Which sitemap entries go to which callback: the first rule whose regex
	// matches the URL wins. Written as {regex, callback} or [regex, callback].
	// Default: every entry to parse.
	// Example: [{regex: /product/, callback: parse_product}]
	SitemapRules []SitemapRule `yaml:"sitemap_rules" json:"sitemap_rules,omitempty"`

	// Regexes of sitemap index entries to follow. Default: all.
	// Example: [/sitemap_shop]
	SitemapFollow []string `yaml:"sitemap_follow" json:"sitemap_follow,omitempty"`

	// Also follow alternate-language links (xhtml:link) of sitemap entries.
	// Default false.
	// Example: true
	SitemapAlternateLinks *bool `yaml:"sitemap_alternate_links" json:"sitemap_alternate_links,omitempty"`

	// Item pipelines: exported functions process_item(item, spider) run in
	// order; each returns the item (possibly changed), or null / throws
	// DropItem to drop it.
	// Example: [clean, dedupe]
	Pipelines []string `yaml:"pipelines" json:"pipelines,omitempty"`

	// Downloader middlewares, each a set of exported functions. process_request
	// runs in list order; process_response and process_exception run in
	// reverse order (Scrapy semantics).
	DownloaderMiddlewares []DownloaderMW `yaml:"downloader_middlewares" json:"downloader_middlewares,omitempty"`

	// Spider middlewares, each a set of exported functions
	// (process_spider_output receives the callback's output as an async
	// iterable).
	SpiderMiddlewares []SpiderMW `yaml:"spider_middlewares" json:"spider_middlewares,omitempty"`

	// Signal handlers: signal name → exported function. Signals:
	// spider_opened, spider_idle, spider_closed, spider_error, item_scraped,
	// item_dropped, item_error, request_scheduled, request_dropped,
	// request_reached_downloader, request_left_downloader, response_received,
	// response_downloaded, headers_received.
	// Example: {spider_opened: opened, spider_closed: closed}
	Hooks map[string]string `yaml:"hooks" json:"hooks,omitempty"`

	// Settings (Scrapy names), see specs/settings.md. Precedence: defaults <
	// these < `-s KEY=VALUE` on the command line.
	// Example: {CONCURRENT_REQUESTS: 32, DOWNLOAD_DELAY: 0.5}
	Settings *Settings `yaml:"settings" json:"settings"`

	// Feed exports (Scrapy's FEEDS): output URI → options. Items are written
	// to every feed in addition to -o on the command line.
	// Example: {items.jsonl: {format: jsonlines}}
	Feeds Feeds `yaml:"feeds" json:"feeds,omitempty"`

	// File is the spec's path as given to Load/Parse; Dir is the absolute
	// directory that relative paths in the spec are resolved against.
	File string `yaml:"-" json:"-"`
	Dir  string `yaml:"-" json:"-"`

	pos map[string]Position
}

// Pos returns the position of the value at path ("rules[1].callback",
// "settings.CONCURRENT_REQUESTS", "start_urls[0]"), or the zero Position
// when the spec does not set it.
func (s *Spec) Pos(path string) Position { return s.pos[path] }

// near is the position of path or, when the spec wrote none for it (a
// list written as a single string: `pipelines: clean`), of the closest
// enclosing key.
func (s *Spec) near(path string) Position {
	for p := path; p != ""; {
		if pos := s.pos[p]; pos.Line > 0 {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return Position{}
}

// Path resolves a path written in the spec (script, js_path, a JOBDIR set
// in the spec, HTTPCACHE_DIR, feed URIs, REDIS_TLS_CA_FILE, an IMPERSONATE
// profile file) against the spec's directory; absolute paths are returned
// as they are (callers test "" for "unset" first). It is the only place spec-relative paths are
// resolved; the loader uses the same rule (resolvePath) before the Spec
// exists.
// Example: with Dir /srv/crawl, Path("out/items.jsonl") is
// /srv/crawl/out/items.jsonl.
func (s *Spec) Path(p string) string { return resolvePath(s.Dir, p) }

// resolvePath is Spec.Path for a directory.
func resolvePath(dir, p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// ScriptRef is the spec's `script:`: a file or inline source.
type ScriptRef struct {
	// Path is the absolute path of the script file; "" when inline.
	Path string `json:"path,omitempty"`
	// Inline is the source written in the YAML itself.
	Inline string `json:"inline,omitempty"`
	// Line and Col are the 1-based position in the YAML file where the inline
	// source starts, so compile errors can point into the spec.
	Line int `json:"line,omitempty"`
	Col  int `json:"col,omitempty"`
	// Filename names the script in messages: the path as the user wrote it
	// (joined to the spec's directory), or the spec file for inline source.
	Filename string `json:"filename,omitempty"`
}

// Rule is one CrawlSpider rule.
type Rule struct {
	// Which links of a response this rule takes. Omitted: every link.
	LinkExtractor LinkExtractorSpec `yaml:"link_extractor" json:"link_extractor"`

	// Exported function that parses the responses of the extracted links.
	// Default: none (the links are only followed).
	// Example: parse_item
	Callback string `yaml:"callback" json:"callback,omitempty"`

	// Keyword arguments passed to the callback as its second parameter.
	// Example: {kind: quote}
	CbKwargs map[string]any `yaml:"cb_kwargs" json:"cb_kwargs,omitempty"`

	// Whether responses of these links are run through the rules again.
	// Default: true when the rule has no callback, false when it has one.
	// Example: true
	Follow *bool `yaml:"follow" json:"follow,omitempty"`

	// Exported function that filters or rewrites the extracted links
	// (receives the list of links, returns a list).
	// Example: keep_first
	ProcessLinks string `yaml:"process_links" json:"process_links,omitempty"`

	// Exported function called with each request (and the response it came
	// from) before it is scheduled; returns the request, a new one, or null to
	// drop it.
	// Example: add_header
	ProcessRequest string `yaml:"process_request" json:"process_request,omitempty"`

	// Exported function called when a request of this rule fails.
	// Example: on_error
	Errback string `yaml:"errback" json:"errback,omitempty"`
}

// LinkExtractorSpec configures a link extractor (Scrapy's LinkExtractor).
type LinkExtractorSpec struct {
	// Regexes: only links whose absolute URL matches one of them are taken.
	// Default: all links.
	// Example: ['page/\d+/']
	Allow []string `yaml:"allow" json:"allow,omitempty"`

	// Regexes: links whose URL matches one of them are dropped (deny wins over
	// allow).
	// Example: [/login]
	Deny []string `yaml:"deny" json:"deny,omitempty"`

	// Only links to these domains (and their subdomains) are taken.
	// Example: [example.com]
	AllowDomains []string `yaml:"allow_domains" json:"allow_domains,omitempty"`

	// Links to these domains (and their subdomains) are dropped.
	// Example: [ads.example.com]
	DenyDomains []string `yaml:"deny_domains" json:"deny_domains,omitempty"`

	// XPath expressions: only links inside the matched regions are taken.
	// Example: ['//div[@class="pager"]']
	RestrictXPaths []string `yaml:"restrict_xpaths" json:"restrict_xpaths,omitempty"`

	// CSS selectors: only links inside the matched regions are taken.
	// Example: [ul.pager]
	RestrictCSS []string `yaml:"restrict_css" json:"restrict_css,omitempty"`

	// Regexes: only links whose text matches one of them are taken.
	// Example: [Next]
	RestrictText []string `yaml:"restrict_text" json:"restrict_text,omitempty"`

	// Tags whose attributes hold links. Default [a, area].
	// Example: [a, area, link]
	Tags []string `yaml:"tags" json:"tags,omitempty"`

	// Attributes that hold links. Default [href].
	// Example: [href, data-href]
	Attrs []string `yaml:"attrs" json:"attrs,omitempty"`

	// Canonicalize URLs before matching and de-duplicating. Default false.
	// Example: true
	Canonicalize *bool `yaml:"canonicalize" json:"canonicalize,omitempty"`

	// Drop duplicate links within a page. Default true.
	// Example: false
	Unique *bool `yaml:"unique" json:"unique,omitempty"`

	// Strip whitespace from attribute values. Default true.
	// Example: false
	Strip *bool `yaml:"strip" json:"strip,omitempty"`

	// File extensions (without dot) whose links are ignored. Omitted: Scrapy's
	// IGNORED_EXTENSIONS list (images, audio, video, office documents,
	// archives, ...); [] ignores nothing.
	// Example: [pdf, zip]
	DenyExtensions []string `yaml:"deny_extensions" json:"deny_extensions"`

	// Exported function applied to each extracted attribute value; returns
	// the URL to use, or null to drop the link.
	// Example: fix_url
	ProcessValue string `yaml:"process_value" json:"process_value,omitempty"`
}

// DownloaderMW is one downloader middleware: exported function names for
// each hook it implements (at least one).
type DownloaderMW struct {
	// Called with (request, spider) before download; may return nothing, a
	// Request (rescheduled) or a Response (download skipped).
	// Example: sign
	ProcessRequest string `yaml:"process_request" json:"process_request,omitempty"`

	// Called with (request, response, spider) after download; returns a
	// Response or a Request.
	// Example: check_ban
	ProcessResponse string `yaml:"process_response" json:"process_response,omitempty"`

	// Called with (request, failure, spider) when the download fails; may
	// return nothing, a Response or a Request.
	// Example: on_exc
	ProcessException string `yaml:"process_exception" json:"process_exception,omitempty"`
}

// SpiderMW is one spider middleware: exported function names for each hook
// it implements (at least one).
type SpiderMW struct {
	// Called with (response, spider) before the callback; throw to divert to
	// process_spider_exception.
	// Example: check_page
	ProcessSpiderInput string `yaml:"process_spider_input" json:"process_spider_input,omitempty"`

	// Called with (response, result, spider); result is an async iterable of
	// the callback's output. An async generator streams.
	// Example: tag
	ProcessSpiderOutput string `yaml:"process_spider_output" json:"process_spider_output,omitempty"`

	// Called with (response, error, spider) when a callback throws.
	// Example: on_spider_error
	ProcessSpiderException string `yaml:"process_spider_exception" json:"process_spider_exception,omitempty"`

	// Called with (start) — the start requests as an async iterable — and
	// yields the start requests to use.
	// Example: seed
	ProcessStart string `yaml:"process_start" json:"process_start,omitempty"`
}

// SitemapRule sends sitemap entries whose URL matches Regex to Callback.
type SitemapRule struct {
	// Regex matched against each sitemap entry's URL.
	Regex string `yaml:"regex" json:"regex"`
	// Exported function that parses the matching pages.
	Callback string `yaml:"callback" json:"callback"`
}

// Feed is one feed export: items go to URI in Format.
type Feed struct {
	URI string `json:"uri"`
	FeedOptions
}

// Feeds is the ordered list of feeds of `feeds:`.
type Feeds []Feed

// FeedOptions are the options of one feed (Scrapy's FEEDS values).
type FeedOptions struct {
	// Output format. Default: from the URI's extension (.jsonl jsonlines,
	// .json json, .csv csv, .xml xml).
	// Example: jsonlines
	Format string `yaml:"format" json:"format,omitempty" enum:"jsonlines,jsonl,json,csv,xml"`

	// Overwrite the file instead of appending. Default false.
	// Example: true
	Overwrite *bool `yaml:"overwrite" json:"overwrite,omitempty"`

	// Fields to export, in this order: a list of item field names, or a
	// mapping of field name to output name (Scrapy's {"field": "Output
	// name"}), which renames the JSON key, the XML element and the CSV
	// header. Default: every field, in item order.
	// Example: {title: Title, price: Price in EUR}
	Fields FeedFields `yaml:"fields" json:"fields,omitempty"`

	// Text encoding of the output. Default utf-8.
	// Example: utf-8
	Encoding string `yaml:"encoding" json:"encoding,omitempty"`

	// Indentation of json and xml output; 0 or omitted writes one item per
	// line.
	// Example: 2
	Indent *int `yaml:"indent" json:"indent,omitempty" minimum:"0"`

	// Write the feed even when no item was scraped (an empty document).
	// Default true, as Scrapy's FEED_STORE_EMPTY since 2.9; false leaves no
	// trace of an empty crawl (no new file, an existing one unchanged).
	// Example: false
	StoreEmpty *bool `yaml:"store_empty" json:"store_empty,omitempty"`

	// Items per file: after that many items the feed goes on in a new file,
	// so the URI must hold %(batch_id)d (1, 2, ...; %(batch_id)05d pads) or
	// %(batch_time)s. Default FEED_EXPORT_BATCH_ITEM_COUNT (0: one file).
	// Example: 1000
	BatchItemCount *int `yaml:"batch_item_count" json:"batch_item_count,omitempty" minimum:"0"`

	// Keyword arguments of the format's item exporter, as Scrapy's
	// item_export_kwargs: export_empty_fields (every format); item_element,
	// root_element (xml); include_headers_line, join_multivalued,
	// delimiter, quotechar, lineterminator, quoting (csv); sort_keys,
	// ensure_ascii, separators (json, jsonlines). See specs/feeds.md.
	// Example: {item_element: product, root_element: products}
	ItemExportKwargs map[string]any `yaml:"item_export_kwargs" json:"item_export_kwargs,omitempty"`

	// Plugins the output goes through, in order: Scrapy's built-in
	// scrapy.extensions.postprocessing.GzipPlugin, LZMAPlugin, Bz2Plugin.
	// Example: [scrapy.extensions.postprocessing.GzipPlugin]
	Postprocessing []string `yaml:"postprocessing" json:"postprocessing,omitempty"`

	// GzipPlugin's compression level, 0-9. Default 9.
	// Example: 5
	GzipCompresslevel *int `yaml:"gzip_compresslevel" json:"gzip_compresslevel,omitempty" minimum:"0"`

	// GzipPlugin's header time stamp (seconds since 1970). Default: now.
	// Example: 0
	GzipMtime *int `yaml:"gzip_mtime" json:"gzip_mtime,omitempty" minimum:"0"`

	// GzipPlugin's header file name. Default: the file's name without .gz.
	// Example: items.jsonl
	GzipFilename *string `yaml:"gzip_filename" json:"gzip_filename,omitempty"`

	// Bz2Plugin's compression level, 1-9. Default 9.
	// Example: 5
	Bz2Compresslevel *int `yaml:"bz2_compresslevel" json:"bz2_compresslevel,omitempty" minimum:"1"`

	// LZMAPlugin's container: 1 or FORMAT_XZ (default), 2 or FORMAT_ALONE.
	// Example: FORMAT_XZ
	LzmaFormat any `yaml:"lzma_format" json:"lzma_format,omitempty"`

	// LZMAPlugin's integrity check of an xz file: -1 (default, CRC64), 0 or
	// CHECK_NONE, 1 or CHECK_CRC32, 4 or CHECK_CRC64, 10 or CHECK_SHA256.
	// Example: CHECK_CRC32
	LzmaCheck any `yaml:"lzma_check" json:"lzma_check,omitempty"`

	// LZMAPlugin's preset, 0-9 (the dictionary size). Default 6.
	// Example: 9
	LzmaPreset *int `yaml:"lzma_preset" json:"lzma_preset,omitempty" minimum:"0"`
}

// FeedFields are a feed's fields: the item field (Key) and the name it is
// written under (Value, a string; the field's own name when fields is a
// list).
type FeedFields []KV

// Names are the item fields, in order.
func (ff FeedFields) Names() []string {
	out := make([]string, len(ff))
	for i, f := range ff {
		out[i] = f.Key
	}
	return out
}

// MarshalJSON writes the fields as the spec writes them: a list of names,
// or an object of field name to output name (in order) when one is
// renamed.
func (ff FeedFields) MarshalJSON() ([]byte, error) {
	renamed := false
	for _, f := range ff {
		renamed = renamed || f.Value != f.Key
	}
	if !renamed {
		return json.Marshal(ff.Names())
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, f := range ff {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(f.Key)
		v, err := json.Marshal(f.Value)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// refusedFeedOptions are Scrapy's FEEDS options that need Python code,
// with what to use instead.
var refusedFeedOptions = map[string]string{
	"item_classes": "it takes Python item classes; spiderrun items are plain objects: drop the items a feed must not get in a JS pipeline, or give each kind of item its own field and select fields",
	"item_filter":  "it takes a Python ItemFilter class; filter items in a JS pipeline (return null to drop an item) instead",
	"uri_params":   "it takes a Python function; feed URIs take %(name)s, %(time)s, %(batch_id)d, %(batch_time)s and every spider argument (-a NAME=VALUE) as %(NAME)s",
	"lzma_filters": "it takes Python filter chains; set lzma_preset instead",
}

// FuncRef is one JavaScript function name referenced by the spec.
type FuncRef struct {
	Name string   // the function name
	Path string   // spec path of the reference, e.g. "rules[0].callback"
	Pos  Position // where it is written
	// Implicit is true for defaults the spec did not write (callback: parse
	// for start_urls); a missing implicit function is reported differently.
	Implicit bool
}

// FunctionRefs lists every JavaScript function name the spec references, in
// spec order, with its position: callback, errback, parse_start_url, rules
// (callback, errback, process_links, process_request,
// link_extractor.process_value), sitemap_rules callbacks, pipelines,
// middlewares and hooks. The default callback "parse" is included (Implicit)
// when start_urls are given without an explicit callback.
func (s *Spec) FunctionRefs() []FuncRef {
	var out []FuncRef
	add := func(name, path string) {
		if name != "" {
			out = append(out, FuncRef{Name: name, Path: path, Pos: s.near(path)})
		}
	}
	if s.Callback != "" {
		add(s.Callback, "callback")
	} else if len(s.StartURLs) > 0 && len(s.Rules) == 0 {
		out = append(out, FuncRef{Name: "parse", Path: "callback", Pos: s.pos["start_urls"], Implicit: true})
	}
	add(s.Errback, "errback")
	add(s.ParseStartURL, "parse_start_url")
	for i, r := range s.Rules {
		p := indexPath("rules", i)
		add(r.LinkExtractor.ProcessValue, p+".link_extractor.process_value")
		add(r.Callback, p+".callback")
		add(r.ProcessLinks, p+".process_links")
		add(r.ProcessRequest, p+".process_request")
		add(r.Errback, p+".errback")
	}
	for i, r := range s.SitemapRules {
		add(r.Callback, indexPath("sitemap_rules", i)+".callback")
	}
	for i, f := range s.Pipelines {
		add(f, indexPath("pipelines", i))
	}
	for i, m := range s.DownloaderMiddlewares {
		p := indexPath("downloader_middlewares", i)
		add(m.ProcessRequest, p+".process_request")
		add(m.ProcessResponse, p+".process_response")
		add(m.ProcessException, p+".process_exception")
	}
	for i, m := range s.SpiderMiddlewares {
		p := indexPath("spider_middlewares", i)
		add(m.ProcessSpiderInput, p+".process_spider_input")
		add(m.ProcessSpiderOutput, p+".process_spider_output")
		add(m.ProcessSpiderException, p+".process_spider_exception")
		add(m.ProcessStart, p+".process_start")
	}
	for _, sig := range sortedKeys(s.Hooks) {
		add(s.Hooks[sig], joinPath("hooks", sig))
	}
	return out
}

// Signals are the signal names hooks may handle.
var Signals = []string{
	"spider_opened", "spider_idle", "spider_closed", "spider_error",
	"item_scraped", "item_dropped", "item_error",
	"request_scheduled", "request_dropped", "request_reached_downloader", "request_left_downloader",
	"response_received", "response_downloaded", "headers_received",
}

// DefaultCallback is the callback of start_urls responses: Callback, or
// "parse" when the spec does not set one.
func (s *Spec) DefaultCallback() string {
	if s.Callback != "" {
		return s.Callback
	}
	return "parse"
}

// ShouldFollow applies CrawlSpider's default: follow is true for a rule
// without a callback and false for one with a callback, unless set.
func (r Rule) ShouldFollow() bool {
	if r.Follow != nil {
		return *r.Follow
	}
	return r.Callback == ""
}
