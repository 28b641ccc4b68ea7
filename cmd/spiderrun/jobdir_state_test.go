package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
)

// loginSite is a site behind a login: /login sets a session cookie (and
// the first page a persistent one), and every page answers 403 unless the
// request carries them; the site records each refusal. A second login is
// recorded too: the spider must not need one after a resume.
type loginSite struct {
	*httptest.Server
	pages   int
	latency time.Duration

	mu      sync.Mutex
	token   string
	logins  int
	refused []string
}

func newLoginSite(t *testing.T, pages int, latency time.Duration) *loginSite {
	t.Helper()
	s := &loginSite{pages: pages, latency: latency}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

func (s *loginSite) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/login" {
		s.mu.Lock()
		s.logins++
		s.token = fmt.Sprintf("tok-%d-%d", time.Now().UnixNano(), s.logins)
		tok := s.token
		s.mu.Unlock()
		// A session cookie: no Expires, no Max-Age.
		w.Header().Add("Set-Cookie", "login="+tok+"; Path=/; HttpOnly")
		fmt.Fprint(w, `<html><body><a href="/page/1">start</a></body></html>`)
		return
	}
	n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/page/"))
	if err != nil || n < 1 || n > s.pages {
		http.NotFound(w, r)
		return
	}
	select {
	case <-time.After(s.latency):
	case <-r.Context().Done():
		return
	}
	s.mu.Lock()
	tok := s.token
	s.mu.Unlock()
	login, _ := r.Cookie("login")
	pref, _ := r.Cookie("pref")
	if tok == "" || login == nil || login.Value != tok || (n > 1 && (pref == nil || pref.Value != "dark")) {
		s.mu.Lock()
		s.refused = append(s.refused, fmt.Sprintf("%s (Cookie: %q)", r.URL.Path, r.Header.Get("Cookie")))
		s.mu.Unlock()
		http.Error(w, "log in first", http.StatusForbidden)
		return
	}
	if n == 1 {
		w.Header().Add("Set-Cookie", "pref=dark; Path=/; Max-Age=86400")
	}
	var links strings.Builder
	for _, m := range []int{n + 1, n + 2} {
		if m <= s.pages {
			fmt.Fprintf(&links, `<a href="/page/%d">%d</a>`, m, m)
		}
	}
	fmt.Fprintf(w, "<html><body><h1>page %d</h1>%s</body></html>", n, links.String())
}

func (s *loginSite) check(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.logins != 1 {
		t.Errorf("the spider logged in %d times; the resumed run should have kept the first login", s.logins)
	}
	if len(s.refused) > 0 {
		t.Errorf("%d pages were requested without the login cookies, first %s", len(s.refused), s.refused[0])
	}
}

// loginCrawl writes a spider that logs in once (remembered in spider.state,
// so a resumed run does not log in again) and counts the pages it parsed in
// spider.state.pages, emitting the count with each page.
func loginCrawl(t *testing.T) (spec string) {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `export function* start() {
  if (!spider.state.logged_in) {
    yield new Request({ url: spider.args.base + "/login", callback: logged_in });
  }
}
export function* logged_in(response) {
  spider.state.logged_in = true;
  yield* response.follow_all(response.css("a"));
}
export function* parse(response) {
  spider.state.pages = (spider.state.pages || 0) + 1;
  yield { url: response.url, pages: spider.state.pages };
  yield* response.follow_all(response.css("a"));
}
`)
	spec = filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: login\nscript: spider.js\nsettings: {CONCURRENT_REQUESTS: 2}\n")
	return spec
}

type pageItem struct {
	URL   string `json:"url"`
	Pages int    `json:"pages"`
}

// readItems reads a JSON-lines feed; a line torn by kill -9 is skipped.
func readItems(t *testing.T, path string) []pageItem {
	t.Helper()
	var out []pageItem
	for _, line := range readLines(t, path, "") {
		var it pageItem
		if json.Unmarshal([]byte(line), &it) == nil {
			out = append(out, it)
		}
	}
	return out
}

var savedPages = regexp.MustCompile(`"pages":(\d+)`)

// waitSaved waits until the jobdir's database holds the login cookie and a
// spider.state with pages >= min (the periodic save wrote them), and
// returns the highest saved count.
func waitSaved(t *testing.T, db string, site *loginSite, min int) int {
	t.Helper()
	best := 0
	proctest.WaitFor(t, "the login cookie and spider.state in "+db, 30*time.Second, func() bool {
		site.mu.Lock()
		tok := site.token
		site.mu.Unlock()
		data, _ := os.ReadFile(db)
		if tok == "" || !bytes.Contains(data, []byte(tok)) {
			return false
		}
		best = 0
		for _, m := range savedPages.FindAllSubmatch(data, -1) {
			n, _ := strconv.Atoi(string(m[1]))
			best = max(best, n)
		}
		return best >= min
	})
	return best
}

// TestJobdirKeepsCookiesAndSpiderState: a logged-in crawl stopped with
// SIGINT, or killed with SIGKILL once its state was saved, resumes from
// its --jobdir still logged in (the site sees the login cookies on every
// page of the resumed run without a second login) and with spider.state
// carried over (the page counter goes on where it stopped). A finished
// crawl leaves no cookie in the jobdir.
func TestJobdirKeepsCookiesAndSpiderState(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages int
		kill  bool
	}{
		{"sigint", 60, false},
		{"sigkill", 200, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.kill && testing.Short() {
				t.Skip("kill -9 and resume (seconds); runs in the full suite")
			}
			site := newLoginSite(t, tc.pages, 60*time.Millisecond)
			spec := loginCrawl(t)
			dir := t.TempDir()
			jobdir := filepath.Join(dir, "job")
			db := filepath.Join(jobdir, "queue.db")
			first, second := filepath.Join(dir, "first.jsonl"), filepath.Join(dir, "second.jsonl")
			args := []string{"run", spec, "-a", "base=" + site.URL, "--jobdir", jobdir}

			p := startCLI(t, append(args, "-o", first)...)
			saved := 0
			if tc.kill {
				saved = waitSaved(t, db, site, 3)
				if err := p.Cmd.Process.Kill(); err != nil {
					t.Fatal(err)
				}
				p.Wait(t, 30*time.Second)
			} else {
				waitForItems(t, p, first)
				if err := p.Cmd.Process.Signal(syscall.SIGINT); err != nil {
					t.Fatal(err)
				}
				if code := exitCode(p.Wait(t, 30*time.Second)); code != exitOK {
					t.Fatalf("first run: exit %d, want %d (shutdown)\n%s", code, exitOK, p.Out)
				}
			}
			items1 := readItems(t, first)
			if len(items1) == 0 || len(items1) >= tc.pages {
				t.Fatalf("the first run scraped %d of %d pages; the stop should come mid-crawl\n%s", len(items1), tc.pages, p.Out)
			}

			code, _, stderr := runCLI(t, append(args, "-o", second)...)
			if code != exitOK {
				t.Fatalf("resumed run: exit %d\n%s", code, stderr)
			}
			if !strings.Contains(stderr, "restored from jobdir") {
				t.Errorf("the resumed run did not say it restored cookies and state:\n%s", stderr)
			}
			items2 := readItems(t, second)
			site.check(t)

			seen := map[string]bool{}
			for _, it := range append(slices.Clone(items1), items2...) {
				seen[it.URL] = true
			}
			if len(seen) != tc.pages {
				t.Errorf("%d distinct pages over both runs, want %d", len(seen), tc.pages)
			}
			if len(items2) == 0 {
				t.Fatal("the resumed run scraped nothing")
			}
			counts := func(items []pageItem) []int {
				var out []int
				for _, it := range items {
					out = append(out, it.Pages)
				}
				slices.Sort(out)
				return out
			}
			c1, c2 := counts(items1), counts(items2)
			if tc.kill {
				// At most the last interval is lost: the counter resumes
				// from a saved value at least as high as the one seen.
				if c2[0] <= saved {
					t.Errorf("the resumed run counted from %d; spider.state.pages %d was saved before the kill", c2[0], saved)
				}
			} else {
				// A graceful stop saves the state after the last callback:
				// the counts of both runs are 1..N, each once.
				all := append(c1, c2...)
				for i, n := range all {
					if n != i+1 {
						t.Fatalf("page counts over both runs are not 1..%d once each: run 1 %v, run 2 %v", len(all), c1, c2)
					}
				}
			}

			// The crawl finished: its cookies are not in the jobdir any more.
			site.mu.Lock()
			tok := site.token
			site.mu.Unlock()
			data, err := os.ReadFile(db)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(data, []byte(tok)) {
				t.Errorf("the login cookie is still in %s after the crawl finished", db)
			}
			if !savedPages.Match(data) {
				t.Errorf("spider.state is not kept in %s after the crawl finished", db)
			}
		})
	}
}
