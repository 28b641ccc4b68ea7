package downloader

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// SlotGate is consulted once per download, after the slot's own
// concurrency limit and delay, with the slot's current delay. A shared
// implementation (Redis) makes politeness hold across processes: it blocks
// until this process may start a download on slot.
type SlotGate interface {
	Acquire(ctx context.Context, slot string, delay time.Duration) error
}

// SlotHolder is implemented by gates that also share per-domain
// concurrency (CONCURRENT_REQUESTS_PER_DOMAIN across every worker of a
// crawl): Hold takes one of limit places on slot until release is called;
// a place never given back (the worker died) frees itself after ttl.
type SlotHolder interface {
	Hold(ctx context.Context, slot string, limit int, ttl time.Duration) (release func(), err error)
}

// AutoThrottle configures Scrapy's latency-based delay adjustment
// (AUTOTHROTTLE_*), extended to slow down on 429/503 and on anti-bot
// blocks (SlotBlocked), and to honour Retry-After.
type AutoThrottle struct {
	Enabled bool
	// StartDelay is the initial delay of a slot (AUTOTHROTTLE_START_DELAY, 5s).
	StartDelay time.Duration
	// MaxDelay caps the delay (AUTOTHROTTLE_MAX_DELAY, 60s).
	MaxDelay time.Duration
	// TargetConcurrency is the average number of requests in flight to
	// one server (AUTOTHROTTLE_TARGET_CONCURRENCY, 1.0).
	TargetConcurrency float64
	// MaxRetryAfter caps how long a Retry-After header may pause a slot
	// (60s).
	MaxRetryAfter time.Duration
	// Debug logs every adjustment (AUTOTHROTTLE_DEBUG).
	Debug bool
}

type slot struct {
	key string
	sem chan struct{}

	mu          sync.Mutex
	delay       time.Duration // current delay (AutoThrottle moves it)
	minDelay    time.Duration // floor: DOWNLOAD_DELAY or a robots.txt Crawl-delay
	next        time.Time     // earliest start of the next download
	pausedUntil time.Time     // Retry-After
	refs        int           // downloads waiting on or holding the slot
	// passed counts the downloads past every wait (holding a place, on
	// their way to the server): what SlotReady reports as taken. Those
	// still waiting are the engine's to count (it knows which are its
	// own), so none is counted twice.
	passed   int
	lastUsed time.Time
}

// slotIdle is how long an unused slot is kept (Scrapy: 60s).
const slotIdle = 60 * time.Second

// SlotKey returns the slot a request belongs to: meta download_slot, or
// the URL's host name (without port).
func SlotKey(req *crawl.Request) string {
	if s, ok := req.Meta["download_slot"].(string); ok && s != "" {
		return s
	}
	u, err := req.ParsedURL()
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

func (d *Downloader) getSlot(key string) *slot {
	return d.getSlotOr(key, d.newSlot)
}

func (d *Downloader) newSlot(key string) *slot {
	s := &slot{key: key, sem: make(chan struct{}, d.opts.ConcurrentPerDomain), delay: d.opts.Delay, minDelay: d.opts.Delay}
	if d.opts.AutoThrottle.Enabled {
		s.delay = max(d.opts.AutoThrottle.StartDelay, d.opts.Delay)
	}
	return s
}

func (d *Downloader) getSlotOr(key string, create func(string) *slot) *slot {
	d.slotsMu.Lock()
	defer d.slotsMu.Unlock()
	d.slotCalls++
	if d.slotCalls%256 == 0 {
		cut := time.Now().Add(-slotIdle)
		for k, s := range d.slots {
			s.mu.Lock()
			idle := s.refs == 0 && s.lastUsed.Before(cut) && s.next.Before(cut) && s.minDelay == 0
			s.mu.Unlock()
			if idle {
				delete(d.slots, k)
			}
		}
	}
	s, ok := d.slots[key]
	if !ok {
		s = create(key)
		d.slots[key] = s
	}
	s.mu.Lock()
	s.refs++
	s.mu.Unlock()
	return s
}

// DomainLimit is a second level over the download slots, per host: every
// download of a host, whatever its slot (each session member's with
// SESSION_SLOT: member, a download_slot meta, the host's own), also takes
// a place in its host's domain slot. Member slots then hold each identity
// to DOWNLOAD_DELAY and CONCURRENT_REQUESTS_PER_DOMAIN while the domain as
// a whole stays within these bounds (scrapy_cffi's per-session rates,
// without members × that rate reaching the site).
type DomainLimit struct {
	// Concurrency bounds one host's downloads at once
	// (SESSION_DOMAIN_CONCURRENCY; 0 = no bound).
	Concurrency int
	// Delay is the least time between two downloads of one host
	// (SESSION_DOMAIN_DELAY; 0 = none). It is a floor: never randomized,
	// AutoThrottle does not move it.
	Delay time.Duration
}

func (l DomainLimit) on() bool { return l.Concurrency > 0 || l.Delay > 0 }

// domainKey keys a host's domain slot in Downloader.slots, apart from any
// slot a request may name.
func domainKey(host string) string { return "\x00domain " + host }

// domainSlot returns the domain slot of req's host, nil when DomainLimit
// is off. The caller drops its ref (acquire's release does).
func (d *Downloader) domainSlot(req *crawl.Request) *slot {
	if !d.opts.Domain.on() {
		return nil
	}
	u, err := req.ParsedURL()
	if err != nil {
		return nil
	}
	return d.getSlotOr(domainKey(strings.ToLower(u.Hostname())), d.newDomainSlot)
}

func (d *Downloader) newDomainSlot(key string) *slot {
	s := &slot{key: key, delay: d.opts.Domain.Delay}
	if d.opts.Domain.Concurrency > 0 {
		s.sem = make(chan struct{}, d.opts.Domain.Concurrency)
	}
	return s
}

// acquire blocks until the slot, then the domain slot dom (nil: none),
// have a free concurrency place and their delays have passed, then
// consults the gate. It returns the release func and sent, which restarts
// both delays once the request is on the wire. The member's slot is taken
// first and held while the domain's is awaited: always in that order, so
// two downloads never wait on each other.
func (d *Downloader) acquire(ctx context.Context, s, dom *slot) (release, sent func(), err error) {
	release, delay, err := d.wait(ctx, s, d.opts.RandomizeDelay)
	if err != nil {
		if dom != nil {
			d.unref(dom)
		}
		return nil, nil, err
	}
	sent = func() { d.markSent(s, delay) }
	if dom != nil {
		freeDom, domDelay, err := d.wait(ctx, dom, false)
		if err != nil {
			release()
			return nil, nil, err
		}
		local, localSent := release, sent
		release = func() { freeDom(); local() }
		sent = func() { localSent(); d.markSent(dom, domDelay) }
	}
	if d.opts.Gate != nil {
		if h, ok := d.opts.Gate.(SlotHolder); ok {
			// The shared place is held for the whole download; its ttl
			// outlives the longest one so only a dead worker's place expires.
			free, err := h.Hold(ctx, s.key, d.opts.ConcurrentPerDomain, d.opts.Timeout+time.Minute)
			if err != nil {
				release()
				return nil, nil, err
			}
			local := release
			release = func() { free(); local() }
		}
		if err := d.opts.Gate.Acquire(ctx, s.key, delay); err != nil {
			release()
			return nil, nil, err
		}
	}
	held := release
	for _, sl := range []*slot{s, dom} {
		if sl != nil {
			sl.mu.Lock()
			sl.passed++
			sl.mu.Unlock()
		}
	}
	release = func() {
		for _, sl := range []*slot{s, dom} {
			if sl != nil {
				sl.mu.Lock()
				sl.passed--
				sl.mu.Unlock()
			}
		}
		held()
	}
	return release, sent, nil
}

// unref drops a ref getSlot took, for a slot that was never waited on.
func (d *Downloader) unref(s *slot) {
	s.mu.Lock()
	s.refs--
	s.lastUsed = time.Now()
	s.mu.Unlock()
}

// wait blocks until s has a free concurrency place (a slot without a
// semaphore has no bound) and its delay has passed. It returns the release
// func and the delay applied, which markSent uses once the request is on
// the wire.
func (d *Downloader) wait(ctx context.Context, s *slot, randomize bool) (func(), time.Duration, error) {
	release := func() { d.unref(s) }
	if s.sem != nil {
		select {
		case s.sem <- struct{}{}:
		case <-ctx.Done():
			d.unref(s)
			return nil, 0, context.Cause(ctx)
		}
		release = func() {
			<-s.sem
			d.unref(s)
		}
	}
	for {
		s.mu.Lock()
		now := time.Now()
		start := now
		if s.next.After(start) {
			start = s.next
		}
		if s.pausedUntil.After(start) {
			start = s.pausedUntil
		}
		if !start.After(now) {
			delay := s.delay
			if randomize && delay > 0 {
				// Scrapy's RANDOMIZE_DOWNLOAD_DELAY: 0.5x to 1.5x.
				delay = time.Duration(float64(delay) * (0.5 + rand.Float64()))
			}
			s.next = now.Add(delay)
			s.mu.Unlock()
			return release, delay, nil
		}
		s.mu.Unlock()
		// Whoever wakes first takes the turn; the others see the moved
		// s.next and wait again. markSent may also move it later.
		if err := sleepCtx(ctx, start.Sub(now)); err != nil {
			release()
			return nil, 0, err
		}
	}
}

// markSent restarts the slot's delay from the moment the request was
// written: a download that spent time connecting must not let the next
// one reach the server sooner than the delay after it (server-side gaps
// are what politeness is judged by).
func (d *Downloader) markSent(s *slot, delay time.Duration) {
	if delay <= 0 {
		return
	}
	s.mu.Lock()
	if n := time.Now().Add(delay); n.After(s.next) {
		s.next = n
	}
	s.mu.Unlock()
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// SetSlotMinDelay raises a slot's delay floor (robots.txt Crawl-delay). A
// smaller value than DOWNLOAD_DELAY has no effect.
func (d *Downloader) SetSlotMinDelay(key string, delay time.Duration) {
	s := d.getSlot(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if delay > s.minDelay {
		s.minDelay = delay
		s.delay = max(s.delay, delay)
	}
}

// SlotBlocked tells AutoThrottle that a response of req's slot was an
// anti-bot block (runtime/middleware.Blocks): the slot's delay doubles as
// on a 429, at least 100 ms, at most AUTOTHROTTLE_MAX_DELAY. Without
// AutoThrottle it does nothing: DOWNLOAD_DELAY is then the user's to set.
func (d *Downloader) SlotBlocked(req *crawl.Request) {
	if !d.opts.AutoThrottle.Enabled {
		return
	}
	s := d.getSlot(SlotKey(req))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	old := s.delay
	s.delay = min(max(s.delay*2, s.minDelay, 100*time.Millisecond), max(d.opts.AutoThrottle.MaxDelay, s.minDelay))
	if d.opts.AutoThrottle.Debug {
		d.log.Info(fmt.Sprintf("slot: %s | blocked | delay:%5d ms (%+d)", s.key, s.delay.Milliseconds(), (s.delay - old).Milliseconds()))
	}
}

// SlotDelay returns a slot's current delay (for tests and the progress
// line).
func (d *Downloader) SlotDelay(key string) time.Duration {
	d.slotsMu.Lock()
	s, ok := d.slots[key]
	d.slotsMu.Unlock()
	if !ok {
		return d.opts.Delay
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.delay
}

// throttle applies AutoThrottle after a response: Scrapy's algorithm
// (aim at latency/target concurrency, move halfway there, never below the
// floor, never lowered by a non-200 response), plus a doubling on 429 and
// 503 and a pause until Retry-After.
func (d *Downloader) throttle(s *slot, resp *crawl.Response) {
	at := d.opts.AutoThrottle
	if !at.Enabled {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if at.Debug {
		// Scrapy's AutoThrottle debug line, in its words and layout:
		// conc is the downloads holding the slot (Scrapy's transferring).
		old := s.delay
		defer func() {
			d.log.Info(fmt.Sprintf("slot: %s | conc:%2d | delay:%5d ms (%+d) | latency:%5d ms | size:%6d bytes",
				s.key, len(s.sem), s.delay.Milliseconds(), (s.delay - old).Milliseconds(),
				resp.Timings.Latency().Milliseconds(), len(resp.Body)))
		}()
	}
	if resp.Status == http.StatusTooManyRequests || resp.Status == http.StatusServiceUnavailable {
		nd := max(s.delay*2, s.minDelay, 100*time.Millisecond)
		s.delay = min(nd, max(at.MaxDelay, s.minDelay))
		if ra, ok := ParseRetryAfter(resp.Headers.Get("Retry-After"), time.Now()); ok {
			ra = min(ra, at.MaxRetryAfter)
			if until := time.Now().Add(ra); until.After(s.pausedUntil) {
				s.pausedUntil = until
			}
		}
		return
	}
	latency := resp.Timings.Latency()
	if latency <= 0 {
		return
	}
	target := time.Duration(float64(latency) / at.TargetConcurrency)
	nd := (s.delay + target) / 2
	nd = max(target, nd)
	nd = min(max(s.minDelay, nd), max(at.MaxDelay, s.minDelay))
	if resp.Status != http.StatusOK && nd <= s.delay {
		return
	}
	s.delay = nd
}

// ParseRetryAfter reads a Retry-After value: delay-seconds or an
// HTTP-date. Negative or unparsable values report false.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		if n > 1<<31 {
			n = 1 << 31
		}
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// SlotReady answers, without waiting and without creating a slot, when a
// download of req could start: key is req's slot (SlotKey), at the
// earliest start its waits allow (DOWNLOAD_DELAY, a robots.txt
// Crawl-delay, AutoThrottle, a Retry-After pause, the retry middleware's
// download_not_before; zero or past: now), and free how many downloads the
// slot could start at that moment: its CONCURRENT_REQUESTS_PER_DOMAIN
// places not taken by downloads past their waits (at most 1 while a delay
// spaces its downloads). Downloads still waiting for the slot are not
// subtracted: the caller counts its own (the engine knows which requests
// it sent on their way), and counting them here too would halve a slot
// whose waits take time (a shared SlotGate's round trips). The engine
// keeps a request that cannot start out of its fetch places
// (engine.Options.Slots). The answer is a snapshot: the slot still
// enforces its limits when the download comes, and a shared SlotGate
// (Redis) is not consulted.
func (d *Downloader) SlotReady(req *crawl.Request) (key string, at time.Time, free int) {
	key = SlotKey(req)
	if ms, ok := metaInt(req.Meta[MetaNotBefore]); ok {
		at = time.UnixMilli(ms)
	}
	d.slotsMu.Lock()
	s, ok := d.slots[key]
	var dom *slot
	if d.opts.Domain.on() {
		if u, err := req.ParsedURL(); err == nil {
			dom = d.slots[domainKey(strings.ToLower(u.Hostname()))]
		}
	}
	d.slotsMu.Unlock()
	if !ok {
		free = d.opts.ConcurrentPerDomain
		if d.opts.Delay > 0 || d.opts.AutoThrottle.Enabled {
			free = 1
		}
	} else {
		s.mu.Lock()
		at = later(at, s.next, s.pausedUntil)
		free = max(cap(s.sem)-s.passed, 0)
		if s.delay > 0 {
			free = min(free, 1)
		}
		s.mu.Unlock()
	}
	// The domain level (DomainLimit) bounds the answer too: a request
	// whose member is not picked yet is keyed by its host, and would
	// otherwise be let through to wait for the domain inside the
	// downloader, holding a fetch place.
	if d.opts.Domain.on() {
		if d.opts.Domain.Concurrency > 0 {
			free = min(free, d.opts.Domain.Concurrency)
		}
		if d.opts.Domain.Delay > 0 {
			free = min(free, 1)
		}
		if dom != nil {
			dom.mu.Lock()
			at = later(at, dom.next, dom.pausedUntil)
			if dom.sem != nil {
				free = min(free, max(cap(dom.sem)-dom.passed, 0))
			}
			dom.mu.Unlock()
		}
	}
	return key, at, free
}

func later(t time.Time, others ...time.Time) time.Time {
	for _, o := range others {
		if o.After(t) {
			t = o
		}
	}
	return t
}
