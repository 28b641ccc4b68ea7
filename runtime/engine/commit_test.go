package engine_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// journal is the ordered record of what the engine did: exports, syncs,
// acks.
type journal struct {
	mu     sync.Mutex
	events []string
}

func (j *journal) add(ev string) {
	j.mu.Lock()
	j.events = append(j.events, ev)
	j.mu.Unlock()
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.events...)
}

// leaseScheduler is an in-memory scheduler that records acks in a journal,
// counts leases (Next without Ack) and can fail chosen enqueues with
// scheduler.ErrWrite, like a JOBDIR on a full disk.
type leaseScheduler struct {
	*scheduler.Memory
	j         *journal
	failURL   func(string) bool
	mu        sync.Mutex
	leased    int
	maxLeased int
	acked     map[string]bool
}

func newLeaseScheduler(j *journal) *leaseScheduler {
	return &leaseScheduler{Memory: scheduler.NewMemory(scheduler.MemoryOptions{}), j: j, acked: map[string]bool{}}
}

func (s *leaseScheduler) Enqueue(ctx context.Context, r *crawl.Request) (bool, error) {
	if s.failURL != nil && s.failURL(r.URL) {
		return false, fmt.Errorf("enqueue %s: %w: no space left on device", r.URL, scheduler.ErrWrite)
	}
	return s.Memory.Enqueue(ctx, r)
}

func (s *leaseScheduler) Next(ctx context.Context) (*crawl.Request, error) {
	r, err := s.Memory.Next(ctx)
	if r != nil {
		s.mu.Lock()
		s.leased++
		s.maxLeased = max(s.maxLeased, s.leased)
		s.mu.Unlock()
	}
	return r, err
}

func (s *leaseScheduler) Ack(ctx context.Context, r *crawl.Request) error {
	s.mu.Lock()
	s.leased--
	s.acked[r.URL] = true
	s.mu.Unlock()
	s.j.add("ack " + r.URL)
	return nil
}

func (s *leaseScheduler) wasAcked(url string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked[url]
}

// syncFeed is a feed that journals exports and syncs and can fail them.
type syncFeed struct {
	j          *journal
	failExport func(url string) bool
	failSync   bool
}

type storageErr struct{ error }

func (storageErr) WriteFailed() bool { return true }

func (f *syncFeed) Export(it *crawl.Item) error {
	u, _ := it.Get("url")
	if f.failExport != nil && f.failExport(u.(string)) {
		return storageErr{errors.New("write items.jsonl: no space left on device")}
	}
	f.j.add("export " + u.(string))
	return nil
}

func (f *syncFeed) Sync() error {
	if f.failSync {
		return storageErr{errors.New("fsync items.jsonl: input/output error")}
	}
	f.j.add("sync")
	return nil
}

func (f *syncFeed) Flush() error { return nil }
func (f *syncFeed) Close() error { return nil }

// treeSpider crawls a binary tree of n pages (URL http://t/N) without a
// network: page i yields one item and links to 2i+1 and 2i+2, so each page
// has exactly one parent and a lost request is a lost page.
func treeSpider(n int, slow time.Duration) (*goSpider, engine.Fetcher) {
	fetch := engine.FetcherFunc(func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
		if slow > 0 {
			select {
			case <-time.After(slow):
			case <-ctx.Done():
				return nil, nil, crawl.NewFailure(crawl.IgnoreRequest, r, ctx.Err())
			}
		}
		return &crawl.Response{URL: r.URL, Status: 200, Request: r}, nil, nil
	})
	sp := &goSpider{
		start: func(context.Context) engine.StartIterator { return startURLs("http://t/0") },
		callback: func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
			i, _ := strconv.Atoi(strings.TrimPrefix(resp.URL, "http://t/"))
			out.Item(crawl.NewItem("url", resp.URL))
			for _, c := range []int{2*i + 1, 2*i + 2} {
				if c < n {
					out.Request(&crawl.Request{URL: "http://t/" + strconv.Itoa(c)})
				}
			}
			return nil
		},
	}
	return sp, fetch
}

// TestDurableAcksFollowSync: with DurableAcks every request is acknowledged
// only after a sync that came after the export of its item (its item is on
// disk before the scheduler forgets the request), and the requests taken
// and not acknowledged never exceed MaxLeased.
func TestDurableAcksFollowSync(t *testing.T) {
	const n, conc = 500, 8
	j := &journal{}
	sched := newLeaseScheduler(j)
	sp, fetch := treeSpider(n, time.Millisecond)
	st := stats.NewMemory()
	res := mustRun(t, engine.Options{Spider: sp, Fetcher: fetch, Scheduler: sched, Stats: st,
		Feeds: []engine.Exporter{&syncFeed{j: j}}, DurableAcks: true, MaxLeased: conc, ConcurrentRequests: conc,
		CommitInterval: 5 * time.Millisecond})
	if res.Reason != engine.ReasonFinished {
		t.Fatalf("reason %s", res.Reason)
	}
	exported, synced := map[string]int{}, -1
	acks := 0
	for i, ev := range j.list() {
		switch {
		case ev == "sync":
			synced = i
		case strings.HasPrefix(ev, "export "):
			exported[strings.TrimPrefix(ev, "export ")] = i
		case strings.HasPrefix(ev, "ack "):
			acks++
			u := strings.TrimPrefix(ev, "ack ")
			e, ok := exported[u]
			if !ok || synced < e {
				t.Fatalf("event %d: %s acknowledged before its item was synced (export at %d, last sync at %d)", i, u, e, synced)
			}
		}
	}
	if acks != n {
		t.Fatalf("%d acks, want %d", acks, n)
	}
	if sched.maxLeased > conc {
		t.Fatalf("%d requests leased at once, more than MaxLeased %d", sched.maxLeased, conc)
	}
	if got := stats.Int(st, stats.ItemScrapedCount); got != n {
		t.Fatalf("item_scraped_count %d, want %d", got, n)
	}
}

// TestWriteErrorsKeepRequestsPending: a request whose output could not be
// stored — a child request the JOBDIR could not take, an item the feed
// could not write, items whose sync failed — is never acknowledged, so a
// resumed crawl fetches it again; the crawl closes with the dedicated
// reason even when a graceful shutdown was already under way.
func TestWriteErrorsKeepRequestsPending(t *testing.T) {
	const n = 200
	cases := []struct {
		name       string
		failEnq    func(string) bool
		failExport func(string) bool
		failSync   bool
		reason     string
		notAcked   []string
	}{
		{name: "child request not stored", failEnq: func(u string) bool { return u == "http://t/9" },
			reason: engine.ReasonJobdirError, notAcked: []string{"http://t/4"}},
		{name: "item not written", failExport: func(u string) bool { return u == "http://t/5" },
			reason: engine.ReasonFeedError, notAcked: []string{"http://t/5"}},
		{name: "sync failed", failSync: true, reason: engine.ReasonFeedError, notAcked: []string{"http://t/0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := &journal{}
			sched := newLeaseScheduler(j)
			sched.failURL = c.failEnq
			sp, fetch := treeSpider(n, 0)
			st := stats.NewMemory()
			res := mustRun(t, engine.Options{Spider: sp, Fetcher: fetch, Scheduler: sched, Stats: st,
				Feeds:       []engine.Exporter{&syncFeed{j: j, failExport: c.failExport, failSync: c.failSync}},
				DurableAcks: true, MaxLeased: 4, ConcurrentRequests: 4, CommitInterval: 5 * time.Millisecond})
			if res.Reason != c.reason {
				t.Fatalf("reason %q, want %q", res.Reason, c.reason)
			}
			for _, u := range c.notAcked {
				if sched.wasAcked(u) {
					t.Fatalf("%s was acknowledged although its output was not stored", u)
				}
			}
			if c.failExport != nil && stats.Int(st, stats.ItemWriteFailedCount) == 0 {
				t.Fatal("item_write_failed_count not counted")
			}
			if c.failSync && stats.Int(st, stats.ItemScrapedCount) != 0 {
				t.Fatalf("item_scraped_count %d although no sync succeeded", stats.Int(st, stats.ItemScrapedCount))
			}
		})
	}
}

// TestCancelledCallbackIsNotAcked: a request cut off by an abort (its
// download or callback cancelled) stays pending instead of being
// acknowledged as done.
func TestCancelledCallbackIsNotAcked(t *testing.T) {
	j := &journal{}
	sched := newLeaseScheduler(j)
	started := make(chan struct{})
	var once sync.Once
	sp := &goSpider{
		start: func(context.Context) engine.StartIterator { return startURLs("http://t/0", "http://t/1") },
		callback: func(ctx context.Context, resp *crawl.Response, out engine.Output) error {
			if resp.URL == "http://t/1" {
				once.Do(func() { close(started) })
				<-ctx.Done()
				return ctx.Err()
			}
			return nil
		},
	}
	fetch := engine.FetcherFunc(func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
		return &crawl.Response{URL: r.URL, Status: 200, Request: r}, nil, nil
	})
	e, err := engine.New(engine.Options{Spider: sp, Fetcher: fetch, Scheduler: sched, ShutdownGrace: time.Millisecond,
		Feeds: []engine.Exporter{&syncFeed{j: j}}, DurableAcks: true, MaxLeased: 4})
	if err != nil {
		t.Fatal(err)
	}
	go func() { <-started; e.Stop() }()
	if _, err := e.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if sched.wasAcked("http://t/1") {
		t.Fatal("a request whose callback was cancelled at close was acknowledged")
	}
}
