package main

import (
	"path/filepath"
	"regexp"
	"testing"

	"github.com/spiderrun/spiderrun/internal/proctest"
)

// TestJobdirDupefilterFilter: a JOBDIR crawl answers every new URL from
// the in-memory filter in front of the dupefilter on disk (the stats count
// the disk reads it saved: dupefilter/filter_negative), and with
// DUPEFILTER_FP_RATE set so loose that the filter says "maybe seen" for
// many new URLs, the exact set on disk still decides: the same pages are
// scraped, each once, as with the default filter.
func TestJobdirDupefilterFilter(t *testing.T) {
	t.Parallel()
	const n = 300
	site := newLinkSite(t, n)
	spec := jobdirSpec(t, site.URL, 8)
	var jobdir, stderr string
	run := func(settings ...string) (map[string]any, []string) {
		dir := t.TempDir()
		jobdir = filepath.Join(dir, "job")
		items, statsFile := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "stats.json")
		args := append([]string{"run", spec, "--jobdir", jobdir, "-o", items, "--stats-json", statsFile}, settings...)
		var code int
		if code, _, stderr = runCLI(t, args...); code != exitOK {
			t.Fatalf("%v: exit %d\n%s", settings, code, tail(stderr))
		}
		return readStats(t, statsFile), readLines(t, items, "")
	}
	for _, c := range []struct {
		name     string
		settings []string
		minFalse int
	}{
		{"default", nil, 0},
		{"loose", []string{"-s", "DUPEFILTER_EXPECTED_URLS=1000", "-s", "DUPEFILTER_FP_RATE=0.99"}, 20},
	} {
		st, items := run(c.settings...)
		neg, fpos := statInt(st, "dupefilter/filter_negative"), statInt(st, "dupefilter/filter_false_positive")
		pages := statInt(st, "response_received_count")
		t.Logf("%s: %d pages, %d disk reads saved by the filter (%.2f per page), %d false positives, filter %d bytes",
			c.name, pages, neg, float64(neg)/float64(pages), fpos, statInt(st, "dupefilter/filter_bytes"))
		// Every page's URL but the start page's (dont_filter) goes
		// through the filter once as a new URL: /page/0 too, as a link.
		if neg+fpos != n {
			t.Errorf("%s: %d negative + %d false positive answers for %d new URLs", c.name, neg, fpos, n)
		}
		if fpos < c.minFalse || (c.minFalse == 0 && fpos > n/50) {
			t.Errorf("%s: %d false positives", c.name, fpos)
		}
		missing, dups := proctest.PageItems(t, items, site.URL, n)
		// The start page twice (start_urls are dont_filter, and pages link
		// back to it), every other page once.
		if missing > 0 || dups != 1 {
			t.Errorf("%s: %d pages without an item, %d duplicates (want 0 and 1)", c.name, missing, dups)
		}
	}

	// The finished crawl's JOBDIR again: the filter is rebuilt from the
	// 300 fingerprints, says "maybe" for every link of the start page
	// (all seen), and the bucket confirms them: only the start page is
	// fetched.
	dir := t.TempDir()
	items, statsFile := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "stats.json")
	code, _, stderr := runCLI(t, "run", spec, "--jobdir", jobdir, "-o", items, "--stats-json", statsFile,
		"-s", "DUPEFILTER_EXPECTED_URLS=1000", "-s", "DUPEFILTER_FP_RATE=0.99", "-L", "INFO")
	if code != exitOK {
		t.Fatalf("second run: exit %d\n%s", code, tail(stderr))
	}
	if !regexp.MustCompile(`dupefilter filter rebuilt from the jobdir .*fingerprints=300 `).MatchString(stderr) {
		t.Errorf("no rebuild log line for 300 fingerprints:\n%s", tail(stderr))
	}
	st := readStats(t, statsFile)
	if got := readLines(t, items, ""); len(got) != 1 {
		t.Errorf("second run on the finished JOBDIR scraped %d items, want the start page's only", len(got))
	}
	if neg := statInt(st, "dupefilter/filter_negative"); neg != 0 {
		t.Errorf("the rebuilt filter said %d seen URLs were new", neg)
	}
	if f := statInt(st, "dupefilter/filtered"); f == 0 {
		t.Errorf("no duplicate filtered on the second run")
	}
}
