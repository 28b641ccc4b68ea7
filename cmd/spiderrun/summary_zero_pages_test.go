package main

import (
	"bufio"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
)

// closedPort returns a loopback address nothing listens on: connecting
// to it is refused.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// hangUpPort returns a loopback address that accepts connections and
// closes them once the request is read, before any response.
func hangUpPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			// Read the whole request first: closing with unread bytes
			// sends a reset instead of an end of stream, and the failure
			// would be a ConnectionResetError only sometimes.
			go func() {
				defer c.Close()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						return
					}
				}
			}()
		}
	}()
	return l.Addr().String()
}

// warningLines returns the log lines at WARNING that contain s.
func warningLines(out, s string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "WARNING") && strings.Contains(l, s) {
			ls = append(ls, l)
		}
	}
	return ls
}

// TestSummaryZeroPages: a run that crawls nothing says why in one WARNING
// line of its final summary: every start request failed (with the count
// of each failure), or robots.txt could not be fetched and ROBOTSTXT_OBEY
// refused every request.
func TestSummaryZeroPages(t *testing.T) {
	t.Parallel()
	robots500 := fixture.New(t, fixture.Options{Pages: 3})
	robots500.SetRobots(500, "", 0)
	refused1, refused2, hangUp := closedPort(t), closedPort(t), hangUpPort(t)
	cases := []struct {
		name     string
		starts   []string
		settings string
		want     string
	}{
		{"all start requests failed",
			[]string{"http://" + refused1 + "/a", "http://" + refused2 + "/b", "http://" + hangUp + "/c"},
			"ROBOTSTXT_OBEY: false, RETRY_ENABLED: false",
			"0 pages crawled: all 3 start requests failed (2 connection refused, 1 connection error)"},
		{"one start request failed after its retries",
			[]string{"http://" + refused1 + "/a"},
			"ROBOTSTXT_OBEY: false, RETRY_TIMES: 1",
			"0 pages crawled: the 1 start request failed (1 connection refused)"},
		{"robots.txt answers 500",
			[]string{robots500.URL + "/site/0", robots500.URL + "/site/1"},
			"ROBOTSTXT_OBEY: true",
			"0 pages crawled: robots.txt unreachable for " + robots500.Addr() + " (HTTP 500): every request was refused by ROBOTSTXT_OBEY"},
		{"robots.txt connection refused",
			[]string{"http://" + refused2 + "/x"},
			"ROBOTSTXT_OBEY: true, RETRY_ENABLED: false",
			"0 pages crawled: robots.txt unreachable for " + refused2 + " (connection refused): every request was refused by ROBOTSTXT_OBEY"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			write(t, filepath.Join(dir, "spider.js"), "export function* parse(response) { yield { url: response.url }; }\n")
			spec := filepath.Join(dir, "spider.yaml")
			write(t, spec, "name: nothing\nstart_urls: ["+strings.Join(c.starts, ", ")+"]\nscript: spider.js\nsettings: {"+c.settings+"}\n")
			_, _, stderr := runCLI(t, "run", spec, "-o", filepath.Join(dir, "items.jsonl"))
			if got := warningLines(stderr, "0 pages crawled"); len(got) != 1 || !strings.Contains(got[0], c.want) {
				t.Fatalf("want one WARNING line with %q, got %q\n%s", c.want, got, stderr)
			}
		})
	}
	// A crawl that fetched pages says nothing of the kind.
	t.Run("pages crawled", func(t *testing.T) {
		t.Parallel()
		srv := fixture.New(t, fixture.Options{Pages: 3})
		dir := t.TempDir()
		write(t, filepath.Join(dir, "spider.js"), "export function* parse(response) { yield { url: response.url }; }\n")
		spec := filepath.Join(dir, "spider.yaml")
		write(t, spec, "name: some\nstart_urls: ["+srv.URL+"/site/0, http://"+closedPort(t)+"/gone]\nscript: spider.js\nsettings: {ROBOTSTXT_OBEY: false, RETRY_ENABLED: false}\n")
		_, _, stderr := runCLI(t, "run", spec)
		if strings.Contains(stderr, "0 pages crawled") {
			t.Fatalf("a crawl with pages reports 0 pages:\n%s", stderr)
		}
	})
}
