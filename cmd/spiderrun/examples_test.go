package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spiderrun/spiderrun/internal/golden"
)

// exampleCases are the spiders under examples/ that crawl a real public
// site. Each one reads `-a base=URL` and falls back to the real site, so the
// test points it at a local copy under testdata/sites and never touches the
// network.
var exampleCases = []struct {
	name string // directory under examples/
	site string // directory under testdata/sites/
	// minItems guards against a golden file that was regenerated from a
	// broken run (-update writes whatever came out).
	minItems int
}{
	{name: "quotes", site: "quotes", minItems: 14},
	{name: "quotes_js", site: "quotes", minItems: 8},
	{name: "books", site: "books", minItems: 7},
	{name: "ts", site: "quotes", minItems: 14}, // the quotes crawl, typed
}

// TestExamples runs each public-site example through the real CLI entry
// point against an httptest server serving the site's look-alike copy, and
// compares the items with examples/<name>/testdata/want.jsonl (sorted
// lines, the server URL written as $SERVER; go test -run TestExamples
// -update rewrites them).
func TestExamples(t *testing.T) {
	for _, tc := range exampleCases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var hits atomic.Int64
			files := siteHandler(t, filepath.Join("../../testdata/sites", tc.site))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				files.ServeHTTP(w, r)
			}))
			t.Cleanup(srv.Close)

			work := t.TempDir()
			out := filepath.Join(work, "items.jsonl")
			statsFile := filepath.Join(work, "stats.json")
			spec := filepath.Join("../../examples", tc.name, "spider.yaml")
			code, _, stderr := runCLI(t, "run", spec, "-a", "base="+srv.URL, "-O", out, "--stats-json", statsFile)
			if code != exitOK {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, exitOK, stderr)
			}

			got := normalizeItems(t, out, srv.URL)
			wantPath := filepath.Join("../../examples", tc.name, "testdata", "want.jsonl")
			// Compared as a sorted set of lines; -update writes the file.
			if golden.Update() {
				golden.Write(t, wantPath, []byte(strings.Join(got, "\n")+"\n"))
			}
			want := readLines(t, wantPath, "")
			if len(want) < tc.minItems {
				t.Fatalf("%s has %d items, want at least %d", wantPath, len(want), tc.minItems)
			}
			if !slices.Equal(got, want) {
				t.Errorf("items differ\n got: %s\nwant: %s\nstderr:\n%s", strings.Join(got, "\n      "), strings.Join(want, "\n      "), stderr)
			}

			st := readStats(t, statsFile)
			// Every request the spider made reached the local copy: none
			// went to the real site or followed an external link.
			if n := st["downloader/request_count"]; n != float64(hits.Load()) {
				t.Errorf("downloader/request_count = %v, but the local site served %d requests", n, hits.Load())
			}
			if n := st["item_scraped_count"]; n != float64(len(got)) {
				t.Errorf("item_scraped_count = %v, want %d", n, len(got))
			}
			for k, v := range st {
				if strings.HasPrefix(k, "log_count/ERROR") || strings.HasPrefix(k, "spider_exceptions") ||
					strings.HasPrefix(k, "downloader/response_status_count/4") || strings.HasPrefix(k, "downloader/response_status_count/5") {
					t.Errorf("stats[%q] = %v: the crawl of the local copy should be clean\nstderr:\n%s", k, v, stderr)
				}
			}
		})
	}
}

// TestExampleQuotesJSMatchesHTML checks that the JavaScript-rendered
// variant of quotes.toscrape.com, read from its embedded JSON, yields the
// same quotes as the HTML pages do (the local copy serves the same quotes
// in both forms, as the real site does).
func TestExampleQuotesJSMatchesHTML(t *testing.T) {
	var fromHTML []string
	for _, l := range readLines(t, "../../examples/quotes/testdata/want.jsonl", "") {
		var item map[string]any
		if err := json.Unmarshal([]byte(l), &item); err != nil {
			t.Fatal(err)
		}
		if _, isQuote := item["text"]; isQuote { // author items have "born" instead
			fromHTML = append(fromHTML, l)
		}
	}
	fromJS := readLines(t, "../../examples/quotes_js/testdata/want.jsonl", "")
	if len(fromJS) == 0 || !slices.Equal(fromHTML, fromJS) {
		t.Errorf("quotes_js items differ from the quotes of the HTML pages\n html: %s\n   js: %s",
			strings.Join(fromHTML, "\n       "), strings.Join(fromJS, "\n       "))
	}
}

// TestExamplesDefaultToRealSite checks what a user gets without -a base:
// the start request goes to the real site (and spider.args without -a is
// usable). It must not touch the network, so the test runs a copy of the
// example whose script re-exports the example's functions plus a
// process_start spider middleware that records the start requests and
// yields none of them; as a second guard every request is sent through a
// proxy that fails the test if anything reaches it.
func TestExamplesDefaultToRealSite(t *testing.T) {
	cases := []struct{ name, want string }{
		{"quotes", "https://quotes.toscrape.com/"},
		{"quotes_js", "https://quotes.toscrape.com/js/"},
		{"books", "https://books.toscrape.com/"},
		{"ts", "https://quotes.toscrape.com/"},
	}
	scriptLine := regexp.MustCompile(`(?m)^script: (\S+)$`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tripwire := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				t.Errorf("a request left the spider: %s %s%s", r.Method, r.Host, r.URL)
				http.Error(w, "offline test", http.StatusForbidden)
			}))
			t.Cleanup(tripwire.Close)

			dir := filepath.Join("../../examples", tc.name)
			spec, err := os.ReadFile(filepath.Join(dir, "spider.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			m := scriptLine.FindSubmatch(spec)
			if m == nil {
				t.Fatalf("%s/spider.yaml has no one-line script: key", dir)
			}
			script := string(m[1])
			work := t.TempDir()
			src, err := os.ReadFile(filepath.Join(dir, script))
			if err != nil {
				t.Fatal(err)
			}
			guard := fmt.Sprintf(`export * from "./%s";
export async function* record_start(start) {
  for await (const request of start) spider.stats.set("test/start_url", request.url);
}
`, script)
			spec = scriptLine.ReplaceAll(spec, []byte("script: offline_guard.js"))
			spec = append(spec, "spider_middlewares:\n  - process_start: record_start\n"...)
			for name, data := range map[string][]byte{script: src, "offline_guard.js": []byte(guard), "spider.yaml": spec} {
				if err := os.WriteFile(filepath.Join(work, name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}

			statsFile := filepath.Join(work, "stats.json")
			code, _, stderr := runCLI(t, "run", filepath.Join(work, "spider.yaml"), "-s", "PROXIES="+tripwire.URL,
				"-O", filepath.Join(work, "items.jsonl"), "--stats-json", statsFile)
			if code != exitOK {
				t.Fatalf("exit code %d, want %d\nstderr:\n%s", code, exitOK, stderr)
			}
			st := readStats(t, statsFile)
			if got := st["test/start_url"]; got != tc.want {
				t.Errorf("start request %v, want %q\nstderr:\n%s", got, tc.want, stderr)
			}
			if n, ok := st["downloader/request_count"]; ok {
				t.Errorf("downloader/request_count = %v, want no request at all", n)
			}
		})
	}
}

// TestValidateExamples checks that `spiderrun validate` accepts every spec
// under examples/, so an example cannot rot unnoticed.
func TestValidateExamples(t *testing.T) {
	specs, err := filepath.Glob("../../examples/*/spider.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) < 1+len(exampleCases) { // offline + the public-site ones
		t.Fatalf("found %d example specs (%v), want at least %d", len(specs), specs, 1+len(exampleCases))
	}
	code, stdout, stderr := runCLI(t, append([]string{"validate"}, specs...)...)
	if code != exitOK || stderr != "" {
		t.Fatalf("validate exit %d, want %d\nstderr:\n%s", code, exitOK, stderr)
	}
	for _, s := range specs {
		if want := fmt.Sprintf("ok: %s (", s); !strings.Contains(stdout, want) {
			t.Errorf("stdout lacks %q\nstdout:\n%s", want, stdout)
		}
	}
}

// siteHandler serves a look-alike copy of a site the way the real sites
// answer: a file by its path, "index.html" included (books.toscrape.com
// links to .../index.html and serves it; http.FileServer would redirect it
// to ".../"), a directory with a trailing slash by its index.html, and a
// directory without one by a 301 to the slashed URL (quotes.toscrape.com's
// /author/Albert-Einstein does that).
func siteHandler(t *testing.T, dir string) http.Handler {
	t.Helper()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.Trim(r.URL.Path, "/")
		if name == "" {
			name = "."
		}
		st, err := root.Stat(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if st.IsDir() {
			if !strings.HasSuffix(r.URL.Path, "/") {
				http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
				return
			}
			name = filepath.Join(name, "index.html")
		}
		f, err := root.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, err = f.Stat()
		if err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		http.ServeContent(w, r, name, st.ModTime(), f)
	})
}

func readStats(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("stats file: %v", err)
	}
	var st map[string]any
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatalf("stats file %s: %v", path, err)
	}
	return st
}
