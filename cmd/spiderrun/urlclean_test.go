package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// sessionTrapSite serves pages 0..n-1; every link carries a fresh 32-hex
// session id (the way servlet and PHP sites rewrite URLs for clients
// without cookies) and a utm_source tag, so without stripping each visit
// finds "new" URLs for pages already seen. It records the paths served.
func sessionTrapSite(t *testing.T, n int) (string, func() map[string]int) {
	var mu sync.Mutex
	served := map[string]int{}
	url := serveOn(t, "127.0.0.1", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served[r.URL.Path]++
		mu.Unlock()
		var b strings.Builder
		for i := range n {
			id := make([]byte, 16)
			rand.Read(id)
			fmt.Fprintf(&b, `<a href="/p/%d?PHPSESSID=%s&utm_source=nav">%d</a> `, i, hex.EncodeToString(id), i)
			fmt.Fprintf(&b, `<a href="/q/%d;jsessionid=%s">%d</a> `, i, strings.ToUpper(hex.EncodeToString(id)), i)
		}
		fmt.Fprint(w, "<html><body>"+b.String()+"</body></html>")
	}))
	return url, func() map[string]int {
		mu.Lock()
		defer mu.Unlock()
		return served
	}
}

// TestStripSessionIDsEndToEnd: with URL_STRIP_SESSION_IDS and
// URL_STRIP_PARAMS a crawl of a site that puts a fresh session id in every
// link fetches each page once and stops (the stats count the cleaned
// requests); with them off the same crawl fetches pages again and again
// until CLOSESPIDER_PAGECOUNT stops it.
func TestStripSessionIDsEndToEnd(t *testing.T) {
	t.Parallel()
	const pages = 20
	for _, strip := range []bool{true, false} {
		t.Run(fmt.Sprintf("strip=%v", strip), func(t *testing.T) {
			t.Parallel()
			site, served := sessionTrapSite(t, pages)
			dir := t.TempDir()
			write(t, filepath.Join(dir, "spider.js"), `
export function* start() { yield new Request({ url: spider.args.site + "/", callback: parse }); }
export function parse(response) { return response.follow_all(response.css("a::attr(href)").getall()); }
`)
			spec := filepath.Join(dir, "spider.yaml")
			write(t, spec, fmt.Sprintf("name: trap\nscript: spider.js\nsettings: {ROBOTSTXT_OBEY: false, CLOSESPIDER_PAGECOUNT: 300, URL_STRIP_SESSION_IDS: %v, URL_STRIP_PARAMS: [\"127.0.0.1:utm_*\"]}\n", strip))
			stats := filepath.Join(dir, "stats.json")
			if code, _, stderr := runCLI(t, "run", spec, "-a", "site="+site, "--stats-json", stats); code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			got := served()
			st := readStats(t, stats)
			if !strip {
				if st["finish_reason"] != "closespider_pagecount" {
					t.Fatalf("without stripping the crawl ended %v, want closespider_pagecount (the trap)", st["finish_reason"])
				}
				return
			}
			for i := range pages {
				for _, p := range []string{fmt.Sprintf("/p/%d", i), fmt.Sprintf("/q/%d", i)} {
					if got[p] != 1 {
						t.Errorf("%s fetched %d times, want once", p, got[p])
					}
				}
			}
			if st["finish_reason"] != "finished" {
				t.Errorf("finish_reason %v, want finished", st["finish_reason"])
			}
			// 2 links per page on each of the 41 pages, all with a session id.
			if n := st["urlclean/session_ids_stripped_count"]; n != float64(2*pages*(2*pages+1)) {
				t.Errorf("urlclean/session_ids_stripped_count = %v, want %d", n, 2*pages*(2*pages+1))
			}
			if n := st["urlclean/params_stripped_count"]; n != float64(pages*(2*pages+1)) {
				t.Errorf("urlclean/params_stripped_count = %v, want %d", n, pages*(2*pages+1))
			}
		})
	}
}

// TestStripParamsBadEntry: a URL_STRIP_PARAMS entry that is not
// [HOST:]NAME is refused before the crawl, naming the entry.
func TestStripParamsBadEntry(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ entry, want string }{
		{":ref", "the host before"},
		{"example.com:", "no parameter name"},
		{"a=b", "is not a parameter name"},
		{"ut*m", "is not a parameter name"},
	} {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "spider.js"), "export function parse() {}\n")
		spec := filepath.Join(dir, "spider.yaml")
		write(t, spec, fmt.Sprintf("name: bad\nscript: spider.js\nsettings:\n  URL_STRIP_PARAMS: [%q]\n", c.entry))
		code, _, stderr := runCLI(t, "run", spec)
		if code == 0 || !strings.Contains(stderr, "URL_STRIP_PARAMS") || !strings.Contains(stderr, c.want) || !strings.Contains(stderr, "spider.yaml:4") {
			t.Errorf("entry %q: exit %d, stderr:\n%s\nwant the setting, %q and spider.yaml:4", c.entry, code, stderr, c.want)
		}
		if strings.Contains(stderr, "goroutine") {
			t.Errorf("entry %q: a Go stack trace:\n%s", c.entry, stderr)
		}
	}
}
