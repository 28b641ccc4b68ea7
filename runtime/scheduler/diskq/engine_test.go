package diskq

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// site serves pages /p/0 .. /p/N-1; page i links to 2i+1 and 2i+2 (a
// binary tree, so the frontier grows while the crawl runs) and counts every
// fetch.
type site struct {
	n       int
	mu      sync.Mutex
	fetches map[string]int
	onFetch func(unique int) // called after each fetch, when set
}

func (s *site) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/p/"))
	if err != nil || i < 0 || i >= s.n {
		http.NotFound(w, r)
		return
	}
	s.mu.Lock()
	s.fetches[r.URL.Path]++
	unique, onFetch := len(s.fetches), s.onFetch
	s.mu.Unlock()
	if onFetch != nil {
		onFetch(unique)
	}
	for _, c := range []int{2*i + 1, 2*i + 2} {
		if c < s.n {
			fmt.Fprintf(w, "/p/%d\n", c)
		}
	}
}

// counts returns a copy of the fetch counts.
func (s *site) counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.fetches))
	for k, v := range s.fetches {
		out[k] = v
	}
	return out
}

// treeSpider emits one item per page and follows the page's links.
type treeSpider struct{ base string }

func (s *treeSpider) Name() string { return "tree" }

func (s *treeSpider) Start(ctx context.Context) engine.StartIterator {
	return &oneStart{r: &crawl.Request{URL: s.base + "/p/0", Start: true}}
}

func (s *treeSpider) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	out.Item(crawl.NewItem("url", resp.URL))
	for _, l := range strings.Fields(string(resp.Body)) {
		out.Request(&crawl.Request{URL: s.base + l, Callback: "parse", Depth: resp.Request.Depth + 1})
	}
	return nil
}

func (s *treeSpider) Errback(ctx context.Context, f *crawl.Failure, out engine.Output) (bool, error) {
	return false, nil
}

type oneStart struct {
	mu sync.Mutex
	r  *crawl.Request
}

func (o *oneStart) Next(ctx context.Context) (*crawl.Request, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.r == nil {
		return nil, io.EOF
	}
	r := o.r
	o.r = nil
	return r, nil
}

// itemLog is a feed that records item URLs.
type itemLog struct {
	mu   sync.Mutex
	urls []string
}

func (l *itemLog) Export(it *crawl.Item) error {
	v, _ := it.Get("url")
	l.mu.Lock()
	l.urls = append(l.urls, v.(string))
	l.mu.Unlock()
	return nil
}
func (l *itemLog) Flush() error { return nil }
func (l *itemLog) Close() error { return nil }

// S01 at engine level: a crawl stopped (Ctrl-C) after about a third of the
// site resumes from the JOBDIR; together the runs fetch every page, emit
// every item, and fetch again at most the requests that were in flight. A
// third run with the finished JOBDIR fetches nothing.
func TestEnginePauseResume(t *testing.T) {
	t.Parallel()
	const pages, concurrency = 600, 8
	st := &site{n: pages, fetches: map[string]int{}}
	srv := httptest.NewServer(st)
	defer srv.Close()
	dir := t.TempDir()
	fetcher := fixture.Fetcher(srv.Client())

	items := map[string]int{}
	run := func(stopAfter int) engine.Result {
		t.Helper()
		sched, err := Open(dir, Options{Spider: "tree"})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		feed := &itemLog{}
		var e *engine.Engine
		e, err = engine.New(engine.Options{
			Spider: &treeSpider{base: srv.URL}, Fetcher: fetcher, Scheduler: sched,
			Feeds: []engine.Exporter{feed}, ConcurrentRequests: concurrency, Stats: stats.NewMemory(),
		})
		if err != nil {
			t.Fatal(err)
		}
		// The stop is triggered by the site, not by the item count: items
		// can trail fetches by a lot on a loaded machine, and the test needs
		// a stop well before the last page.
		var once sync.Once
		st.mu.Lock()
		st.onFetch = func(n int) {
			if stopAfter > 0 && n >= stopAfter {
				once.Do(e.Stop)
			}
		}
		st.mu.Unlock()
		res, err := e.Run(t.Context())
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		for _, u := range feed.urls {
			items[u]++
		}
		return res
	}

	if res := run(pages / 3); res.Reason != "shutdown" {
		t.Fatalf("first run closed %q, want shutdown", res.Reason)
	}
	firstFetches := len(st.counts())
	if firstFetches >= pages {
		t.Fatalf("first run fetched all %d pages before the stop", firstFetches)
	}
	if res := run(0); res.Reason != "finished" {
		t.Fatalf("resumed run closed %q, want finished", res.Reason)
	}
	fetches := st.counts()
	refetches := 0
	for _, n := range fetches {
		refetches += n - 1
	}
	if len(fetches) != pages || len(items) != pages {
		t.Fatalf("unique pages fetched %d, unique items %d; want %d each", len(fetches), len(items), pages)
	}
	if refetches > concurrency {
		t.Fatalf("%d pages fetched twice, want at most %d (the requests in flight)", refetches, concurrency)
	}
	t.Logf("first run fetched %d pages; resumed run completed %d; refetches %d", firstFetches, pages, refetches)

	total := 0
	for _, n := range fetches {
		total += n
	}
	if res := run(0); res.Reason != "finished" {
		t.Fatalf("third run closed %q", res.Reason)
	}
	after := 0
	for _, n := range st.counts() {
		after += n
	}
	if after != total {
		t.Fatalf("a run on a finished JOBDIR fetched %d pages, want 0", after-total)
	}
}
