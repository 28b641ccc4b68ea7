package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spiderrun/spiderrun"
)

// TestValidateEqualsRun checks decode → validate → build (STYLE.md rule
// 6): for every setting combination and settings-named file that only the
// wiring used to discover, `validate` and `run` fail the same way (exit 2,
// the same file:line:col: path: message lines) and run starts no crawl: no
// request reaches the server the spec points at. Its mutations subtest
// checks the same on mutants of the examples.
func TestValidateEqualsRun(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "<html><body>page</body></html>")
	}))
	defer srv.Close()

	const script = "export function parse(response) {}\nexport function opened() {}\n"
	cases := []struct {
		name     string
		extra    string   // YAML appended to the spec (settings:, hooks: ...)
		args     []string // -s flags given to both commands
		files    map[string]string
		script   string // replaces the script when set
		want     string // the message validate prints (and run prints the same)
		wantLine string // "spider.yaml:L:C: " prefix the error must carry ("" = no position)
	}{
		{name: "jobdir with redis", extra: "settings:\n  SCHEDULER: redis\n  JOBDIR: job\n",
			want: "settings.JOBDIR: a Redis crawl keeps its state in Redis; JOBDIR is for crawls on one machine", wantLine: ":6:11: "},
		{name: "jobdir with redis_key", extra: "redis_key: q:start\nsettings:\n  JOBDIR: job\n",
			want: "settings.JOBDIR: a Redis crawl keeps its state in Redis", wantLine: ":6:11: "},
		{name: "bloom in memory", extra: "settings:\n  DUPEFILTER: bloom\n",
			want: "settings.DUPEFILTER: bloom needs SCHEDULER: redis (the memory scheduler keeps an exact dupefilter)", wantLine: ":5:15: "},
		{name: "bloom on disk", extra: "settings:\n  DUPEFILTER: bloom\n  JOBDIR: job\n",
			want: "settings.DUPEFILTER: bloom needs SCHEDULER: redis (the disk scheduler keeps an exact dupefilter)", wantLine: ":5:15: "},
		{name: "unknown impersonate profile", extra: "settings:\n  IMPERSONATE: netscape_4\n",
			want: "settings.IMPERSONATE: ", wantLine: ":5:16: "},
		{name: "missing impersonate profile file", extra: "settings:\n  IMPERSONATE: profiles/mine.yaml\n",
			want: "settings.IMPERSONATE: impersonate profile: ", wantLine: ":5:16: "},
		{name: "missing redis ca file", extra: "settings:\n  REDIS_URL: rediss://127.0.0.1:1/0\n  REDIS_TLS_CA_FILE: ca.pem\n",
			want: `settings.REDIS_TLS_CA_FILE: CA file "ca.pem": no such file or directory`, wantLine: ":6:22: "},
		{name: "redis ca file without tls", extra: "settings:\n  REDIS_TLS_CA_FILE: ca.pem\n",
			files: map[string]string{"ca.pem": "not a certificate\n"},
			want:  "settings.REDIS_TLS_CA_FILE: a CA file needs a rediss:// REDIS_URL", wantLine: ":5:22: "},
		{name: "redis ca file without a certificate", extra: "settings:\n  REDIS_URL: rediss://127.0.0.1:1/0\n  REDIS_TLS_CA_FILE: ca.pem\n",
			files: map[string]string{"ca.pem": "not a certificate\n"},
			want:  "settings.REDIS_TLS_CA_FILE: ca.pem: no PEM certificate found", wantLine: ":6:22: "},
		{name: "short redis lease", extra: "settings:\n  REDIS_LEASE_TIMEOUT: 100ms\n",
			want: "settings.REDIS_LEASE_TIMEOUT: must be at least 300ms", wantLine: ":5:24: "},
		{name: "hook names a missing function", extra: "hooks:\n  spider_closed: closed\n",
			want: `hooks.spider_closed: unknown hook "closed" (exported: opened, parse)`, wantLine: ":5:18: "},
		{name: "pipeline names a missing function", extra: "pipelines: [clean]\n",
			want: `pipelines[0]: unknown pipeline "clean" (exported: opened, parse)`, wantLine: ":4:13: "},
		{name: "pipeline written as one string", extra: "pipelines: clean\n",
			want: `pipelines[0]: unknown pipeline "clean" (exported: opened, parse)`, wantLine: ":4:12: "},
		{name: "bloom filter too large for redis", extra: "settings:\n  SCHEDULER: redis\n  DUPEFILTER: bloom\n  DUPEFILTER_BLOOM_CAPACITY: 1000000000\n",
			want: "settings.DUPEFILTER_BLOOM_CAPACITY: a bloom filter for 1000000000 entries at error rate 0.001 needs 14377587567 bits; one redis string holds at most 2^32 bits", wantLine: ":7:30: "},
		{name: "feed under a file", extra: "feeds:\n  spider.js/items.jsonl: {}\n",
			want: `feeds["spider.js/items.jsonl"]: spider.js is not a directory`, wantLine: ":5:3: "},
		{name: "unknown feed export encoding", extra: "settings:\n  FEED_EXPORT_ENCODING: klingon\n",
			want: `settings.FEED_EXPORT_ENCODING: unknown encoding "klingon" (write a Python codec name such as latin-1 or cp1251, or a WHATWG label)`, wantLine: ":5:25: "},
		{name: "unknown feed encoding", extra: "feeds:\n  items.jsonl: {encoding: klingon}\n",
			want: `feeds["items.jsonl"].encoding: unknown encoding "klingon"`, wantLine: ":5:27: "},
		{name: "feed with an unknown parameter", extra: "feeds:\n  \"%(category)s.jsonl\": {}\n",
			want: `feeds["%(category)s.jsonl"]: unknown parameter %(category)s (known: name, time, batch_id, batch_time; no spider arguments given with -a)`, wantLine: ":5:3: "},
		{name: "httpcache dir on a file", extra: "settings:\n  HTTPCACHE_ENABLED: true\n  HTTPCACHE_DIR: spider.js\n",
			want: "settings.HTTPCACHE_DIR: spider.js is not a directory", wantLine: ":6:18: "},
		{name: "commonjs callback missing", extra: "callback: parse_item\n",
			script: "module.exports = { parse(response) {} };\n",
			want:   `callback: unknown callback "parse_item" (exported: parse)`, wantLine: ":4:11: "},
		{name: "commonjs pipeline missing", extra: "pipelines: [clean]\n",
			script: "exports.parse = function (response) {};\n",
			want:   `pipelines[0]: unknown pipeline "clean" (exported: parse)`, wantLine: ":4:13: "},
		{name: "export that is not a function", extra: "pipelines: [clean]\n",
			script: "export function parse(response) {}\nexport const clean = 1;\n",
			want:   `pipelines[0]: pipeline "clean" is exported but is not a function`, wantLine: ":4:13: "},
		{name: "top-level reference error", script: "export function parse(response) {}\nfoo.bar();\n",
			want: "ReferenceError: foo is not defined (script top level)", wantLine: "spider.js:2:1: "},
		{name: "literal callback in the script", script: "export function* start() {\n  yield new Request({url: \"https://example.com/\", callback: \"prase\"});\n}\nexport function parse(response) {}\n",
			want: `unknown callback "prase" (exported: parse, start)`, wantLine: "spider.js:2:61: "},
		{name: "literal selector in the script", script: "export function parse(response) {\n  return {a: response.css(\"a::txt\").get()};\n}\n",
			want: `invalid CSS selector "a::txt": unsupported pseudo-element ::txt (parsel has ::text and ::attr(name))`, wantLine: "spider.js:2:27: "},
		{name: "raw byte in a regex literal", script: "export function parse(response) {\n  return /a\xffb/.test(response.text) ? {} : null;\n}\n",
			want: "invalid UTF-8 byte 0xff: a script must be UTF-8 text", wantLine: "spider.js:2:12: "},
		{name: "gzipped script", script: "\x1f\x8b\x08\x00\x00\x00\x00\x00",
			want: "binary file: a script must be UTF-8 text", wantLine: "spider.js:1:1: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			spec := filepath.Join(dir, "spider.yaml")
			yaml := "name: v\nscript: spider.js\nstart_urls: [\"" + srv.URL + "/\"]\n" + c.extra
			writeFile(t, spec, yaml)
			js := script
			if c.script != "" {
				js = c.script
			}
			writeFile(t, filepath.Join(dir, "spider.js"), js)
			for name, body := range c.files {
				writeFile(t, filepath.Join(dir, name), body)
			}
			before := hits.Load()

			code, stdout, vErr := runCLI(t, append([]string{"validate", spec}, c.args...)...)
			if code != exitUsage || stdout != "" {
				t.Fatalf("validate: exit %d, stdout %q, stderr %q; want exit %d", code, stdout, vErr, exitUsage)
			}
			where := spec
			if !strings.HasPrefix(c.wantLine, ":") { // a position in the script
				where = dir + "/"
			}
			if !strings.Contains(vErr, where+c.wantLine+c.want) {
				t.Errorf("validate stderr:\n%s\nwant %q", vErr, where+c.wantLine+c.want)
			}

			out := filepath.Join(dir, "out.jsonl")
			code, _, rErr := runCLI(t, append([]string{"run", spec, "-O", out}, c.args...)...)
			if code != exitUsage {
				t.Fatalf("run: exit %d, stderr %q; want exit %d", code, rErr, exitUsage)
			}
			// run prints the same problems, after the program's name.
			if want := "spiderrun: " + strings.TrimRight(vErr, "\n") + "\n"; rErr != want {
				t.Errorf("run stderr:\n%s\nvalidate stderr:\n%s", rErr, vErr)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("run sent %d requests for an invalid spec", n)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("run created the feed %s for an invalid spec", out)
			}
		})
	}
	// The same property over generated specs and scripts
	// (validate_mutate_test.go).
	t.Run("mutations", validateRunMutations)
}

// TestValidSpecsBuild checks the other half: a spec validate accepts is
// one run builds (spiderrun.New) without a spec error. It stops before the
// crawl: the examples point at real sites.
func TestValidSpecsBuild(t *testing.T) {
	specs, _ := filepath.Glob("../../examples/*/spider.yaml")
	valid, _ := filepath.Glob("../../testdata/specs/valid/*/spider.yaml")
	specs = append(specs, valid...)
	if len(specs) < 6 {
		t.Fatalf("only %d valid specs found", len(specs))
	}
	for _, path := range specs {
		t.Run(path, func(t *testing.T) {
			if code, _, stderr := runCLI(t, "validate", path); code != exitOK {
				t.Fatalf("validate: exit %d, stderr:\n%s", code, stderr)
			}
			var f runFlags
			l, err := f.load(path)
			if err != nil {
				t.Fatalf("run's load: %v", err)
			}
			c, err := spiderrun.New(spiderrun.Options{Spec: l.spec, Program: l.prog, Args: l.args, NoFeeds: true})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			c.Close()
		})
	}
}

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
