package redisq

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// Shared politeness: 3 workers (each its own connection) with a delay of
// 0.2 s on one host: the server sees its requests at least 0.2 s apart,
// give or take the few milliseconds between the grant and the request
// reaching the server.
func TestGateSharedDelay(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	srv := redistest.Start(t)
	var mu sync.Mutex
	var hits []time.Time
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, time.Now())
		mu.Unlock()
	}))
	defer site.Close()
	const workers, each, delay = 3, 5, 200 * time.Millisecond
	var wg sync.WaitGroup
	for range workers {
		s, _ := openSched(t, srv, Options{Name: "polite"})
		g := s.Gate()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				if err := g.Acquire(context.Background(), "127.0.0.1", delay); err != nil {
					t.Error(err)
					return
				}
				resp, err := http.Get(site.URL)
				if err != nil {
					t.Error(err)
					return
				}
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(hits, func(a, b time.Time) int { return a.Compare(b) })
	if len(hits) != workers*each {
		t.Fatalf("server saw %d requests, want %d", len(hits), workers*each)
	}
	// The gate grants one request per delay on the Redis clock; what the
	// server sees adds each request's trip from the grant to the server,
	// which a loaded machine can stretch (one late request arrives close to
	// the next). So: never three arrivals within one delay, and on average
	// one per delay (without the shared gate, 3 workers arrive 3 times as
	// often and both checks fail).
	minGap := time.Hour
	for i := 1; i < len(hits); i++ {
		minGap = min(minGap, hits[i].Sub(hits[i-1]))
		if i >= 2 {
			if span := hits[i].Sub(hits[i-2]); span < delay {
				t.Fatalf("requests %d..%d arrived within %v, want at most 2 per %v", i-2, i, span, delay)
			}
		}
	}
	t.Logf("smallest gap between two arrivals: %v", minGap)
	if mean := hits[len(hits)-1].Sub(hits[0]) / time.Duration(len(hits)-1); mean < delay-10*time.Millisecond {
		t.Fatalf("mean gap %v, want at least %v", mean, delay)
	}
}

func TestGateSlotsAreIndependent(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := openSched(t, srv, Options{Name: "slots"})
	g := s.Gate()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// A long delay on one slot must not hold back another slot.
	if err := g.Acquire(ctx, "a.test", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := g.Acquire(ctx, "b.test", time.Hour); err != nil {
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if err := g.Acquire(short, "a.test", time.Hour); err == nil {
		t.Fatal("second acquire of a.test within the delay succeeded")
	}
	if err := g.Acquire(ctx, "c.test", 0); err != nil {
		t.Fatalf("zero delay: %v", err)
	}
}

// CONCURRENT_REQUESTS_PER_DOMAIN across workers: 3 workers with 4
// goroutines each share 2 places on a slot; the server never sees more than
// 2 requests at once.
func TestGateSharedConcurrency(t *testing.T) {
	srv := redistest.Start(t)
	var inFlight, peak atomic.Int32
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // a slow page: the behaviour under test
		inFlight.Add(-1)
	}))
	defer site.Close()
	const limit = 2
	var wg sync.WaitGroup
	for range 3 {
		s, _ := openSched(t, srv, Options{Name: "conc"})
		g := s.Gate()
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					release, err := g.Hold(context.Background(), "127.0.0.1", limit, 10*time.Second)
					if err != nil {
						t.Error(err)
						return
					}
					resp, err := http.Get(site.URL)
					if err == nil {
						resp.Body.Close()
					}
					release()
				}
			}()
		}
	}
	wg.Wait()
	if p := peak.Load(); p > limit || p < 1 {
		t.Fatalf("server saw %d concurrent requests, want at most %d", p, limit)
	}
}

// A place held by a worker that died frees itself after the ttl.
func TestGateHeldPlaceExpires(t *testing.T) {
	if testing.Short() {
		t.Skip("slow (seconds); runs in the full suite, as in CI")
	}
	srv := redistest.Start(t)
	s, _ := openSched(t, srv, Options{Name: "expire"})
	g := s.Gate()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := g.Hold(ctx, "a.test", 1, 2*time.Second); err != nil { // never released
		t.Fatal(err)
	}
	short, cancel2 := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel2()
	if _, err := g.Hold(short, "a.test", 1, 2*time.Second); err == nil {
		t.Fatal("a second place was granted with limit 1")
	}
	release, err := g.Hold(ctx, "a.test", 1, time.Second)
	if err != nil {
		t.Fatalf("the dead holder's place did not expire: %v", err)
	}
	release()
	waitHolders(t, s, "expire:conn:a.test", 0)
}

// waitHolders waits until key holds want places: a place given back is
// kept for the worker's next download on its slot for placeLinger first.
func waitHolders(t *testing.T, s *Scheduler, key string, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := s.Client().ZCard(context.Background(), key).Val()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d places, want %d", key, n, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Two downloaders (two workers) sharing the Redis gate: the server never
// sees more than CONCURRENT_REQUESTS_PER_DOMAIN requests in flight on the
// host, although each downloader alone would allow that many.
func TestDownloadersShareDomainConcurrency(t *testing.T) {
	srv := redistest.Start(t)
	site := fixture.New(t, fixture.Options{Pages: 40, Latency: 30 * time.Millisecond})
	var wg sync.WaitGroup
	for w := range 2 {
		s, _ := openSched(t, srv, Options{Name: "dlconc"})
		opts := downloader.DefaultOptions()
		opts.ConcurrentPerDomain = 2
		opts.Gate = s.Gate()
		dl, err := downloader.New(opts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				url := site.URL + "/site/" + strconv.Itoa(w*20+i)
				if _, err := dl.Download(context.Background(), &crawl.Request{URL: url}); err != nil {
					t.Error(err)
				}
			}()
		}
	}
	wg.Wait()
	if got := site.MaxInFlight(); got > 2 {
		t.Fatalf("server saw %d requests in flight, want at most 2 across both workers", got)
	}
	if got := len(site.CountByPath("/site/")); got != 40 {
		t.Fatalf("%d pages fetched, want 40", got)
	}
}

// A place taken below the limit costs one script call of 5 commands
// (the call, TIME, ZCARD, ZADD, PEXPIRE), and giving it back one ZREM:
// expired holders are purged only at the limit. A worker's downloads one
// after another on a slot reuse the place the last one gave back, so ten
// downloads cost one place taken and, after placeLinger, one given back:
// 6 commands (before issue 20's changes: 70). Counted with INFO
// commandstats.
func TestGateHoldCommands(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := openSched(t, srv, Options{Name: "holdcmds"})
	g := s.Gate()
	ctx := context.Background()
	if _, err := srv.Do("CONFIG", "RESETSTAT"); err != nil {
		t.Fatal(err)
	}
	const holds = 10
	for range holds {
		release, err := g.Hold(ctx, "a.test", 64, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		release()
		release() // twice: kept once
	}
	waitHolders(t, s, "holdcmds:conn:a.test", 0)
	info, err := srv.Do("INFO", "commandstats")
	if err != nil {
		t.Fatal(err)
	}
	calls := map[string]int{}
	total := 0
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":calls=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(rest[:strings.IndexByte(rest, ',')])
		name = strings.TrimPrefix(name, "cmdstat_")
		calls[name] = n
		// Not the places' cost: the RESETSTAT itself, the one EVAL that
		// loads the script after the first EVALSHA's NOSCRIPT, a new
		// connection's HELLO, and the ZCARDs of waitHolders.
		switch {
		case strings.HasPrefix(name, "config"), name == "eval", name == "hello":
		case name == "zcard":
			total++ // the script's own
		default:
			total += n
		}
	}
	if calls["zremrangebyscore"] != 0 {
		t.Errorf("%d ZREMRANGEBYSCORE below the limit, want 0", calls["zremrangebyscore"])
	}
	if calls["evalsha"] != 1 || calls["zrem"] != 1 || total != 6 {
		t.Errorf("%d commands (%d script calls, %d ZREM) for %d downloads one after another, want 6 (1, 1): %v",
			total, calls["evalsha"], calls["zrem"], holds, calls)
	}
}

// A kept place is reused only while it outlives the download to come (its
// ttl less the download timeout); an older one is given back and a fresh
// one taken. Close gives back the places kept without waiting.
func TestGateKeptPlaces(t *testing.T) {
	srv := redistest.Start(t)
	s, _ := openSched(t, srv, Options{Name: "kept"})
	g := s.Gate()
	ctx := context.Background()
	const key = "kept:conn:a.test"
	members := func() []string { return s.Client().ZRange(ctx, key, 0, -1).Val() }
	release, err := g.Hold(ctx, "a.test", 2, time.Second) // reusable for half of its 1 s ttl
	if err != nil {
		t.Fatal(err)
	}
	first := members()
	release()
	release, err = g.Hold(ctx, "a.test", 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if got := members(); !slices.Equal(got, first) {
		t.Fatalf("places %v after a reuse, want the same %v", got, first)
	}
	time.Sleep(600 * time.Millisecond) // past half its ttl: not to be reused
	release()
	release, err = g.Hold(ctx, "a.test", 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitHolders(t, s, key, 1) // the old one given back
	if got := members(); slices.Equal(got, first) {
		t.Fatalf("a place past half its ttl was reused: %v", got)
	}
	release()
	if err := s.Close(ctx, "finished"); err != nil {
		t.Fatal(err)
	}
	if n := s.Client().ZCard(ctx, key).Val(); n != 0 {
		t.Fatalf("%d places still held after Close, want 0", n)
	}
	// A release after Close gives the place back at once.
	s2, _ := openSched(t, srv, Options{Name: "kept"})
	release, err = s2.Gate().Hold(ctx, "a.test", 2, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(ctx, "finished"); err != nil {
		t.Fatal(err)
	}
	release()
	if n := s2.Client().ZCard(ctx, key).Val(); n != 0 {
		t.Fatalf("%d places held after a release that followed Close, want 0", n)
	}
}

// A place a worker keeps for its next download goes to another worker
// waiting for it once it has lingered unused (placeLinger), long before
// it could no longer be reused (placeReuse): the other worker does not
// wait for that.
func TestGateKeptPlaceGoesToOtherWorker(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := openSched(t, srv, Options{Name: "handover"})
	b, _ := openSched(t, srv, Options{Name: "handover"})
	ctx := context.Background()
	const ttl = 2 * time.Minute // reusable for placeReuse (30 s)
	release, err := a.Gate().Hold(ctx, "a.test", 1, ttl)
	if err != nil {
		t.Fatal(err)
	}
	release()
	wait, cancel := context.WithTimeout(ctx, placeReuse/2)
	defer cancel()
	release, err = b.Gate().Hold(wait, "a.test", 1, ttl)
	if err != nil {
		t.Fatalf("the other worker did not get the place worker a kept unused: %v", err)
	}
	release()
}
