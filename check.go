package spiderrun

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"golang.org/x/net/idna"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/jsbridge"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/jsbridge/execjs"
	"github.com/spiderrun/spiderrun/runtime/blocks"
	"github.com/spiderrun/spiderrun/runtime/extract"
	"github.com/spiderrun/spiderrun/runtime/feed"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
	"github.com/spiderrun/spiderrun/runtime/session"
	"github.com/spiderrun/spiderrun/runtime/settings"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// CheckOptions tune Check.
type CheckOptions struct {
	// SkipScript skips compiling the script, and with it every check that
	// needs the script's exports (unknown callbacks, missing parse).
	SkipScript bool
	// Program is the already compiled script; nil means Check compiles it.
	Program *compile.Program
	// Args are the spider arguments (-a) the script's top level sees as
	// spider.args while Check runs it.
	Args map[string]string
}

// CompileScript compiles the spec's script (file or inline) through the same
// esbuild path `run` uses; relative imports resolve from the spec's
// directory for inline scripts.
func CompileScript(spec *dsl.Spec) (*compile.Program, error) {
	src := compile.Source{Filename: spec.Script.Filename, Path: spec.Script.Path}
	if spec.Script.Path == "" {
		src.Code = spec.Script.Inline
		src.Line, src.Col = spec.Script.Line, spec.Script.Col
		src.ResolveDir = spec.Dir
	}
	return compile.Compile(src)
}

// Check runs the checks of a loaded spec beyond its structure (which Load
// has checked): it compiles the script and reports syntax errors at the
// user's file:line:col, checks that every function the spec names is
// exported, compiles every regex, XPath and CSS selector with the engines
// the crawl uses (runtime/extract), checks start and sitemap URLs and
// domain names, syntax-checks js_path files, and checks how settings
// combine (CheckSettings). It is the validate step of decode → validate →
// build (specs/spec.md): `validate` and `run` both call it, and New finds
// no spec error in a spec it accepts. Every error is a *dsl.Error; the
// result is sorted by position and empty when the spec is valid.
func Check(spec *dsl.Spec, opts CheckOptions) []error {
	c := &checker{spec: spec, args: opts.Args, argsKnown: true}
	c.urls("start_urls", spec.StartURLs)
	c.urls("sitemap_urls", spec.SitemapURLs)
	c.domains("allowed_domains", spec.AllowedDomains)
	for i, r := range spec.Rules {
		p := fmt.Sprintf("rules[%d].link_extractor", i)
		le := r.LinkExtractor
		c.regexes(p+".allow", le.Allow)
		c.regexes(p+".deny", le.Deny)
		c.regexes(p+".restrict_text", le.RestrictText)
		c.domains(p+".allow_domains", le.AllowDomains)
		c.domains(p+".deny_domains", le.DenyDomains)
		for j, x := range le.RestrictXPaths {
			if err := extract.CompileXPath(x); err != nil {
				c.add(listPath(p+".restrict_xpaths", j), "invalid XPath %q: %s", x, cause(err))
			}
		}
		for j, q := range le.RestrictCSS {
			if err := extract.CompileCSS(q); err != nil {
				c.add(listPath(p+".restrict_css", j), "invalid CSS selector %q: %s", q, cause(err))
			}
		}
	}
	for i, r := range spec.SitemapRules {
		if _, err := extract.CompileRegex(r.Regex); err != nil {
			c.add(fmt.Sprintf("sitemap_rules[%d].regex", i), "invalid regex %q: %s", r.Regex, cause(err))
		}
	}
	c.regexes("sitemap_follow", spec.SitemapFollow)
	c.proxies()
	c.settings()
	c.outputs()
	c.execJS()
	if !opts.SkipScript {
		prog := opts.Program
		if prog == nil {
			var err error
			prog, err = CompileScript(spec)
			if err != nil {
				c.compileError(err)
			}
		}
		if prog != nil {
			exported, ok := c.evaluate(prog, opts.Args)
			if ok {
				c.exports(prog, exported)
			}
			c.literals(prog, exported, ok)
		}
	}
	sort.SliceStable(c.errs, func(i, j int) bool {
		a, b := c.errs[i], c.errs[j]
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	out := make([]error, len(c.errs))
	for i, e := range c.errs {
		out[i] = e
	}
	return out
}

type checker struct {
	spec *dsl.Spec
	errs []*dsl.Error
	// args are the spider arguments (-a) when known (Check): feed URIs'
	// %(ARG)s parameters are checked against them.
	args      map[string]string
	argsKnown bool
}

// add records a problem at the position of path in the spec (or of the
// closest enclosing key the spec wrote).
func (c *checker) add(path, format string, args ...any) {
	p := c.pos(path)
	c.errs = append(c.errs, &dsl.Error{File: c.spec.File, Line: p.Line, Col: p.Col, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (c *checker) pos(path string) dsl.Position {
	for p := path; p != ""; {
		if pos := c.spec.Pos(p); pos.Line > 0 {
			return pos
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			break
		}
		p = p[:i]
	}
	return dsl.Position{}
}

// listPath names element j of a list; a list written as a single string has
// no element positions, and pos() falls back to the key.
func listPath(path string, j int) string { return fmt.Sprintf("%s[%d]", path, j) }

// cause drops the wrapping that repeats the pattern ("regex \"(\": ...").
func cause(err error) string {
	if u := errors.Unwrap(err); u != nil {
		return u.Error()
	}
	return err.Error()
}

func (c *checker) regexes(path string, pats []string) {
	for j, p := range pats {
		if _, err := extract.CompileRegex(p); err != nil {
			c.add(listPath(path, j), "invalid regex %q: %s", p, cause(err))
		}
	}
}

func (c *checker) urls(path string, urls []string) {
	for j, raw := range urls {
		lp := listPath(path, j)
		u, err := url.Parse(strings.TrimSpace(raw))
		switch {
		case err != nil:
			c.add(lp, "invalid URL %q: %s", raw, cause(err))
		case u.Scheme == "":
			hint := "start with http://, https:// or file://"
			if host, _, _ := strings.Cut(strings.TrimPrefix(raw, "//"), "/"); strings.Contains(host, ".") {
				hint = "write https://" + strings.TrimPrefix(raw, "//")
			}
			c.add(lp, "%q is not an absolute URL (%s)", raw, hint)
		case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file":
			c.add(lp, "unsupported URL scheme %q in %q (use http, https or file)", u.Scheme, raw)
		case u.Scheme != "file" && u.Hostname() == "":
			c.add(lp, "URL %q has no host", raw)
		}
	}
}

var hostLabel = regexp.MustCompile(`^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$`)

// domains checks that entries are host names as Scrapy's offsite filter
// expects: no scheme, path or port (Scrapy warns and ignores those).
func (c *checker) domains(path string, hosts []string) {
	for j, h := range hosts {
		lp := listPath(path, j)
		switch {
		case strings.Contains(h, "://"):
			u, _ := url.Parse(h)
			hint := ""
			if u != nil && u.Hostname() != "" {
				hint = fmt.Sprintf(" (write %q)", u.Hostname())
			}
			c.add(lp, "%q is a URL, not a host name%s", h, hint)
			continue
		case strings.ContainsAny(h, "/?#"):
			c.add(lp, "%q is not a host name (no paths)", h)
			continue
		}
		if host, _, err := net.SplitHostPort(h); err == nil {
			c.add(lp, "%q has a port; write the host name %q", h, host)
			continue
		}
		if net.ParseIP(strings.Trim(h, "[]")) != nil {
			continue
		}
		ascii, err := idna.Lookup.ToASCII(strings.TrimSuffix(strings.ToLower(h), "."))
		if err == nil && ascii == "" {
			err = errors.New("empty")
		}
		if err == nil {
			for _, l := range strings.Split(ascii, ".") {
				if !hostLabel.MatchString(l) {
					err = fmt.Errorf("label %q", l)
					break
				}
			}
		}
		if err != nil {
			c.add(lp, "%q is not a valid host name", h)
		}
	}
}

// CheckSettings runs the checks of setting combinations and of the files
// settings name (the scheduler backend, IMPERSONATE, REDIS_TLS_CA_FILE):
// the part of Check that New runs again before building, so a spec that
// passed validate never fails New with a spec error. Every error is a
// *dsl.Error.
func CheckSettings(spec *dsl.Spec) []error {
	c := &checker{spec: spec}
	c.settings()
	c.outputs()
	out := make([]error, len(c.errs))
	for i, e := range c.errs {
		out[i] = e
	}
	return out
}

// settings checks what one setting's own check (in dsl) cannot see: how
// settings combine with each other and with the spec, and the files they
// name. A setting given with -s has no position in the spec and is
// reported without one.
func (c *checker) settings() {
	before := len(c.errs)
	v := ResolveSettings(c.spec.Settings)
	plan, perr := planScheduler(c.spec, &v)
	if perr != nil {
		c.setting(perr.setting, "%s", perr.msg)
	}
	if v.Impersonate != "" {
		if _, err := impersonate.LoadProfile(profileSetting(c.spec, v.Impersonate)); err != nil {
			c.setting("IMPERSONATE", "%s", err)
		}
	}
	// The same parts middleware.BlocksFromSettings builds the detectors from.
	for _, kv := range v.BlockRules {
		if _, err := blocks.ParseRule(kv.Key, kv.Value); err != nil {
			c.setting("BLOCK_RULES", "%s", err)
		}
	}
	if _, err := blocks.New(v.BlockDetectors, nil); err != nil {
		c.setting("BLOCK_DETECTORS", "%s", err)
	}
	if dir := v.SessionProfiles; dir != "" {
		if _, err := session.ReadProfileDir(c.spec.Path(dir)); err != nil {
			c.setting("SESSION_PROFILES", "%s", err)
		}
	}
	if ca := v.RedisTLSCAFile; ca != "" {
		if !strings.HasPrefix(strings.ToLower(v.RedisURL), "rediss://") {
			c.setting("REDIS_TLS_CA_FILE", "a CA file needs a rediss:// REDIS_URL, got %s", weburl.Redact(v.RedisURL))
		}
		pem, err := os.ReadFile(c.spec.Path(ca))
		switch {
		case err != nil:
			c.setting("REDIS_TLS_CA_FILE", "CA file %q: %s", ca, cause(err))
		case !x509.NewCertPool().AppendCertsFromPEM(pem):
			c.setting("REDIS_TLS_CA_FILE", "%s: no PEM certificate found", ca)
		}
	}
	if perr == nil && plan.kind == settings.SchedulerRedis && len(c.errs) == before {
		c.redisScheduler(&v)
	}
}

// redisScheduler builds the Redis scheduler as newBackend would, without
// connecting (neither step touches Redis), so that what only its
// constructor checks (the REDIS_URL, the size of the Bloom filter
// DUPEFILTER_BLOOM_CAPACITY and DUPEFILTER_BLOOM_ERROR_RATE ask for) is a
// validate error too.
func (c *checker) redisScheduler(v *settings.Values) {
	rdb, err := dialRedis(c.spec, v)
	if err != nil {
		c.setting("REDIS_URL", "%s", strings.TrimPrefix(err.Error(), "settings.REDIS_URL: "))
		return
	}
	defer rdb.Close()
	ro := redisq.FromSettings(v)
	ro.Client, ro.Name = rdb, c.spec.Name
	if _, err := redisq.New(ro); err != nil {
		name := "SCHEDULER"
		if strings.Contains(err.Error(), "bloom") {
			name = "DUPEFILTER"
			for _, s := range []string{"DUPEFILTER_BLOOM_ERROR_RATE", "DUPEFILTER_BLOOM_CAPACITY"} {
				if c.spec.Settings.Source(s) != "default" {
					name = s
				}
			}
		}
		c.setting(name, "%s", strings.TrimPrefix(err.Error(), "redisq: "))
	}
}

// outputs checks the places the crawl will write before it writes them:
// every feed is a local file (or -) in an existing directory, and
// HTTPCACHE_DIR and JOBDIR can be created (no file is in the way). The
// crawl would otherwise stop at start-up, after validate said ok.
func (c *checker) outputs() {
	v := ResolveSettings(c.spec.Settings)
	for _, f := range c.spec.Feeds {
		path := "feeds." + f.URI
		if !identifier.MatchString(f.URI) {
			path = fmt.Sprintf("feeds[%q]", f.URI)
		}
		if msg := c.feedProblem(f.URI); msg != "" {
			c.add(path, "%s", msg)
		}
		if err := feed.CheckEncoding(f.Encoding); err != nil {
			c.add(path+".encoding", "%s", err)
		}
		for _, e := range c.feedOptionErrors(&v, feedValues(dsl.Feeds{f})[0]) {
			if e.Setting != "" {
				c.setting(e.Setting, "feeds.%s: %s", f.URI, e.Msg)
			} else {
				c.add(path+"."+e.Option, "%s", e.Msg)
			}
		}
	}
	for _, f := range v.Feeds {
		if msg := c.feedProblem(f.URI); msg != "" {
			c.setting("FEEDS", "feed %q: %s", f.URI, msg)
		}
		if err := feed.CheckEncoding(f.Encoding); err != nil {
			c.setting("FEEDS", "feed %q: encoding: %s", f.URI, err)
		}
		for _, e := range c.feedOptionErrors(&v, f) {
			c.setting("FEEDS", "feed %q: %s: %s", f.URI, e.Option, e.Msg)
		}
	}
	if err := feed.CheckEncoding(v.FeedExportEncoding); err != nil {
		c.setting("FEED_EXPORT_ENCODING", "%s", err)
	}
	if v.HTTPCacheEnabled {
		if msg := c.dirProblem(filepath.Join(c.spec.Path(v.HTTPCacheDir), c.spec.Name)); msg != "" {
			c.setting("HTTPCACHE_DIR", "%s", msg)
		}
	}
	if v.HostReportFile != "" {
		path := c.spec.Path(v.HostReportFile)
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			c.setting("HOST_REPORT_FILE", "%s is a directory", c.shown(path))
		} else if msg := c.dirProblem(filepath.Dir(path)); msg != "" {
			c.setting("HOST_REPORT_FILE", "%s", msg)
		}
	}
	if plan, perr := planScheduler(c.spec, &v); perr == nil && plan.jobdir != "" {
		if msg := c.dirProblem(plan.jobdir); msg != "" {
			c.setting("JOBDIR", "%s", msg)
		}
	}
}

// feedOptionErrors are the options of a feed that feed.Open would refuse
// (item_export_kwargs, postprocessing and its options, batch_item_count
// without %(batch_id)d), as the crawl's feed wiring reads them.
// A compressed feed in a crawl whose acknowledgements wait on its feeds
// (a JOBDIR, the Redis scheduler) is refused as feed.Open refuses it.
func (c *checker) feedOptionErrors(v *settings.Values, f settings.Feed) []*feed.OptionError {
	fo := feed.OptionsFromSettings(v)
	fo.Params = feed.URIParams{Name: c.spec.Name, Args: c.args}
	_, err := fo.FromSettings(f)
	var out []*feed.OptionError
	for _, e := range unjoinErrors(err) {
		var oe *feed.OptionError
		if errors.As(e, &oe) {
			out = append(out, oe)
		}
	}
	if plan, perr := planScheduler(c.spec, v); perr == nil && (plan.jobdir != "" || plan.kind == settings.SchedulerRedis) &&
		len(f.Postprocessing) > 0 && f.URI != "-" {
		out = append(out, &feed.OptionError{URI: f.URI, Option: "postprocessing", Msg: feed.ErrCompressedDurable.Error()})
	}
	return out
}

// unjoinErrors lists the errors of errors.Join (or err alone).
func unjoinErrors(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// feedProblem says why a feed URI cannot be opened as feed.Open would open
// it (a file path relative to the spec, a file:// URL or -, its %(name)s,
// %(time)s and %(ARG)s parameters replaced; its directory is created), or
// "". Parameters are checked when the spider arguments are known (Check).
func (c *checker) feedProblem(uri string) string {
	if uri == "-" {
		return ""
	}
	expanded, err := feed.ExpandURI(uri, feed.URIParams{Name: c.spec.Name, Args: c.args})
	if err != nil {
		if c.argsKnown {
			return err.Error()
		}
		return ""
	}
	uri = expanded
	path := uri
	switch {
	case strings.HasPrefix(uri, "file://"):
		path = strings.TrimPrefix(uri, "file://")
	case strings.Contains(uri, "://"):
		scheme, _, _ := strings.Cut(uri, "://")
		return fmt.Sprintf("unsupported feed URI scheme %q (write a file path, a file:// URL or -)", scheme)
	case !filepath.IsAbs(path):
		path = c.spec.Path(path)
	}
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Sprintf("%s is a directory", c.shown(path))
	}
	// A missing directory is created (feed.Open, as Scrapy's file
	// storage); a file in its way is a problem.
	return c.dirProblem(filepath.Dir(path))
}

// shown names a path as the user would write it: relative to the spec's
// directory when it is inside it.
func (c *checker) shown(path string) string {
	if rel, err := filepath.Rel(c.spec.Dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return rel
	}
	return path
}

// dirProblem says why os.MkdirAll(dir) would fail because of what is on
// disk (a file where a directory must be), or "".
func (c *checker) dirProblem(dir string) string {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Sprintf("%s is not a directory", c.shown(p))
			}
			return ""
		}
		if filepath.Dir(p) == p {
			return ""
		}
	}
}

// setting records a problem with the setting name at its position in the
// spec, or without a position when the value came from -s.
func (c *checker) setting(name, format string, args ...any) {
	path := "settings." + name
	if c.spec.Settings.Source(name) == "spec" {
		c.add(path, format, args...)
		return
	}
	c.errs = append(c.errs, &dsl.Error{File: c.spec.File, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// schedulerPlan is the scheduler backend a spec's settings select, and the
// JOBDIR of the disk backend resolved (a JOBDIR set in the spec is
// relative to the spec, one given with -s or --jobdir to the working
// directory).
type schedulerPlan struct {
	kind string // settings.SchedulerMemory, SchedulerDisk or SchedulerRedis
	// jobdir is the JOBDIR of the disk backend; "" with SchedulerDisk
	// asks for a temporary one (a disk frontier for a crawl too big for
	// memory, not resumable).
	jobdir string
	// implicitRedis is set when redis_key made the crawl a RedisSpider
	// although SCHEDULER did not say redis.
	implicitRedis bool
}

// planError is a setting combination that no backend serves.
type planError struct{ setting, msg string }

// planScheduler decides the scheduler backend: JOBDIR selects disk, a
// spec with redis_key (a RedisSpider) always uses Redis, whose leases its
// tasks need. The checks and newBackend (backend.go) both use it, so
// validate and run reject the same combinations.
func planScheduler(spec *dsl.Spec, v *settings.Values) (schedulerPlan, *planError) {
	p := schedulerPlan{kind: v.Scheduler, jobdir: v.JobDir}
	if p.jobdir != "" && spec.Settings.Source("JOBDIR") == "spec" {
		p.jobdir = spec.Path(p.jobdir)
	}
	switch {
	case p.jobdir != "" && (p.kind == settings.SchedulerRedis || len(spec.RedisKeys) > 0):
		return p, &planError{"JOBDIR", "a Redis crawl keeps its state in Redis; JOBDIR is for crawls on one machine"}
	case p.jobdir != "":
		p.kind = settings.SchedulerDisk
	}
	if len(spec.RedisKeys) > 0 && p.kind != settings.SchedulerRedis {
		p.kind, p.implicitRedis = settings.SchedulerRedis, true
	}
	if p.kind == "" {
		p.kind = settings.SchedulerMemory
	}
	switch p.kind {
	case settings.SchedulerMemory, settings.SchedulerDisk:
		if v.Dupefilter == settings.DupefilterBloom {
			return p, &planError{"DUPEFILTER", "bloom needs SCHEDULER: redis (the " + p.kind + " scheduler keeps an exact dupefilter)"}
		}
	case settings.SchedulerRedis:
	default:
		return p, &planError{"SCHEDULER", fmt.Sprintf("%q is not a scheduler (memory, disk or redis)", p.kind)}
	}
	return p, nil
}

func (c *checker) proxies() {
	const path = "settings.PROXIES"
	for j, p := range ResolveSettings(c.spec.Settings).Proxies {
		u, err := url.Parse(p)
		if err != nil || u.Host == "" {
			c.add(path, "invalid proxy URL %q (write scheme://host:port)", weburl.Redact(p))
			continue
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			c.add(fmt.Sprintf("%s[%d]", path, j), "unsupported proxy scheme %q (use http, https, socks5 or socks5h)", u.Scheme)
		}
	}
}

// execJS syntax-checks the use_execjs context files with the check the
// JS side provides (execjs.CheckSyntax: goja's parser, the engine that
// runs them); the root package does not import goja.
func (c *checker) execJS() {
	for _, abs := range c.spec.JSPath {
		// Name the file as the user would: relative to the spec's directory
		// as given on the command line.
		f := abs
		if rel, err := filepath.Rel(c.spec.Dir, abs); err == nil && !strings.HasPrefix(rel, "..") {
			f = filepath.Join(filepath.Dir(c.spec.File), rel)
		}
		src, err := os.ReadFile(abs)
		if err != nil {
			c.add("js_path", "js_path file %s: %s", f, cause(err))
			continue
		}
		if err := execjs.CheckSyntax(f, src); err != nil {
			var se *execjs.SyntaxError
			if errors.As(err, &se) {
				c.errs = append(c.errs, &dsl.Error{File: f, Line: se.Line, Col: se.Col, Msg: lowerFirst(se.Msg)})
				continue
			}
			c.errs = append(c.errs, &dsl.Error{File: f, Msg: lowerFirst(err.Error())})
		}
	}
}

func (c *checker) compileError(err error) {
	var ce *compile.Error
	if !errors.As(err, &ce) {
		c.add("script", "%s", err)
		return
	}
	for _, e := range append([]*compile.Error{ce}, ce.More...) {
		file := e.File
		if file == "" {
			file = c.spec.File
		}
		c.errs = append(c.errs, &dsl.Error{File: file, Line: e.Line, Col: e.Col, Msg: lowerFirst(e.Message)})
	}
}

// lowerFirst makes esbuild's and goja's capitalised messages follow our
// style ("Expected" → "expected") without touching acronyms ("JSON").
func lowerFirst(s string) string {
	r := []rune(s)
	if len(r) > 1 && unicode.IsUpper(r[0]) && unicode.IsLower(r[1]) {
		r[0] = unicode.ToLower(r[0])
	}
	return string(r)
}

// refKind names what a reference is, for messages: callback, errback,
// pipeline, process_request, hook ...
func refKind(path string) string {
	switch {
	case strings.HasPrefix(path, "pipelines"):
		return "pipeline"
	case strings.HasPrefix(path, "hooks"):
		return "hook"
	}
	if i := strings.LastIndex(path, "."); i >= 0 {
		path = path[i+1:]
	}
	return path
}

// evaluate runs the script's top level in the runtime `run` uses (the
// spider's settings, limits and globals, no crawl) and returns the
// functions it exports: what run calls, for a CommonJS script as for an ES
// module. An exception at the top level (a ReferenceError, a throw, a
// limit) is reported at its position in the user's file.
func (c *checker) evaluate(p *compile.Program, args map[string]string) ([]string, bool) {
	v := ResolveSettings(c.spec.Settings)
	jo := jsbridge.FromSettings(&v)
	jo.Program = p
	jo.Name = c.spec.Name
	jo.StartURLs = c.spec.StartURLs
	jo.AllowedDomains = c.spec.AllowedDomains
	jo.RobotScheme = c.spec.RobotScheme
	jo.SessionID = c.spec.SessionID
	jo.SpecDir = c.spec.Dir
	jo.DefaultCallback = c.spec.Callback
	jo.DefaultErrback = c.spec.Errback
	jo.Settings = c.spec.Settings.All()
	jo.Args = args
	js, err := jsbridge.New(jo)
	if err != nil {
		c.scriptError(err)
		return nil, false
	}
	defer js.Shutdown()
	return js.Exports(), true
}

// scriptError records an error of the script's top level: at the position
// of the innermost user frame, with the first line of the message run
// prints (the JS stack is left out: one line per problem).
func (c *checker) scriptError(err error) {
	msg, _, _ := strings.Cut(err.Error(), "\n")
	var je *jsbridge.Error
	if errors.As(err, &je) && je.Pos != "" {
		if file, line, col, ok := splitPos(je.Pos); ok {
			msg = strings.TrimPrefix(msg, je.Pos+": ")
			c.errs = append(c.errs, &dsl.Error{File: file, Line: line, Col: col, Msg: msg})
			return
		}
	}
	c.add("script", "%s", msg)
}

// splitPos splits "file:line:col" (the file may hold colons).
func splitPos(pos string) (string, int, int, bool) {
	i := strings.LastIndexByte(pos, ':')
	if i < 0 {
		return "", 0, 0, false
	}
	j := strings.LastIndexByte(pos[:i], ':')
	if j < 0 {
		return "", 0, 0, false
	}
	line, err1 := strconv.Atoi(pos[j+1 : i])
	col, err2 := strconv.Atoi(pos[i+1:])
	if err1 != nil || err2 != nil || line <= 0 {
		return "", 0, 0, false
	}
	return pos[:j], line, max(col, 1), true
}

// literals checks the names and queries the script passes as string
// literals (compile.Literal): a callback or errback must be an exported
// function, a CSS or XPath query must compile. They are as static as the
// spec's own callbacks and selectors, so a typo fails validate, not a page.
// Names are checked only when the script's top level ran (evaluated).
func (c *checker) literals(p *compile.Program, exported []string, evaluated bool) {
	list := strings.Join(exported, ", ")
	if list == "" {
		list = "nothing"
	}
	for _, l := range p.Literals {
		e := &dsl.Error{File: l.File, Line: l.Line, Col: l.Col}
		switch l.Kind {
		case "callback", "errback":
			if !evaluated || slices.Contains(exported, l.Value) {
				continue
			}
			e.Msg = fmt.Sprintf("unknown %s %q (exported: %s)", l.Kind, l.Value, list)
		case "css":
			err := extract.CompileCSS(l.Value)
			if err == nil {
				continue
			}
			e.Msg = fmt.Sprintf("invalid CSS selector %q: %s", l.Value, cause(err))
		case "xpath":
			err := extract.CompileXPath(l.Value)
			if err == nil {
				continue
			}
			e.Msg = fmt.Sprintf("invalid XPath %q: %s", l.Value, cause(err))
		default:
			continue
		}
		c.errs = append(c.errs, e)
	}
}

// exports checks that every function the spec names is one the script
// exports (exported: the functions its top level left in its exports).
func (c *checker) exports(p *compile.Program, exported []string) {
	list := strings.Join(exported, ", ")
	if list == "" {
		list = "nothing"
	}
	for _, r := range c.spec.FunctionRefs() {
		if slices.Contains(exported, r.Name) {
			continue
		}
		e := &dsl.Error{File: c.spec.File, Line: r.Pos.Line, Col: r.Pos.Col, Path: r.Path}
		if r.Implicit {
			if len(c.spec.SitemapURLs) > 0 {
				continue
			}
			e.Msg = fmt.Sprintf("start_urls are parsed by parse, but the script does not export parse (exported: %s); export it or set callback:", list)
			e.Path = "start_urls"
		} else if slices.Contains(p.Exports, r.Name) {
			e.Msg = fmt.Sprintf("%s %q is exported but is not a function", refKind(r.Path), r.Name)
		} else {
			e.Msg = fmt.Sprintf("unknown %s %q (exported: %s)", refKind(r.Path), r.Name, list)
		}
		c.errs = append(c.errs, e)
	}
	// BLOCK_DETECTORS' "js:NAME" entries name exported predicates.
	v := ResolveSettings(c.spec.Settings)
	for _, fn := range blocks.JSFunctions(v.BlockDetectors) {
		if !slices.Contains(exported, fn) {
			c.setting("BLOCK_DETECTORS", "block detector js:%s: the script does not export a function %q (exported: %s)", fn, fn, list)
		}
	}
	if len(c.spec.SitemapURLs) > 0 && len(c.spec.SitemapRules) == 0 && !slices.Contains(exported, "parse") {
		c.add("sitemap_urls", "sitemap entries go to parse when there are no sitemap_rules, but the script does not export parse (exported: %s)", list)
	}
	if len(c.spec.RedisKeys) > 0 && c.spec.Callback == "" && !slices.Contains(exported, "parse") && !slices.Contains(exported, "make_request_from_data") {
		c.add("redis_key", "tasks from redis_key are parsed by parse, but the script exports neither parse nor make_request_from_data (exported: %s)", list)
	}
	if len(c.spec.StartURLs) == 0 && len(c.spec.SitemapURLs) == 0 && len(c.spec.RedisKeys) == 0 && !slices.Contains(exported, "start") {
		c.errs = append(c.errs, &dsl.Error{File: c.spec.File, Line: 1, Col: 1,
			Msg: "nothing to crawl: set start_urls, sitemap_urls or redis_key, or export a start() function"})
	}
}
