package engine_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/scheduler/diskq"
	"github.com/spiderrun/spiderrun/runtime/scheduler/redisq"
)

// loopbackResolver resolves every *.test name to 127.0.0.1: many hosts,
// hence many download slots, on one loopback server.
type loopbackResolver struct{}

func (loopbackResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if strings.HasSuffix(host, ".test") {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

// hostsServer routes by Host header and records, server-side, what each
// host received: the arrival times, the requests it was serving at once,
// how often each URL was asked for. The slow host's responses are held
// until every fast page has arrived (or the safety timeout passes): its
// requests can only take time, never finish early.
type hostsServer struct {
	slowHost string
	nFast    int
	// minHold also holds the slow host's responses until this long after
	// its first request arrived: the requests waiting behind them wait at
	// least that long.
	minHold   time.Duration
	firstSlow time.Time

	mu          sync.Mutex
	hits        map[string]int // host + path -> count
	arrivals    map[string][]time.Time
	inflight    map[string]int
	maxInflight map[string]int
	fast        int
	slowAtFast  int // slow host's arrivals when the last fast page arrived
	release     chan struct{}
	once        sync.Once
	timedOut    bool
	// fastAtTimeout is how many fast pages had arrived when the safety
	// timeout let the slow host go.
	fastAtTimeout int
}

func newHostsServer(t *testing.T, slowHost string, nFast int, safetyAfter, minHold time.Duration) (*hostsServer, int) {
	s := &hostsServer{slowHost: slowHost, nFast: nFast, minHold: minHold, hits: map[string]int{}, arrivals: map[string][]time.Time{},
		inflight: map[string]int{}, maxInflight: map[string]int{}, slowAtFast: -1, release: make(chan struct{})}
	srv := httptest.NewServer(s)
	// The safety net of a broken layer: the slow host would hold every
	// fetch place for ever.
	safety := time.AfterFunc(safetyAfter, func() {
		s.mu.Lock()
		s.timedOut = true
		s.fastAtTimeout = s.fast
		s.mu.Unlock()
		s.open()
	})
	t.Cleanup(func() { safety.Stop(); s.open(); srv.Close() })
	return s, srv.Listener.Addr().(*net.TCPAddr).Port
}

func (s *hostsServer) open() { s.once.Do(func() { close(s.release) }) }

func (s *hostsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, _ := strings.Cut(r.Host, ":")
	s.mu.Lock()
	s.hits[host+r.URL.Path]++
	s.arrivals[host] = append(s.arrivals[host], time.Now())
	s.inflight[host]++
	s.maxInflight[host] = max(s.maxInflight[host], s.inflight[host])
	if host == s.slowHost && s.firstSlow.IsZero() {
		s.firstSlow = time.Now()
	}
	holdUntil := s.firstSlow.Add(s.minHold)
	if strings.HasPrefix(host, "h") {
		if s.fast++; s.fast == s.nFast {
			s.slowAtFast = len(s.arrivals[s.slowHost])
			s.open()
		}
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[host]--
		s.mu.Unlock()
	}()
	if host == s.slowHost {
		select {
		case <-s.release:
		case <-r.Context().Done():
		}
		select {
		case <-time.After(time.Until(holdUntil)):
		case <-r.Context().Done():
		}
	}
	fmt.Fprintf(w, "<p>%s%s</p>", host, r.URL.Path)
}

type readyCase struct {
	name       string
	waitingMax int
	// safety is when the slow host's responses are let go even though
	// the fast pages are not all fetched.
	safety time.Duration
	// minHold: see hostsServer.
	minHold   time.Duration
	scheduler func(t *testing.T) scheduler.Scheduler
}

// TestReadyHostsSlowHostDoesNotStarve: the frontier's head is a slow host
// (its responses held: CONCURRENT_REQUESTS_PER_DOMAIN 2 of them at a time)
// and a polite one (a 150 ms Crawl-delay), then 2 000 fast hosts' pages, all
// on one loopback server reached through a resolver override. With the
// ready-host layer every fast page is fetched while the slow host's
// requests wait (counted server-side: the slow host had received no more
// than its concurrency when the last fast page arrived); no host ever
// received more requests at once than its concurrency, or two requests of
// the polite host closer than its delay; and every page was fetched
// exactly once. Memory, JOBDIR and Redis backends; TestReadyHostsOffStarves
// turns the layer off, where the slow host's requests hold every fetch
// place.
func TestReadyHostsSlowHostDoesNotStarve(t *testing.T) {
	for _, c := range []readyCase{
		{name: "memory", waitingMax: 256, safety: time.Minute, scheduler: func(t *testing.T) scheduler.Scheduler { return nil }},
		{name: "jobdir", waitingMax: 256, safety: time.Minute, scheduler: func(t *testing.T) scheduler.Scheduler {
			s, err := diskq.Open(filepath.Join(t.TempDir(), "job"), diskq.Options{Spider: "test"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		// The slow host's waiting requests wait at least 4.5 s, three lease
		// timeouts: were their leases not renewed while they wait, Redis
		// would hand them out again and they would be fetched twice. (With
		// a 400 ms timeout a heartbeat delayed by a loaded machine — the
		// full suite in CI — let leases expire and pages be fetched twice,
		// which is the at-least-once a lease timeout means, not a bug of
		// the layer.)
		{name: "redis", waitingMax: 256, safety: time.Minute, minHold: 4500 * time.Millisecond, scheduler: func(t *testing.T) scheduler.Scheduler {
			srv := redistest.Start(t)
			client, err := redisq.Dial(srv.URL())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { client.Close() })
			// The worker's lease bound must leave room for the waiting
			// requests: each is leased (and renewed by the heartbeat) until
			// it is fetched and acknowledged.
			s, err := redisq.New(redisq.Options{Client: client, Name: "ready", MaxLeases: 2*16 + 256,
				LeaseTimeout: 1500 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := runReadyCrawl(t, c)
			if r.timedOut {
				t.Fatalf("the fast hosts' pages were not all fetched while the slow host held its requests (%d of %d): head-of-line blocking", r.fast, r.nFast)
			}
			if r.slowAtFast > r.perDomain {
				t.Errorf("the slow host had received %d requests when the last fast page arrived; its concurrency is %d", r.slowAtFast, r.perDomain)
			}
			if r.maxWaiting == 0 {
				t.Errorf("no request ever waited in the engine: the test did not exercise the layer")
			}
			if r.maxWaiting > c.waitingMax {
				t.Errorf("%d requests waited at once, more than SCHEDULER_WAITING_MAX %d", r.maxWaiting, c.waitingMax)
			}
		})
	}
}

// TestReadyHostsOffStarves is the same crawl with SCHEDULER_WAITING_MAX 0:
// the slow host's requests, pulled first, hold every fetch place waiting
// for its slot, and no fast page is fetched until its responses are let go.
// It shows what the layer is for (and that the crawl above would detect
// its absence).
func TestReadyHostsOffStarves(t *testing.T) {
	// Blocked, the crawl cannot fetch a fast page however long it waits:
	// 3 s is only how long the test looks.
	r := runReadyCrawl(t, readyCase{name: "off", waitingMax: 0, safety: 3 * time.Second, scheduler: func(*testing.T) scheduler.Scheduler { return nil }})
	if !r.timedOut || r.fast != 0 {
		t.Fatalf("without the layer %d of %d fast pages were fetched while the slow host held its requests", r.fast, r.nFast)
	}
	t.Logf("without the layer: %d of %d fast pages before the slow host's responses were let go", r.fast, r.nFast)
}

type readyResult struct {
	timedOut                bool
	fast, nFast, slowAtFast int
	perDomain, maxWaiting   int
}

func runReadyCrawl(t *testing.T, c readyCase) readyResult {
	const (
		nHosts    = 2000
		pages     = 3 // per fast host
		nSlow     = 40
		nPolite   = 8
		perDomain = 2
		delay     = 150 * time.Millisecond
	)
	nFast := nHosts * pages
	srv, port := newHostsServer(t, "slow.test", nFast, c.safety, c.minHold)
	dl, err := downloader.New(downloader.Options{
		ConcurrentPerDomain: perDomain,
		HTTP:                downloader.HTTPOptions{Resolver: loopbackResolver{}, MaxIdleConnsPerHost: perDomain},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dl.Close() })
	dl.SetSlotMinDelay("polite.test", delay) // as a robots.txt Crawl-delay would

	u := func(host, path string) string { return fmt.Sprintf("http://%s:%d%s", host, port, path) }
	var frontier []*crawl.Request
	for i := range nSlow {
		frontier = append(frontier, &crawl.Request{URL: u("slow.test", fmt.Sprintf("/s/%d", i))})
	}
	for i := range nPolite {
		frontier = append(frontier, &crawl.Request{URL: u("polite.test", fmt.Sprintf("/q/%d", i))})
	}
	for p := range pages {
		for h := range nHosts {
			frontier = append(frontier, &crawl.Request{URL: u(fmt.Sprintf("h%d.test", h), fmt.Sprintf("/p/%d", p))})
		}
	}
	var mu sync.Mutex
	got := map[string]int{}
	seed := u("seed.test", "/")
	sp := &goSpider{
		start: func(context.Context) engine.StartIterator { return startURLs(seed) },
		callback: func(_ context.Context, resp *crawl.Response, out engine.Output) error {
			mu.Lock()
			got[resp.URL]++
			mu.Unlock()
			if resp.URL == seed {
				// The whole frontier at once, slow host first: the order a
				// scheduler hands it out in.
				for _, r := range frontier {
					out.Request(r)
				}
			}
			return nil
		},
	}
	e, err := engine.New(engine.Options{
		Spider: sp,
		Fetcher: engine.FetcherFunc(func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
			resp, err := dl.Download(ctx, r)
			return resp, nil, err
		}),
		Scheduler:          c.scheduler(t),
		ConcurrentRequests: 16,
		Slots:              dl,
		MaxWaiting:         c.waitingMax,
		ShutdownGrace:      time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	sampled := make(chan int)
	go func() {
		m := 0
		for {
			m = max(m, e.Progress().Waiting)
			select {
			case <-stop:
				sampled <- m
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	res, err := e.Run(t.Context())
	close(stop)
	maxWaiting := <-sampled
	if err != nil {
		t.Fatal(err)
	}
	if res.Reason != engine.ReasonFinished {
		t.Fatalf("reason %q", res.Reason)
	}

	srv.mu.Lock()
	defer srv.mu.Unlock()
	// Nothing lost, nothing fetched twice: server-side and callback-side.
	for _, r := range append(frontier, &crawl.Request{URL: seed}) {
		pu, _ := r.ParsedURL()
		if n := srv.hits[pu.Hostname()+pu.Path]; n != 1 {
			t.Errorf("%s reached the server %d times", r.URL, n)
		}
		if got[r.URL] != 1 {
			t.Errorf("%s reached its callback %d times", r.URL, got[r.URL])
		}
	}
	// Politeness, judged where it matters: at the server.
	for host, n := range srv.maxInflight {
		if n > perDomain {
			t.Errorf("%s served %d requests at once, more than CONCURRENT_REQUESTS_PER_DOMAIN %d", host, n, perDomain)
		}
	}
	times := srv.arrivals["polite.test"]
	for i := 1; i < len(times); i++ {
		// The slack is the server's: on a loaded machine its handler may
		// run tens of milliseconds after the request arrived. It is not a
		// bound on our speed; a slot that does not space its downloads
		// shows gaps near zero.
		if gap := times[i].Sub(times[i-1]); gap < delay/2 {
			t.Errorf("polite.test: requests %d and %d arrived %v apart, its delay is %v", i-1, i, gap, delay)
		}
	}
	minGap := time.Duration(0)
	for i := 1; i < len(times); i++ {
		if g := times[i].Sub(times[i-1]); minGap == 0 || g < minGap {
			minGap = g
		}
	}
	t.Logf("%s: slow host had %d requests when the %d fast pages were done; at most %d waiting in the engine; polite.test's shortest gap %v (delay %v)",
		c.name, srv.slowAtFast, nFast, maxWaiting, minGap, delay)
	return readyResult{timedOut: srv.timedOut, fast: srv.fastAtTimeout, nFast: nFast, slowAtFast: srv.slowAtFast,
		perDomain: perDomain, maxWaiting: maxWaiting}
}
