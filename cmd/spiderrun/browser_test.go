package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/internal/testenv"
	"github.com/spiderrun/spiderrun/runtime/browser/challengesite"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// TestBrowserHandOff is issue #18's browser hand-off end to end, through
// `spiderrun run`: a protected site (challengesite: a Cloudflare-like JS
// challenge whose HttpOnly cf_clearance is bound to the client's
// User-Agent and TLS JA4) blocks the crawl's only identity, whose profile
// was captured from the machine's Chromium (chrome_<its version>). Real
// Chromium passes the challenge as that identity, once; then all 100 pages
// are crawled over plain HTTP by the identity, and the site served every
// one of them to the same User-Agent and JA4 as the browser's — the
// binding held. At most BROWSER_MAX browsers ran, and none is left.
//
// Then a firefox_120 identity given the same clearance cookie is refused
// by the site (another JA4 and User-Agent), and the hand-off refuses to
// solve for it in Chromium, saying why.
func TestBrowserHandOff(t *testing.T) {
	bin := testenv.Tool(t, "chromium", "apt-get install chromium")
	ca, err := livebrowser.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	profile := captureChromiumProfile(t, bin, ca)
	site, err := challengesite.Start(ca.Leaf)
	if err != nil {
		t.Fatal(err)
	}
	defer site.Close()

	var peak atomic.Int64
	stop := sampleBrowsers(t, &peak)
	// BROWSER_EXTRACT_JS takes a value of the cleared page (here the JA4
	// the page shows) as a token the identity then sends as a header.
	items, st, stderr := runProtectedCrawl(t, site.URL, `{chromeid: {impersonate: `+strconv.Quote(profile.path)+`}}`,
		"BROWSER_MAX: 1\n  BROWSER_EXTRACT_JS: '({\"X-Page-Token\": document.querySelector(\"p.ja4\").textContent})'")
	stop()

	challenged, cleared, served, refused := site.Counts()
	t.Logf("challenged %v\ncleared %v\nserved %v\nrefused %v", challenged, cleared, served, refused)
	if len(cleared) != 1 {
		t.Fatalf("the site cleared %v: want one client, the browser", cleared)
	}
	var browserWho string
	for who := range cleared {
		browserWho = who
	}
	if !strings.HasPrefix(browserWho, profile.ua+"|") {
		t.Errorf("the browser passed the challenge as %q, want the identity's User-Agent %q", browserWho, profile.ua)
	}
	pages := map[string]bool{}
	for _, it := range items {
		if it["blocked"] != nil || it["failed"] != nil {
			t.Errorf("not content: %v", it)
			continue
		}
		if who := challengesite.Who(fmt.Sprint(it["ua"]), fmt.Sprint(it["ja4"])); who != browserWho {
			t.Errorf("page %v served to %q, want the browser's identity %q", it["path"], who, browserWho)
		}
		if it["member"] != "chromeid" {
			t.Errorf("page %v sent as %v", it["path"], it["member"])
		}
		if _, ja4, _ := strings.Cut(browserWho, "|"); it["token"] != ja4 {
			t.Errorf("page %v: X-Page-Token %q, want the token extracted in the browser %q", it["path"], it["token"], ja4)
		}
		pages[fmt.Sprint(it["path"])] = true
	}
	if len(pages) != 100 {
		t.Errorf("%d distinct pages scraped, want 100\n%s", len(pages), tail(stderr))
	}
	if len(served) != 1 || served[browserWho] < 100 {
		t.Errorf("served %v: want every page to one client, the browser's User-Agent and JA4", served)
	}
	if len(refused) != 0 {
		t.Errorf("refused %v: a clearance cookie did not match its client", refused)
	}
	// Client hints too: the browser's (set from the profile) and the
	// crawl's are the same brands.
	if verify, content := site.ClientHints(); len(verify) != 1 || len(content) != 1 || verify[0] != content[0] || verify[0] == "" {
		t.Errorf("sec-ch-ua from the browser %q, from the crawl %q: want one and the same", verify, content)
	}
	if site.WebdriverSeen() != 0 {
		t.Errorf("the challenge saw navigator.webdriver true")
	}
	for k, want := range map[string]float64{"blocks/browser_solved": 1, "blocks/browser_failed": 0, "blocks/identities_retired": 0, "blocks/gave_up": 0} {
		if got, _ := st[k].(float64); got != want {
			t.Errorf("stats %s = %v, want %v", k, st[k], want)
		}
	}
	if p := peak.Load(); p != 1 {
		t.Errorf("at most %d browsers ran at once, want 1 (BROWSER_MAX)", p)
	}
	if n := len(proctest.ChromiumBrowsers(t)); n != 0 {
		t.Errorf("%d browsers left after the crawl", n)
	}

	// The same cookie as another identity: refused by the site, and the
	// browser will not stand in for a firefox profile.
	_, browserJA4, _ := strings.Cut(browserWho, "|")
	cookie := site.Clearance(profile.ua, browserJA4)
	items, st, stderr = runProtectedCrawl(t, site.URL,
		`{foxid: {impersonate: "firefox_120", cookies: {cf_clearance: `+strconv.Quote(cookie)+`}}}`, "BLOCK_RETRY_TIMES: 1")
	_, _, served2, refused2 := site.Counts()
	var foxRefused int
	for who, n := range refused2 {
		if who == browserWho {
			t.Errorf("the browser's own identity was refused %d times", n)
		}
		if strings.Contains(who, "Firefox/120") {
			foxRefused += n
		}
	}
	if foxRefused == 0 {
		t.Errorf("refused %v: want the firefox identity's requests with the chrome clearance refused", refused2)
	}
	if len(served2) != 1 {
		t.Errorf("served %v: content reached another client than the browser's", served2)
	}
	for _, it := range items {
		if it["failed"] == nil {
			t.Errorf("the firefox identity got %v", it)
		}
	}
	if !strings.Contains(stderr, "profile firefox_120 is firefox, but the browser is Chromium "+profile.version) {
		t.Errorf("the hand-off did not say why it refused the firefox identity:\n%s", tail(stderr))
	}
	if got, _ := st["blocks/browser_failed"].(float64); got < 1 {
		t.Errorf("blocks/browser_failed = %v, want the refused hand-off counted", st["blocks/browser_failed"])
	}
}

// TestBrowserHandOffNoChromium: BLOCK_BROWSER with no Chromium at
// BROWSER_PATH stops the run before it starts, saying how to install it.
func TestBrowserHandOffNoChromium(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, `name: nobrowser
start_urls: [https://localhost:1/]
script: |
  export function parse(response) { return {}; }
settings:
  BLOCK_BROWSER: true
  BROWSER_PATH: `+filepath.Join(dir, "no", "chromium")+`
`)
	code, _, stderr := runCLI(t, "run", spec)
	if code == 0 || !strings.Contains(stderr, "settings.BLOCK_BROWSER: browser hand-off: no Chromium installed") || !strings.Contains(stderr, "apt-get install chromium") {
		t.Errorf("exit %d, want an error saying no Chromium and how to install it:\n%s", code, stderr)
	}
}

type capturedProfile struct {
	path, ua, version string
}

// captureChromiumProfile does what `spiderrun fingerprint capture` does
// with the machine's Chromium: the identity's profile is the browser's
// own, chrome_<major>, so its TLS and User-Agent are the browser's.
func captureChromiumProfile(t *testing.T, bin string, ca *livebrowser.CA) capturedProfile {
	t.Helper()
	srv, err := fingerprint.Start(fingerprint.Config{Certificate: &ca.Leaf})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := livebrowser.RunChromium(ctx, bin, ca, livebrowser.Run{URL: srv.URL("localhost", "/"), Dir: t.TempDir()}); err != nil {
		t.Fatal(err)
	}
	var nav *fingerprint.Capture
	for _, c := range srv.Captures() {
		if c.Path == "/" && c.HTTPVersion == "2" {
			nav = &c
			break
		}
	}
	if nav == nil {
		t.Fatalf("no HTTP/2 navigation captured: %v", srv.Captures())
	}
	var p impersonate.Profile
	if _, err := impersonate.UpdateFromCapture(&p, "", impersonate.CapturedFrom(*nav)); err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), p.Name+".yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	loaded, err := impersonate.LoadProfile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("identity profile %s: JA4 %s, %s", loaded.Name, nav.JA4, loaded.UserAgent())
	return capturedProfile{path: path, ua: loaded.UserAgent(), version: loaded.Version}
}

// runProtectedCrawl crawls /page/0..99 of the protected site as the one
// session group member given, with BLOCK_BROWSER on, and returns the
// items, the stats and the log.
func runProtectedCrawl(t *testing.T, base, members, extraSettings string) (items []map[string]any, st map[string]any, stderr string) {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `
export async function* start() {
  const sid = spider.hooks.session.register_sessions(`+members+`);
  for (let i = 0; i < 100; i++) {
    yield new Request({ url: spider.args.base + "/page/" + i, session_id: sid, callback: parse, errback: failed });
  }
}

export function parse(response) {
  if (response.text.includes("challenge-running")) return { blocked: response.url };
  return { path: response.css("p.path::text").get(), ja4: response.css("p.ja4::text").get(),
           ua: response.css("p.ua::text").get(), member: response.meta.session_member,
           token: response.css("p.token::text").get() };
}

export function failed(failure) {
  return { failed: failure.request.url, type: failure.type, message: failure.getErrorMessage() };
}
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, `name: protected
script: spider.js
settings:
  ROBOTSTXT_OBEY: false
  TLS_VERIFY: false
  BLOCK_BROWSER: true
  BROWSER_TIMEOUT: 60
  BLOCK_BACKOFF: 0.01
  CONCURRENT_REQUESTS: 8
  `+extraSettings+`
`)
	statsFile := filepath.Join(dir, "stats.json")
	items, stderr = runItems(t, spec, "-a", "base="+base, "--stats-json", statsFile)
	st = readStats(t, statsFile)
	return items, st, stderr
}

// sampleBrowsers records the most browsers running at once until the
// returned func is called.
func sampleBrowsers(t *testing.T, peak *atomic.Int64) (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			if n := int64(len(proctest.ChromiumBrowsers(t))); n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return func() { close(done); <-stopped }
}

// TestRenderRequest: a request with meta render: true, through `spiderrun
// run`, reaches its callback as the DOM the page's script wrote (wait_for
// a CSS selector), with the document's status; a plain request to the same
// page gets the HTML as served. No browser is left after the crawl.
func TestRenderRequest(t *testing.T) {
	testenv.Tool(t, "chromium", "apt-get install chromium")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<html><head><title>app</title></head><body><div id=app>loading</div><script>
setTimeout(() => { document.getElementById("app").innerHTML = '<p class="late">written by script</p>'; }, 200);
</script></body></html>`)
	}))
	defer srv.Close()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `
export async function* start() {
  yield new Request({ url: spider.args.base + "/rendered", meta: { render: true, wait_for: "p.late" }, callback: parse });
  yield new Request({ url: spider.args.base + "/options", render: true, wait_for: "p.late", callback: parse });
  yield new Request({ url: spider.args.base + "/plain", callback: parse });
}
export function parse(response) {
  return { url: response.url, status: response.status, late: response.css("p.late::text").get() || null,
           app: response.css("#app::text").get() || null, rendered: response.flags.includes("rendered") };
}
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: render\nscript: spider.js\nsettings:\n  ROBOTSTXT_OBEY: false\n")
	items, _ := runItems(t, spec, "-a", "base="+srv.URL)
	got := map[string]map[string]any{}
	for _, it := range items {
		got[strings.TrimPrefix(fmt.Sprint(it["url"]), srv.URL)] = it
	}
	for _, path := range []string{"/rendered", "/options"} { // meta keys, Request options
		if r := got[path]; r == nil || r["late"] != "written by script" || r["status"] != 200.0 || r["rendered"] != true {
			t.Errorf("rendered request %s: %v", path, r)
		}
	}
	if p := got["/plain"]; p == nil || p["late"] != nil || p["app"] != "loading" || p["rendered"] != false {
		t.Errorf("plain request: %v", p)
	}
	if n := len(proctest.ChromiumBrowsers(t)); n != 0 {
		t.Errorf("%d browsers left", n)
	}
}
