package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// csrfLoginSite is a site that needs a login: GET /login sets a pre-session
// cookie and a form whose CSRF token is bound to it; POST /login with that
// token sets the session cookie `sess`. /page/N is served only with a
// session, and each session gets wallAfter pages: then a 200 "hold on"
// page that none of the built-in detectors knows. It records what each
// session was sent.
type csrfLoginSite struct {
	*httptest.Server
	wallAfter int
	delay     time.Duration // before each page

	mu       sync.Mutex
	csrf     map[string]string // pre cookie → token
	sessions map[string]string // sess → the X-Identity it logged in as
	served   map[string]int    // pages served per sess
	walled   map[string]int    // wall pages per sess
	loginGET int
	mismatch []string // a session seen with another identity's header
}

func newCSRFLoginSite(t *testing.T, wallAfter int) *csrfLoginSite {
	s := &csrfLoginSite{wallAfter: wallAfter, csrf: map[string]string{}, sessions: map[string]string{},
		served: map[string]int{}, walled: map[string]int{}}
	token := func() string {
		b := make([]byte, 8)
		_, _ = rand.Read(b)
		return hex.EncodeToString(b)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/page/") && s.delay > 0 {
			time.Sleep(s.delay)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case r.URL.Path == "/login" && r.Method == http.MethodGet:
			s.loginGET++
			pre, tok := token(), token()
			s.csrf[pre] = tok
			http.SetCookie(w, &http.Cookie{Name: "pre", Value: pre, Path: "/"})
			fmt.Fprintf(w, `<form method=post action=/login><input type=hidden name=csrf value="%s"><input name=user></form>`, tok)
		case r.URL.Path == "/login" && r.Method == http.MethodPost:
			pre, err := r.Cookie("pre")
			if err != nil || r.PostFormValue("csrf") == "" || s.csrf[pre.Value] != r.PostFormValue("csrf") {
				w.WriteHeader(http.StatusForbidden)
				fmt.Fprint(w, "bad csrf token")
				return
			}
			delete(s.csrf, pre.Value)
			sess := token()
			s.sessions[sess] = r.PostFormValue("user")
			http.SetCookie(w, &http.Cookie{Name: "sess", Value: sess, Path: "/"})
			fmt.Fprintf(w, "<p>welcome %s</p>", r.PostFormValue("user"))
		case strings.HasPrefix(r.URL.Path, "/page/"):
			c, err := r.Cookie("sess")
			if err != nil || s.sessions[c.Value] == "" {
				w.WriteHeader(http.StatusUnauthorized)
				fmt.Fprint(w, "login required")
				return
			}
			if who := r.Header.Get("X-Identity"); who != s.sessions[c.Value] {
				s.mismatch = append(s.mismatch, fmt.Sprintf("session of %s sent with X-Identity %q", s.sessions[c.Value], who))
			}
			if s.served[c.Value] >= s.wallAfter {
				s.walled[c.Value]++
				fmt.Fprint(w, `<html><div class="hold-on">Hold on, we are checking your browser</div></html>`)
				return
			}
			s.served[c.Value]++
			fmt.Fprintf(w, `<html><p class=n>%s</p><p class=who>%s</p></html>`, strings.TrimPrefix(r.URL.Path, "/page/"), s.sessions[c.Value])
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// identitySpider is a spider whose identities come from the login
// factory; extra is appended to its settings.
const identitySpider = `
export async function* start() {
  const sid = spider.hooks.session.register_factory({ new_identity: login, size: 3 });
  for (let i = 0; i < Number(spider.args.pages); i++)
    yield new Request({ url: spider.args.base + "/page/" + i, session_id: sid, callback: parse });
}

export async function login(identity) {
  identity.set({ headers: { "X-Identity": identity.name } });
  const form = await identity.download(new Request({ url: spider.args.base + "/login" }));
  const token = form.css("input[name=csrf]::attr(value)").get();
  if (!token) throw new Error("no csrf token in the login form");
  const done = await identity.download(new FormRequest({
    url: spider.args.base + "/login", formdata: { csrf: token, user: identity.name } }));
  if (!done.text.includes("welcome")) throw new Error("login refused: " + done.text);
}

// The site's own wall: a 200 page only this predicate recognises.
export function is_wall(response) {
  return response.css("div.hold-on").get() ? "hold-on page" : null;
}

export function parse(response) {
  if (response.text.includes("hold-on")) return { blocked_page_reached_callback: response.url };
  return { n: response.css("p.n::text").get(), who: response.css("p.who::text").get(), member: response.meta.session_member };
}
`

func runIdentityCrawl(t *testing.T, site *csrfLoginSite, script, settings string, pages int, args ...string) (code int, items []map[string]any, st map[string]any, stderr string) {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), script)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: identities\nscript: spider.js\nsettings:\n  ROBOTSTXT_OBEY: false\n  BLOCK_BACKOFF: 0.01\n  SESSION_FACTORY_BACKOFF: 0.01\n"+settings)
	out, statsFile := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "stats.json")
	argv := append([]string{"run", spec, "-a", "base=" + site.URL, "-a", fmt.Sprint("pages=", pages), "-o", out, "--stats-json", statsFile}, args...)
	code, _, stderr = runCLI(t, argv...)
	if data, err := os.ReadFile(out); err == nil {
		for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if line == "" {
				continue
			}
			var it map[string]any
			if err := json.Unmarshal([]byte(line), &it); err != nil {
				t.Fatalf("bad item %q: %v", line, err)
			}
			items = append(items, it)
		}
	}
	if _, err := os.Stat(statsFile); err == nil {
		st = readStats(t, statsFile)
	}
	return code, items, st, stderr
}

// TestFactoryIdentitiesLoginAndRotate: a JS factory logs in three
// identities (GET the form, POST its CSRF token; the session cookie lands
// in the member's own jar); the site walls each session after 4 pages with
// a page only the js:is_wall predicate recognises. Every page is scraped
// exactly once, by the identity that logged in; no wall page reaches a
// callback; each walled identity is retired at its first wall and
// replaced by the factory; the stats name the JS detector.
func TestFactoryIdentitiesLoginAndRotate(t *testing.T) {
	t.Parallel()
	for _, conc := range []int{1, 8} {
		t.Run(fmt.Sprint("concurrency=", conc), func(t *testing.T) {
			t.Parallel()
			site := newCSRFLoginSite(t, 4)
			const pages = 30
			code, items, st, stderr := runIdentityCrawl(t, site, identitySpider, fmt.Sprintf(`  CONCURRENT_REQUESTS: %d
  BLOCK_DETECTORS: [cloudflare, "js:is_wall"]
  BLOCK_RETIRE_SCORE: 1
  BLOCK_RETRY_TIMES: 10
`, conc), pages)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			seen := map[string]int{}
			for _, it := range items {
				if it["blocked_page_reached_callback"] != nil {
					t.Errorf("a wall page reached the callback: %v", it)
					continue
				}
				if it["who"] != it["member"] {
					t.Errorf("page %v served to %v, sent as %v", it["n"], it["who"], it["member"])
				}
				seen[fmt.Sprint(it["n"])]++
			}
			for i := 0; i < pages; i++ {
				if n := seen[fmt.Sprint(i)]; n != 1 {
					t.Errorf("page %d scraped %d times, want once", i, n)
				}
			}
			site.mu.Lock()
			defer site.mu.Unlock()
			if len(site.mismatch) > 0 {
				t.Errorf("cookies crossed identities: %q", site.mismatch)
			}
			walledSessions, walls := 0, 0
			for sess, n := range site.walled {
				walledSessions++
				walls += n
				if conc == 1 && n != 1 {
					t.Errorf("session of %s was sent %d wall pages, want 1 (retired at its first)", site.sessions[sess], n)
				}
			}
			// 30 pages at 4 per session: at least 8 sessions, so at least
			// 5 were walled, retired and replaced by the factory.
			if len(site.sessions) < 8 || walledSessions < 5 {
				t.Errorf("%d sessions logged in, %d walled: want the factory to replace walled identities (≥ 8, ≥ 5)", len(site.sessions), walledSessions)
			}
			num := func(k string) int { f, _ := st[k].(float64); return int(f) }
			if got := num("blocks/detector/js:is_wall"); got != walls || got != num("blocks/count") {
				t.Errorf("blocks/detector/js:is_wall = %d, blocks/count = %d; the site sent %d wall pages", got, num("blocks/count"), walls)
			}
			if got := num("blocks/identities_retired"); got != walledSessions {
				t.Errorf("blocks/identities_retired = %d, want %d (the walled sessions)", got, walledSessions)
			}
			// A replacement may still be logging in when the last page is
			// scraped; it counts at the server but not as created.
			if created := num("sessions/factory/created"); created < 3+walledSessions-1 || created > len(site.sessions) {
				t.Errorf("sessions/factory/created = %d: want between %d and %d (the server's logins)", created, 3+walledSessions-1, len(site.sessions))
			}
			if !strings.Contains(stderr, "detector=js:is_wall") || !strings.Contains(stderr, `reason="hold-on page"`) {
				t.Errorf("the log does not name the JS detector and its reason:\n%s", stderr)
			}
		})
	}
}

// TestFactoryFailsCleanly: a factory that cannot log in (the form has no
// token for it) is tried SESSION_FACTORY_TRIES times, each as a fresh
// identity, and then the crawl stops with an error naming the factory,
// the reason and its place in the script; no page is fetched, no panic.
func TestFactoryFailsCleanly(t *testing.T) {
	t.Parallel()
	site := newCSRFLoginSite(t, 4)
	script := strings.Replace(identitySpider, `input[name=csrf]`, `input[name=token]`, 1)
	script = strings.Replace(script, `size: 3`, `size: 1`, 1)
	code, items, st, stderr := runIdentityCrawl(t, site, script, "  SESSION_FACTORY_TRIES: 2\n", 5)
	if code == 0 {
		t.Fatalf("exit 0 with a factory that always fails\n%s", stderr)
	}
	if strings.Contains(stderr, "panic") || strings.Contains(stderr, "goroutine ") {
		t.Errorf("panicked:\n%s", stderr)
	}
	for _, want := range []string{"session factory login could not create session1/identity2 (attempt 2 of 2)", "no csrf token in the login form", "spider.js:12:21"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if len(items) != 0 {
		t.Errorf("items from a crawl without identities: %v", items)
	}
	site.mu.Lock()
	defer site.mu.Unlock()
	if site.loginGET != 2 || len(site.served) != 0 {
		t.Errorf("%d login forms fetched (want 2: one per attempt), %d sessions served pages (want 0)", site.loginGET, len(site.served))
	}
	if f, _ := st["sessions/factory/failed_attempts"].(float64); f != 2 {
		t.Errorf("sessions/factory/failed_attempts = %v, want 2", st["sessions/factory/failed_attempts"])
	}
}

// TestJSBlockDetectorError: a predicate that throws is an error with its
// script position, counted, and the response is not a block by it: the
// crawl goes on and the page reaches its callback.
func TestJSBlockDetectorError(t *testing.T) {
	t.Parallel()
	site := newCSRFLoginSite(t, 100)
	script := strings.Replace(identitySpider, `return response.css("div.hold-on")`, `if (response.url.endsWith("/page/2")) throw new TypeError("predicate bug");
  return response.css("div.hold-on")`, 1)
	code, items, st, stderr := runIdentityCrawl(t, site, script, "  BLOCK_DETECTORS: [\"js:is_wall\"]\n", 5)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if len(items) != 5 {
		t.Errorf("%d items, want 5 (the page whose predicate threw included)", len(items))
	}
	if n, _ := st["blocks/detector_errors/js:is_wall"].(float64); n != 1 {
		t.Errorf("blocks/detector_errors/js:is_wall = %v, want 1", st["blocks/detector_errors/js:is_wall"])
	}
	if !strings.Contains(stderr, "block detector failed") || !strings.Contains(stderr, "spider.js:20:") || !strings.Contains(stderr, "TypeError: predicate bug") {
		t.Errorf("want the predicate's error with its position in the log:\n%s", stderr)
	}
}

// TestJSBlockDetectorValidate: a js: detector the script does not export
// is an error from validate and from run.
func TestJSBlockDetectorValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), "export function parse(response) {}\n")
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: s\nstart_urls: [http://127.0.0.1:1/]\nscript: spider.js\nsettings:\n  BLOCK_DETECTORS: [\"js:is_wal\"]\n")
	for _, cmd := range []string{"validate", "run"} {
		code, _, stderr := runCLI(t, cmd, spec)
		if code == 0 || !strings.Contains(stderr, `block detector js:is_wal: the script does not export a function "is_wal"`) {
			t.Errorf("%s: exit %d\n%s", cmd, code, stderr)
		}
	}
}

// TestProfileSetFromSettings: SESSION_PROFILES names a directory of
// captured browser profiles, each with the cookies its browser exported;
// register_profiles() makes one member of each, and every request the
// site gets carries one member's cookies with the User-Agent of that
// member's own profile.
func TestProfileSetFromSettings(t *testing.T) {
	t.Parallel()
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<p class=c>%s</p><p class=ua>%s</p>`, r.Header.Get("Cookie"), r.Header.Get("User-Agent"))
	}))
	t.Cleanup(site.Close)
	dir := t.TempDir()
	profiles := filepath.Join(dir, "profiles")
	if err := os.Mkdir(profiles, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, profile := range map[string]string{"alice": "chrome_148", "bob": "firefox_140"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "runtime", "impersonate", "profiles", profile+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(profiles, name+".yaml"), string(b))
	}
	write(t, filepath.Join(profiles, "alice.cookies.txt"), "# Netscape HTTP Cookie File\n127.0.0.1\tFALSE\t/\tFALSE\t0\tsess\talice-1\n")
	write(t, filepath.Join(profiles, "bob.cookies.json"), `[{"name": "sess", "value": "bob-1", "domain": "127.0.0.1", "path": "/"}]`)
	write(t, filepath.Join(dir, "spider.js"), `
export async function* start() {
  const sid = spider.hooks.session.register_profiles();
  for (let i = 0; i < 20; i++)
    yield new Request({ url: spider.args.base + "/p/" + i, session_id: sid, callback: parse });
}
export function parse(response) {
  return { member: response.meta.session_member, cookie: response.css("p.c::text").get(), ua: response.css("p.ua::text").get() };
}
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: profiles\nscript: spider.js\nsettings:\n  ROBOTSTXT_OBEY: false\n  SESSION_PROFILES: profiles\n  SESSION_ROTATION: round_robin\n")
	items, _ := runItems(t, spec, "-a", "base="+site.URL)
	want := map[string][2]string{"alice": {"sess=alice-1", "Chrome/148."}, "bob": {"sess=bob-1", "Firefox/140."}}
	used := map[string]int{}
	for _, it := range items {
		member, cookie, ua := fmt.Sprint(it["member"]), fmt.Sprint(it["cookie"]), fmt.Sprint(it["ua"])
		w, ok := want[member]
		if !ok || cookie != w[0] || !strings.Contains(ua, w[1]) {
			t.Errorf("sent as %q: cookie %q, User-Agent %q; want %q and %q", member, cookie, ua, w[0], w[1])
		}
		used[member]++
	}
	if used["alice"] != 10 || used["bob"] != 10 {
		t.Errorf("members used %v, want 10 each (round robin)", used)
	}
}

// TestFactoryIdentitiesResume: a crawl whose identities a factory logged
// in, stopped with SIGINT and resumed from its --jobdir, goes on with the
// same identities: the resumed run logs in no one (the members come back
// from the JOBDIR with their cookies and what the factory gave them), the
// site sees their sessions, and every page is scraped once over both runs.
func TestFactoryIdentitiesResume(t *testing.T) {
	t.Parallel()
	site := newCSRFLoginSite(t, 1000)
	site.delay = 40 * time.Millisecond
	const pages = 40
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), identitySpider)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: identities\nscript: spider.js\nsettings:\n  ROBOTSTXT_OBEY: false\n  CONCURRENT_REQUESTS: 2\n")
	first, second := filepath.Join(dir, "first.jsonl"), filepath.Join(dir, "second.jsonl")
	args := []string{"run", spec, "-a", "base=" + site.URL, "-a", fmt.Sprint("pages=", pages), "--jobdir", filepath.Join(dir, "job")}
	p := startCLI(t, append(args, "-o", first)...)
	waitForItems(t, p, first)
	if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCode(p.Wait(t, 30*time.Second)); code != exitOK {
		t.Fatalf("first run: exit %d\n%s", code, p.Out)
	}
	site.mu.Lock()
	logins := len(site.sessions)
	site.mu.Unlock()
	if logins != 3 {
		t.Fatalf("the first run logged in %d identities, want 3", logins)
	}
	code, _, stderr := runCLI(t, append(args, "-o", second)...)
	if code != exitOK {
		t.Fatalf("resumed run: exit %d\n%s", code, stderr)
	}
	site.mu.Lock()
	defer site.mu.Unlock()
	if len(site.sessions) != 3 || site.loginGET != 3 {
		t.Errorf("the resumed run logged in again: %d sessions, %d login forms fetched; want the 3 of the first run", len(site.sessions), site.loginGET)
	}
	if len(site.mismatch) > 0 {
		t.Errorf("cookies crossed identities: %q", site.mismatch)
	}
	seen := map[string]int{}
	var n2 int
	for _, f := range []string{first, second} {
		for _, line := range readLines(t, f, "") {
			var it map[string]any
			if json.Unmarshal([]byte(line), &it) != nil {
				continue
			}
			if it["who"] != it["member"] {
				t.Errorf("page %v served to %v, sent as %v", it["n"], it["who"], it["member"])
			}
			seen[fmt.Sprint(it["n"])]++
			if f == second {
				n2++
			}
		}
	}
	if len(seen) != pages || n2 == 0 {
		var missing []int
		for i := range pages {
			if seen[fmt.Sprint(i)] == 0 {
				missing = append(missing, i)
			}
		}
		t.Errorf("%d distinct pages over both runs (want %d; missing %v), %d in the resumed run\nfirst run:\n%s\nresumed:\n%s", len(seen), pages, missing, n2, p.Out, stderr)
	}
	for n, c := range seen {
		if c != 1 {
			t.Errorf("page %s scraped %d times", n, c)
		}
	}
}

// TestProfileSetSettingCheckedUpFront: a SESSION_PROFILES that
// register_profiles would refuse (a missing directory, a profile file that
// does not parse) is refused by validate and by run before the crawl
// starts, naming the setting and its line in the spec (validate ≡ run).
func TestProfileSetSettingCheckedUpFront(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ name, want string }{
		{"missing", "no such file or directory"},
		{"broken", "broken/alice.yaml"},
	} {
		dir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dir, "broken"), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, "broken", "alice.yaml"), "tls: [not a profile\n")
		write(t, filepath.Join(dir, "spider.js"), "export function* start() { spider.hooks.session.register_profiles(); }\nexport function parse() {}\n")
		spec := filepath.Join(dir, "spider.yaml")
		write(t, spec, "name: profiles\nscript: spider.js\nsettings:\n  SESSION_PROFILES: "+c.name+"\n")
		for _, cmd := range []string{"validate", "run"} {
			code, _, stderr := runCLI(t, cmd, spec)
			if code == 0 || !strings.Contains(stderr, "spider.yaml:4") || !strings.Contains(stderr, "SESSION_PROFILES") || !strings.Contains(stderr, c.want) {
				t.Errorf("%s with SESSION_PROFILES %s: exit %d, stderr:\n%s\nwant spider.yaml:4, the setting and %q", cmd, c.name, code, stderr, c.want)
			}
		}
	}
}
