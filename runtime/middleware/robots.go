package middleware

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/temoto/robotstxt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// CrawlDelaySetter receives a robots.txt Crawl-delay for a slot.
// *downloader.Downloader implements it.
type CrawlDelaySetter interface {
	SetSlotMinDelay(slot string, d time.Duration)
}

// robotsMaxBytes is how much of a robots.txt is parsed (RFC 9309 §2.5
// asks for at least 500 KiB).
const robotsMaxBytes = 500 << 10

// RobotsTxt obeys robots.txt (ROBOTSTXT_OBEY). Each origin's file is
// fetched once, with the spider's robot_scheme, while the other requests
// to that origin wait for it (Scrapy's test_robotstxt_multiple_reqs). RFC
// 9309 outcomes: 2xx is parsed (first 500 KiB; garbage allows all), 4xx
// allows all, 5xx, 429, network errors and timeouts disallow all and are
// fetched again after RetryTTL; up to 5 redirects are followed, more count
// as unavailable (allow). A Crawl-delay raises the slot's delay, capped at
// MaxCrawlDelay with a warning.
type RobotsTxt struct {
	Enabled bool
	// Fetch downloads robots.txt, normally downloader.Download (it bypasses
	// the other middlewares).
	Fetch func(ctx context.Context, r *crawl.Request) (*crawl.Response, error)
	// UserAgent is matched against User-agent groups
	// (ROBOTSTXT_USER_AGENT, else USER_AGENT) and sent with the fetch.
	UserAgent string
	// Scheme is the spider's robot_scheme ("" = the request's scheme).
	Scheme string
	// TTL is how long a successful answer is kept (0 = 24h); RetryTTL how
	// long a 5xx/unreachable "disallow all" is kept (0 = 10m).
	TTL, RetryTTL time.Duration
	// MaxCrawlDelay caps Crawl-delay (0 = 30s).
	MaxCrawlDelay time.Duration
	Delays        CrawlDelaySetter
	Stats         stats.Collector
	Logger        *slog.Logger

	mu    sync.Mutex
	hosts map[string]*robotsEntry
}

type robotsEntry struct {
	ready    chan struct{}
	data     *robotstxt.RobotsData // nil: decided by allowAll
	allowAll bool
	expires  time.Time
	delay    time.Duration
}

// NewRobotsTxt returns an enabled middleware fetching through fetch.
func NewRobotsTxt(fetch func(ctx context.Context, r *crawl.Request) (*crawl.Response, error), userAgent string) *RobotsTxt {
	return &RobotsTxt{Enabled: true, Fetch: fetch, UserAgent: userAgent, TTL: 24 * time.Hour, RetryTTL: 10 * time.Minute, MaxCrawlDelay: 30 * time.Second}
}

// ProcessRequest implements RequestProcessor.
func (m *RobotsTxt) ProcessRequest(ctx context.Context, r *crawl.Request) (Result, error) {
	if !m.Enabled || r.MetaBool("dont_obey_robotstxt") {
		return Result{}, nil
	}
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return Result{}, nil
	}
	e := m.entry(u)
	select {
	case <-e.ready:
	case <-ctx.Done():
		return Result{}, &crawl.Failure{Type: crawl.UnknownError, Message: "cancelled while waiting for robots.txt", Request: r, Err: ctx.Err()}
	}
	if e.allowed(u, m.agent(r)) {
		return Result{}, nil
	}
	m.inc("robotstxt/forbidden")
	return Result{}, Ignore(r, "forbidden by robots.txt: %s", weburl.RedactURL(u))
}

func (m *RobotsTxt) agent(r *crawl.Request) string {
	if m.UserAgent != "" {
		return m.UserAgent
	}
	if ua := r.Headers.Get("User-Agent"); ua != "" {
		return ua
	}
	return DefaultUserAgent
}

func (e *robotsEntry) allowed(u *url.URL, agent string) bool {
	if e.data == nil {
		return e.allowAll
	}
	return e.data.TestAgent(u.RequestURI(), agent)
}

func (m *RobotsTxt) entry(u *url.URL) *robotsEntry {
	scheme := u.Scheme
	if m.Scheme != "" {
		scheme = m.Scheme
	}
	key := scheme + "://" + u.Host
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.hosts == nil {
		m.hosts = map[string]*robotsEntry{}
	}
	if e, ok := m.hosts[key]; ok {
		select {
		case <-e.ready:
			if time.Now().Before(e.expires) {
				return e
			}
		default:
			return e // still being fetched: wait for it
		}
	}
	e := &robotsEntry{ready: make(chan struct{})}
	m.hosts[key] = e
	// The fetch runs detached from the first caller's context: every
	// request to the origin waits for it, and it must not die with one of
	// them. The downloader's own deadline bounds it.
	go m.load(e, &url.URL{Scheme: scheme, Host: u.Host, Path: "/robots.txt"}, u.Hostname())
	return e
}

func (m *RobotsTxt) load(e *robotsEntry, robotsURL *url.URL, host string) {
	defer close(e.ready)
	ctx := context.Background()
	target := robotsURL.String()
	for hop := 0; ; hop++ {
		req := &crawl.Request{
			URL:     target,
			Headers: crawl.Headers{{Name: "User-Agent", Value: m.fetchAgent()}},
			Meta: map[string]any{
				"dont_obey_robotstxt":         true,
				downloader.MetaMaxSize:        int64(robotsMaxBytes),
				downloader.MetaTruncate:       true,
				downloader.MetaFailOnDataLoss: false,
			},
		}
		m.inc("robotstxt/request_count")
		resp, err := m.Fetch(ctx, req)
		if err != nil {
			var f *crawl.Failure
			typ := "Error"
			if errors.As(err, &f) {
				typ = string(f.Type)
			}
			m.inc("robotstxt/exception_count/" + typ)
			m.log().Warn("robots.txt unreachable: disallowing the host until retried", "url", target, "error", err.Error(), "retry_in", m.retryTTL())
			e.allowAll, e.expires = false, time.Now().Add(m.retryTTL())
			return
		}
		m.inc("robotstxt/response_count")
		m.inc("robotstxt/response_status_count/" + strconv.Itoa(resp.Status))
		switch {
		case resp.Status >= 300 && resp.Status < 400 && resp.Headers.Get("Location") != "":
			if hop >= 5 {
				// RFC 9309 §2.3.1.2: more than five redirects → unavailable.
				e.allowAll, e.expires = true, time.Now().Add(m.ttl())
				return
			}
			ref, err := url.Parse(resp.Headers.Get("Location"))
			if err != nil {
				e.allowAll, e.expires = true, time.Now().Add(m.ttl())
				return
			}
			next := robotsURL.ResolveReference(ref)
			if next.Scheme != "http" && next.Scheme != "https" {
				e.allowAll, e.expires = true, time.Now().Add(m.ttl())
				return
			}
			target = next.String()
			continue
		case resp.Status >= 200 && resp.Status < 300:
			data, err := robotstxt.FromBytes(resp.Body)
			if err != nil {
				e.allowAll = true
			} else {
				e.data = data
				m.crawlDelay(data, host)
			}
			e.expires = time.Now().Add(m.ttl())
		case resp.Status == 429 || resp.Status >= 500:
			m.log().Warn("robots.txt server error: disallowing the host until retried", "url", target, "status", resp.Status, "retry_in", m.retryTTL())
			e.allowAll, e.expires = false, time.Now().Add(m.retryTTL())
		default:
			e.allowAll, e.expires = true, time.Now().Add(m.ttl())
		}
		return
	}
}

// ttl, retryTTL and maxCrawlDelay give the zero fields their defaults, so
// a RobotsTxt built as a struct literal does not re-fetch robots.txt on
// every request or honour an unbounded Crawl-delay.
func (m *RobotsTxt) ttl() time.Duration { return orDefault(m.TTL, 24*time.Hour) }

func (m *RobotsTxt) retryTTL() time.Duration { return orDefault(m.RetryTTL, 10*time.Minute) }

func (m *RobotsTxt) maxCrawlDelay() time.Duration { return orDefault(m.MaxCrawlDelay, 30*time.Second) }

func orDefault(v, def time.Duration) time.Duration {
	if v > 0 {
		return v
	}
	return def
}

func (m *RobotsTxt) fetchAgent() string {
	if m.UserAgent != "" {
		return m.UserAgent
	}
	return DefaultUserAgent
}

func (m *RobotsTxt) crawlDelay(data *robotstxt.RobotsData, host string) {
	g := data.FindGroup(m.fetchAgent())
	if g == nil || g.CrawlDelay <= 0 || m.Delays == nil {
		return
	}
	d := g.CrawlDelay
	if limit := m.maxCrawlDelay(); d > limit {
		m.log().Warn("robots.txt Crawl-delay capped", "host", host, "crawl_delay", d, "cap", limit)
		d = limit
	}
	m.Delays.SetSlotMinDelay(host, d)
}

func (m *RobotsTxt) inc(key string) {
	if m.Stats != nil {
		m.Stats.Inc(key, 1)
	}
}

func (m *RobotsTxt) log() *slog.Logger {
	if m.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Logger
}
