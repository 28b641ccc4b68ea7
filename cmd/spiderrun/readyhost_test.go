package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRunSlowHostDoesNotStarve: `spiderrun run` with the ready-host layer
// wired to its downloader (SCHEDULER_WAITING_MAX's default). Two loopback
// hosts, 127.0.0.2 (slow: its responses are held until every page of the
// other has arrived) and 127.0.0.1; the seed page links to 10 pages of the
// slow host first, then 40 of the other. CONCURRENT_REQUESTS 4 and
// CONCURRENT_REQUESTS_PER_DOMAIN 1: without the layer the slow host's
// requests take every fetch place (one held at the server, three waiting
// for its slot) and no page of the other host is fetched until the slow
// host lets go. With it, every page of the fast host arrives while the slow
// host holds its one request, and every page is fetched once.
func TestRunSlowHostDoesNotStarve(t *testing.T) {
	const nSlow, nFast = 10, 40
	var (
		mu       sync.Mutex
		hits     = map[string]int{}
		fast     int
		slowSeen int // slow requests that had arrived when the fast pages were done
		timedOut bool
		atSafety int // fast pages arrived when the safety net let the slow host go
		once     sync.Once
		release  = make(chan struct{})
	)
	open := func() { once.Do(func() { close(release) }) }
	// The safety net of a broken layer: the slow host would hold the
	// crawl's every fetch place until it lets go.
	safety := time.AfterFunc(time.Minute, func() {
		mu.Lock()
		timedOut = true
		atSafety = fast
		mu.Unlock()
		open()
	})
	defer safety.Stop()

	var slowURL, fastURL string
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		mu.Lock()
		hits[host+r.URL.Path]++
		slowNow := hits["127.0.0.2"]
		if host == "127.0.0.2" {
			hits["127.0.0.2"]++
		}
		if strings.HasPrefix(r.URL.Path, "/f/") {
			if fast++; fast == nFast {
				slowSeen = slowNow
				open()
			}
		}
		mu.Unlock()
		if host == "127.0.0.2" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<html><head><title>%s%s</title></head><body>", host, r.URL.Path)
		if r.URL.Path == "/seed" {
			for i := range nSlow {
				fmt.Fprintf(w, `<a href="%s/s/%d">s</a> `, slowURL, i)
			}
			for i := range nFast {
				fmt.Fprintf(w, `<a href="%s/f/%d">f</a> `, fastURL, i)
			}
		}
		fmt.Fprint(w, "</body></html>")
	})
	fastSrv := httptest.NewServer(handler)
	defer fastSrv.Close()
	ln, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatalf("listen on 127.0.0.2 (a second loopback address): %v", err)
	}
	slowSrv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler}}
	slowSrv.Start()
	defer func() { open(); slowSrv.Close() }()
	slowURL, fastURL = slowSrv.URL, fastSrv.URL

	dir := t.TempDir()
	write(t, filepath.Join(dir, "crawl.js"), crawlJS)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, fmt.Sprintf(`name: readyhost
start_urls: [%s/seed]
script: crawl.js
settings:
  CONCURRENT_REQUESTS: 4
  CONCURRENT_REQUESTS_PER_DOMAIN: 1
  ROBOTSTXT_OBEY: false
  LOG_LEVEL: WARNING
`, fastURL))
	items := filepath.Join(dir, "items.jsonl")
	if code, _, stderr := runCLI(t, "run", spec, "-o", items); code != exitOK {
		t.Fatalf("run exited %d:\n%s", code, stderr)
	}
	mu.Lock()
	defer mu.Unlock()
	if timedOut {
		t.Fatalf("only %d of the %d pages of 127.0.0.1 were fetched while 127.0.0.2 held its request: head-of-line blocking", atSafety, nFast)
	}
	if slowSeen > 1 {
		t.Errorf("127.0.0.2 had received %d requests when the other host's pages were done; its concurrency is 1", slowSeen)
	}
	for i := range nSlow {
		if n := hits[fmt.Sprintf("127.0.0.2/s/%d", i)]; n != 1 {
			t.Errorf("/s/%d fetched %d times", i, n)
		}
	}
	for i := range nFast {
		if n := hits[fmt.Sprintf("127.0.0.1/f/%d", i)]; n != 1 {
			t.Errorf("/f/%d fetched %d times", i, n)
		}
	}
	if n := lineCount(items); n != 1+nSlow+nFast {
		t.Errorf("%d items, want %d", n, 1+nSlow+nFast)
	}
}
