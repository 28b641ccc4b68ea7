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
	"github.com/spiderrun/spiderrun/internal/jobserver"
	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/jsbridge/execjs"
	"github.com/spiderrun/spiderrun/runtime/browser"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/crawlspider"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/health"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/logging"
	"github.com/spiderrun/spiderrun/runtime/metrics"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	"github.com/spiderrun/spiderrun/runtime/session"
	"github.com/spiderrun/spiderrun/runtime/settings"
	"github.com/spiderrun/spiderrun/runtime/spidermw"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/statsnap"
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
	// ServeMetrics serves Prometheus metrics on METRICS_ADDR while the
	// crawl runs (the run command; runtime/metrics).
	ServeMetrics bool
	// ServeUI serves the crawl's dashboard on UI_ADDR while it runs (the
	// run command; internal/jobserver's CrawlUI) with UIAuth's
	// credentials. An address other than loopback without credentials is
	// refused unless UINoAuth, as `spiderrun serve` refuses it.
	ServeUI  bool
	UIAuth   jobserver.Auth
	UINoAuth bool
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

	engine    *engine.Engine
	feeds     *feed.Set
	closers   []func()
	statsDump bool             // STATS_DUMP
	snapshot  *statsnap.Writer // STATS_SNAPSHOT_FILE; nil when off
	// health is the per-domain scoreboard; hostReport is
	// HOST_REPORT_FILE, resolved ("" = none).
	health     *health.Board
	hostReport string
	uiItems    *jobserver.CrawlUI // the dashboard's latest items; nil without UI_ADDR
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
	v := ResolveSettings(set)
	// Every spec error is found here, before anything is built: the checks
	// validate runs on settings (the scripts' were run by Check, or are
	// found compiling the script below).
	if errs := CheckSettings(spec); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	opts.profile = profileSetting(spec, v.Impersonate)
	st := stats.NewMemory()
	logger, closeLog, err := newLogger(opts.Log, &v, st)
	if err != nil {
		return nil, err
	}
	var logTail *jobserver.Tail
	if opts.ServeUI && v.UIAddr != "" && v.LogEnabled {
		// The dashboard's log panel: the same lines, in text, also kept
		// in memory (LOG_FILE or not).
		level, _ := logging.ParseLevel(v.LogLevel) // newLogger checked it
		logTail = jobserver.NewTail(16 << 10)
		th, _ := logging.NewHandler(logTail, logging.FormatText, level)
		logger = slog.New(slog.NewMultiHandler(logger.Handler(), th))
	}
	c = &Crawler{Spec: spec, Stats: st, Logger: logger, statsDump: v.StatsDump}
	c.closers = append(c.closers, closeLog)
	for _, w := range set.Warnings() { // custom settings named like known ones
		logger.Warn(w)
	}
	applyGCPolicy(&v, logger) // GC_HEAP_TARGET, GC_MEMORY_LIMIT (gcpolicy.go), once per process
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
		xo := execjs.FromSettings(&v) // JS_TIMEOUT, JS_MEMORY_LIMIT, USER_AGENT
		xo.Logger = logger
		ctxs, err := execjs.Load(spec.JSPath, xo)
		if err != nil {
			return nil, fmt.Errorf("js_path: %w", err)
		}
		c.closers = append(c.closers, ctxs.Close)
		ejs = ctxs
	}

	jars := middleware.NewCookieJars()
	sessions := session.NewRegistry(jars)
	sessions.Rotation = v.SessionRotation
	sessions.MaxUses = v.SessionMaxUses
	sessions.MaxAge = v.SessionMaxAge
	sessions.SlotPerMember = v.SessionSlot == "member"
	sessions.PoolSize = v.SessionPoolSize
	sessions.FactoryTries = v.SessionFactoryTries
	sessions.FactoryBackoff = v.SessionFactoryBackoff
	sessions.BaseDir = spec.Dir
	if v.SessionProfiles != "" {
		sessions.ProfileSet = v.SessionProfiles
	}
	sessions.Stats = st
	sessions.Logger = logger
	sessions.OnRetire = func(group, member, reason string) {
		st.Inc("sessions/retired/"+reason, 1)
		logger.Info("session member retired", "session", group, "member", member, "reason", reason)
	}

	var smws []jsbridge.SpiderMiddleware
	for _, m := range spec.SpiderMiddlewares {
		smws = append(smws, jsbridge.SpiderMiddleware{ProcessSpiderInput: m.ProcessSpiderInput, ProcessSpiderOutput: m.ProcessSpiderOutput,
			ProcessSpiderException: m.ProcessSpiderException, ProcessStart: m.ProcessStart})
	}
	jo := jsbridge.FromSettings(&v) // JS_TIMEOUT, JS_MEMORY_LIMIT, CALLBACK_TIMEOUT
	jo.Program = prog
	jo.Name = spec.Name
	jo.StartURLs = spec.StartURLs
	jo.AllowedDomains = spec.AllowedDomains
	jo.RobotScheme = spec.RobotScheme
	jo.SessionID = spec.SessionID
	jo.SpecDir = spec.Dir
	jo.DefaultCallback = spec.Callback
	jo.DefaultErrback = spec.Errback
	jo.Settings = set.All() // spider.settings
	jo.Args = opts.Args
	jo.TaskData = opts.TaskData
	jo.Logger = logger
	jo.Hooks = spec.Hooks
	jo.SpiderMiddlewares = smws
	jo.ExecJS = ejs
	jo.Sessions = sessions
	var met *metrics.Metrics
	if opts.ServeMetrics && v.MetricsAddr != "" {
		met = metrics.New(metrics.Options{Spider: spec.Name, Stats: st, Progress: func() metrics.Progress {
			if c.engine == nil {
				return metrics.Progress{Queued: -1}
			}
			p := c.engine.Progress()
			return metrics.Progress{Queued: p.Queued, InFlight: p.Fetching, Processing: p.Processing, PendingItems: p.PendingItems}
		}})
		jo.CallbackTime = met.Callback // spiderrun_callback_duration_seconds
	}
	js, err := jsbridge.New(jo)
	if err != nil {
		return nil, err
	}
	c.JS = js
	c.closers = append(c.closers, js.Shutdown)

	sp, err := wrapSpider(spec, &v, js, logger, st)
	if err != nil {
		return nil, err
	}
	c.Spider = sp

	// The SCHEDULER backend (backend.go): memory, a JOBDIR (which also keeps
	// the cookies and spider.state: jobstate.go) or Redis.
	b, err := newBackend(backendOptions{Spec: spec, Values: &v, JS: js, Jars: jars, Sessions: sessions, Logger: logger, Stats: st})
	if err != nil {
		return nil, err
	}
	c.closers = append(c.closers, b.Close)

	var dl *downloader.Downloader
	imp, releaseImp := sharedImpersonation(opts.HTTP, func(ctx context.Context, network, addr string) (net.Conn, error) {
		// The downloader's dialer applies DENY_PRIVATE_NETWORKS after DNS,
		// so impersonated connections are guarded like the others.
		return dl.Dialer().DialContext(ctx, network, addr)
	}, func(ctx context.Context, addr string) (netip.AddrPort, error) {
		return dl.Dialer().ResolveUDP(ctx, addr)
	}, logger, st)
	c.closers = append(c.closers, releaseImp)
	dl, err = newDownloader(&v, opts, imp, b.Gate, logger)
	if err != nil {
		return nil, err
	}
	// Idle keep-alive connections (and proxy tunnels) end with the crawl.
	c.closers = append(c.closers, func() { dl.Close() })
	wo := websocket.FromSettings(&v) // open connections count toward the concurrency limits
	// The handshake's TLS (TLS_VERIFY included) and headers come from
	// the impersonating transport, per session.
	wo.Impersonator = func() (websocket.Impersonator, error) {
		t, err := imp()
		if err != nil {
			return nil, err
		}
		return t, nil
	}
	wo.RootCAs = opts.HTTP.RootCAs
	wo.Impersonate = opts.profile
	wo.Compression = true
	wo.Stats = st
	wo.Logger = logger
	wsm := websocket.NewManager(wo)
	c.closers = append(c.closers, wsm.Close)
	c.health = health.New(logger)
	c.health.Alive = sessions.ActiveCount
	c.health.OnDegrade = func(string) { st.Inc("health/domains_degraded", 1) }
	if v.HostReportFile != "" {
		c.hostReport = spec.Path(v.HostReportFile)
	}
	chain, err := newChain(spec, &v, opts.profile, js, router{http: dl, ws: wsm, metrics: met}, jars, sessions, c.health, logger, st, &c.closers)
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
	pipes = append(pipes, b.Sinks...)

	engineMWs := []engine.SpiderMiddleware{
		spidermw.RefererFromSettings(&v),
		spidermw.NewOffsite(spec.AllowedDomains, st, logger),
		spidermw.DepthFromSettings(&v, st, logger),
	}
	if c := spidermw.NewURLClean(v.URLStripSessionIds, v.URLStripParams, st); c != nil {
		// Before Hygiene: its length check and per-host counts see the
		// URL that will be fetched.
		engineMWs = append(engineMWs, c)
	}
	if h := spidermw.NewHygiene(v.URLLengthLimit, v.URLPathRepeatLimit, v.HostRequestLimit, st, logger); h != nil {
		engineMWs = append(engineMWs, h)
	}
	engineMWs = append(engineMWs, b.Middlewares...)

	var exporters []engine.Exporter
	if !opts.NoFeeds {
		fo := feed.OptionsFromSettings(&v) // FEED_EXPORT_FIELDS, FEED_EXPORT_ENCODING, FEED_EXPORT_INDENT
		fo.Params = feed.URIParams{Name: spec.Name, Time: time.Now(), Args: opts.Args}
		cfgs, err := feedConfigs(spec, v.Feeds, opts.Outputs, fo)
		if err != nil {
			return nil, err
		}
		resumeFeeds(cfgs, b.Resumed, logger)
		for i := range cfgs {
			// Acknowledgements wait on the feeds (JOBDIR, Redis): a feed
			// that cannot be made durable is refused (feed.ErrCompressedDurable).
			cfgs[i].Durable = b.Durable
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
	if opts.ServeUI && v.UIAddr != "" {
		// The dashboard's latest items (c.uiItems is set below, before Run).
		sigs.Connect(func(ev engine.Event) {
			if ev.Signal == engine.ItemScraped && ev.Item != nil && c.uiItems != nil {
				c.uiItems.Item(ev.Item)
			}
		})
	}

	eo := engine.FromSettings(&v) // concurrency, CLOSESPIDER_*, DONT_FILTER, MEMUSAGE_*
	eo.Spider = c.Spider
	eo.Fetcher = chain
	eo.Scheduler = b.Scheduler
	eo.Pipelines = pipes
	eo.SpiderMiddlewares = engineMWs
	eo.Feeds = exporters
	eo.Stats = st
	eo.Logger = logger
	eo.Signals = sigs
	eo.MaxPendingItems = 100
	eo.IdleReason = b.IdleReason
	eo.MaxActiveRequests = b.MaxActive
	eo.DurableAcks = b.Durable
	eo.MaxLeased = b.MaxLeased
	eo.Slots = dl // the ready-host layer asks it which requests can start (SCHEDULER_WAITING_MAX)
	c.engine, err = engine.New(eo)
	if err != nil {
		return nil, err
	}
	// The periodic snapshot goes to STATS_SNAPSHOT_FILE and, in a Redis
	// crawl, to the worker's key for `spiderrun status`.
	if v.StatsSnapshotFile != "" || b.PublishStats != nil {
		c.snapshot = &statsnap.Writer{Path: v.StatsSnapshotFile, Interval: v.StatsSnapshotInterval, Spider: spec.Name,
			Worker: b.WorkerID, Publish: b.PublishStats,
			Stats: st.Snapshot, Progress: func() statsnap.Progress {
				p := c.engine.Progress()
				return statsnap.Progress{Queued: p.Queued, InFlight: p.Fetching, Processing: p.Processing,
					PendingItems: p.PendingItems, Pages: p.Pages, Items: p.Items, Errors: p.Errors}
			},
			Domains: func() []health.Row { return c.health.Rows(statsnap.TopDomains) }}
	}
	if opts.ServeUI && v.UIAddr != "" {
		if err := c.serveUI(&v, opts, logTail); err != nil {
			return nil, err
		}
	}
	if met != nil {
		srv, err := metrics.Serve(v.MetricsAddr, met, logger)
		if err != nil {
			return nil, fmt.Errorf("metrics address %q (METRICS_ADDR, --metrics-addr): %w", v.MetricsAddr, err)
		}
		c.closers = append(c.closers, srv.Close)
	}
	return c, nil
}

// serveUI serves the crawl's dashboard on UI_ADDR until the crawl ends.
func (c *Crawler) serveUI(v *settings.Values, opts Options, logTail *jobserver.Tail) error {
	addr, loopback, err := metrics.ResolveAddr(v.UIAddr)
	if err != nil {
		return fmt.Errorf("UI_ADDR %q (--ui-addr): %w", v.UIAddr, err)
	}
	if !loopback && !opts.UIAuth.Enabled() && !opts.UINoAuth {
		return fmt.Errorf("UI_ADDR %s (--ui-addr) is not a loopback address: refusing to serve the dashboard without authentication; give credentials with --ui-basic-auth-file / SPIDERRUN_BASIC_AUTH or --ui-token-file / SPIDERRUN_TOKEN (or --ui-no-auth behind an authenticating proxy)", addr)
	}
	// A Writer of its own: Take's rate is since the previous Take.
	src := &statsnap.Writer{Spider: c.Spec.Name, Stats: c.Stats.Snapshot,
		Progress: func() statsnap.Progress {
			p := c.engine.Progress()
			return statsnap.Progress{Queued: p.Queued, InFlight: p.Fetching, Processing: p.Processing,
				PendingItems: p.PendingItems, Pages: p.Pages, Items: p.Items, Errors: p.Errors}
		},
		Domains: func() []health.Row { return c.health.Rows(statsnap.TopDomains) }}
	uo := jobserver.CrawlUIOptions{Spider: c.Spec.Name, Args: opts.Args, Snapshot: src.Take,
		Stop: c.engine.Stop, Abort: c.engine.Abort, Auth: opts.UIAuth, Logger: c.Logger}
	if logTail != nil {
		uo.LogTail = logTail.Bytes
	}
	ui, err := jobserver.NewCrawlUI(uo)
	if err != nil {
		return err
	}
	at, err := ui.Listen(addr)
	if err != nil {
		return fmt.Errorf("dashboard address %q (UI_ADDR, --ui-addr): %w", v.UIAddr, err)
	}
	c.closers = append(c.closers, ui.Close)
	c.uiItems = ui
	mode := "no authentication"
	if opts.UIAuth.Enabled() {
		mode = "authentication required"
	}
	c.Logger.Info(fmt.Sprintf("Serving the dashboard on http://%s/", at), "auth", mode)
	return nil
}

// Engine returns the engine (for Stop and Abort from signal handlers).
func (c *Crawler) Engine() *engine.Engine { return c.engine }

// Run runs the crawl to its end and releases everything the crawler holds.
// With STATS_DUMP the final stats are logged at INFO, as Scrapy's "Dumping
// Scrapy stats:" (so not at WARNING and above, and into LOG_FILE).
func (c *Crawler) Run(ctx context.Context) (engine.Result, error) {
	defer c.release()
	var stopSnapshots func()
	if c.snapshot != nil {
		// The periodic snapshots end with the engine; the last one carries
		// the close reason, so a reader knows the crawl is over.
		sctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { c.snapshot.Run(sctx); close(done) }()
		stopSnapshots = func() { stop(); <-done }
	}
	res, err := c.engine.Run(ctx)
	if c.snapshot != nil {
		stopSnapshots()
		if serr := c.snapshot.Final(res.Reason, res.Stats); serr != nil {
			c.Logger.Warn(serr.Error())
		}
	}
	if err == nil && c.hostReport != "" {
		if werr := c.health.WriteReport(c.hostReport); werr != nil {
			err = fmt.Errorf("HOST_REPORT_FILE %s: %w", c.hostReport, werr)
		}
	}
	if err == nil && c.statsDump {
		c.Logger.Info(strings.TrimRight(stats.Format(res.Stats), "\n"))
	}
	return res, err
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
func wrapSpider(spec *dsl.Spec, v *settings.Values, js *jsbridge.Spider, logger *slog.Logger, st stats.Collector) (engine.Spider, error) {
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
		co := crawlspider.FromSettings(v) // CRAWLSPIDER_FOLLOW_LINKS, LINKEXTRACTOR_MAX_LINKS
		co.Rules = rules
		co.ParseStartURL = spec.ParseStartURL
		co.DefaultCallback = spec.DefaultCallback()
		co.Hooks = js.CrawlSpiderHooks()
		co.Logger = logger
		co.Stats = st
		cs, err := crawlspider.New(sp, co)
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
		so := crawlspider.SitemapFromSettings(v) // DOWNLOAD_MAXSIZE
		so.URLs = spec.SitemapURLs
		so.Rules = rules
		so.Follow = spec.SitemapFollow
		so.AlternateLinks = derefBool(spec.SitemapAlternateLinks, false)
		so.Logger = logger
		ss, err := crawlspider.NewSitemap(sp, so)
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

// newDownloader builds the downloader of the settings
// (downloader.FromSettings: fetch builds its downloader the same way, so a
// page is fetched exactly as a spider would fetch it).
// gate is the backend's shared politeness gate (nil for none).
func newDownloader(v *settings.Values, opts Options, imp func() (*impersonate.Transport, error), gate downloader.SlotGate, logger *slog.Logger) (*downloader.Downloader, error) {
	d, err := downloader.FromSettings(v, opts.HTTP)
	if err != nil {
		return nil, err
	}
	d.Transport = opts.Transport
	d.Impersonate = opts.profile
	d.TransportFor = transportFor(imp)
	d.Logger = logger
	d.Gate = gate
	return downloader.New(d)
}

// newChain builds the downloader middleware chain: the built-ins
// configured from the settings, with the spec's JS middlewares where
// Scrapy puts user middlewares. profile is IMPERSONATE, resolved.
func newChain(spec *dsl.Spec, v *settings.Values, profile string, js *jsbridge.Spider, h router, jars *middleware.CookieJars, sessions *session.Registry, board *health.Board, logger *slog.Logger, st stats.Collector, closers *[]func()) (*middleware.Chain, error) {
	b := middleware.BuiltinsFromSettings(v, st, logger)
	b.Cookies.Jars = jars
	b.DefaultHeaders.Impersonate = profile
	cache, err := middleware.HTTPCacheFromSettings(v, spec.Path(v.HTTPCacheDir), spec.Name, st, logger)
	if err != nil {
		return nil, err
	}
	b.HTTPCache = cache
	if b.Blocks, err = middleware.BlocksFromSettings(v, st, logger); err != nil {
		return nil, err
	}
	b.Blocks.Identities = sessions
	// "js:NAME" detectors: the script's own predicates.
	b.Blocks.JS = js
	if err := b.Blocks.CheckJS(js.HasExport); err != nil {
		return nil, fmt.Errorf("settings.BLOCK_DETECTORS: %w", err)
	}
	b.Blocks.Throttle = h.http
	sessions.RetireScore = v.BlockRetireScore
	b.Blocks.Health = board
	if v.BlockBrowser {
		// BLOCK_BROWSER: the browser hand-off (runtime/browser). No
		// Chromium is an error now, not at the first challenge.
		pool, err := browser.New(browser.Config{Path: v.BrowserPath, Max: v.BrowserMax, Timeout: v.BrowserTimeout, IgnoreCertErrors: !v.TLSVerify})
		if err != nil {
			return nil, fmt.Errorf("settings.BLOCK_BROWSER: %w", err)
		}
		*closers = append(*closers, func() { pool.Close() })
		b.Blocks.Browser = &browser.HandOff{Pool: pool, Sessions: sessions, DefaultProfile: profile,
			WaitCookie: v.BrowserWaitCookie, WaitJS: v.BrowserWaitJS, ExtractJS: v.BrowserExtractJS}
		b.Blocks.BrowserDetectors = v.BlockBrowserDetectors
	}
	if r := middleware.RobotsFromSettings(v, h.http.Download); r != nil {
		r.Scheme = spec.RobotScheme
		r.Delays = h.http
		r.Stats = st
		r.Logger = logger
		b.Robots = r
	}
	// The session registry runs before the defaults and the user's
	// middlewares, so they see the member a request was assigned (meta
	// session_member) and its profile.
	b.Sessions = sessions
	// meta render: true: the page loaded in Chromium, as the request's
	// member; the browser starts only when such a request comes.
	render := &browser.RenderMiddleware{Config: browser.Config{Path: v.BrowserPath, Max: v.BrowserMax, Timeout: v.BrowserTimeout, IgnoreCertErrors: !v.TLSVerify},
		Sessions: sessions, DefaultProfile: profile}
	*closers = append(*closers, render.Close)
	user := []middleware.Downloader{render}
	for i, m := range spec.DownloaderMiddlewares {
		mw, err := js.DownloaderMiddleware(m.ProcessRequest, m.ProcessResponse, m.ProcessException)
		if err != nil {
			return nil, fmt.Errorf("downloader_middlewares[%d]: %w", i, err)
		}
		user = append(user, mw)
	}
	return middleware.NewChain(h, b.Stack(user...)...)
}

// resumeFeeds makes the feeds of a crawl resumed from a JOBDIR continue
// their files: -O (overwrite) would throw away the items of the earlier
// runs, whose requests the JOBDIR will not fetch again. A torn last record
// left by a kill is cut (feed.Config.Logger says so).
func resumeFeeds(cfgs []feed.Config, resumed bool, logger *slog.Logger) {
	for i := range cfgs {
		cfgs[i].Logger = logger
		if resumed && cfgs[i].Overwrite && cfgs[i].URI != "-" {
			logger.Warn("resuming a crawl from the jobdir: the feed is continued, not overwritten (its earlier items belong to this crawl)", "feed", cfgs[i].URI)
			cfgs[i].Overwrite = false
		}
	}
}

// feedConfigs merges the spec's feeds:, the FEEDS setting (e.g. from -s;
// decoded by dsl, like feeds:) and the -o/-O outputs, each completed by
// fo (the FEED_EXPORT_* defaults, the URI parameters).
func feedConfigs(spec *dsl.Spec, feeds []settings.Feed, outputs []feed.Config, fo feed.Options) ([]feed.Config, error) {
	var cfgs []feed.Config
	for _, f := range append(feedValues(spec.Feeds), feeds...) {
		if f.URI != "-" && !filepath.IsAbs(f.URI) && !strings.Contains(f.URI, "://") {
			f.URI = spec.Path(f.URI)
		}
		cfg, err := fo.FromSettings(f)
		if err != nil {
			return nil, err
		}
		cfgs = append(cfgs, cfg)
	}
	for _, o := range outputs {
		o, err := fo.Output(o)
		if err != nil {
			return nil, fmt.Errorf("feed %s: %w", o.URI, err)
		}
		// -o/-O write the empty document for an empty crawl, as Scrapy's
		// do by default.
		o.StoreEmpty = true
		cfgs = append(cfgs, o)
	}
	return cfgs, nil
}

// checkHooks makes sure every hook names an exported function before the
// crawl starts (the JS spider runs them from the signal bus). Check has
// already reported this for an ES module script; only a CommonJS script,
// whose exports are known once it has run, can fail here.
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
	http    *downloader.Downloader
	ws      *websocket.Manager
	metrics *metrics.Metrics // latency and per-domain counters; nil without METRICS_ADDR
}

func (r router) Download(ctx context.Context, req *crawl.Request) (*crawl.Response, error) {
	if r.metrics != nil {
		return r.metrics.Download(ctx, req, r.download)
	}
	return r.download(ctx, req)
}

func (r router) download(ctx context.Context, req *crawl.Request) (*crawl.Response, error) {
	if websocket.IsWebSocket(req) {
		return r.ws.Download(ctx, req)
	}
	return r.http.Download(ctx, req)
}

// profileSetting is IMPERSONATE (p), with a relative profile file (.yaml,
// .yml, .json) resolved against the spec's directory like every other path
// in a spec (dsl.Spec.Path).
func profileSetting(spec *dsl.Spec, p string) string {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".yaml", ".yml", ".json":
		return spec.Path(p)
	}
	return p
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
