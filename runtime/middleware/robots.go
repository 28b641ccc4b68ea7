package middleware

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/pystr"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// CrawlDelaySetter receives a robots.txt Crawl-delay for a slot.
// *downloader.Downloader implements it.
type CrawlDelaySetter interface {
	SetSlotMinDelay(slot string, d time.Duration)
}

// robotsMaxBytes is how much of a robots.txt is parsed (RFC 9309 §2.5
// asks for at least 500 KiB).
const robotsMaxBytes = 500 << 10

// RobotsTxt obeys robots.txt (ROBOTSTXT_OBEY). Each origin's file is
// fetched once, with the spider's robot_scheme, while the other requests
// to that origin wait for it (Scrapy's test_robotstxt_multiple_reqs). RFC
// 9309 outcomes: 2xx is parsed (first 500 KiB) and matched as Protego,
// Scrapy's default ROBOTSTXT_PARSER, does (a body that is not UTF-8
// allows all, as there; a leading byte order mark is skipped, where
// Protego loses the first line to it), 4xx
// allows all, 5xx, 429, network errors and timeouts disallow all and are
// fetched again after RetryTTL; up to 5 redirects are followed, more count
// as unavailable (allow). A Crawl-delay raises the slot's delay, capped at
// MaxCrawlDelay with a warning.
type RobotsTxt struct {
	Enabled bool
	// Fetch downloads robots.txt, normally downloader.Download (it bypasses
	// the other middlewares).
	Fetch func(ctx context.Context, r *crawl.Request) (*crawl.Response, error)
	// UserAgent is matched against User-agent groups for every request
	// (ROBOTSTXT_USER_AGENT). When it is "", a request is matched by its
	// own User-Agent header (set by the spider), else by FallbackAgent
	// (USER_AGENT), as Scrapy's RobotsTxtMiddleware does: it runs before
	// the User-Agent is added to requests that have none.
	UserAgent string
	// FallbackAgent is also the User-Agent sent with the fetch when
	// UserAgent is "".
	FallbackAgent string
	// Scheme is the spider's robot_scheme ("" = the request's scheme).
	Scheme string
	// TTL is how long a successful answer is kept (0 = 24h); RetryTTL how
	// long a 5xx/unreachable "disallow all" is kept (0 = 10m).
	TTL, RetryTTL time.Duration
	// MaxCrawlDelay caps Crawl-delay (0 = 30s).
	MaxCrawlDelay time.Duration
	Delays        CrawlDelaySetter
	Stats         stats.Collector
	Logger        *slog.Logger

	mu    sync.Mutex
	hosts map[string]*robotsEntry
}

type robotsEntry struct {
	ready    chan struct{}
	data     *robotsRules // nil: decided by allowAll
	allowAll bool
	expires  time.Time
	delay    time.Duration
}

// NewRobotsTxt returns an enabled middleware fetching through fetch.
func NewRobotsTxt(fetch func(ctx context.Context, r *crawl.Request) (*crawl.Response, error), userAgent string) *RobotsTxt {
	return &RobotsTxt{Enabled: true, Fetch: fetch, UserAgent: userAgent, TTL: 24 * time.Hour, RetryTTL: 10 * time.Minute, MaxCrawlDelay: 30 * time.Second}
}

// ProcessRequest implements RequestProcessor.
func (m *RobotsTxt) ProcessRequest(ctx context.Context, r *crawl.Request) (Result, error) {
	if !m.Enabled || r.MetaBool("dont_obey_robotstxt") {
		return Result{}, nil
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Result{}, nil
	}
	e := m.entry(u)
	select {
	case <-e.ready:
	case <-ctx.Done():
		return Result{}, &crawl.Failure{Type: crawl.UnknownError, Message: "cancelled while waiting for robots.txt", Request: r, Err: ctx.Err()}
	}
	if e.allowed(r.URL, m.agent(r)) {
		return Result{}, nil
	}
	m.inc("robotstxt/forbidden")
	return Result{}, Ignore(r, "forbidden by robots.txt: %s", weburl.RedactURL(u))
}

func (m *RobotsTxt) agent(r *crawl.Request) string {
	if m.UserAgent != "" {
		return m.UserAgent
	}
	if ua := r.Headers.Get("User-Agent"); ua != "" {
		return ua
	}
	return m.fetchAgent()
}

// allowed matches the whole request URL, as Scrapy passes request.url to
// Protego (a fragment included).
func (e *robotsEntry) allowed(rawURL, agent string) bool {
	if e.data == nil {
		return e.allowAll
	}
	return e.data.allowed(rawURL, agent)
}

func (m *RobotsTxt) entry(u *url.URL) *robotsEntry {
	scheme := u.Scheme
	if m.Scheme != "" {
		scheme = m.Scheme
	}
	key := scheme + "://" + u.Host
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hosts == nil {
		m.hosts = map[string]*robotsEntry{}
	}
	if e, ok := m.hosts[key]; ok {
		select {
		case <-e.ready:
			if time.Now().Before(e.expires) {
				return e
			}
		default:
			return e // still being fetched: wait for it
		}
	}
	e := &robotsEntry{ready: make(chan struct{})}
	m.hosts[key] = e
	// The fetch runs detached from the first caller's context: every
	// request to the origin waits for it, and it must not die with one of
	// them. The downloader's own deadline bounds it.
	go m.load(e, &url.URL{Scheme: scheme, Host: u.Host, Path: "/robots.txt"}, u.Hostname())
	return e
}

func (m *RobotsTxt) load(e *robotsEntry, robotsURL *url.URL, host string) {
	defer close(e.ready)
	ctx := context.Background()
	target := robotsURL.String()
	for hop := 0; ; hop++ {
		req := &crawl.Request{
			URL:     target,
			Headers: crawl.Headers{{Name: "User-Agent", Value: m.fetchAgent()}},
			Meta: map[string]any{
				"dont_obey_robotstxt":         true,
				downloader.MetaMaxSize:        int64(robotsMaxBytes),
				downloader.MetaTruncate:       true,
				downloader.MetaFailOnDataLoss: false,
			},
		}
		m.inc("robotstxt/request_count")
		resp, err := m.Fetch(ctx, req)
		if err != nil {
			var f *crawl.Failure
			typ := "Error"
			if errors.As(err, &f) {
				typ = string(f.Type)
			}
			m.inc("robotstxt/exception_count/" + typ)
			m.log().Warn("robots.txt unreachable: disallowing the host until retried", "url", target, "error", err.Error(), "retry_in", m.retryTTL())
			e.allowAll, e.expires = false, time.Now().Add(m.retryTTL())
			return
		}
		m.inc("robotstxt/response_count")
		m.inc("robotstxt/response_status_count/" + strconv.Itoa(resp.Status))
		switch {
		case resp.Status >= 300 && resp.Status < 400 && resp.Headers.Get("Location") != "":
			if hop >= 5 {
				// RFC 9309 §2.3.1.2: more than five redirects → unavailable.
				e.allowAll, e.expires = true, time.Now().Add(m.ttl())
				return
			}
			ref, err := url.Parse(resp.Headers.Get("Location"))
			if err != nil {
				e.allowAll, e.expires = true, time.Now().Add(m.ttl())
				return
			}
			next := robotsURL.ResolveReference(ref)
			if next.Scheme != "http" && next.Scheme != "https" {
				e.allowAll, e.expires = true, time.Now().Add(m.ttl())
				return
			}
			target = next.String()
			continue
		case resp.Status >= 200 && resp.Status < 300:
			body := resp.Body
			if len(body) >= robotsMaxBytes {
				// Cut at the size limit: drop a torn last character, so
				// the UTF-8 check below does not discard the whole file.
				for i := 0; i < utf8.UTFMax && len(body) > 0 && !utf8.Valid(body); i++ {
					body = body[:len(body)-1]
				}
			}
			e.data = parseRobots(body)
			m.crawlDelay(e.data, host)
			e.expires = time.Now().Add(m.ttl())
		case resp.Status == 429 || resp.Status >= 500:
			m.log().Warn("robots.txt server error: disallowing the host until retried", "url", target, "status", resp.Status, "retry_in", m.retryTTL())
			e.allowAll, e.expires = false, time.Now().Add(m.retryTTL())
		default:
			e.allowAll, e.expires = true, time.Now().Add(m.ttl())
		}
		return
	}
}

// ttl, retryTTL and maxCrawlDelay give the zero fields their defaults, so
// a RobotsTxt built as a struct literal does not re-fetch robots.txt on
// every request or honour an unbounded Crawl-delay.
func (m *RobotsTxt) ttl() time.Duration { return orDefault(m.TTL, 24*time.Hour) }

func (m *RobotsTxt) retryTTL() time.Duration { return orDefault(m.RetryTTL, 10*time.Minute) }

func (m *RobotsTxt) maxCrawlDelay() time.Duration { return orDefault(m.MaxCrawlDelay, 30*time.Second) }

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func (m *RobotsTxt) fetchAgent() string {
	if m.UserAgent != "" {
		return m.UserAgent
	}
	if m.FallbackAgent != "" {
		return m.FallbackAgent
	}
	return DefaultUserAgent
}

func (m *RobotsTxt) crawlDelay(data *robotsRules, host string) {
	secs, ok := data.crawlDelay(m.fetchAgent())
	if !ok || !(secs > 0) || m.Delays == nil {
		return
	}
	d := m.maxCrawlDelay() + 1 // a value too large for a Duration is over the cap too
	if secs < d.Seconds() {
		d = time.Duration(secs * float64(time.Second))
	}
	if limit := m.maxCrawlDelay(); d > limit {
		m.log().Warn("robots.txt Crawl-delay capped", "host", host, "crawl_delay", d, "cap", limit)
		d = limit
	}
	m.Delays.SetSlotMinDelay(host, d)
}

func (m *RobotsTxt) inc(key string) {
	if m.Stats != nil {
		m.Stats.Inc(key, 1)
	}
}

func (m *RobotsTxt) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}

// robotsRules is a parsed robots.txt with the semantics of Protego, the
// parser Scrapy 2.8 uses by default (ROBOTSTXT_PARSER): its directive
// spellings and typos, its grouping of user agents, its percent-encoding
// normalisation, and "the longest pattern wins, Allow on a tie" matching
// (testdata/reference/robots holds Protego's answers).
type robotsRules struct {
	agents   []*robotsRuleSet // in the order first seen
	byAgent  map[string]*robotsRuleSet
	sitemaps []string
}

type robotsRuleSet struct {
	agent      string // lower case
	rules      []*robotsRule
	crawlDelay float64
	hasDelay   bool
}

type robotsRule struct {
	allow    bool
	pattern  string
	priority int // the pattern's length in characters
	re       *regexp.Regexp
	reOnce   sync.Once
}

var (
	robotsDisallow = map[string]bool{"disallow": true, "dissallow": true, "dissalow": true, "disalow": true, "diasllow": true, "disallaw": true}
	robotsAgent    = map[string]bool{"user-agent": true, "useragent": true, "user agent": true}
	robotsSitemap  = map[string]bool{"sitemap": true, "sitemaps": true, "site-map": true}
	robotsDelay    = map[string]bool{"crawl-delay": true, "crawl delay": true}
	robotsRate     = map[string]bool{"request-rate": true, "request rate": true}
)

func robotsDirective(field string) bool {
	return robotsDisallow[field] || field == "allow" || robotsAgent[field] || robotsSitemap[field] ||
		robotsDelay[field] || robotsRate[field] || field == "host"
}

// parseRobots parses a robots.txt body as Scrapy's ProtegoRobotParser
// does: a body that is not UTF-8 is treated as empty (allow all). Unlike
// Protego, a UTF-8 byte order mark is skipped: there it glues itself to
// the first field ("\ufeffUser-agent"), so a file starting with its
// User-agent line would be ignored and allow everything.
func parseRobots(body []byte) *robotsRules {
	if !utf8.Valid(body) {
		body = nil
	}
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	r := &robotsRules{byAgent: map[string]*robotsRuleSet{}}
	var current []*robotsRuleSet
	previous := ""
	for _, line := range pystr.SplitLines(string(body)) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = pystr.Strip(line)
		if line == "" {
			continue
		}
		var field, value string
		if i := strings.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
		} else {
			// Protego's second chance: "disallow /x" (a lower-case
			// directive, possibly of several words, then a space).
			parts := strings.Split(line, " ")
			if len(parts) < 2 {
				continue
			}
			possible, found := parts[0], false
			for i := 1; i < len(parts); i++ {
				if robotsDirective(possible) {
					field, value, found = possible, strings.Join(parts[i:], " "), true
					break
				}
				possible += " " + parts[i]
			}
			if !found {
				continue
			}
		}
		field = strings.ToLower(pystr.Strip(field))
		value = pystr.Strip(value)
		if value == "" {
			previous = field
			continue
		}
		if len(current) == 0 && !robotsAgent[field] && !robotsSitemap[field] {
			continue // a rule before any User-agent line
		}
		switch {
		case robotsAgent[field]:
			if previous != "" && !robotsAgent[previous] {
				current = nil
			}
			agent := strings.ToLower(value)
			names := []string{agent}
			if agent != "*" && strings.Contains(agent, "*") {
				names = append(names, strings.ReplaceAll(agent, "*", ""))
			}
			for _, name := range names {
				if name == "" {
					continue
				}
				rs := r.byAgent[name]
				if rs == nil {
					rs = &robotsRuleSet{agent: name}
					r.byAgent[name] = rs
					r.agents = append(r.agents, rs)
				}
				if !slices.Contains(current, rs) {
					current = append(current, rs)
				}
			}
		case field == "allow":
			for _, rs := range current {
				rs.add(true, enforcePath(value))
			}
		case robotsDisallow[field]:
			for _, rs := range current {
				rs.add(false, enforcePath(value))
			}
		case robotsSitemap[field]:
			r.sitemaps = append(r.sitemaps, value)
		case robotsDelay[field]:
			if d, ok := robotsFloat(value); ok {
				for _, rs := range current {
					rs.crawlDelay, rs.hasDelay = d, true
				}
			}
		}
		previous = field
	}
	for _, rs := range r.agents {
		// Longest pattern first, Allow before Disallow on a tie, else
		// in file order (Python's stable sort with reverse=True).
		slices.SortStableFunc(rs.rules, func(a, b *robotsRule) int {
			if a.priority != b.priority {
				return b.priority - a.priority
			}
			switch {
			case a.allow == b.allow:
				return 0
			case a.allow:
				return -1
			}
			return 1
		})
	}
	return r
}

func enforcePath(p string) string {
	if strings.HasPrefix(p, "/") {
		return p
	}
	return "/" + p
}

// add is Protego's _RuleSet.allow/disallow: a "$" also counts as a
// literal "%24"; an allowed ".../index.html" allows ".../" exactly too.
func (rs *robotsRuleSet) add(allow bool, pattern string) {
	if strings.Contains(pattern, "$") {
		rs.add(allow, strings.ReplaceAll(pattern, "$", "%24"))
	}
	pattern = quoteRobotsPattern(pattern)
	if pattern == "" {
		return
	}
	rs.rules = append(rs.rules, &robotsRule{allow: allow, pattern: pattern, priority: utf8.RuneCountInString(pattern)})
	if allow && strings.HasSuffix(pattern, "/index.html") {
		rs.add(true, pattern[:len(pattern)-10]+"$")
	}
}

// match is Protego's _URLPattern.match: a prefix match; "$" at the end
// anchors it; "*" matches any run of characters.
func (p *robotsRule) match(u string) bool {
	star := strings.IndexByte(p.pattern, '*')
	if star < 0 {
		if strings.HasSuffix(p.pattern, "$") {
			return u == p.pattern[:len(p.pattern)-1]
		}
		return strings.HasPrefix(u, p.pattern)
	}
	if !strings.HasPrefix(u, p.pattern[:star]) {
		return false
	}
	p.reOnce.Do(func() {
		pat := p.pattern
		for strings.Contains(pat, "**") {
			pat = strings.ReplaceAll(pat, "**", "*")
		}
		end := strings.HasSuffix(pat, "$")
		if end {
			pat = pat[:len(pat)-1]
		}
		var b strings.Builder
		b.WriteString("^")
		for i, part := range strings.Split(pat, "*") {
			if i > 0 {
				b.WriteString(".*?")
			}
			b.WriteString(regexp.QuoteMeta(part))
		}
		if end {
			b.WriteString("$")
		}
		p.re = regexp.MustCompile(b.String())
	})
	return p.re.MatchString(u)
}

// ruleSet is the group that applies to agent: "*" scores 1, a group
// whose name is part of the lower-cased agent scores its length; the
// highest score wins, the first seen on a tie; nil when none applies.
func (r *robotsRules) ruleSet(agent string) *robotsRuleSet {
	agent = strings.ToLower(pystr.Strip(agent))
	var best *robotsRuleSet
	bestScore := 0
	for _, rs := range r.agents {
		score := 0
		switch {
		case rs.agent == "*":
			score = 1
		case strings.Contains(agent, rs.agent):
			score = len(rs.agent)
		}
		if score > bestScore {
			best, bestScore = rs, score
		}
	}
	return best
}

// allowed is Protego's can_fetch(url, agent): the URL's path (its
// percent-encoding normalised), params, query and fragment against the
// applying group's rules; the first (longest) matching rule decides.
func (r *robotsRules) allowed(rawURL, agent string) bool {
	rs := r.ruleSet(agent)
	if rs == nil {
		return true
	}
	u := quoteRobotsPath(rawURL)
	for _, rule := range rs.rules {
		if rule.match(u) {
			return rule.allow
		}
	}
	return true
}

// crawlDelay is the applying group's Crawl-delay in seconds.
func (r *robotsRules) crawlDelay(agent string) (float64, bool) {
	rs := r.ruleSet(agent)
	if rs == nil || !rs.hasDelay {
		return 0, false
	}
	return rs.crawlDelay, true
}

// robotsURL is Python's urlparse result for what robots.txt needs.
type robotsURL struct{ path, params, query, fragment string }

// robotsURLParse is Python 3.11's urllib.parse.urlparse (scheme and netloc
// dropped).
func robotsURLParse(s string) robotsURL {
	s = strings.TrimLeftFunc(s, func(r rune) bool { return r <= ' ' })
	if strings.ContainsAny(s, "\t\r\n") {
		s = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(s)
	}
	if i := strings.IndexByte(s, ':'); i > 0 && robotsIsAlpha(s[0]) {
		ok := true
		for j := 0; j < i; j++ {
			c := s[j]
			if !(robotsIsAlpha(c) || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
				ok = false
				break
			}
		}
		if ok {
			s = s[i+1:]
		}
	}
	if strings.HasPrefix(s, "//") {
		end := len(s)
		if i := strings.IndexAny(s[2:], "/?#"); i >= 0 {
			end = i + 2
		}
		s = s[end:]
	}
	var u robotsURL
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s, u.fragment = s[:i], s[i+1:]
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s, u.query = s[:i], s[i+1:]
	}
	if strings.Contains(s, ";") {
		start := 0
		if strings.Contains(s, "/") {
			start = strings.LastIndexByte(s, '/')
		}
		if i := strings.IndexByte(s[start:], ';'); i >= 0 {
			s, u.params = s[:start+i], s[start+i+1:]
		}
	}
	u.path = s
	return u
}

// unparse is urlunparse with an empty scheme and netloc.
func (u robotsURL) unparse() string {
	s := u.path
	if u.params != "" {
		s += ";" + u.params
	}
	if u.query != "" {
		s += "?" + u.query
	}
	if u.fragment != "" {
		s += "#" + u.fragment
	}
	return s
}

func robotsIsAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// quoteRobotsPath is Protego's _quote_path.
func quoteRobotsPath(rawURL string) string {
	u := robotsURLParse(rawURL)
	u.path = robotsQuote(robotsUnquote(u.path, "/%"), "/%")
	if s := u.unparse(); s != "" {
		return s
	}
	return "/"
}

// quoteRobotsPattern is Protego's _quote_pattern.
func quoteRobotsPattern(p string) string {
	last := ""
	if c := p[len(p)-1]; c == '?' || c == ';' || c == '$' {
		last, p = p[len(p)-1:], p[:len(p)-1]
	}
	u := robotsURLParse(p)
	u.path = robotsQuote(robotsUnquote(u.path, "/*$%"), "/*%") + last
	return u.unparse()
}

// robotsUnquote is Protego's _unquote: %xy escapes are decoded (an escape
// of a character in ignore is kept, upper-cased), invalid UTF-8 becomes
// U+FFFD.
func robotsUnquote(s, ignore string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	parts := strings.Split(s, "%")
	b.WriteString(parts[0])
	for _, part := range parts[1:] {
		if len(part) >= 2 && robotsIsHex(part[0]) && robotsIsHex(part[1]) {
			hex := strings.ToUpper(part[:2])
			v, _ := strconv.ParseUint(hex, 16, 8)
			if !strings.ContainsRune(ignore, rune(v)) {
				b.WriteByte(byte(v))
				b.WriteString(part[2:])
				continue
			}
			part = hex + part[2:]
		}
		b.WriteByte('%')
		b.WriteString(part)
	}
	return robotsDecodeReplace(b.String())
}

// robotsDecodeReplace is bytes.decode("utf-8", "replace").
func robotsDecodeReplace(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b.WriteRune(utf8.RuneError)
			// a truncated multi-byte sequence is one replacement, as
			// in Python
			i += 1 + robotsTruncated(s[i:])
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}

// robotsTruncated counts the continuation bytes after a lead byte
// that begin a valid but incomplete sequence.
func robotsTruncated(s string) int {
	c := s[0]
	want := 0
	switch {
	case c >= 0xc2 && c <= 0xdf:
		want = 1
	case c >= 0xe0 && c <= 0xef:
		want = 2
	case c >= 0xf0 && c <= 0xf4:
		want = 3
	}
	n := 0
	for n < want && 1+n < len(s) && s[1+n]&0xc0 == 0x80 {
		if n == 0 {
			second := s[1]
			if c == 0xe0 && second < 0xa0 || c == 0xed && second > 0x9f || c == 0xf0 && second < 0x90 || c == 0xf4 && second > 0x8f {
				break
			}
		}
		n++
	}
	if n >= want {
		return 0
	}
	return n
}

func robotsIsHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// robotsQuote is Python's urllib.parse.quote(s, safe): UTF-8 bytes other than
// letters, digits, "_.-~" and safe are percent-encoded.
func robotsQuote(s, safe string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if robotsIsAlpha(c) || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-' || c == '~' || (c < 0x80 && strings.IndexByte(safe, c) >= 0) {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// robotsFloat is Python's float(s) for a stripped string: decimal, with
// exponent, inf/nan, single underscores between digits; no hex.
func robotsFloat(s string) (float64, bool) {
	if strings.ContainsAny(s, "xXpP") && !strings.EqualFold(strings.TrimLeft(s, "+-"), "infinity") {
		return 0, false
	}
	if strings.Contains(s, "_") {
		for i := 0; i < len(s); i++ {
			if s[i] == '_' && (i == 0 || i == len(s)-1 || !robotsIsDigit(s[i-1]) || !robotsIsDigit(s[i+1])) {
				return 0, false
			}
		}
		s = strings.ReplaceAll(s, "_", "")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, true // Python gives inf (or 0) too
		}
		return 0, false
	}
	return f, true
}

func robotsIsDigit(c byte) bool { return c >= '0' && c <= '9' }
