package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// rateSite records, from the server's side, when each request arrived and
// how many were being served at once, per host (the Host header: one
// server under two names) and per (member, host) (the member cookie).
type rateSite struct {
	*httptest.Server
	serve time.Duration // how long each request is held

	mu        sync.Mutex
	arrivals  map[string][]time.Time // host, or host+" "+member → arrival times
	inFlight  map[string]int
	maxFlight map[string]int
}

func newRateSite(t *testing.T, serve time.Duration) *rateSite {
	s := &rateSite{serve: serve, arrivals: map[string][]time.Time{}, inFlight: map[string]int{}, maxFlight: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := net.SplitHostPort(r.Host)
		member := "none"
		if c, err := r.Cookie("member"); err == nil {
			member = c.Value
		}
		keys := []string{host, host + " " + member}
		now := time.Now()
		s.mu.Lock()
		for _, k := range keys {
			s.arrivals[k] = append(s.arrivals[k], now)
			s.inFlight[k]++
			s.maxFlight[k] = max(s.maxFlight[k], s.inFlight[k])
		}
		s.mu.Unlock()
		time.Sleep(s.serve)
		s.mu.Lock()
		for _, k := range keys {
			s.inFlight[k]--
		}
		s.mu.Unlock()
		fmt.Fprint(w, "<p>ok</p>")
	}))
	t.Cleanup(s.Close)
	return s
}

// minGap is the shortest time between two arrivals of key.
func (s *rateSite) minGap(key string) time.Duration {
	ts := slices.Clone(s.arrivals[key])
	slices.SortFunc(ts, time.Time.Compare)
	gap := time.Duration(1<<62 - 1)
	for i := 1; i < len(ts); i++ {
		gap = min(gap, ts[i].Sub(ts[i-1]))
	}
	return gap
}

const sessionRateSpider = `
export function* start() {
  const members = {};
  for (let i = 1; i <= Number(spider.args.members); i++) members["m" + i] = "member=m" + i;
  const sid = spider.hooks.session.register_sessions(members);
  for (const base of [spider.args.base_a, spider.args.base_b])
    for (let i = 0; i < Number(spider.args.pages); i++)
      yield new Request({ url: base + "/p/" + i, session_id: sid, callback: parse });
}
export function parse(response) {
  return { url: response.url, member: response.meta.session_member };
}
`

// TestSessionDomainLimits: SESSION_SLOT: member holds each member to
// DOWNLOAD_DELAY and one request at a time on each domain, and
// SESSION_DOMAIN_CONCURRENCY / SESSION_DOMAIN_DELAY hold each domain as a
// whole, at once — seen from the server, on two host names, with the
// engine's ready-host layer on and off. Concurrency is counted exactly
// (requests being served at once); delays are checked as the shortest
// server-side gap with a quarter of the delay spared for a loaded machine
// (a request that reaches the server late shortens the next gap). Nothing
// is asserted about how fast the crawl is.
func TestSessionDomainLimits(t *testing.T) {
	t.Parallel()
	const (
		members     = 4
		pages       = 10 // per host
		memberDelay = 800 * time.Millisecond
		domainDelay = 200 * time.Millisecond
		domainConc  = 2
	)
	for _, waiting := range []int{256, 0} {
		t.Run(fmt.Sprint("SCHEDULER_WAITING_MAX=", waiting), func(t *testing.T) {
			t.Parallel()
			// Served for 500 ms: more than domainDelay, so without the
			// domain's concurrency bound up to members requests overlap.
			site := newRateSite(t, 500*time.Millisecond)
			port := strconv.Itoa(site.Listener.Addr().(*net.TCPAddr).Port)
			dir := t.TempDir()
			write(t, filepath.Join(dir, "spider.js"), sessionRateSpider)
			spec := filepath.Join(dir, "spider.yaml")
			write(t, spec, fmt.Sprintf(`name: rates
script: spider.js
settings:
  ROBOTSTXT_OBEY: false
  CONCURRENT_REQUESTS: 16
  CONCURRENT_REQUESTS_PER_DOMAIN: 1
  DOWNLOAD_DELAY: %s
  RANDOMIZE_DOWNLOAD_DELAY: false
  SESSION_SLOT: member
  SESSION_ROTATION: round_robin
  SESSION_DOMAIN_CONCURRENCY: %d
  SESSION_DOMAIN_DELAY: %s
  SCHEDULER_WAITING_MAX: %d
`, memberDelay, domainConc, domainDelay, waiting))
			out := filepath.Join(dir, "items.jsonl")
			hosts := []string{"127.0.0.1", "localhost"}
			code, _, stderr := runCLI(t, "run", spec, "-o", out,
				"-a", "base_a=http://"+hosts[0]+":"+port, "-a", "base_b=http://"+hosts[1]+":"+port,
				"-a", fmt.Sprint("members=", members), "-a", fmt.Sprint("pages=", pages))
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if n := len(readLines(t, out, "")); n != 2*pages {
				t.Fatalf("%d items, want %d\n%s", n, 2*pages, stderr)
			}
			site.mu.Lock()
			defer site.mu.Unlock()
			spare := func(d time.Duration) time.Duration { return d - d/4 }
			for _, h := range hosts {
				if n := len(site.arrivals[h]); n != pages {
					t.Errorf("%s got %d requests, want %d", h, n, pages)
				}
				if m := site.maxFlight[h]; m > domainConc {
					t.Errorf("%s served %d requests at once, SESSION_DOMAIN_CONCURRENCY is %d", h, m, domainConc)
				}
				if g := site.minGap(h); g < spare(domainDelay) {
					t.Errorf("%s: two requests %v apart, SESSION_DOMAIN_DELAY is %v", h, g, domainDelay)
				}
				seen := 0
				for i := 1; i <= members; i++ {
					k := fmt.Sprintf("%s m%d", h, i)
					seen += len(site.arrivals[k])
					if m := site.maxFlight[k]; m > 1 {
						t.Errorf("%s: %d requests of one member at once, CONCURRENT_REQUESTS_PER_DOMAIN is 1", k, m)
					}
					if g := site.minGap(k); g < spare(memberDelay) {
						t.Errorf("%s: two requests %v apart, DOWNLOAD_DELAY is %v", k, g, memberDelay)
					}
				}
				if seen != pages {
					t.Errorf("%s: %d requests came as members m1..m%d, want all %d", h, seen, members, pages)
				}
			}
		})
	}
}
