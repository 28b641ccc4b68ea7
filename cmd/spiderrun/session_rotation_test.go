package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestSessionRotationSettings: SESSION_ROTATION, SESSION_MAX_USES and
// SESSION_SLOT reach the registry through `spiderrun run`: members are
// used in turn, each retired after its uses (stats and log say so), and a
// request with no member left fails with a SessionError.
func TestSessionRotationSettings(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var order []string
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, _ := r.Cookie("sid")
		mu.Lock()
		if c != nil {
			order = append(order, c.Value)
		}
		mu.Unlock()
		fmt.Fprint(w, "<p>ok</p>")
	}))
	t.Cleanup(site.Close)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `
export function* start() {
  const sid = spider.hooks.session.register_sessions({ a: "sid=a", b: "sid=b", c: "sid=c" });
  for (let i = 0; i < 7; i++) yield new Request({ url: spider.args.base + "/p/" + i, session_id: sid, callback: parse, errback: failed });
}
export function parse(response) { return { member: response.meta.session_member, slot: response.meta.download_slot }; }
export function failed(failure) { return { failed: failure.type }; }
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, `name: rotate
script: spider.js
settings: {ROBOTSTXT_OBEY: false, CONCURRENT_REQUESTS: 1, SESSION_ROTATION: round_robin, SESSION_MAX_USES: 2, SESSION_SLOT: member}
`)
	out, statsFile := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "stats.json")
	code, _, stderr := runCLI(t, "run", spec, "-a", "base="+site.URL, "-o", out, "--stats-json", statsFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	mu.Lock()
	got := strings.Join(order, ",")
	mu.Unlock()
	if got != "a,b,c,a,b,c" {
		t.Errorf("members in order %s, want a,b,c,a,b,c", got)
	}
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), `"failed":"SessionError"`) || !strings.Contains(string(data), `"slot":"127.0.0.1#session1/a"`) {
		t.Errorf("items:\n%s", data)
	}
	st := readStats(t, statsFile)
	if st["sessions/retired/max_uses"] != float64(3) {
		t.Errorf("sessions/retired/max_uses = %v, want 3", st["sessions/retired/max_uses"])
	}
	if !strings.Contains(stderr, "session member retired") || !strings.Contains(stderr, "reason=max_uses") {
		t.Errorf("no retirement log line:\n%s", stderr)
	}
}

// TestIdentityHeaderMismatch: a member whose User-Agent names another
// browser than its impersonation profile is never sent: its requests fail
// with an IgnoreRequest saying what contradicts what, and the server sees
// nothing of it; a consistent member is sent.
func TestIdentityHeaderMismatch(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	seen := map[string]int{}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.Header.Get("User-Agent")]++
		mu.Unlock()
		fmt.Fprint(w, "<p>ok</p>")
	}))
	t.Cleanup(site.Close)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `
export function* start() {
  const sid = spider.hooks.session.register_sessions({
    mixed: { cookies: "a=1", impersonate: "chrome", headers: { "User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0" } },
    plain: { cookies: "b=1", impersonate: "chrome" },
  });
  yield new Request({ url: spider.args.base + "/1", session_id: sid, meta: { session_member: "mixed" }, callback: parse, errback: failed });
  yield new Request({ url: spider.args.base + "/2", session_id: sid, meta: { session_member: "plain" }, callback: parse, errback: failed });
}
export function parse(response) { return { ok: response.url }; }
export function failed(failure) { return { failed: failure.type, message: failure.getErrorMessage() }; }
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: mixed\nscript: spider.js\nsettings: {ROBOTSTXT_OBEY: false}\n")
	out := filepath.Join(dir, "items.jsonl")
	if code, _, stderr := runCLI(t, "run", spec, "-a", "base="+site.URL, "-o", out); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	data, _ := os.ReadFile(out)
	if !strings.Contains(string(data), `"failed":"IgnoreRequest"`) || !strings.Contains(string(data), `identity: User-Agent \"Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0\" names firefox 140, but profile chrome_156 is chrome 156`) {
		t.Errorf("want the mixed member refused, got:\n%s", data)
	}
	if !strings.Contains(string(data), `"ok":"`+site.URL+`/2"`) {
		t.Errorf("the consistent member was not sent:\n%s", data)
	}
	mu.Lock()
	defer mu.Unlock()
	for ua := range seen {
		if strings.Contains(ua, "Firefox") {
			t.Errorf("the server saw the contradicting User-Agent %q", ua)
		}
	}
}
