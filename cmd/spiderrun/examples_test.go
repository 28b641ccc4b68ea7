package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
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
			files := http.FileServer(http.Dir(filepath.Join("../../testdata/sites", tc.site)))
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
			if *update {
				if err := os.MkdirAll(filepath.Dir(wantPath), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(wantPath, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
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
