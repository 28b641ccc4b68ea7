package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFeedURIParams: Scrapy's feed URI parameters in -o and in the spec's
// feeds: — %(name)s the spider's name, %(time)s the start time in UTC as
// Scrapy writes it, %(ARG)s a spider argument — and the directory they
// name is created.
func TestFeedURIParams(t *testing.T) {
	dir, spec := feedSpider(t, pageServer(t))
	before := time.Now().UTC().Truncate(time.Second)
	code, _, stderr := runCLI(t, "run", spec, "-a", "category=sci-fi",
		"-o", filepath.Join(dir, "out", "%(name)s", "%(category)s-%(time)s.jsonl"))
	if code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", code, stderr)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "out", "books", "sci-fi-*.jsonl"))
	if len(matches) != 1 {
		t.Fatalf("feeds: %v", matches)
	}
	stamp := strings.TrimSuffix(strings.TrimPrefix(filepath.Base(matches[0]), "sci-fi-"), ".jsonl")
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d$`).MatchString(stamp) {
		t.Fatalf("%%(time)s = %q, want Scrapy's 2026-12-07T06-16-00 form", stamp)
	}
	if ts, err := time.Parse("2006-01-02T15-04-05", stamp); err != nil || ts.Before(before) || ts.After(time.Now().UTC()) {
		t.Errorf("%%(time)s = %s, not the start time in UTC (%v)", stamp, err)
	}
	if b, err := os.ReadFile(matches[0]); err != nil || string(b) != "{\"status\":200}\n" {
		t.Errorf("feed: %q, %v", b, err)
	}

	// An unknown parameter in -o is a usage error that lists the known ones.
	code, _, stderr = runCLI(t, "run", spec, "-o", filepath.Join(dir, "%(categry)s.jsonl"))
	want := "spiderrun: feed " + filepath.Join(dir, "%(categry)s.jsonl") + ": unknown parameter %(categry)s (known: name, time, batch_id, batch_time; no spider arguments given with -a)\n"
	if code != exitUsage || stderr != want {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitUsage, want)
	}

	// In the spec's feeds:, validate and run check it with the -a given.
	writeFile(t, spec, strings.Replace(readFile(t, spec), "name: books\n", "name: books\nfeeds:\n  \"%(name)s/%(category)s.jsonl\": {}\n", 1))
	if code, _, stderr := runCLI(t, "validate", "-a", "category=poetry", spec); code != exitOK {
		t.Fatalf("validate with -a: exit %d, stderr:\n%s", code, stderr)
	}
	code, _, vErr := runCLI(t, "validate", spec)
	want = spec + `:3:3: feeds["%(name)s/%(category)s.jsonl"]: unknown parameter %(category)s (known: name, time, batch_id, batch_time; no spider arguments given with -a)` + "\n"
	if code != exitUsage || vErr != want {
		t.Errorf("validate without -a: exit %d, stderr %q; want %q", code, vErr, want)
	}
	if code, _, stderr := runCLI(t, "run", spec, "-a", "category=poetry"); code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", code, stderr)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "books", "poetry.jsonl")); err != nil || string(b) != "{\"status\":200}\n" {
		t.Errorf("spec feed: %q, %v", b, err)
	}
}

// TestSettingsCustomWarning: a custom setting whose name is close to a
// known one is a warning in validate and in run's log, not an error.
func TestSettingsCustomWarning(t *testing.T) {
	dir, spec := feedSpider(t, pageServer(t))
	writeFile(t, spec, readFile(t, spec)+"settings:\n  DOWNLOAD_DELAI: 2\n")
	w := spec + `:5:3: settings.DOWNLOAD_DELAI: unknown setting "DOWNLOAD_DELAI" kept as a custom setting (did you mean "DOWNLOAD_DELAY"?)`
	code, stdout, stderr := runCLI(t, "validate", spec)
	if code != exitOK || stderr != "warning: "+w+"\n" || !strings.HasPrefix(stdout, "ok: ") {
		t.Errorf("validate: exit %d, stdout %q, stderr %q; want 0 and %q", code, stdout, stderr, "warning: "+w)
	}
	code, _, stderr = runCLI(t, "run", spec, "-O", filepath.Join(dir, "out.jsonl"), "-s", "RETRY_TIME=1")
	if code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", code, stderr)
	}
	for _, want := range []string{
		"WARNING: " + w,
		`WARNING: -s RETRY_TIME: unknown setting "RETRY_TIME" kept as a custom setting (did you mean "RETRY_TIMES"?)`,
	} {
		if strings.Count(stderr, want) != 1 {
			t.Errorf("run's log lacks (once) %q:\n%s", want, stderr)
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestFeedExportSettings: FEED_EXPORT_FIELDS, FEED_EXPORT_INDENT and
// FEED_EXPORT_ENCODING apply to -o feeds and to the spec's feeds that do
// not set their own fields, indent or encoding (the indented layout is
// Scrapy's JsonItemExporter's, checked against Scrapy in runtime/feed).
func TestFeedExportSettings(t *testing.T) {
	srv := pageServer(t)
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	writeFile(t, spec, "name: books\nscript: spider.js\nstart_urls: [\""+srv.URL+"/\"]\n"+
		"feeds:\n  own.json: {fields: [c], indent: 0}\n"+
		"settings:\n  FEED_EXPORT_FIELDS: [b, a]\n  FEED_EXPORT_INDENT: 2\n  FEED_EXPORT_ENCODING: latin-1\n")
	writeFile(t, filepath.Join(dir, "spider.js"), "export function parse(response) { return {a: 1, b: \"é\", c: 3}; }\n")
	out := filepath.Join(dir, "o.json")
	if code, _, stderr := runCLI(t, "run", spec, "-O", out); code != exitOK {
		t.Fatalf("run: exit %d, stderr:\n%s", code, stderr)
	}
	if got, want := readFile(t, out), "[\n{\n  \"b\": \"\xe9\",\n  \"a\": 1\n}\n]\n"; got != want {
		t.Errorf("-O with FEED_EXPORT_*: %q, want %q", got, want)
	}
	if got, want := readFile(t, filepath.Join(dir, "own.json")), "[\n{\"c\":3}\n]\n"; got != want {
		t.Errorf("feed with its own options: %q, want %q", got, want)
	}
}
