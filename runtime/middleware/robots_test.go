package middleware

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// robotsSite answers robots.txt fetches from a table and counts them.
type robotsSite struct {
	mu      sync.Mutex
	answers map[string]func(r *crawl.Request) (*crawl.Response, error)
	fetches map[string]int
	gate    chan struct{} // when set, fetches wait for it
}

func (s *robotsSite) fetch(_ context.Context, r *crawl.Request) (*crawl.Response, error) {
	if s.gate != nil {
		<-s.gate
	}
	s.mu.Lock()
	if s.fetches == nil {
		s.fetches = map[string]int{}
	}
	s.fetches[r.URL]++
	fn := s.answers[r.URL]
	s.mu.Unlock()
	if fn == nil {
		return &crawl.Response{Status: 404, URL: r.URL, Request: r}, nil
	}
	return fn(r)
}

func (s *robotsSite) count(url string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches[url]
}

func body(status int, text string) func(r *crawl.Request) (*crawl.Response, error) {
	return func(r *crawl.Request) (*crawl.Response, error) {
		return &crawl.Response{Status: status, URL: r.URL, Request: r, Body: []byte(text)}, nil
	}
}

func allowed(t *testing.T, m *RobotsTxt, url string) bool {
	t.Helper()
	_, err := m.ProcessRequest(context.Background(), &crawl.Request{URL: url})
	if err == nil {
		return true
	}
	var f *crawl.Failure
	if !errors.As(err, &f) || f.Type != crawl.IgnoreRequest || !strings.Contains(f.Message, "forbidden by robots.txt") {
		t.Fatalf("%s: unexpected error %v", url, err)
	}
	return false
}

type delays struct {
	mu sync.Mutex
	m  map[string]time.Duration
}

func (d *delays) SetSlotMinDelay(slot string, v time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]time.Duration{}
	}
	d.m[slot] = v
}

func TestRobotsOutcomes(t *testing.T) {
	garbage := string([]byte{0x89, 'P', 'N', 'G', 0, 1, 2, 3}) + "<html><body>not robots</body></html>"
	site := &robotsSite{answers: map[string]func(*crawl.Request) (*crawl.Response, error){
		"http://rules.test/robots.txt":   body(200, "User-agent: *\nDisallow: /private\nCrawl-delay: 2\n\nUser-agent: otherbot\nDisallow: /\n"),
		"http://err5xx.test/robots.txt":  body(503, "down"),
		"http://err429.test/robots.txt":  body(429, ""),
		"http://forbid.test/robots.txt":  body(403, ""),
		"http://garbage.test/robots.txt": body(200, garbage),
		"http://slow.test/robots.txt": func(r *crawl.Request) (*crawl.Response, error) {
			return nil, &crawl.Failure{Type: crawl.TimeoutError, Message: "timeout", Request: r}
		},
		"http://delay.test/robots.txt": body(200, "User-agent: *\nCrawl-delay: 86400\n"),
	}}
	for i := 0; i < 7; i++ {
		from := "http://hops.test/robots.txt"
		if i > 0 {
			from = fmt.Sprintf("http://hops.test/r%d", i)
		}
		to := fmt.Sprintf("/r%d", i+1)
		site.answers[from] = func(r *crawl.Request) (*crawl.Response, error) {
			return &crawl.Response{Status: 301, URL: r.URL, Headers: crawl.Headers{{Name: "Location", Value: to}}}, nil
		}
	}
	site.answers["http://hops.test/r6"] = body(200, "User-agent: *\nDisallow: /\n")
	for i := 0; i < 3; i++ {
		from := "http://fewhops.test/robots.txt"
		if i > 0 {
			from = fmt.Sprintf("http://fewhops.test/r%d", i)
		}
		to := fmt.Sprintf("/r%d", i+1)
		site.answers[from] = func(r *crawl.Request) (*crawl.Response, error) {
			return &crawl.Response{Status: 302, URL: r.URL, Headers: crawl.Headers{{Name: "Location", Value: to}}}, nil
		}
	}
	site.answers["http://fewhops.test/r3"] = body(200, "User-agent: *\nDisallow: /no\n")

	st := stats.NewMemory()
	dl := &delays{}
	m := NewRobotsTxt(site.fetch, "spiderbot")
	m.Stats, m.Delays = st, dl
	for _, tc := range []struct {
		url  string
		want bool
	}{
		{"http://rules.test/public", true},
		{"http://rules.test/private/x", false},
		{"http://rules.test/privateer?q=1", false},
		{"http://notfound.test/anything", true},
		{"http://err5xx.test/page", false},
		{"http://err429.test/page", false},
		{"http://forbid.test/page", true},
		{"http://garbage.test/page", true},
		{"http://slow.test/page", false},
		{"http://hops.test/page", true}, // more than 5 redirects: unavailable, allow
		{"http://fewhops.test/no", false},
		{"http://fewhops.test/yes", true},
		{"http://delay.test/x", true},
		{"ftp://rules.test/private", true}, // not http: not ours to judge
	} {
		if got := allowed(t, m, tc.url); got != tc.want {
			t.Errorf("%s: allowed = %v, want %v", tc.url, got, tc.want)
		}
	}
	if _, err := m.ProcessRequest(context.Background(), &crawl.Request{URL: "http://rules.test/private", Meta: map[string]any{"dont_obey_robotstxt": true}}); err != nil {
		t.Errorf("dont_obey_robotstxt: %v", err)
	}
	if dl.m["rules.test"] != 2*time.Second || dl.m["delay.test"] != 30*time.Second {
		t.Errorf("crawl delays %v, want rules.test 2s and delay.test capped at 30s", dl.m)
	}
	if site.count("http://rules.test/robots.txt") != 1 || stats.Int(st, "robotstxt/forbidden") != 6 {
		t.Errorf("fetches %v forbidden %d", site.fetches, stats.Int(st, "robotstxt/forbidden"))
	}
	if site.count("http://hops.test/r5") != 1 || site.count("http://hops.test/r6") != 0 {
		t.Errorf("redirects followed: %v", site.fetches)
	}
	if stats.Int(st, "robotstxt/exception_count/TimeoutError") != 1 || stats.Int(st, "robotstxt/response_status_count/503") != 1 {
		t.Errorf("stats %v", st.Snapshot())
	}
}

// B01: a 5xx answer is retried after RetryTTL, not cached forever; and
// robot_scheme picks the scheme of the fetch.
func TestRobotsRecheckAndScheme(t *testing.T) {
	var calls atomic.Int64
	site := &robotsSite{answers: map[string]func(*crawl.Request) (*crawl.Response, error){
		"https://flaky.test/robots.txt": func(r *crawl.Request) (*crawl.Response, error) {
			if calls.Add(1) == 1 {
				return &crawl.Response{Status: 500, URL: r.URL}, nil
			}
			return &crawl.Response{Status: 200, URL: r.URL, Body: []byte("User-agent: *\nAllow: /\n")}, nil
		},
	}}
	m := NewRobotsTxt(site.fetch, "")
	m.Scheme = "https"
	m.RetryTTL = time.Millisecond
	if allowed(t, m, "http://flaky.test/a") {
		t.Fatal("5xx robots.txt should disallow")
	}
	time.Sleep(5 * time.Millisecond) // let the 1 ms TTL pass: the behaviour under test
	if !allowed(t, m, "http://flaky.test/a") {
		t.Fatal("robots.txt not re-fetched after the TTL")
	}
	if calls.Load() != 2 {
		t.Fatalf("fetches %d", calls.Load())
	}
}

// B05: many requests to a host queued before its robots.txt arrives
// cause exactly one fetch, and all of them wait for it.
func TestRobotsSingleFetchWhileOthersWait(t *testing.T) {
	site := &robotsSite{gate: make(chan struct{}), answers: map[string]func(*crawl.Request) (*crawl.Response, error){
		"http://busy.test/robots.txt": body(200, "User-agent: *\nDisallow: /no\n"),
	}}
	m := NewRobotsTxt(site.fetch, "")
	var wg sync.WaitGroup
	var passed, refused atomic.Int64
	for i := range 100 {
		wg.Go(func() {
			path := "/yes"
			if i%2 == 0 {
				path = "/no"
			}
			_, err := m.ProcessRequest(context.Background(), &crawl.Request{URL: "http://busy.test" + path})
			if err == nil {
				passed.Add(1)
			} else {
				refused.Add(1)
			}
		})
	}
	// Nobody may get through before robots.txt is in (a sleep: there is
	// nothing to wait for when nothing must happen).
	time.Sleep(20 * time.Millisecond)
	if passed.Load()+refused.Load() != 0 {
		t.Fatal("requests went through before robots.txt arrived")
	}
	close(site.gate)
	wg.Wait()
	if site.count("http://busy.test/robots.txt") != 1 || passed.Load() != 50 || refused.Load() != 50 {
		t.Fatalf("fetches %d passed %d refused %d", site.count("http://busy.test/robots.txt"), passed.Load(), refused.Load())
	}
	// A waiting request whose context ends gives up with a failure.
	site2 := &robotsSite{gate: make(chan struct{})}
	m2 := NewRobotsTxt(site2.fetch, "")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := m2.ProcessRequest(ctx, &crawl.Request{URL: "http://stuck.test/"}); err == nil {
		t.Fatal("cancelled wait should fail")
	}
	close(site2.gate)
}

// A RobotsTxt built as a struct literal (zero TTLs) still caches its
// answer and caps Crawl-delay.
func TestRobotsZeroValueDefaults(t *testing.T) {
	site := &robotsSite{answers: map[string]func(*crawl.Request) (*crawl.Response, error){
		"http://lit.test/robots.txt": body(200, "User-agent: *\nDisallow: /x\nCrawl-delay: 86400\n"),
	}}
	dl := &delays{}
	m := &RobotsTxt{Enabled: true, Fetch: site.fetch, Delays: dl}
	for range 3 {
		if allowed(t, m, "http://lit.test/x") {
			t.Fatal("disallowed path allowed")
		}
	}
	if site.count("http://lit.test/robots.txt") != 1 || dl.m["lit.test"] != 30*time.Second {
		t.Fatalf("fetches %d, crawl delay %v", site.count("http://lit.test/robots.txt"), dl.m["lit.test"])
	}
}

// The agent matched against robots.txt, in Scrapy's order:
// ROBOTSTXT_USER_AGENT, else the request's own User-Agent (set by the
// spider), else USER_AGENT.
func TestRobotsAgentOrder(t *testing.T) {
	const txt = "User-agent: spiderbot\nDisallow: /\n\nUser-agent: *\nAllow: /\n"
	for _, tc := range []struct {
		name                string
		robotsUA, userAgent string
		reqUA               string
		want                bool
	}{
		{"USER_AGENT", "", "spiderbot/1.0", "", false},
		{"the request's own User-Agent wins over USER_AGENT", "", "spiderbot/1.0", "Mozilla/5.0", true},
		{"the request's own User-Agent is matched", "", "Mozilla/5.0", "spiderbot/2", false},
		{"ROBOTSTXT_USER_AGENT wins over both", "other", "spiderbot/1.0", "spiderbot/2", true},
		{"ROBOTSTXT_USER_AGENT matched", "spiderbot", "Mozilla/5.0", "Mozilla/5.0", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			site := &robotsSite{answers: map[string]func(*crawl.Request) (*crawl.Response, error){
				"http://ua.test/robots.txt": body(200, txt),
			}}
			m := NewRobotsTxt(site.fetch, tc.robotsUA)
			m.FallbackAgent = tc.userAgent
			r := &crawl.Request{URL: "http://ua.test/page"}
			if tc.reqUA != "" {
				r.Headers.Set("User-Agent", tc.reqUA)
			}
			res, err := m.ProcessRequest(context.Background(), r)
			if got := err == nil && res == (Result{}); got != tc.want {
				t.Fatalf("allowed %v, want %v (err %v)", got, tc.want, err)
			}
		})
	}
}
