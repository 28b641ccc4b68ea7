// Package browser passes JavaScript challenges with a real headless
// Chromium, as the identity that was blocked, so that the crawl can go on
// over plain HTTP with the cookies the challenge gave (issue #18, the
// browser hand-off; specs/sessions.md "Browser hand-off").
//
// It drives the machine's Chromium through the DevTools protocol with
// github.com/chromedp/chromedp (v0.23, the generic Action[T] API). chromedp
// rather than go-rod or the project's own CDP client
// (internal/livebrowser): it starts and stops the process itself (one
// process group, Pdeathsig, leftovers of its profile directory killed), so
// a crashed or timed-out solve leaks no process, and it already has the
// typed Network/Storage commands the hand-off needs; rod's default device
// emulation would replace the User-Agent the identity has to keep.
//
// One Solve is one browser: its own fresh profile, started with the
// identity's proxy and User-Agent, closed as soon as the challenge has
// cleared. A browser cannot switch proxies, and a profile shared by two
// identities would mix their cookies; start-up (about a second) is cheap
// next to a challenge that gives a clearance for many pages. At most Max
// browsers run at once; more Solve calls wait for a slot.
package browser

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"golang.org/x/net/http/httpguts"
)

// ErrNoChromium is the cause of New's error when no Chromium is installed.
var ErrNoChromium = errors.New("no Chromium installed")

// ErrClosed is returned by Solve after Close.
var ErrClosed = errors.New("browser pool closed")

// Defaults of Config (BROWSER_MAX, BROWSER_TIMEOUT).
const (
	DefaultMax     = 2
	DefaultTimeout = 30 * time.Second
)

// Config configures a Pool.
type Config struct {
	// Path is the Chromium binary (BROWSER_PATH): a path, or a name looked
	// up on PATH. "" tries chromium, then chromium-browser.
	Path string
	// Max is how many browsers may run at once (BROWSER_MAX; 0 =
	// DefaultMax).
	Max int
	// Timeout bounds one Solve from the browser's start to its last
	// cookie (BROWSER_TIMEOUT; 0 = DefaultTimeout).
	Timeout time.Duration
	// IgnoreCertErrors accepts any server certificate (TLS_VERIFY: false,
	// as the HTTP client does).
	IgnoreCertErrors bool
	// Args are extra Chromium flags ("--name=value" or "--name").
	Args []string
}

// Identity is who the browser must be: the session member that was
// blocked.
type Identity struct {
	// Browser and Version are the family and major version of the
	// identity's impersonation profile ("chrome", "148"); empty = the
	// identity has no profile and the browser is used as it is.
	Browser, Version string
	// ProfileName names the profile in errors ("chrome_148").
	ProfileName string
	// UserAgent replaces the browser's own (the profile's, so that the
	// clearance, often bound to it, holds for the HTTP client).
	UserAgent string
	// ClientHints is the profile's sec-ch-ua value, for the same brands
	// in the browser's client hints.
	ClientHints string
	// Proxy is the identity's proxy URL ("" = none).
	Proxy string
	// Cookies are the identity's cookies for the URL, set in the browser
	// before it navigates.
	Cookies []*http.Cookie
}

// Wait says when a challenge has cleared. With neither field set, it has
// cleared when the site has set a cookie the identity did not have.
type Wait struct {
	// Cookie is the name of the clearance cookie ("cf_clearance").
	Cookie string
	// JS is an expression that is true once the page is the content.
	// Without Cookie it decides alone (no cookie needed); with Cookie
	// both must hold.
	JS string
	// Extract, when set, is an expression evaluated once the challenge
	// has cleared, giving an object of strings: tokens the page holds
	// (a CSRF or API token) that the identity must send as headers
	// (BROWSER_EXTRACT_JS). Its names must be header names.
	Extract string
}

// describe names what w waits for, for errors.
func (w Wait) describe() string {
	what := "a cookie the identity did not have"
	if w.Cookie != "" {
		what = "cookie " + w.Cookie
	}
	if w.JS != "" {
		what += " and " + w.JS
	}
	return what
}

// Solution is what a solved challenge gives.
type Solution struct {
	// Cookies are every cookie the browser holds for the URL and the
	// page it ended on, HttpOnly ones included.
	Cookies []*http.Cookie
	// URL is the page the browser ended on.
	URL string
	// Took is the time from the browser's start to the last cookie.
	Took time.Duration
	// Tokens are what Wait.Extract gave, by header name.
	Tokens map[string]string
}

// Pool runs at most Max browsers at a time.
type Pool struct {
	cfg     Config
	bin     string
	version string // major
	slots   chan struct{}
	running atomic.Int64

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	done   chan struct{}
}

// New finds Chromium and its version. No Chromium is an error that says
// how to install it.
func New(cfg Config) (*Pool, error) {
	if cfg.Max <= 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	bin, err := findChromium(cfg.Path)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	version, err := chromiumVersion(ctx, bin)
	if err != nil {
		return nil, err
	}
	return &Pool{cfg: cfg, bin: bin, version: version, slots: make(chan struct{}, cfg.Max), done: make(chan struct{})}, nil
}

func findChromium(path string) (string, error) {
	names := []string{"chromium", "chromium-browser"}
	if path != "" {
		names = []string{path}
	}
	for _, n := range names {
		if bin, err := exec.LookPath(n); err == nil {
			return bin, nil
		}
	}
	return "", fmt.Errorf("browser hand-off: %w (looked for %s): install it with `apt-get install chromium`, or set BROWSER_PATH to its binary", ErrNoChromium, strings.Join(names, ", "))
}

var reMajor = regexp.MustCompile(`Chrom(?:e|ium) (\d+)\.`)

// chromiumVersion is the major version `chromium --version` prints
// (Debian's wrapper may print shell noise first).
func chromiumVersion(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").CombinedOutput()
	m := reMajor.FindSubmatch(out)
	if m == nil {
		return "", fmt.Errorf("browser hand-off: %s --version: no Chromium version in %q (%v)", bin, strings.TrimSpace(string(out)), err)
	}
	return string(m[1]), nil
}

// Version is the browser's major version ("148").
func (p *Pool) Version() string { return p.version }

// Path is the browser binary.
func (p *Pool) Path() string { return p.bin }

// Running is the number of browsers started and not yet stopped.
func (p *Pool) Running() int { return int(p.running.Load()) }

// Check refuses an identity the browser cannot be: a profile of another
// family (a clearance solved by Chromium is bound to Chromium's TLS and
// User-Agent, which a firefox identity does not send) or another major
// version (its User-Agent and TLS would differ from the browser's).
func (p *Pool) Check(id Identity) error {
	if id.Browser == "" {
		return nil
	}
	name := id.ProfileName
	if name == "" {
		name = id.Browser + "_" + id.Version
	}
	if id.Browser != "chrome" {
		return fmt.Errorf("browser hand-off: the identity's profile %s is %s, but the browser is Chromium %s: a challenge it solves would be bound to a fingerprint the identity does not send (give the identity a chrome_%s profile)", name, id.Browser, p.version, p.version)
	}
	if id.Version != p.version {
		return fmt.Errorf("browser hand-off: the identity's profile %s is Chrome %s, but the browser is Chromium %s (%s): the User-Agent and TLS would not match (give the identity a chrome_%s profile, or install Chromium %s)", name, id.Version, p.version, p.bin, p.version, id.Version)
	}
	return nil
}

// Close waits for running solves and refuses new ones.
func (p *Pool) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
	p.wg.Wait()
	return nil
}

func (p *Pool) acquire(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return ErrClosed
	}
	p.wg.Add(1)
	p.mu.Unlock()
	select {
	case p.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		p.wg.Done()
		return ctx.Err()
	case <-p.done:
		p.wg.Done()
		return ErrClosed
	}
}

func (p *Pool) release() {
	<-p.slots
	p.wg.Done()
}

// googleHosts are the hosts Chromium's background services call even with
// --disable-background-networking (measured: update and account checks).
// With a proxy they would go through the identity's proxy; they bypass it
// instead and resolve to nothing (--host-resolver-rules), so the proxy
// carries only the site's traffic and Google sees no request at all.
var googleHosts = []string{"google.com", "googleapis.com", "gstatic.com", "gvt1.com", "gvt2.com", "googleusercontent.com", "doubleclick.net"}

// args are the flags of one browser.
func (p *Pool) args(id Identity) ([]chromedp.ExecAllocatorOption, error) {
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(p.bin),
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Headless,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-breakpad", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "OptimizationHints,MediaRouter,Translate,DnsOverHttps"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		// navigator.webdriver is true under automation unless both: a
		// challenge script reads it first.
		chromedp.Flag("enable-automation", false),
		chromedp.Flag("disable-blink-features", "AutomationControlled"),
		chromedp.Flag("lang", "en-US"),
		chromedp.Env("LANG=en_US.UTF-8", "LANGUAGE=en_US"),
	}
	if p.cfg.IgnoreCertErrors {
		opts = append(opts, chromedp.IgnoreCertErrors)
	}
	if id.UserAgent != "" {
		opts = append(opts, chromedp.UserAgent(id.UserAgent))
	}
	var bypass, rules []string
	for _, h := range googleHosts {
		bypass = append(bypass, h, "*."+h)
		rules = append(rules, "MAP "+h+" ~NOTFOUND", "MAP *."+h+" ~NOTFOUND")
	}
	opts = append(opts, chromedp.Flag("host-resolver-rules", strings.Join(rules, ", ")))
	if id.Proxy != "" {
		server, err := proxyServer(id.Proxy)
		if err != nil {
			return nil, err
		}
		// <-loopback>: Chromium sends loopback targets direct, past any
		// proxy, unless told not to.
		opts = append(opts, chromedp.ProxyServer(server), chromedp.Flag("proxy-bypass-list", strings.Join(append(bypass, "<-loopback>"), ";")))
	}
	for _, a := range p.cfg.Args {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if hasValue {
			opts = append(opts, chromedp.Flag(name, value))
		} else {
			opts = append(opts, chromedp.Flag(name, true))
		}
	}
	return opts, nil
}

// proxyAuthTries bounds the proxy challenges answered in one browser: a
// proxy that refuses the credentials makes Chromium ask again, and the
// answer is then to cancel (the page fails to load) rather than loop.
const proxyAuthTries = 8

// proxyAuth answers the browser's proxy authentication challenges with the
// credentials of proxy's URL (Chromium takes none in --proxy-server),
// through the DevTools Fetch domain: with it enabled every request pauses
// until continued, so the paused ones are continued unchanged. A server's
// own challenge (401) gets the browser's default answer. Nothing happens
// for a proxy without credentials.
func proxyAuth(ctx context.Context, proxy string) error {
	u, err := url.Parse(proxy)
	if proxy == "" || err != nil || u.User == nil {
		return nil
	}
	user := u.User.Username()
	pass, _ := u.User.Password()
	// Subscribed before Fetch.enable: no event is missed.
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	auths := chromedp.Events(ctx, fetch.AuthRequired)
	go func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
		}
	}()
	go func() {
		tries := 0
		for ev, err := range auths {
			if err != nil {
				return
			}
			answer := &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseDefault}
			if ev.AuthChallenge != nil && ev.AuthChallenge.Source == fetch.AuthChallengeSourceProxy {
				tries++
				answer = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseProvideCredentials, Username: user, Password: pass}
				if tries > proxyAuthTries {
					answer = &fetch.AuthChallengeResponse{Response: fetch.AuthChallengeResponseResponseCancelAuth}
				}
			}
			_, _ = chromedp.Call(ctx, fetch.ContinueWithAuth, fetch.ContinueWithAuthParams{RequestID: ev.RequestID, AuthChallengeResponse: answer})
		}
	}()
	yes := true
	if _, err := chromedp.Call(ctx, fetch.Enable, fetch.EnableParams{HandleAuthRequests: &yes}); err != nil {
		return fmt.Errorf("proxy %s: answering its authentication: %w", u.Redacted(), err)
	}
	return nil
}

// proxyServer checks a proxy URL and turns it into --proxy-server's form.
func proxyServer(proxy string) (string, error) {
	u, err := url.Parse(proxy)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("browser hand-off: proxy %q is not a URL", proxy)
	}
	if u.User != nil && u.Scheme != "http" && u.Scheme != "https" {
		// Chromium authenticates to HTTP proxies only (answered over CDP:
		// proxyAuth); it has no SOCKS authentication.
		return "", fmt.Errorf("browser hand-off: proxy %s has credentials, which Chromium can use with an http or https proxy only", u.Redacted())
	}
	switch u.Scheme {
	case "http", "https", "socks4", "socks5":
	case "socks5h":
		u.Scheme = "socks5" // Chromium's socks5 resolves through the proxy
	default:
		return "", fmt.Errorf("browser hand-off: proxy %s: scheme %q is not http, https or socks", u.Redacted(), u.Scheme)
	}
	return u.Scheme + "://" + u.Host, nil
}

// Solve opens rawURL in a new browser as id, waits until the challenge has
// cleared (w) and returns the cookies the browser then holds for the site.
func (p *Pool) Solve(ctx context.Context, rawURL string, id Identity, w Wait) (*Solution, error) {
	var sol *Solution
	started := time.Now()
	err := p.run(ctx, rawURL, id, func(ctx context.Context, u *url.URL) error {
		var err error
		sol, err = p.solve(ctx, u, id, w)
		return err
	})
	if err != nil {
		return nil, err
	}
	sol.Took = time.Since(started)
	return sol, nil
}

// run starts a browser for id, runs f in it and stops it, all within the
// pool's timeout and one of its slots.
func (p *Pool) run(ctx context.Context, rawURL string, id Identity, f func(ctx context.Context, u *url.URL) error) error {
	if err := p.Check(id); err != nil {
		return err
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("browser: %q is not an http(s) URL", rawURL)
	}
	opts, err := p.args(id)
	if err != nil {
		return err
	}
	if err := p.acquire(ctx); err != nil {
		return fmt.Errorf("browser %s: waiting for a browser: %w", rawURL, err)
	}
	defer p.release()

	// The whole browser lives under the timeout: at the deadline chromedp
	// kills it, whatever it was doing.
	tctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(tctx, opts...)
	defer cancelAlloc() // waits for the process to exit
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	p.running.Add(1)
	defer p.running.Add(-1)
	defer func() {
		// A graceful close first (the profile is flushed), bounded.
		cctx, ccancel := context.WithTimeout(bctx, 5*time.Second)
		_ = chromedp.Cancel(cctx)
		ccancel()
	}()

	if err := proxyAuth(bctx, id.Proxy); err != nil {
		return fmt.Errorf("browser %s: %w", rawURL, err)
	}
	if err := f(bctx, u); err != nil {
		if tctx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w (BROWSER_TIMEOUT %s)", err, p.cfg.Timeout)
		}
		return fmt.Errorf("browser %s: %w", rawURL, err)
	}
	return nil
}

// setup gives the browser the identity's User-Agent, client hints and
// cookies (their names go into initial) before it navigates.
func (p *Pool) setup(ctx context.Context, u *url.URL, id Identity, initial map[string]bool) error {
	return chromedp.Do(ctx,
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if id.UserAgent == "" {
				return nil
			}
			params := emulation.SetUserAgentOverrideParams{UserAgent: id.UserAgent, AcceptLanguage: "en-US,en"}
			if md := clientHints(id.ClientHints); md != nil {
				params.UserAgentMetadata = md
			}
			_, err := cdp.Call(ctx, t, emulation.SetUserAgentOverride, params)
			return err
		}),
		chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			if len(id.Cookies) == 0 {
				return nil
			}
			var cs []*network.CookieParam
			for _, c := range id.Cookies {
				if initial != nil {
					initial[c.Name] = true
				}
				cs = append(cs, &network.CookieParam{Name: c.Name, Value: c.Value, URL: u.String(), Path: "/", HTTPOnly: c.HttpOnly, Secure: c.Secure})
			}
			_, err := cdp.Call(ctx, t, network.SetCookies, network.SetCookiesParams{Cookies: cs})
			return err
		}),
	)
}

func (p *Pool) solve(ctx context.Context, u *url.URL, id Identity, w Wait) (*Solution, error) {
	initial := map[string]bool{}
	// Whatever the phase a timeout or a crash hits (a loaded machine can
	// spend the whole BROWSER_TIMEOUT starting the browser), the error
	// says what the challenge was waiting for.
	if err := p.setup(ctx, u, id, initial); err != nil {
		return nil, fmt.Errorf("starting the browser (to wait for %s): %w", w.describe(), err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(u.String())); err != nil {
		return nil, fmt.Errorf("loading the page (to wait for %s): %w", w.describe(), err)
	}
	for {
		cookies, err := chromedp.Run(ctx, siteCookies(u))
		if err != nil {
			return nil, fmt.Errorf("reading cookies (waiting for %s): %w", w.describe(), err)
		}
		// A predicate without a named cookie decides alone: a challenge
		// may clear without a cookie (the page loads, a token appears,
		// the site lets the IP through); otherwise a cookie the identity
		// did not have is the sign.
		ok := (w.Cookie == "" && w.JS != "") || cleared(cookies, initial, w.Cookie)
		if ok && w.JS != "" {
			v, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+w.JS+")"))
			if err != nil && !isTransientEval(err) {
				return nil, fmt.Errorf("wait predicate %q: %w", w.JS, err)
			}
			ok = v
		}
		if ok {
			final, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href"))
			if final != "" && final != u.String() {
				if fu, err := url.Parse(final); err == nil {
					cookies, _ = chromedp.Run(ctx, siteCookies(u, fu))
				}
			}
			sol := &Solution{Cookies: toHTTP(cookies), URL: final}
			if w.Extract != "" {
				tokens, err := extract(ctx, w.Extract)
				if err != nil {
					return nil, fmt.Errorf("extract %q: want an object of strings: %w", w.Extract, err)
				}
				for name, value := range tokens {
					if !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) {
						return nil, fmt.Errorf("extract %q: %q is not a header (name: value)", w.Extract, name+": "+value)
					}
				}
				sol.Tokens = tokens
			}
			return sol, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("challenge not cleared (waited for %s): %w", w.describe(), ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// extract evaluates BROWSER_EXTRACT_JS on the cleared page. A challenge
// that sets its cookie and then reloads is cleared while its own page is
// still showing or already navigating: an expression that throws (the
// element it reads is not there yet) or meets the navigation is
// evaluated again until it answers or BROWSER_TIMEOUT ends, which then
// reports the last exception. An answer of the wrong shape fails at once.
func extract(ctx context.Context, expr string) (map[string]string, error) {
	var last error // the last exception or navigation
	for {
		tokens, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string]("("+expr+")"))
		if last != nil && ctx.Err() != nil {
			// The timeout ended during a try: the exception before it
			// says why.
			return nil, fmt.Errorf("%w (still failing when the browser timeout ended)", last)
		}
		var exc *chromedp.ExceptionError
		if err == nil || !(errors.As(err, &exc) || isTransientEval(err)) {
			return tokens, err
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (still failing when the browser timeout ended)", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// isTransientEval: the page navigated (the challenge reloads it) while the
// predicate ran.
func isTransientEval(err error) bool {
	s := err.Error()
	// The page navigating (a challenge reloading itself) while the
	// predicate runs: Chromium answers "Execution context was destroyed",
	// "Cannot find context" or, CDP -32000, "Inspected target navigated
	// or closed" (seen in CI). The loop asks again; BROWSER_TIMEOUT bounds
	// it if the target really went away.
	return strings.Contains(s, "context") && (strings.Contains(s, "destroyed") || strings.Contains(s, "not find")) ||
		strings.Contains(s, "Inspected target navigated or closed")
}

// siteCookies reads the browser's cookies for the pages, HttpOnly ones
// included (Network.getCookies sees what document.cookie does not).
func siteCookies(pages ...*url.URL) chromedp.Action[[]*network.Cookie] {
	return func(ctx context.Context, t *chromedp.Target) ([]*network.Cookie, error) {
		var urls []string
		for _, u := range pages {
			urls = append(urls, u.String())
		}
		r, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: urls})
		if err != nil {
			return nil, err
		}
		return r.Cookies, nil
	}
}

func cleared(cookies []*network.Cookie, initial map[string]bool, name string) bool {
	for _, c := range cookies {
		if name != "" && c.Name == name {
			return true
		}
		if name == "" && !initial[c.Name] {
			return true
		}
	}
	return false
}

func toHTTP(cs []*network.Cookie) []*http.Cookie {
	out := make([]*http.Cookie, 0, len(cs))
	for _, c := range cs {
		hc := &http.Cookie{Name: c.Name, Value: c.Value, Path: c.Path, Secure: c.Secure, HttpOnly: c.HTTPOnly}
		// A host-only cookie has no leading dot in CDP; a Domain attribute
		// would widen it to subdomains in the identity's jar.
		if strings.HasPrefix(c.Domain, ".") {
			hc.Domain = c.Domain
		}
		if !c.Session && c.Expires > 0 {
			hc.Expires = time.Unix(int64(c.Expires), 0)
		}
		switch c.SameSite {
		case network.CookieSameSiteStrict:
			hc.SameSite = http.SameSiteStrictMode
		case network.CookieSameSiteLax:
			hc.SameSite = http.SameSiteLaxMode
		case network.CookieSameSiteNone:
			hc.SameSite = http.SameSiteNoneMode
		}
		out = append(out, hc)
	}
	return out
}

var reBrand = regexp.MustCompile(`"([^"]+)";v="([^"]+)"`)

// clientHints turns a sec-ch-ua value into the metadata Chromium sends as
// its client hints (the same brands as the profile's HTTP requests).
func clientHints(secCHUA string) *emulation.UserAgentMetadata {
	ms := reBrand.FindAllStringSubmatch(secCHUA, -1)
	if len(ms) == 0 {
		return nil
	}
	md := &emulation.UserAgentMetadata{Platform: "Linux", Architecture: "x86", Bitness: "64"}
	for _, m := range ms {
		md.Brands = append(md.Brands, &emulation.UserAgentBrandVersion{Brand: m[1], Version: m[2]})
		md.FullVersionList = append(md.FullVersionList, &emulation.UserAgentBrandVersion{Brand: m[1], Version: m[2]})
	}
	return md
}

// Major is the major version in a version string ("148.0.7778.167" →
// "148"); "" when it has none.
func Major(v string) string {
	head, _, _ := strings.Cut(v, ".")
	if _, err := strconv.Atoi(head); err != nil {
		return ""
	}
	return head
}
