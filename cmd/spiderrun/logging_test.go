package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// logSite is a small site for the logging tests: /, /a and /b link to
// each other (duplicates), / links offsite, and each page waits delay.
func logSite(t *testing.T, delay time.Duration) (url, spec string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(delay) // a slow page: the behaviour under test for the progress line
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprintf(w, `<html><body><h1>%s</h1><a href="/a">a</a><a href="/b">b</a><a href="http://elsewhere.test/x">off</a></body></html>`, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	js := `export function* parse(response) {
  yield { path: new URL(response.url).pathname };
  for (const href of response.css("a::attr(href)").getall()) yield response.follow(href);
}
`
	yaml := fmt.Sprintf("name: logs\nscript: spider.js\nstart_urls: [%q]\nallowed_domains: [127.0.0.1]\nsettings:\n  DENY_PRIVATE_NETWORKS: false\n  ROBOTSTXT_OBEY: false\n", srv.URL+"/")
	if err := os.WriteFile(filepath.Join(dir, "spider.js"), []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	spec = filepath.Join(dir, "spider.yaml")
	if err := os.WriteFile(spec, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL, spec
}

var scrapyLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[[\w.-]+\] (DEBUG|INFO|WARNING|ERROR): `)

// The log in Scrapy's layout and words at DEBUG: the lines users grep for.
func TestLogScrapyWords(t *testing.T) {
	url, spec := logSite(t, 0)
	code, _, stderr := runCLI(t, "run", spec, "-L", "DEBUG")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	for _, want := range []string{
		"[spiderrun] INFO: Spider opened\n",
		"[spiderrun] INFO: Crawled 0 pages (at 0 pages/min), scraped 0 items (at 0 items/min)\n",
		"[spiderrun] INFO: Closing spider (finished)\n",
		"[spiderrun] INFO: Spider closed (finished)\n",
		"[spiderrun] DEBUG: Crawled (200) <GET " + url + "/> (referer: None)\n",
		"[spiderrun] DEBUG: Crawled (200) <GET " + url + "/a> (referer: " + url + "/)\n",
		"[spiderrun] DEBUG: Scraped from <200 " + url + "/>\n{\"path\":\"/\"}\n",
		"DEBUG: Filtered duplicate request: <GET " + url + "/a> - no more duplicates will be shown (see DUPEFILTER_DEBUG to show all duplicates)\n",
		"DEBUG: Filtered offsite request to 'elsewhere.test': <GET http://elsewhere.test/x>\n",
		"INFO: Dumping spiderrun stats:\n",
		"  item_scraped_count: 3\n",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no %q in the log:\n%s", want, stderr)
		}
	}
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "20") && !scrapyLine.MatchString(l) {
			t.Errorf("not in Scrapy's layout: %q", l)
		}
	}
}

func TestLogSettings(t *testing.T) {
	_, spec := logSite(t, 0)

	t.Run("--logfile creates its directory and takes every line, the stats included", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "logs", "sub", "crawl.log")
		code, _, stderr := runCLI(t, "run", spec, "--logfile", path)
		if code != 0 || strings.Contains(stderr, "INFO:") {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		b, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(b), "INFO: Spider opened") || !strings.Contains(string(b), "item_scraped_count: 3") {
			t.Fatalf("log file (%v):\n%s", err, b)
		}
		// LOG_FILE_APPEND (Scrapy's default): a second run appends.
		if code, _, _ := runCLI(t, "run", spec, "--logfile", path); code != 0 {
			t.Fatal(code)
		}
		b2, _ := os.ReadFile(path)
		if !strings.HasPrefix(string(b2), string(b)) || len(b2) <= len(b) {
			t.Fatalf("second run did not append")
		}
		if code, _, _ := runCLI(t, "run", spec, "--logfile", path, "-s", "LOG_FILE_APPEND=false"); code != 0 {
			t.Fatal(code)
		}
		if b3, _ := os.ReadFile(path); len(b3) >= len(b2) {
			t.Fatalf("LOG_FILE_APPEND=false kept the old lines")
		}
	})

	t.Run("--nolog writes nothing", func(t *testing.T) {
		code, stdout, stderr := runCLI(t, "run", spec, "--nolog", "-o", "-")
		if code != 0 || stderr != "" || strings.Count(stdout, "\n") != 3 {
			t.Fatalf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
		}
	})

	t.Run("at WARNING the stats are not shown, as in Scrapy", func(t *testing.T) {
		code, _, stderr := runCLI(t, "run", spec, "-L", "WARNING")
		if code != 0 || strings.Contains(stderr, "Dumping") || strings.Contains(stderr, "INFO:") {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
	})

	t.Run("LOG_FORMAT json: one object a line", func(t *testing.T) {
		code, _, stderr := runCLI(t, "run", spec, "-s", "LOG_FORMAT=json")
		if code != 0 {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
		n := 0
		for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil || m["level"] == nil || m["msg"] == nil {
				t.Fatalf("not a JSON log line (%v): %q", err, l)
			}
			n++
		}
		if n < 3 {
			t.Fatalf("%d lines", n)
		}
	})

	t.Run("a Scrapy LOG_FORMAT string is accepted and ignored with a warning", func(t *testing.T) {
		code, _, stderr := runCLI(t, "run", spec, "-s", "LOG_FORMAT=%(levelname)s: %(message)s")
		if code != 0 || !strings.Contains(stderr, "WARNING: LOG_FORMAT is a Scrapy format string: ignored") {
			t.Fatalf("exit %d:\n%s", code, stderr)
		}
	})

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"-s", "LOG_FORMAT=yaml"}, `LOG_FORMAT: "yaml": want text or json`},
			{[]string{"--logfile", "/proc/self/no/such/dir/log"}, "LOG_FILE: mkdir /proc/self/no"},
			{[]string{"-s", "LOGSTATS_INTERVAL=soon"}, "LOGSTATS_INTERVAL"},
		} {
			code, _, stderr := runCLI(t, append([]string{"run", spec}, tc.args...)...)
			if code != 2 || !strings.Contains(stderr, tc.want) || strings.Contains(stderr, "goroutine ") {
				t.Errorf("%v: exit %d, want 2 and %q:\n%s", tc.args, code, tc.want, stderr)
			}
		}
	})
}

// On a terminal a progress line is drawn below the log and erased at the
// end; piped (every other test), never.
func TestProgressLineOnTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the CLI under a pseudo-terminal")
	}
	_, spec := logSite(t, 400*time.Millisecond)
	p := startPTY(t, nil, "run", spec, "-s", "CONCURRENT_REQUESTS=1")
	p.expect("/s) · ") // "N pages (R/s) · N items (R/s) · queue …": the progress line, not the LogStats line
	p.expect(" · queue ")
	p.expect("Dumping spiderrun stats:")
	if err := <-p.done; err != nil {
		t.Fatalf("exit: %v\n%s", err, p.output())
	}
	out := p.output()
	if !strings.Contains(out, "\r\x1b[K") {
		t.Fatalf("the progress line is not erased before log lines:\n%q", out)
	}
	_, _, stderr := runCLI(t, "run", spec, "-s", "CONCURRENT_REQUESTS=4")
	if strings.Contains(stderr, "\x1b[K") || strings.Contains(stderr, " · queue ") {
		t.Fatalf("progress line written to a pipe:\n%q", stderr)
	}
}
