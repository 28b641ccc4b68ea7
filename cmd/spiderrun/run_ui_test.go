package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
)

var uiLine = regexp.MustCompile(`Serving the dashboard on http://([^/\s]+)/`)

// uiFigures are the figures of the live fragment's HTML.
type uiFigures struct {
	pages, items, domainRequests int
	snapTime                     string
}

var (
	figRE  = map[string]*regexp.Regexp{"pages": regexp.MustCompile(`id="pages">([^<]*)<`), "items": regexp.MustCompile(`id="items">([^<]*)<`)}
	domRE  = regexp.MustCompile(`<tr data-domain="127\.0\.0\.1"[^>]*><td><code>127\.0\.0\.1</code></td><td class="n">([^<]*)<`)
	snapRE = regexp.MustCompile(`data-snapshot-time="([^"]*)"`)
	csrfRE = regexp.MustCompile(`action="/ui/jobs/crawl/cancel"><input type="hidden" name="csrf" value="([0-9a-f]+)"`)
)

func parseFigures(t *testing.T, html string) uiFigures {
	t.Helper()
	var f uiFigures
	for name, re := range figRE {
		m := re.FindStringSubmatch(html)
		if m == nil {
			t.Fatalf("live view without #%s:\n%.2000s", name, html)
		}
		if name == "pages" {
			f.pages = digits(m[1])
		} else {
			f.items = digits(m[1])
		}
	}
	if m := domRE.FindStringSubmatch(html); m != nil {
		f.domainRequests = digits(m[1])
	}
	if m := snapRE.FindStringSubmatch(html); m != nil {
		f.snapTime = m[1]
	}
	return f
}

// `spiderrun run --ui-addr` serves the live job view of the crawl over
// real HTTP, behind the job server's credentials (a bearer token from
// SPIDERRUN_TOKEN here): without it 401; with it the page and the live
// fragment, whose figures (pages, items, the per-domain row) sit between
// two stats.json snapshots taken before and after, the latest items and
// the log tail. A Stop without the form's token or from another origin is
// refused; with it the crawl stops gracefully (exit 0, finish_reason
// shutdown, a valid feed).
func TestRunUIAddr(t *testing.T) {
	site := newServeSite(t, 400, 60*time.Millisecond)
	spec := filepath.Join(writeServeSpecs(t, false), "pages", "spider.yaml")
	dir := t.TempDir()
	feedPath, statsPath := filepath.Join(dir, "items.jl"), filepath.Join(dir, "stats.json")
	cmd := exec.Command(os.Args[0], "run", spec, "-a", "base="+site.URL, "-a", "tag=ui",
		"--ui-addr", "127.0.0.1:0", "-o", feedPath, "--stats-json", statsPath)
	const token = "s3cret-t0ken"
	cmd.Env = append(os.Environ(), "SPIDERRUN_TEST_MAIN=1", envToken+"="+token)
	p := proctest.Start(t, cmd)
	var addr string
	proctest.WaitFor(t, "the dashboard address in the log", 20*time.Second, func() bool {
		if m := uiLine.FindStringSubmatch(p.Out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	base := "http://" + addr
	do := func(method, path string, form url.Values, hdr map[string]string) (int, string) {
		t.Helper()
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, _ := http.NewRequest(method, base+path, body)
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	bearer := map[string]string{"Authorization": "Bearer " + token}

	if code, body := do("GET", "/", nil, nil); code != http.StatusUnauthorized || strings.Contains(body, token) {
		t.Fatalf("GET / without credentials: %d %s", code, body)
	}
	if code, _ := do("GET", "/", nil, map[string]string{"Authorization": "Bearer wrong"}); code != http.StatusUnauthorized {
		t.Fatalf("GET / with a wrong token: %d", code)
	}
	code, page := do("GET", "/", nil, bearer)
	if code != 200 || !strings.Contains(page, "<title>pages · spiderrun</title>") || !strings.Contains(page, `data-src="/ui/jobs/crawl/live"`) {
		t.Fatalf("GET /: %d\n%.1500s", code, page)
	}
	snapshot := func() map[string]any {
		code, body := do("GET", "/stats.json", nil, bearer)
		var v struct{ Snapshot map[string]any }
		if code != 200 || json.Unmarshal([]byte(body), &v) != nil || v.Snapshot == nil {
			t.Fatalf("GET /stats.json: %d %s", code, body)
		}
		return v.Snapshot
	}
	num := func(s map[string]any, k string) int { return int(s["progress"].(map[string]any)[k].(float64)) }
	domReq := func(s map[string]any) int {
		ds, _ := s["domains"].([]any)
		if len(ds) == 0 {
			return 0
		}
		return int(ds[0].(map[string]any)["requests"].(float64))
	}

	// The live figures between two snapshots, while the crawl moves on.
	looks := 0
	var live string
	proctest.WaitFor(t, "the live view with items, a chart and the per-domain row", 60*time.Second, func() bool {
		before := snapshot()
		code, html := do("GET", "/ui/jobs/crawl/live", nil, bearer)
		after := snapshot()
		if code != 200 {
			t.Fatalf("live fragment: %d %s", code, html)
		}
		f := parseFigures(t, html)
		for _, c := range []struct {
			name        string
			lo, got, hi int
		}{{"pages", num(before, "pages"), f.pages, num(after, "pages")},
			{"items", num(before, "items"), f.items, num(after, "items")},
			{"127.0.0.1 requests", domReq(before), f.domainRequests, domReq(after)}} {
			if c.got < c.lo || c.got > c.hi {
				t.Fatalf("live view %s = %d, outside the snapshots before (%d) and after (%d)", c.name, c.got, c.lo, c.hi)
			}
		}
		// Parsed, not compared as text: RFC 3339's trimmed fractions do not sort.
		at, _ := time.Parse(time.RFC3339Nano, f.snapTime)
		t0, _ := time.Parse(time.RFC3339Nano, before["time"].(string))
		t1, _ := time.Parse(time.RFC3339Nano, after["time"].(string))
		if !at.After(t0) || !at.Before(t1) {
			t.Fatalf("live view's snapshot time %s is not between %s and %s", f.snapTime, before["time"], after["time"])
		}
		looks++
		live = html
		return f.items >= 10 && f.domainRequests >= 10 && strings.Count(html, "<polyline") == 2
	})
	for _, want := range []string{`&#34;tag&#34;: &#34;ui&#34;`, "Spider opened", `id="stop"`} {
		if !strings.Contains(live, want) {
			t.Errorf("live view lacks %q:\n%.3000s", want, live)
		}
	}
	if code, logText := do("GET", "/log", nil, bearer); code != 200 || !strings.Contains(logText, "Spider opened") {
		t.Errorf("GET /log: %d %.300s", code, logText)
	}

	// Stop: refused without the form's token and from another origin.
	m := csrfRE.FindStringSubmatch(live)
	if m == nil {
		t.Fatalf("no Stop form with a token:\n%.3000s", live)
	}
	if code, _ := do("POST", "/ui/jobs/crawl/cancel", url.Values{"csrf": {"nope"}}, bearer); code != http.StatusForbidden {
		t.Errorf("Stop with a bad form token: %d, want 403", code)
	}
	cross := map[string]string{"Authorization": "Bearer " + token, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
	if code, _ := do("POST", "/ui/jobs/crawl/cancel", url.Values{"csrf": {m[1]}}, cross); code != http.StatusForbidden {
		t.Errorf("cross-site Stop: %d, want 403", code)
	}
	if strings.Contains(p.Out.String(), "Stop clicked") {
		t.Fatal("a refused Stop stopped the crawl")
	}
	if code, _ := do("POST", "/ui/jobs/crawl/cancel", url.Values{"csrf": {m[1]}}, bearer); code != http.StatusSeeOther {
		t.Fatalf("Stop: %d, want 303", code)
	}
	if err := p.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("run after Stop: %v\n%s", err, tail(p.Out.String()))
	}
	st := readStats(t, statsPath)
	if st["finish_reason"] != "shutdown" {
		t.Errorf("finish_reason %v, want shutdown (a graceful stop)", st["finish_reason"])
	}
	b, err := os.ReadFile(feedPath)
	if err != nil {
		t.Fatal(err)
	}
	if items := jsonLines(t, string(b)); len(items) != statInt(st, "item_scraped_count") || len(items) >= 400 {
		t.Errorf("%d items in the feed, item_scraped_count %d: want a valid feed of a stopped crawl", len(items), statInt(st, "item_scraped_count"))
	}
	if strings.Contains(p.Out.String(), token) {
		t.Error("the token appears in the log")
	}
	t.Logf("%d looks at the live view", looks)
}

// A dashboard address other than loopback without credentials is a usage
// error naming the address (as `spiderrun serve` refuses it); a malformed
// one too.
func TestRunUIAddrRefused(t *testing.T) {
	t.Setenv(envToken, "")
	t.Setenv(envBasicAuth, "")
	site := newServeSite(t, 1, 0)
	spec := filepath.Join(writeServeSpecs(t, false), "pages", "spider.yaml")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ui-addr", "0.0.0.0:0"}, "UI_ADDR 0.0.0.0:0 (--ui-addr) is not a loopback address: refusing to serve the dashboard without authentication"},
		{[]string{"-s", "UI_ADDR=0.0.0.0:0"}, "is not a loopback address"},
		{[]string{"--ui-addr", "a:b:c"}, `--ui-addr "a:b:c": want HOST:PORT`},
	} {
		code, _, stderr := runCLI(t, append([]string{"run", spec, "-a", "base=" + site.URL}, c.args...)...)
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("run %v: exit %d, stderr lacks %q:\n%s", c.args, code, c.want, tail(stderr))
		}
	}
}
