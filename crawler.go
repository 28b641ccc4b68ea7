package spiderrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/jsbridge/execjs"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/crawlspider"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/session"
	"github.com/spiderrun/spiderrun/runtime/spidermw"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/websocket"
)

// Options configure a Crawler built from a loaded spec.
type Options struct {
	// Spec is the loaded spec; its Settings already carry -s overrides.
	Spec *dsl.Spec
	// Outputs are the -o/-O feeds, in addition to the spec's feeds.
	Outputs []feed.Config
	// Args are the -a K=V spider arguments (spider.args).
	Args map[string]string
	// TaskData is passed to the script's start(task_data).
	TaskData any
	// Log receives the crawl's log lines (stderr in the CLI); nil discards.
	Log io.Writer
	// Stdout receives "-" feeds.
	Stdout io.Writer
	// Transport replaces the default HTTP transport (tests).
	Transport downloader.Transport
	// HTTP configures the default transport (tests set RootCAs).
	HTTP downloader.HTTPOptions
	// NoFeeds skips every feed (the parse command prints output itself).
	NoFeeds bool
	// Program is the compiled script when the caller already compiled it
	// (for Check); nil compiles it.
	Program *compile.Program

	profile string // IMPERSONATE, a relative profile file resolved against the spec
}

// Crawler is a spec wired to its JavaScript and to the engine, ready to
// run once.
type Crawler struct {
	Spec   *dsl.Spec
	Stats  stats.Collector
	Logger *slog.Logger
	// JS is the JavaScript spider; Spider is what the engine drives (JS
	// wrapped as a CrawlSpider or SitemapSpider when the spec says so).
	JS     *jsbridge.Spider
	Spider engine.Spider
	// Fetcher is the downloader middleware chain.
	Fetcher *middleware.Chain

	engine  *engine.Engine
	feeds   *feed.Set
	closers []func()
}

// New builds a Crawler: it compiles the script, loads the use_execjs
// contexts, and connects the downloader, middlewares, pipelines, spider
// middlewares, hooks and feeds the spec names.
func New(opts Options) (c *Crawler, err error) {
	spec := opts.Spec
	if spec == nil {
		return nil, errors.New("no spec")
	}
	set := spec.Settings
	if set == nil {
		set = dsl.DefaultSettings()
		spec.Settings = set
	}
	opts.profile = profileSetting(spec)
	st := stats.NewMemory()
	logger := newLogger(opts.Log, set.String("LOG_LEVEL"), st)
	c = &Crawler{Spec: spec, Stats: st, Logger: logger}
	// Error returns set c to nil: release what was built through a copy.
	built := c
	defer func() {
		if err != nil {
			built.release()
		}
	}()

	prog := opts.Program
	if prog == nil {
		if prog, err = CompileScript(spec); err != nil {
			return nil, err
		}
	}

	var ejs jsbridge.ExecJS
	if len(spec.JSPath) > 0 {
		ctxs, err := execjs.Load(spec.JSPath, execjs.Options{
			Timeout:     set.Duration("JS_TIMEOUT"),
			UserAgent:   set.String("USER_AGENT"),
			Logger:      logger,
			MemoryLimit: set.Bytes("JS_MEMORY_LIMIT"),
		})
		if err != nil {
			return nil, fmt.Errorf("js_path: %w", err)
		}
		c.closers = append(c.closers, ctxs.Close)
		ejs = ctxs
	}

	jars := middleware.NewCookieJars()
	sessions := session.NewRegistry(jars)

	var smws []jsbridge.SpiderMiddleware
	for _, m := range spec.SpiderMiddlewares {
		smws = append(smws, jsbridge.SpiderMiddleware{ProcessSpiderInput: m.ProcessSpiderInput, ProcessSpiderOutput: m.ProcessSpiderOutput,
			ProcessSpiderException: m.ProcessSpiderException, ProcessStart: m.ProcessStart})
	}
	js, err := jsbridge.New(jsbridge.Options{
		Program:           prog,
		Name:              spec.Name,
		StartURLs:         spec.StartURLs,
		AllowedDomains:    spec.AllowedDomains,
		RobotScheme:       spec.RobotScheme,
		SessionID:         spec.SessionID,
		SpecDir:           spec.Dir,
		DefaultCallback:   spec.Callback,
		DefaultErrback:    spec.Errback,
		Settings:          set.All(),
		Args:              opts.Args,
		TaskData:          opts.TaskData,
		Logger:            logger,
		JSTimeout:         set.Duration("JS_TIMEOUT"),
		JSMemoryLimit:     set.Bytes("JS_MEMORY_LIMIT"),
		Hooks:             spec.Hooks,
		SpiderMiddlewares: smws,
		ExecJS:            ejs,
		Sessions:          sessions,
	})
	if err != nil {
		return nil, err
	}
	c.JS = js
	c.closers = append(c.closers, js.Shutdown)

	sp, err := wrapSpider(spec, js, logger)
	if err != nil {
		return nil, err
	}
	c.Spider = streamSpider{sp}

	sched, rsched, closeSched, err := newScheduler(spec, set, logger, st)
	if err != nil {
		return nil, err
	}
	if closeSched != nil {
		c.closers = append(c.closers, closeSched)
	}

	var dl *downloader.Downloader
	imp, releaseImp := sharedImpersonation(opts.HTTP, func(ctx context.Context, network, addr string) (net.Conn, error) {
		// The downloader's dialer applies DENY_PRIVATE_NETWORKS after DNS,
		// so impersonated connections are guarded like the others.
		return dl.Dialer().DialContext(ctx, network, addr)
	}, logger)
	c.closers = append(c.closers, releaseImp)
	dl, err = newDownloader(set, opts, imp, rsched, logger)
	if err != nil {
		return nil, err
	}
	// Idle keep-alive connections (and proxy tunnels) end with the crawl.
	c.closers = append(c.closers, func() { dl.Close() })
	wsm := websocket.NewManager(websocket.Options{
		DialTLS:     tlsDialer(imp),
		RootCAs:     opts.HTTP.RootCAs,
		Impersonate: opts.profile,
		Verify:      set.Bool("TLS_VERIFY"),
		EndTag:      set.String("WS_END_TAG"),
		IdleTimeout: set.Duration("WS_IDLE_TIMEOUT"),
		Compression: true,
		// Open connections count toward the concurrency limits.
		MaxConns:        set.Int("CONCURRENT_REQUESTS"),
		MaxConnsPerHost: set.Int("CONCURRENT_REQUESTS_PER_DOMAIN"),
		Stats:           st,
		Logger:          logger,
	})
	c.closers = append(c.closers, wsm.Close)
	chain, err := newChain(spec, set, js, router{http: dl, ws: wsm}, jars, sessions, logger, st)
	if err != nil {
		return nil, err
	}
	c.Fetcher = chain

	var pipes []pipeline.Pipeline
	for _, name := range spec.Pipelines {
		p, err := js.Pipeline(name)
		if err != nil {
			return nil, fmt.Errorf("pipelines: %w", err)
		}
		pipes = append(pipes, p)
	}

	engineMWs := []engine.SpiderMiddleware{
		&spidermw.Referer{SetHeader: set.Bool("REFERER_ENABLED")},
		spidermw.NewOffsite(spec.AllowedDomains, st, logger),
		spidermw.NewDepth(set.Int("DEPTH_LIMIT"), set.Int("DEPTH_PRIORITY"), set.Bool("DEPTH_STATS_VERBOSE"), st, logger),
	}
	if rsched != nil {
		if w := rsched.Items(); w != nil {
			pipes = append(pipes, w)
		}
		// Every worker of a shared crawl goes through the task source: with
		// redis_key it pulls tasks, and in all cases it closes only when the
		// whole crawl is idle (no queue, no lease held by any worker).
		{
			tasks := &redisTasks{sched: rsched, opts: redisq.TaskOptions{
				Keys:          spec.RedisKeys,
				Kind:          redisStartKind(set),
				BatchSize:     redisBatchSize(set),
				MaxIdle:       sharedMaxIdle(spec),
				KnownCallback: js.HasExport,
			}}
			if js.HasExport("make_request_from_data") {
				tasks.opts.MakeRequests = func(ctx context.Context, data []byte) ([]*crawl.Request, error) {
					reqs, _, err := js.MakeRequestsFromData(ctx, data)
					return reqs, err
				}
			}
			engineMWs = append(engineMWs, tasks)
		}
	}

	var exporters []engine.Exporter
	if !opts.NoFeeds {
		cfgs, err := feedConfigs(spec, opts.Outputs)
		if err != nil {
			return nil, err
		}
		if len(cfgs) > 0 {
			stdout := opts.Stdout
			if stdout == nil {
				stdout = os.Stdout
			}
			c.feeds, err = feed.OpenAll(cfgs, stdout)
			if err != nil {
				return nil, err
			}
			exporters = append(exporters, c.feeds)
		}
	}

	sigs := engine.NewSignals()
	if err := checkHooks(spec, js); err != nil {
		return nil, err
	}
	sigs.Connect(js.SignalHandler())

	c.engine, err = engine.New(engine.Options{
		Spider:                   c.Spider,
		Fetcher:                  chain,
		Scheduler:                sched,
		Pipelines:                pipes,
		SpiderMiddlewares:        engineMWs,
		Feeds:                    exporters,
		Stats:                    st,
		Logger:                   logger,
		Signals:                  sigs,
		ConcurrentRequests:       set.Int("CONCURRENT_REQUESTS"),
		ConcurrentItems:          set.Int("CONCURRENT_ITEMS"),
		MaxActiveSize:            set.Bytes("SCRAPER_SLOT_MAX_ACTIVE_SIZE"),
		MaxPendingItems:          100,
		CloseSpiderItemCount:     int64(set.Int("CLOSESPIDER_ITEMCOUNT")),
		CloseSpiderPageCount:     int64(set.Int("CLOSESPIDER_PAGECOUNT")),
		CloseSpiderErrorCount:    int64(set.Int("CLOSESPIDER_ERRORCOUNT")),
		CloseSpiderTimeout:       set.Duration("CLOSESPIDER_TIMEOUT"),
		CloseSpiderTimeoutNoItem: set.Duration("CLOSESPIDER_TIMEOUT_NO_ITEM"),
		DontFilter:               set.Bool("DONT_FILTER"),
		IdleReason:               idleReason(rsched),
		MaxActiveRequests:        maxActive(rsched, set),
	}.WithMemUsage(memUsage(set)))
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Engine returns the engine (for Stop and Abort from signal handlers).
func (c *Crawler) Engine() *engine.Engine { return c.engine }

// Run runs the crawl to its end and releases everything the crawler holds.
func (c *Crawler) Run(ctx context.Context) (engine.Result, error) {
	defer c.release()
	return c.engine.Run(ctx)
}

// Close releases everything the crawler holds (connections, JavaScript
// runtimes, the scheduler's backend) without running a crawl; Run and
// ParseOne release by themselves. It is safe to call more than once.
func (c *Crawler) Close() { c.release() }

func (c *Crawler) release() {
	for i := len(c.closers) - 1; i >= 0; i-- {
		c.closers[i]()
	}
	c.closers = nil
}

// wrapSpider makes the JS spider a CrawlSpider (rules) or SitemapSpider
// (sitemap_urls) when the spec asks for it.
func wrapSpider(spec *dsl.Spec, js *jsbridge.Spider, logger *slog.Logger) (engine.Spider, error) {
	var sp engine.Spider = js
	if len(spec.Rules) > 0 {
		rules := make([]crawlspider.Rule, len(spec.Rules))
		for i, r := range spec.Rules {
			le := r.LinkExtractor
			rules[i] = crawlspider.Rule{
				LinkExtractor: extract.LinkExtractorOptions{
					Allow: le.Allow, Deny: le.Deny, AllowDomains: le.AllowDomains, DenyDomains: le.DenyDomains,
					RestrictXPaths: le.RestrictXPaths, RestrictCSS: le.RestrictCSS, RestrictText: le.RestrictText,
					Tags: le.Tags, Attrs: le.Attrs, Canonicalize: derefBool(le.Canonicalize, false),
					Unique: le.Unique, Strip: le.Strip,
					DenyExtensions: le.DenyExtensions,
				},
				ProcessValue:   le.ProcessValue,
				Callback:       r.Callback,
				Errback:        r.Errback,
				CbKwargs:       r.CbKwargs,
				Follow:         r.Follow,
				ProcessLinks:   r.ProcessLinks,
				ProcessRequest: r.ProcessRequest,
			}
		}
		follow := spec.Settings.Bool("CRAWLSPIDER_FOLLOW_LINKS")
		cs, err := crawlspider.New(sp, crawlspider.Options{
			Rules:           rules,
			ParseStartURL:   spec.ParseStartURL,
			DefaultCallback: spec.DefaultCallback(),
			FollowLinks:     &follow,
			Hooks:           js.CrawlSpiderHooks(),
			Logger:          logger,
		})
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		sp = cs
	}
	if len(spec.SitemapURLs) > 0 {
		var rules []crawlspider.SitemapRule
		for _, r := range spec.SitemapRules {
			rules = append(rules, crawlspider.SitemapRule{Pattern: r.Regex, Callback: r.Callback})
		}
		ss, err := crawlspider.NewSitemap(sp, crawlspider.SitemapOptions{
			URLs:           spec.SitemapURLs,
			Rules:          rules,
			Follow:         spec.SitemapFollow,
			AlternateLinks: derefBool(spec.SitemapAlternateLinks, false),
			MaxSize:        spec.Settings.Bytes("DOWNLOAD_MAXSIZE"),
			Logger:         logger,
		})
		if err != nil {
			return nil, fmt.Errorf("sitemap: %w", err)
		}
		sp = ss
	}
	return sp, nil
}

func derefBool(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// newDownloader maps the download settings onto the downloader.
func newDownloader(set *dsl.Settings, opts Options, imp func() (*impersonate.Transport, error), rsched *redisq.Scheduler, logger *slog.Logger) (*downloader.Downloader, error) {
	d, err := DownloaderOptions(set, opts.HTTP)
	if err != nil {
		return nil, err
	}
	d.Transport = opts.Transport
	d.Impersonate = opts.profile
	d.TransportFor = transportFor(imp)
	d.Logger = logger
	if rsched != nil {
		// Per-domain delays hold across every worker of a shared crawl.
		d.Gate = rsched.Gate()
	}
	return downloader.New(d)
}

// DownloaderOptions maps the download settings (timeouts, limits, delays,
// AutoThrottle, TLS verification, proxies, the private-network guard) onto
// downloader options starting from base HTTP options; run and fetch both use
// it, so a page is fetched exactly as a spider would fetch it. Transports,
// the profile and the logger are the caller's.
func DownloaderOptions(set *dsl.Settings, base downloader.HTTPOptions) (downloader.Options, error) {
	d := downloader.DefaultOptions()
	d.HTTP = base
	d.HTTP.DenyPrivate = set.Bool("DENY_PRIVATE_NETWORKS")
	for _, p := range set.Strings("NETWORK_ALLOW") {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return d, fmt.Errorf("settings.NETWORK_ALLOW: %w", err)
		}
		d.HTTP.Guard.Allow = append(d.HTTP.Guard.Allow, prefix)
	}
	if t := set.Duration("DNS_TIMEOUT"); t > 0 {
		d.HTTP.DNSTimeout = t
	}
	d.ConcurrentPerDomain = set.Int("CONCURRENT_REQUESTS_PER_DOMAIN")
	d.Delay = set.Duration("DOWNLOAD_DELAY")
	d.RandomizeDelay = set.Bool("RANDOMIZE_DOWNLOAD_DELAY")
	d.AutoThrottle.Enabled = set.Bool("AUTOTHROTTLE_ENABLED")
	d.AutoThrottle.StartDelay = set.Duration("AUTOTHROTTLE_START_DELAY")
	d.AutoThrottle.MaxDelay = set.Duration("AUTOTHROTTLE_MAX_DELAY")
	d.AutoThrottle.TargetConcurrency = set.Float("AUTOTHROTTLE_TARGET_CONCURRENCY")
	d.AutoThrottle.Debug = set.Bool("AUTOTHROTTLE_DEBUG")
	d.Timeout = set.Duration("DOWNLOAD_TIMEOUT")
	d.MaxSize = set.Bytes("DOWNLOAD_MAXSIZE")
	d.WarnSize = set.Bytes("DOWNLOAD_WARNSIZE")
	d.FailOnDataLoss = set.Bool("DOWNLOAD_FAIL_ON_DATALOSS")
	d.Verify = set.Bool("TLS_VERIFY")
	d.Proxies = set.Strings("PROXIES")
	d.NoProxy = set.Strings("NO_PROXY")
	return d, nil
}

// newChain builds the downloader middleware chain: the built-ins
// configured from the settings, with the spec's JS middlewares where
// Scrapy puts user middlewares.
func newChain(spec *dsl.Spec, set *dsl.Settings, js *jsbridge.Spider, h router, jars *middleware.CookieJars, sessions *session.Registry, logger *slog.Logger, st stats.Collector) (*middleware.Chain, error) {
	b := middleware.DefaultBuiltins(st, logger)
	b.Cookies.Jars = jars
	b.HTTPError.AllowedCodes = set.Ints("HTTPERROR_ALLOWED_CODES")
	b.HTTPError.AllowAll = set.Bool("HTTPERROR_ALLOW_ALL")
	b.DefaultHeaders.UserAgent = set.String("USER_AGENT")
	b.DefaultHeaders.Headers = nil
	for _, kv := range set.StringPairs("DEFAULT_REQUEST_HEADERS") {
		b.DefaultHeaders.Headers = append(b.DefaultHeaders.Headers, crawl.Header{Name: kv[0], Value: kv[1]})
	}
	b.DefaultHeaders.Impersonate = profileSetting(spec)
	b.Retry.Enabled = set.Bool("RETRY_ENABLED")
	b.Retry.Times = set.Int("RETRY_TIMES")
	b.Retry.HTTPCodes = set.Ints("RETRY_HTTP_CODES")
	b.Retry.PriorityAdjust = set.Int("RETRY_PRIORITY_ADJUST")
	b.Redirect.Enabled = set.Bool("REDIRECT_ENABLED")
	b.Redirect.MaxTimes = set.Int("REDIRECT_MAX_TIMES")
	b.Redirect.PriorityAdjust = set.Int("REDIRECT_PRIORITY_ADJUST")
	b.Redirect.MetaRefresh = set.Bool("METAREFRESH_ENABLED")
	b.Redirect.MetaRefreshMaxDelay = set.Duration("METAREFRESH_MAXDELAY")
	b.Redirect.SensitiveHeaders = set.Strings("REDIRECT_SENSITIVE_HEADERS")
	b.Redirect.MaxURLLength = set.Int("URLLENGTH_LIMIT")
	b.Cookies.Enabled = set.Bool("COOKIES_ENABLED")
	b.Cookies.Debug = set.Bool("COOKIES_DEBUG")
	if set.Bool("HTTPCACHE_ENABLED") {
		dir := set.String("HTTPCACHE_DIR")
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(spec.Dir, dir)
		}
		cache, err := middleware.NewHTTPCache(dir, spec.Name, st, logger)
		if err != nil {
			return nil, fmt.Errorf("settings.HTTPCACHE_DIR: %w", err)
		}
		cache.Expiration = set.Duration("HTTPCACHE_EXPIRATION_SECS")
		cache.IgnoreHTTPCodes = set.Ints("HTTPCACHE_IGNORE_HTTP_CODES")
		b.HTTPCache = cache
	}
	for _, kv := range set.StringPairs("DEFAULT_COOKIES") {
		b.Cookies.Defaults = append(b.Cookies.Defaults, crawl.Cookie{Name: kv[0], Value: kv[1]})
	}
	if set.Bool("ROBOTSTXT_OBEY") {
		ua := set.String("ROBOTSTXT_USER_AGENT")
		if ua == "" {
			ua = set.String("USER_AGENT")
		}
		b.Robots = &middleware.RobotsTxt{
			Enabled:   true,
			Fetch:     h.http.Download,
			UserAgent: ua,
			Scheme:    spec.RobotScheme,
			Delays:    h.http,
			Stats:     st,
			Logger:    logger,
		}
	}
	// The session registry runs before the user's middlewares so they see
	// the member a request was assigned (meta session_member).
	user := []middleware.Downloader{sessions}
	for i, m := range spec.DownloaderMiddlewares {
		mw, err := js.DownloaderMiddleware(m.ProcessRequest, m.ProcessResponse, m.ProcessException)
		if err != nil {
			return nil, fmt.Errorf("downloader_middlewares[%d]: %w", i, err)
		}
		user = append(user, mw)
	}
	return middleware.NewChain(h, b.Stack(user...)...)
}

// feedConfigs merges the spec's feeds:, the FEEDS setting (e.g. from -s)
// and the -o/-O outputs.
func feedConfigs(spec *dsl.Spec, outputs []feed.Config) ([]feed.Config, error) {
	var cfgs []feed.Config
	feeds := append(dsl.Feeds(nil), spec.Feeds...)
	for _, kv := range spec.Settings.Pairs("FEEDS") {
		f := dsl.Feed{URI: kv.Key}
		m, _ := kv.Value.(map[string]any)
		f.Format, _ = m["format"].(string)
		f.Encoding, _ = m["encoding"].(string)
		if b, ok := m["overwrite"].(bool); ok {
			f.Overwrite = &b
		}
		switch n := m["indent"].(type) {
		case int:
			f.Indent = &n
		case int64:
			i := int(n)
			f.Indent = &i
		case float64:
			i := int(n)
			f.Indent = &i
		}
		if b, ok := m["store_empty"].(bool); ok {
			f.StoreEmpty = &b
		}
		if fields, ok := m["fields"].([]any); ok {
			for _, x := range fields {
				f.Fields = append(f.Fields, fmt.Sprint(x))
			}
		}
		feeds = append(feeds, f)
	}
	for _, f := range feeds {
		uri := f.URI
		if uri != "-" && !filepath.IsAbs(uri) && !strings.Contains(uri, "://") {
			uri = filepath.Join(spec.Dir, uri)
		}
		cfg := feed.Config{URI: uri, Overwrite: derefBool(f.Overwrite, false), Fields: f.Fields, Encoding: f.Encoding,
			Indent: derefInt(f.Indent), StoreEmpty: derefBool(f.StoreEmpty, true)}
		if f.Format != "" {
			ff, err := feed.ParseFormat(f.Format)
			if err != nil {
				return nil, fmt.Errorf("feeds.%s: %w", f.URI, err)
			}
			cfg.Format = ff
		} else {
			ff, err := feed.FormatFromPath(uri)
			if err != nil {
				return nil, err
			}
			cfg.Format = ff
		}
		cfgs = append(cfgs, cfg)
	}
	for _, o := range outputs {
		// -o/-O write the empty document for an empty crawl, as Scrapy's
		// do by default.
		o.StoreEmpty = true
		cfgs = append(cfgs, o)
	}
	return cfgs, nil
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// checkHooks makes sure every hook names an exported function before the
// crawl starts (the JS spider runs them from the signal bus).
func checkHooks(spec *dsl.Spec, js *jsbridge.Spider) error {
	for name, fn := range spec.Hooks {
		if _, err := js.Hook(name, fn); err != nil {
			return err
		}
	}
	return nil
}

// router is the innermost handler of the chain: WebSocket requests go to
// the connection manager, the rest to the HTTP downloader.
type router struct {
	http *downloader.Downloader
	ws   *websocket.Manager
}

func (r router) Download(ctx context.Context, req *crawl.Request) (*crawl.Response, error) {
	if websocket.IsWebSocket(req) {
		return r.ws.Download(ctx, req)
	}
	return r.http.Download(ctx, req)
}

// profileSetting is IMPERSONATE, with a relative profile file (.yaml,
// .yml, .json) resolved against the spec's directory like every other path
// in a spec.
func profileSetting(spec *dsl.Spec) string {
	p := spec.Settings.String("IMPERSONATE")
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		if !filepath.IsAbs(p) {
			return filepath.Join(spec.Dir, p)
		}
	}
	return p
}

// sharedMaxIdle is how long a worker of a Redis crawl waits with no work
// anywhere before closing. A RedisSpider waits MAX_IDLE_TIME_BEFORE_CLOSE
// (0 = forever, waiting for pushed tasks, as in scrapy-redis); a crawl
// without redis_key has nothing to wait for once the shared crawl is idle,
// so it closes after at least a second of shared idleness.
func sharedMaxIdle(spec *dsl.Spec) time.Duration {
	d := spec.Settings.Duration("MAX_IDLE_TIME_BEFORE_CLOSE")
	if len(spec.RedisKeys) == 0 && d < time.Second {
		return time.Second
	}
	return d
}

// idleReason is the close reason of an idle crawl: "idle" for a worker of
// a Redis crawl (its task source ended because the shared crawl was idle),
// "finished" otherwise.
func idleReason(rsched *redisq.Scheduler) string {
	if rsched != nil {
		return "idle"
	}
	return engine.ReasonFinished
}

// maxActive bounds the requests a worker of a Redis crawl holds at once
// (fetching, or waiting for or in their callback): each is a lease, and a
// worker that dies hands all of its leases back to be fetched again. The
// engine raises the bound while callbacks wait on results of pending
// requests, so ResultHolder spiders cannot deadlock. Local crawls are
// bounded by the response bytes held (MaxActiveSize) only.
func maxActive(rsched *redisq.Scheduler, set *dsl.Settings) int {
	if rsched == nil {
		return 0
	}
	return 4 * max(set.Int("CONCURRENT_REQUESTS"), 1)
}

// ParseOne downloads req through the middleware chain (following retries
// and redirects inline) and runs its callback once, streaming the output to
// out; nothing is scheduled. It is the parse command.
func (c *Crawler) ParseOne(ctx context.Context, req *crawl.Request, out engine.Output) error {
	defer c.release()
	if ctx == nil {
		ctx = context.Background()
	}
	if op, ok := c.Spider.(engine.Opener); ok {
		if err := op.Open(ctx, c.engine.Crawl()); err != nil {
			return err
		}
	}
	if cl, ok := c.Spider.(engine.Closer); ok {
		defer cl.Close(ctx, "finished")
	}
	resp, err := c.engine.Crawl().Download(ctx, req)
	if err != nil {
		var f *crawl.Failure
		if errors.As(err, &f) {
			if handled, eerr := c.Spider.Errback(ctx, f, out); handled {
				return eerr
			}
		}
		return err
	}
	return c.Spider.Callback(ctx, resp, out)
}

// redisBatchSize is how many tasks a worker leases from the redis keys at
// once: REDIS_START_URLS_BATCH_SIZE, or CONCURRENT_REQUESTS when it is 0.
func redisBatchSize(set *dsl.Settings) int {
	if n := set.Int("REDIS_START_URLS_BATCH_SIZE"); n > 0 {
		return n
	}
	return set.Int("CONCURRENT_REQUESTS")
}

// memUsage maps the MEMUSAGE_* settings (Scrapy's MemoryUsage extension).
func memUsage(set *dsl.Settings) engine.MemUsage {
	if !set.Bool("MEMUSAGE_ENABLED") {
		return engine.MemUsage{Off: true}
	}
	return engine.MemUsage{
		Limit:         int64(set.Int("MEMUSAGE_LIMIT_MB")) << 20,
		Warning:       int64(set.Int("MEMUSAGE_WARNING_MB")) << 20,
		CheckInterval: set.Duration("MEMUSAGE_CHECK_INTERVAL_SECONDS"),
	}
}
