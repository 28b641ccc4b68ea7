package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/spiderrun/spiderrun/internal/proctest"
)

// TestTemporaryDiskFrontier: SCHEDULER disk without JOBDIR (issue 21's
// opt-in disk frontier for memory mode) crawls from a temporary directory
// in TMPDIR — every page once, as in memory mode — says where in the log,
// and removes the directory when the crawl closes.
func TestTemporaryDiskFrontier(t *testing.T) {
	const n = 300
	site := newLinkSite(t, n)
	spec := jobdirSpec(t, site.URL, 8)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // runCLI runs in this process: os.MkdirTemp reads it (so not parallel)
	items := filepath.Join(t.TempDir(), "items.jsonl")
	code, _, stderr := runCLI(t, "run", spec, "-s", "SCHEDULER=disk", "-o", items, "-s", "LOG_LEVEL=INFO")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	m := regexp.MustCompile(`disk frontier in a temporary directory.* dir=(\S+)`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no log line naming the temporary frontier:\n%s", stderr)
	}
	if filepath.Dir(m[1]) != tmp {
		t.Errorf("frontier in %s, want a directory of TMPDIR %s", m[1], tmp)
	}
	if _, err := os.Stat(m[1]); !os.IsNotExist(err) {
		t.Errorf("the temporary frontier %s is still there after the crawl (stat: %v)", m[1], err)
	}
	// The same crawl in memory mode: the same items (the start page twice
	// in both, as in Scrapy: start_urls are dont_filter and a page links
	// back to it).
	mem := filepath.Join(t.TempDir(), "mem.jsonl")
	if code, _, stderr := runCLI(t, "run", spec, "-o", mem); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got, want := readLines(t, items, ""), readLines(t, mem, "")
	missing, dups := proctest.PageItems(t, got, site.URL, n)
	memMissing, memDups := proctest.PageItems(t, want, site.URL, n)
	if missing > 0 || dups != memDups || memMissing > 0 {
		t.Errorf("disk frontier: %d pages without an item, %d duplicates; memory mode: %d, %d", missing, dups, memMissing, memDups)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("the items differ from memory mode's (%d vs %d lines)", len(got), len(want))
	}
}
