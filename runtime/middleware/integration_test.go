package middleware_test

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

type hostsResolver map[string]string

func (h hostsResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if ip, ok := h[host]; ok {
		return []netip.Addr{netip.MustParseAddr(ip)}, nil
	}
	return nil, errors.New("no such host")
}

type stack struct {
	chain *middleware.Chain
	dl    *downloader.Downloader
	st    *stats.Memory
	b     middleware.Builtins
}

func newStack(t *testing.T, mod func(*downloader.Options, *middleware.Builtins)) *stack {
	t.Helper()
	o := downloader.DefaultOptions()
	o.Timeout = 5 * time.Second
	o.RandomizeDelay = false
	o.HTTP.Resolver = hostsResolver{"a.test": "127.0.0.1", "b.test": "127.0.0.1"}
	st := stats.NewMemory()
	b := middleware.DefaultBuiltins(st, nil)
	b.Retry.BackoffBase = 10 * time.Millisecond
	if mod != nil {
		mod(&o, &b)
	}
	dl, err := downloader.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dl.Transport().(*downloader.HTTPTransport).CloseIdleConnections)
	if b.Robots != nil {
		b.Robots.Fetch = dl.Download
		b.Robots.Delays = dl
	}
	chain, err := middleware.NewChain(dl, b.Stack()...)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{chain: chain, dl: dl, st: st, b: b}
}

func failureOf(t *testing.T, err error, typ crawl.FailureType, contains string) *crawl.Failure {
	t.Helper()
	var f *crawl.Failure
	if !errors.As(err, &f) || f.Type != typ || !strings.Contains(f.Error(), contains) {
		t.Fatalf("error %v, want %s containing %q", err, typ, contains)
	}
	return f
}

// D01, D05, D06: retried twice, then the failure reaches the errback;
// the server saw exactly three attempts.
func TestRetriesAgainstFaults(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	for _, tc := range []struct {
		path string
		typ  crawl.FailureType
		msg  string
	}{
		{"/hang", crawl.TimeoutError, "timeout after 500ms waiting for response headers"},
		{"/reset", crawl.ConnectionReset, "connection reset"},
		{"/partial", crawl.ConnectionError, "unexpected EOF: 16 of 1024 bytes"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			s := newStack(t, func(o *downloader.Options, _ *middleware.Builtins) { o.Timeout = 500 * time.Millisecond })
			srv.Reset()
			_, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + tc.path}, 10)
			failureOf(t, err, tc.typ, tc.msg)
			if n := srv.Count(tc.path); n != 3 {
				t.Fatalf("server saw %d attempts, want 3", n)
			}
			for key, want := range map[string]int64{
				"retry/count": 2, "retry/max_reached": 1, "downloader/request_count": 3,
				"downloader/exception_count": 3, "downloader/exception_type_count/" + string(tc.typ): 3,
			} {
				if got := stats.Int(s.st, key); got != want {
					t.Errorf("%s = %d, want %d", key, got, want)
				}
			}
		})
	}
}

// D11: the retry of a 503 with Retry-After: 1 comes at least 1s later
// (server timestamps); the final 503 goes to the errback as HttpError.
func TestRetryAfterFromServer(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	s := newStack(t, func(_ *downloader.Options, b *middleware.Builtins) { b.Retry.Times = 1 })
	_, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/status?code=503&retry_after=1"}, 10)
	f := failureOf(t, err, crawl.HttpError, "503")
	if f.Response == nil || f.Response.Status != 503 {
		t.Fatalf("HttpError without its response")
	}
	hits := srv.Hits("/status")
	if len(hits) != 2 {
		t.Fatalf("%d hits", len(hits))
	}
	// The client waits 1s from receiving the 503; the server stamps hits
	// at points that can make the measured gap a few ms shorter (seen:
	// 999.7ms), so allow 100ms of measurement slack. The backoff alone
	// would wait at most 750ms (500ms × 1.5 jitter) before the first
	// retry, so ≥ 900ms still shows Retry-After was honoured.
	if gap := hits[1].Time.Sub(hits[0].Time); gap < 900*time.Millisecond {
		t.Fatalf("retry came after %v, want ≥ 1s (Retry-After)", gap)
	}
}

// R01: a 50-hop chain stops at the limit; the server saw limit+1 requests.
func TestRedirectChainFromServer(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	s := newStack(t, func(_ *downloader.Options, b *middleware.Builtins) { b.Redirect.MaxTimes = 10 })
	_, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/redirect-chain?n=50"}, 100)
	failureOf(t, err, crawl.TooManyRedirects, "too many redirects (10): "+srv.URL+"/redirect-chain?n=50 → ")
	if n := srv.Count("/redirect-chain"); n != 11 {
		t.Fatalf("server saw %d requests, want 11", n)
	}
	srv.Reset()
	_, err = s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/redirect-cycle"}, 100)
	failureOf(t, err, crawl.TooManyRedirects, "redirect cycle")
	if n := srv.Count("/redirect-cycle"); n > 3 {
		t.Fatalf("cycle detected after %d requests", n)
	}
	resp, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/redirect-chain?n=3"}, 100)
	if err != nil || string(resp.Body) != "done" || resp.Request.RedirectTimes != 3 {
		t.Fatalf("short chain: %v %v", resp, err)
	}
}

// R05 from the server's header log: credentials do not follow a redirect
// to another host, cookies come from the right jar.
func TestCrossOriginRedirectFromServer(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	s := newStack(t, nil)
	ctx := context.Background()
	if _, err := s.chain.Download(ctx, &crawl.Request{URL: srv.URLFor("a.test", "/setcookie")}, 5); err != nil {
		t.Fatal(err)
	}
	target := srv.URLFor("b.test", "/echo")
	req := &crawl.Request{URL: srv.URLFor("a.test", "/redirect?to="+target), Headers: crawl.Headers{
		{Name: "Authorization", Value: "Bearer CANARY_AUTH"}, {Name: "X-Trace", Value: "1"},
	}}
	if _, err := s.chain.Download(ctx, req, 5); err != nil {
		t.Fatal(err)
	}
	first, final := srv.Hits("/redirect"), srv.Hits("/echo")
	if len(first) != 1 || len(final) != 1 {
		t.Fatalf("hits %d %d", len(first), len(final))
	}
	if first[0].Header.Get("Authorization") == "" || first[0].Header.Get("Cookie") != "session=abc" {
		t.Fatalf("same-origin hop lacks its credentials: %v", first[0].Header)
	}
	if final[0].Header.Get("Authorization") != "" || final[0].Header.Get("Cookie") != "" || final[0].Header.Get("X-Trace") != "1" {
		t.Fatalf("cross-origin hop headers: %v", final[0].Header)
	}
	if ua := final[0].Header.Get("User-Agent"); ua != middleware.DefaultUserAgent {
		t.Fatalf("User-Agent %q", ua)
	}
}

// B05 + B06 against the server: one robots.txt fetch for concurrent
// requests, disallowed paths refused, Crawl-delay spacing the rest.
func TestRobotsFromServer(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 20})
	srv.SetRobots(200, "User-agent: *\nDisallow: /site/1\nCrawl-delay: 0.2\n", 100*time.Millisecond)
	s := newStack(t, func(_ *downloader.Options, b *middleware.Builtins) {
		b.Robots = middleware.NewRobotsTxt(nil, "")
		b.Robots.Stats = nil
	})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var refused []string
	for _, p := range []string{"/site/1", "/site/2", "/site/3", "/site/4", "/site/10"} {
		wg.Go(func() {
			_, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + p}, 5)
			if err != nil {
				failureOf(t, err, crawl.IgnoreRequest, "forbidden by robots.txt")
				mu.Lock()
				refused = append(refused, p)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if srv.Count("/robots.txt") != 1 {
		t.Fatalf("robots.txt fetched %d times", srv.Count("/robots.txt"))
	}
	if len(refused) != 2 || srv.Count("/site/1") != 0 {
		t.Fatalf("refused %v (want /site/1 and /site/10), server saw /site/1 %d times", refused, srv.Count("/site/1"))
	}
	hits := srv.Hits("/site/*")
	if len(hits) != 3 {
		t.Fatalf("hits %d", len(hits))
	}
	for i := 1; i < len(hits); i++ {
		if gap := hits[i].Time.Sub(hits[i-1].Time); gap < 190*time.Millisecond {
			t.Errorf("Crawl-delay not honoured: gap %v", gap)
		}
	}
}

// B03: a 10 MiB robots.txt is read up to 500 KiB and still applied.
func TestHugeRobotsTxt(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 5})
	srv.SetRobots(200, "User-agent: *\nDisallow: /site/1\n"+strings.Repeat("# padding line of a huge robots.txt\n", 10<<20/36), 0)
	s := newStack(t, func(_ *downloader.Options, b *middleware.Builtins) { b.Robots = middleware.NewRobotsTxt(nil, "") })
	_, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/site/1"}, 5)
	failureOf(t, err, crawl.IgnoreRequest, "forbidden by robots.txt")
	if _, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/site/2"}, 5); err != nil {
		t.Fatal(err)
	}
}

// K05: secrets placed in an Authorization header, a cookie, the proxy URL
// and the request URL never show up in logs (debug level), failure
// messages or stat names, across retries, timeouts, redirects, refusals
// and proxy errors.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	const canary = "CANARY_SECRET_91c2"
	srv := fixture.New(t, fixture.Options{})
	var logBuf strings.Builder
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logMu.Lock()
		defer logMu.Unlock()
		return logBuf.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := newStack(t, func(o *downloader.Options, b *middleware.Builtins) {
		o.Timeout = 300 * time.Millisecond
		o.Logger = log
		*b = middleware.DefaultBuiltins(b.Stats.Stats, log)
		b.Retry.BackoffBase = time.Millisecond
	})
	proxy := fixture.NewProxy(t, "user", canary)
	withSecrets := func(url string) *crawl.Request {
		return &crawl.Request{URL: url, Headers: crawl.Headers{{Name: "Authorization", Value: "Bearer " + canary}},
			Cookies: []crawl.Cookie{{Name: "sid", Value: canary}}}
	}
	credURL := strings.Replace(srv.URL, "http://", "http://user:"+canary+"@", 1)
	reqs := []*crawl.Request{
		withSecrets(srv.URL + "/status?code=503"),
		withSecrets(srv.URL + "/hang"),
		withSecrets(credURL + "/reset"),
		withSecrets(credURL + "/redirect?to=http://b.test:" + srv.Port() + "/status?code=500"),
		withSecrets("http://127.0.0.1:1/refused"),
	}
	badProxy := withSecrets(srv.URL + "/ok")
	badProxy.Proxy = strings.Replace(proxy.URL, "http://", "http://user:wrong"+canary+"@", 1)
	deadProxy := withSecrets(srv.URL + "/ok")
	deadProxy.Proxy = "http://user:" + canary + "@127.0.0.1:1"
	reqs = append(reqs, badProxy, deadProxy)
	var msgs []string
	for _, r := range reqs {
		_, err := s.chain.Download(context.Background(), r, 10)
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) < 6 {
		t.Fatalf("only %d scenarios failed: %v", len(msgs), msgs)
	}
	logMu.Lock()
	logs := logBuf.String()
	logMu.Unlock()
	if !strings.Contains(logs, "gave up retrying") {
		t.Fatalf("debug log lacks the retry lines:\n%s", logs)
	}
	for _, where := range append([]string{logs}, msgs...) {
		if strings.Contains(where, canary) {
			t.Fatalf("canary leaked in:\n%s", where)
		}
	}
	for k := range s.st.Snapshot() {
		if strings.Contains(k, canary) {
			t.Fatalf("canary in stat %q", k)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func newBenchStats() *stats.Memory { return stats.NewMemory() }

// C04 against the server: 50 new cookies per page over 100 pages; the
// Cookie header the server receives never passes 8 KiB.
func TestCookieSpamFromServer(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	s := newStack(t, nil)
	for range 100 {
		if _, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/setcookie-spam?k=50"}, 5); err != nil {
			t.Fatal(err)
		}
	}
	largest := 0
	for _, h := range srv.Hits("/setcookie-spam") {
		largest = max(largest, len(h.Header.Get("Cookie")))
	}
	if largest == 0 || largest > 8<<10 {
		t.Fatalf("largest Cookie header %d B", largest)
	}
}
