package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// blockingSite serves /page/N to the identities it trusts and answers
// others with an anti-bot page: burnt1 and burnt2 get Cloudflare's 403
// challenge, captcha1 a 200 captcha page only a BLOCK_RULES rule knows;
// /always-blocked answers everyone with Kasada's 429. It counts requests
// per identity (the sid cookie).
type blockingSite struct {
	*httptest.Server
	mu  sync.Mutex
	per map[string]int
}

func newBlockingSite(t *testing.T) *blockingSite {
	s := &blockingSite{per: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sid := "none"
		if c, err := r.Cookie("sid"); err == nil {
			sid = c.Value
		}
		s.mu.Lock()
		s.per[sid]++
		s.mu.Unlock()
		switch {
		case r.URL.Path == "/always-blocked":
			w.Header().Set("X-Kpsdk-Ct", "0")
			w.WriteHeader(429)
		case strings.HasPrefix(sid, "burnt"):
			w.Header().Set("Server", "cloudflare")
			w.Header().Set("Cf-Mitigated", "challenge")
			w.WriteHeader(403)
			fmt.Fprint(w, "<html><title>Just a moment...</title>challenge</html>")
		case sid == "captcha1":
			fmt.Fprint(w, `<html><div id="captcha-wall">prove you are human: challenge</div></html>`)
		default:
			fmt.Fprintf(w, "<html><p class=n>%s</p><p class=who>%s</p></html>", strings.TrimPrefix(r.URL.Path, "/page/"), sid)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *blockingSite) requests(sid string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.per[sid]
}

// TestBlocksRotateIdentities: a site that blocks some identities. Every
// page is still scraped, by an identity the site trusts; no block page
// reaches a callback; each blocked identity is retired after its first
// block (BLOCK_RETIRE_SCORE 1) and never used again; a URL that blocks
// everyone fails with a BlockedError after BLOCK_RETRY_TIMES; the stats
// name the detectors.
func TestBlocksRotateIdentities(t *testing.T) {
	t.Parallel()
	// One request at a time: each blocked identity is retired before the
	// next request picks one, so every count is exact.
	site, seen, failures, st, stderr := runBlockedCrawl(t, "CONCURRENT_REQUESTS: 1")
	const pages = 30
	if len(seen) != pages {
		t.Errorf("%d distinct pages scraped, want %d", len(seen), pages)
	}
	if len(failures) != 1 || failures[0]["type"] != "BlockedError" || !strings.Contains(fmt.Sprint(failures[0]["message"]), "blocked by kasada (status 429) on 4 attempts") {
		t.Errorf("want one BlockedError for /always-blocked after 4 attempts, got %v", failures)
	}
	for _, sid := range []string{"burnt1", "burnt2", "captcha1"} {
		if n := site.requests(sid); n != 1 {
			t.Errorf("%s was sent %d requests: want exactly 1 (retired after its first block)", sid, n)
		}
	}
	if n := site.requests("none"); n != 4 {
		t.Errorf("/always-blocked was requested %d times, want 1 + BLOCK_RETRY_TIMES (3)", n)
	}
	host := strings.TrimPrefix(site.URL, "http://")
	host = host[:strings.LastIndexByte(host, ':')]
	want := map[string]float64{
		"blocks/count":                 7, // burnt1, burnt2, captcha1, /always-blocked ×4
		"blocks/detector/cloudflare":   2,
		"blocks/detector/captcha-wall": 1,
		"blocks/detector/kasada":       4,
		"blocks/domain/" + host:        7,
		"blocks/identities_retired":    3,
		"blocks/retry_count":           6,
		"blocks/gave_up":               1,
	}
	for k, v := range want {
		if got, _ := st[k].(float64); got != v {
			t.Errorf("stats %s = %v, want %v", k, st[k], v)
		}
	}
	if w := warningLines(stderr, "domain degraded"); len(w) != 0 {
		t.Errorf("7 blocks in 37 attempts reported as a degraded domain: %q", w)
	}
	if w := warningLines(stderr, "blocked"); len(w) < 3 {
		t.Errorf("want a WARNING for the first block of each detector on the domain, got %q", w)
	}
}

// TestBlocksConcurrent: the same site at 16 requests in flight, where
// several requests are sent as an identity before its first block comes
// back: still every page, none of them a block page, and each blocked
// identity retired once.
func TestBlocksConcurrent(t *testing.T) {
	t.Parallel()
	_, seen, failures, st, _ := runBlockedCrawl(t, "CONCURRENT_REQUESTS: 16")
	if len(seen) != 30 {
		t.Errorf("%d distinct pages scraped, want 30", len(seen))
	}
	if len(failures) != 1 || failures[0]["type"] != "BlockedError" {
		t.Errorf("want one BlockedError for /always-blocked, got %v", failures)
	}
	if got, _ := st["blocks/identities_retired"].(float64); got != 3 {
		t.Errorf("blocks/identities_retired = %v, want 3", st["blocks/identities_retired"])
	}
}

// runBlockedCrawl crawls a blockingSite's 30 pages with five identities
// (three of which it blocks) and /always-blocked, and returns the pages
// scraped by a trusted identity, the errback's failures and the stats.
// A block page that reaches a callback fails t.
func runBlockedCrawl(t *testing.T, extraSettings string) (site *blockingSite, seen map[string]bool, failures []map[string]any, st map[string]any, stderr string) {
	t.Helper()
	site = newBlockingSite(t)
	dir := t.TempDir()
	const pages = 30
	write(t, filepath.Join(dir, "spider.js"), `
export async function* start() {
  const sid = spider.hooks.session.register_sessions({
    good1: "sid=good1", good2: "sid=good2", burnt1: "sid=burnt1", burnt2: "sid=burnt2", captcha1: "sid=captcha1",
  });
  // The first three are sent as the identities the site blocks, so that
  // each is certainly blocked once.
  const pinned = ["burnt1", "burnt2", "captcha1"];
  for (let i = 0; i < `+fmt.Sprint(pages)+`; i++) {
    const meta = i < pinned.length ? { session_member: pinned[i] } : {};
    yield new Request({ url: spider.args.base + "/page/" + i, session_id: sid, meta, callback: parse });
  }
  yield new Request({ url: spider.args.base + "/always-blocked", callback: parse, errback: failed });
}

export function parse(response) {
  if (response.text.includes("challenge")) return { blocked_page_reached_callback: response.url };
  return { n: response.css("p.n::text").get(), who: response.css("p.who::text").get(), member: response.meta.session_member };
}

export function failed(failure) {
  return { failed: failure.request.url, type: failure.type, message: failure.getErrorMessage() };
}
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, `name: blocked
script: spider.js
settings:
  ROBOTSTXT_OBEY: false
  BLOCK_RETIRE_SCORE: 1
  BLOCK_RETRY_TIMES: 3
  BLOCK_BACKOFF: 0.01
  `+extraSettings+`
  BLOCK_RULES:
    captcha-wall: {status: [200], body: 'id="captcha-wall"'}
`)
	out, statsFile := filepath.Join(dir, "items.jsonl"), filepath.Join(dir, "stats.json")
	code, _, stderr := runCLI(t, "run", spec, "-a", "base="+site.URL, "-o", out, "--stats-json", statsFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	seen = map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var it map[string]any
		if err := json.Unmarshal([]byte(line), &it); err != nil {
			t.Fatalf("bad item %q: %v", line, err)
		}
		switch {
		case it["blocked_page_reached_callback"] != nil:
			t.Errorf("a block page reached the callback: %v", it)
		case it["failed"] != nil:
			failures = append(failures, it)
		default:
			if who := it["who"]; who != it["member"] || (who != "good1" && who != "good2") {
				t.Errorf("page %v served to %v, sent as %v: want a trusted identity", it["n"], who, it["member"])
			}
			seen[fmt.Sprint(it["n"])] = true
		}
	}
	st = readStats(t, statsFile)
	return site, seen, failures, st, stderr
}

// TestBlockSettingsValidate: a bad BLOCK_RULES entry or an unknown
// BLOCK_DETECTORS name is a validate error at the setting's line, and run
// refuses the same spec.
func TestBlockSettingsValidate(t *testing.T) {
	t.Parallel()
	cases := []struct{ settings, want string }{
		{"BLOCK_DETECTORS: [cloudflare, cloudflair]", `settings.BLOCK_DETECTORS: no built-in block detector "cloudflair"`},
		{"BLOCK_RULES: {wall: {body: '(unclosed'}}", `settings.BLOCK_RULES: block rule "wall": body regex: error parsing regexp: missing closing ): ` + "`(unclosed`"},
		{"BLOCK_RULES: {wall: {status: [99]}}", `settings.BLOCK_RULES: block rule "wall": status: 99 is not an HTTP status code (100-599)`},
		{"BLOCK_RULES: {wall: {}}", `settings.BLOCK_RULES: block rule "wall": set at least one of status, header, body`},
		{"BLOCK_RULES: {wall: {bdy: x}}", `settings.BLOCK_RULES: block rule "wall": unknown key "bdy" (want status, header, body)`},
	}
	for _, c := range cases {
		t.Run(c.settings, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			write(t, filepath.Join(dir, "spider.js"), "export function parse(response) {}\n")
			spec := filepath.Join(dir, "spider.yaml")
			write(t, spec, "name: s\nstart_urls: [http://127.0.0.1:1/]\nscript: spider.js\nsettings:\n  "+c.settings+"\n")
			for _, cmd := range []string{"validate", "run"} {
				code, _, stderr := runCLI(t, cmd, spec)
				// The error is at the setting's value, line 5 of the spec.
				if code == 0 || !strings.Contains(stderr, "spider.yaml:5:") || !strings.Contains(stderr, c.want) {
					t.Errorf("%s: exit %d, want an error containing\n%s\ngot:\n%s", cmd, code, c.want, stderr)
				}
			}
		})
	}
}

// TestDomainDegradedWarning: a domain whose answers turn into blocks is
// reported once at WARNING, with the health/domains_degraded stat; a
// healthy crawl reports nothing of the kind.
func TestDomainDegradedWarning(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) > 5 { // the first five pages, then Kasada's wall
			w.Header().Set("X-Kpsdk-Ct", "0")
			w.WriteHeader(429)
			return
		}
		fmt.Fprint(w, "<p>page</p>")
	}))
	t.Cleanup(site.Close)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), `
export function* start() {
  for (let i = 0; i < 40; i++) yield new Request({ url: spider.args.base + "/p/" + i, callback: parse, errback: parse });
}
export function parse() { return { ok: 1 }; }
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: degrade\nscript: spider.js\nsettings: {ROBOTSTXT_OBEY: false, BLOCK_RETRY_TIMES: 0, CONCURRENT_REQUESTS: 1}\n")
	statsFile := filepath.Join(dir, "stats.json")
	code, _, stderr := runCLI(t, "run", spec, "-a", "base="+site.URL, "--stats-json", statsFile)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if w := warningLines(stderr, "domain degraded"); len(w) != 1 || !strings.Contains(w[0], "domain=127.0.0.1") || !strings.Contains(w[0], "blocked=") {
		t.Errorf("want one WARNING 'domain degraded' for 127.0.0.1, got %q\n%s", w, stderr)
	}
	st := readStats(t, statsFile)
	if st["health/domains_degraded"] != float64(1) {
		t.Errorf("health/domains_degraded = %v, want 1", st["health/domains_degraded"])
	}
}
