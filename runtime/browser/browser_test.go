package browser_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/internal/testenv"
	"github.com/spiderrun/spiderrun/runtime/browser"
	"github.com/spiderrun/spiderrun/runtime/browser/challengesite"
)

// newPool starts a pool on the machine's Chromium; no Chromium fails the
// test under CI (.ci/run installs it) and skips it elsewhere.
func newPool(t *testing.T, max int) *browser.Pool {
	t.Helper()
	testenv.Tool(t, "chromium", "apt-get install chromium")
	p, err := browser.New(browser.Config{Max: max, Timeout: 60 * time.Second, IgnoreCertErrors: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func startSite(t *testing.T) *challengesite.Site {
	t.Helper()
	ca, err := livebrowser.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	s, err := challengesite.Start(ca.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// chromeUA is the User-Agent Chrome of the browser's version sends with a
// window (headless Chromium's own says HeadlessChrome).
func chromeUA(v string) string {
	return "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + v + ".0.0.0 Safari/537.36"
}

// TestSolvePassesChallenge: real Chromium runs the protected site's
// challenge as the identity (its User-Agent, not HeadlessChrome;
// navigator.webdriver false, or the site refuses) and Solve returns the
// HttpOnly clearance cookie the site set; the site saw the verification
// from that User-Agent; no browser process is left.
func TestSolvePassesChallenge(t *testing.T) {
	p := newPool(t, 1)
	site := startSite(t)
	ua := chromeUA(p.Version())
	id := browser.Identity{Browser: "chrome", Version: p.Version(), UserAgent: ua,
		ClientHints: `"Chromium";v="` + p.Version() + `", "Not:A-Brand";v="24"`}
	sol, err := p.Solve(context.Background(), site.URL+"/page/1", id, browser.Wait{Cookie: "cf_clearance", JS: `document.title.startsWith("content")`})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("solved in %s, ended on %s", sol.Took, sol.URL)
	var clearance bool
	for _, c := range sol.Cookies {
		if c.Name == "cf_clearance" {
			clearance = c.HttpOnly && c.Value != ""
		}
	}
	if !clearance {
		t.Errorf("no HttpOnly cf_clearance among %v", sol.Cookies)
	}
	_, cleared, served, _ := site.Counts()
	var byUA int
	for who, n := range cleared {
		if strings.HasPrefix(who, ua+"|t13d") {
			byUA += n
		} else {
			t.Errorf("cleared for %q: want the identity's User-Agent", who)
		}
	}
	if byUA != 1 {
		t.Errorf("site cleared %v, want one verification as %q", cleared, ua)
	}
	if len(served) != 1 {
		t.Errorf("content served %v: want the page after the reload, to the same client", served)
	}
	if n := site.WebdriverSeen(); n != 0 {
		t.Errorf("the page saw navigator.webdriver true %d times", n)
	}
	if n := len(proctest.ChromiumPIDs(t)); n != 0 {
		t.Errorf("%d browser processes left after Solve", n)
	}
}

// TestPoolBounded: six solves at once on a pool of two never run more
// than two browsers (counted as processes, from /proc), every solve
// succeeds, and none is left after.
func TestPoolBounded(t *testing.T) {
	p := newPool(t, 2)
	site := startSite(t)
	id := browser.Identity{Browser: "chrome", Version: p.Version(), UserAgent: chromeUA(p.Version())}
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if n := int64(len(proctest.ChromiumBrowsers(t))); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Solve(context.Background(), site.URL+"/page/"+strconv.Itoa(i), id, browser.Wait{Cookie: "cf_clearance"})
			errs <- err
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := peak.Load(); got < 1 || got > 2 {
		t.Errorf("at most %d browsers ran at once, want 1..2", got)
	}
	_, cleared, _, _ := site.Counts()
	total := 0
	for _, n := range cleared {
		total += n
	}
	if total != 6 {
		t.Errorf("%d challenges cleared, want 6", total)
	}
	if n := len(proctest.ChromiumPIDs(t)); n != 0 {
		t.Errorf("%d browser processes left", n)
	}
}

// TestTimeoutKillsBrowser: a page that never clears ends at the
// timeout with an error naming it, and its browser is gone.
func TestTimeoutKillsBrowser(t *testing.T) {
	testenv.Tool(t, "chromium", "apt-get install chromium")
	p, err := browser.New(browser.Config{Max: 1, Timeout: 4 * time.Second, IgnoreCertErrors: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	site := startSite(t)
	_, err = p.Solve(context.Background(), site.URL+"/", browser.Identity{}, browser.Wait{Cookie: "never_set"})
	if err == nil || !strings.Contains(err.Error(), "BROWSER_TIMEOUT 4s") || !strings.Contains(err.Error(), "never_set") {
		t.Errorf("want a timeout error naming BROWSER_TIMEOUT and the cookie, got %v", err)
	}
	if n := len(proctest.ChromiumPIDs(t)); n != 0 {
		t.Errorf("%d browser processes left after the timeout", n)
	}
}

// TestNoChromium: a Chromium that is not there is an error that says how
// to install it.
func TestNoChromium(t *testing.T) {
	for _, path := range []string{filepath.Join(t.TempDir(), "chromium"), "no-such-chromium"} {
		_, err := browser.New(browser.Config{Path: path})
		if !errors.Is(err, browser.ErrNoChromium) || !strings.Contains(err.Error(), "apt-get install chromium") {
			t.Errorf("Path %q: %v, want ErrNoChromium saying apt-get install chromium", path, err)
		}
	}
}

// TestRefusesOtherBrowsers: an identity whose profile is not the
// browser's family and version is refused before any browser starts.
func TestRefusesOtherBrowsers(t *testing.T) {
	p := newPool(t, 1)
	for _, c := range []struct {
		id   browser.Identity
		want string
	}{
		{browser.Identity{Browser: "firefox", Version: "120", ProfileName: "firefox_120"}, "profile firefox_120 is firefox, but the browser is Chromium " + p.Version()},
		{browser.Identity{Browser: "chrome", Version: "99", ProfileName: "chrome_99"}, "profile chrome_99 is Chrome 99, but the browser is Chromium " + p.Version()},
	} {
		_, err := p.Solve(context.Background(), "https://localhost:1/", c.id, browser.Wait{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.id.ProfileName, err, c.want)
		}
	}
	if p.Running() != 0 {
		t.Errorf("a browser was started for a refused identity")
	}
}

// connectProxy is an HTTP proxy on loopback that tunnels CONNECT and
// records the targets.
type connectProxy struct {
	addr string
	// auth, when set, is the "user:password" the proxy requires
	// (Proxy-Authorization: Basic); refused counts the CONNECTs without it.
	auth    string
	mu      sync.Mutex
	targets []string
	refused int
}

func startProxy(t *testing.T) *connectProxy { return startAuthProxy(t, "") }

// startAuthProxy is startProxy requiring the credentials auth ("" = none).
func startAuthProxy(t *testing.T, auth string) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{addr: ln.Addr().String(), auth: auth}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.auth != "" && r.Header.Get("Proxy-Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte(p.auth)) {
			p.mu.Lock()
			p.refused++
			p.mu.Unlock()
			w.Header().Set("Proxy-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		p.mu.Lock()
		p.targets = append(p.targets, r.Host)
		p.mu.Unlock()
		if r.Method != http.MethodConnect {
			http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			up.Close()
			return
		}
		go func() { io.Copy(up, down); up.Close() }()
		io.Copy(down, up)
		down.Close()
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

func (p *connectProxy) seen() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.targets)
}

// TestSolveThroughIdentityProxy: the browser reaches a loopback site
// through the identity's proxy (Chromium sends loopback targets direct
// unless told otherwise), and the proxy carries nothing but the site's
// traffic.
func TestSolveThroughIdentityProxy(t *testing.T) {
	p := newPool(t, 1)
	site := startSite(t)
	proxy := startProxy(t)
	id := browser.Identity{Browser: "chrome", Version: p.Version(), UserAgent: chromeUA(p.Version()), Proxy: "http://" + proxy.addr}
	if _, err := p.Solve(context.Background(), site.URL+"/", id, browser.Wait{Cookie: "cf_clearance"}); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(site.URL, "https://")
	seen := proxy.seen()
	if !slices.Contains(seen, host) {
		t.Errorf("proxy saw %v: the site %s was not reached through it", seen, host)
	}
	for _, h := range seen {
		if h != host {
			t.Errorf("the identity's proxy carried %s, which is not the site", h)
		}
	}
}

// TestSolveThroughAuthenticatingProxy: an identity's proxy that requires
// credentials (user:password in its URL, which Chromium's --proxy-server
// cannot take) is answered over DevTools: the challenge is solved through
// it, and the proxy first refused the browser (a real 407 round) and then
// let it through. Wrong credentials fail the hand-off within
// BROWSER_TIMEOUT, naming the site, instead of looping on the 407s.
func TestSolveThroughAuthenticatingProxy(t *testing.T) {
	p := newPool(t, 1)
	site := startSite(t)
	proxy := startAuthProxy(t, "alice:s3cret")
	id := browser.Identity{Browser: "chrome", Version: p.Version(), UserAgent: chromeUA(p.Version()), Proxy: "http://alice:s3cret@" + proxy.addr}
	if _, err := p.Solve(context.Background(), site.URL+"/", id, browser.Wait{Cookie: "cf_clearance"}); err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(site.URL, "https://")
	proxy.mu.Lock()
	refused := proxy.refused
	proxy.mu.Unlock()
	if !slices.Contains(proxy.seen(), host) || refused == 0 {
		t.Errorf("proxy let through %v after refusing %d CONNECTs: want the site reached after a 407", proxy.seen(), refused)
	}

	bad := startAuthProxy(t, "alice:s3cret")
	id.Proxy = "http://alice:wrong@" + bad.addr
	started := time.Now()
	_, err := p.Solve(context.Background(), site.URL+"/", id, browser.Wait{Cookie: "cf_clearance"})
	if err == nil || !strings.Contains(err.Error(), site.URL) {
		t.Errorf("wrong proxy credentials: %v, want an error naming %s", err, site.URL)
	}
	if strings.Contains(fmt.Sprint(err), "wrong") {
		t.Errorf("the error shows the proxy password: %v", err)
	}
	if len(bad.seen()) != 0 {
		t.Errorf("the proxy let through %v with wrong credentials", bad.seen())
	}
	t.Logf("wrong credentials: %v after %s", err, time.Since(started).Round(time.Millisecond))
}

// TestRender: a page whose content its script writes after a delay comes
// back rendered once wait_for matches, with the status and headers of the
// document, as the identity's User-Agent.
func TestRender(t *testing.T) {
	p := newPool(t, 1)
	var gotUA atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotUA.Store(r.UserAgent())
		w.Header().Set("X-Origin", "render-test")
		w.WriteHeader(203)
		io.WriteString(w, `<html><body><div id=app>loading</div><script>
setTimeout(() => { document.getElementById("app").innerHTML = '<p class="late">rendered by script</p>'; }, 300);
</script></body></html>`)
	}))
	defer srv.Close()
	ua := chromeUA(p.Version())
	r, err := p.Render(context.Background(), srv.URL+"/app", browser.Identity{Browser: "chrome", Version: p.Version(), UserAgent: ua}, "p.late", "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.HTML, `<p class="late">rendered by script</p>`) || r.Status != 203 || r.URL != srv.URL+"/app" {
		t.Errorf("rendered %d %s:\n%s", r.Status, r.URL, r.HTML)
	}
	if !slices.ContainsFunc(r.Headers, func(h crawl.Header) bool { return h.Name == "X-Origin" && h.Value == "render-test" }) {
		t.Errorf("headers %v", r.Headers)
	}
	if got := gotUA.Load(); got != ua {
		t.Errorf("the server saw User-Agent %v, want %s", got, ua)
	}
	if n := len(proctest.ChromiumPIDs(t)); n != 0 {
		t.Errorf("%d browser processes left", n)
	}
}

// TestSolveExtractsTokens: Wait.Extract (BROWSER_EXTRACT_JS) gives the
// strings the cleared page holds as Solution.Tokens; an expression that
// gives no object of strings, or a name that is not a header name, is an
// error naming the expression.
func TestSolveExtractsTokens(t *testing.T) {
	p := newPool(t, 1)
	site := startSite(t)
	id := browser.Identity{Browser: "chrome", Version: p.Version(), UserAgent: chromeUA(p.Version())}
	sol, err := p.Solve(context.Background(), site.URL+"/", id, browser.Wait{Cookie: "cf_clearance",
		Extract: `{"X-Page-Path": document.querySelector("p.path").textContent}`})
	if err != nil {
		t.Fatal(err)
	}
	if got := sol.Tokens["X-Page-Path"]; got != "/" {
		t.Errorf("tokens %v, want X-Page-Path: / (the cleared page's p.path)", sol.Tokens)
	}
	for _, c := range []struct{ expr, want string }{
		{`42`, "want an object of strings"},
		{`{"bad name": "x"}`, "is not a header"},
		// Thrown on every try (the page never gets the element): tried
		// again until the timeout, which then reports the exception.
		{`{"X": document.querySelector("p.nothing").textContent}`, "still failing when the browser timeout ended"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := p.Solve(ctx, site.URL+"/", id, browser.Wait{Cookie: "cf_clearance", Extract: c.expr})
		cancel()
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), strconv.Quote(c.expr)) {
			t.Errorf("extract %s: %v, want an error naming it and saying %q", c.expr, err, c.want)
		}
	}
}

// TestSolveWaitsForPredicateAlone: a JS predicate without a named cookie
// decides alone — a page that clears without setting any cookie (its
// script flips a flag after 300 ms) is solved with no cookie — while
// without a predicate the same page never clears (no new cookie).
func TestSolveWaitsForPredicateAlone(t *testing.T) {
	testenv.Tool(t, "chromium", "apt-get install chromium")
	p, err := browser.New(browser.Config{Max: 1, Timeout: 6 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `<html><body><script>setTimeout(() => { window.cleared = true; }, 300);</script></body></html>`)
	}))
	defer srv.Close()
	id := browser.Identity{Browser: "chrome", Version: p.Version(), UserAgent: chromeUA(p.Version())}
	sol, err := p.Solve(context.Background(), srv.URL+"/", id, browser.Wait{JS: "window.cleared === true"})
	if err != nil {
		t.Fatalf("predicate alone: %v", err)
	}
	if len(sol.Cookies) != 0 {
		t.Errorf("cookies %v from a page that sets none", sol.Cookies)
	}
	if _, err := p.Solve(context.Background(), srv.URL+"/", id, browser.Wait{}); err == nil || !strings.Contains(err.Error(), "a cookie the identity did not have") {
		t.Errorf("no predicate, no cookie: %v, want a timeout waiting for a new cookie", err)
	}
}
