package crawlspider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/extract"
)

func TestMain(m *testing.M) {
	// The engine, HTTP clients and test servers must all be gone when the
	// tests end. regexp2's shared timeout clock stops by itself a little
	// after the last timed match.
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/dlclark/regexp2/v2.runClock"))
}

// httpFetcher is a real Fetcher over net/http (the full downloader chain is
// another package's business; rules only need pages).
type httpFetcher struct{ plain engine.Fetcher }

func newFetcher(t *testing.T) *httpFetcher {
	tr := &http.Transport{MaxIdleConnsPerHost: 32}
	t.Cleanup(tr.CloseIdleConnections)
	return &httpFetcher{plain: fixture.Fetcher(&http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }})}
}

func (f *httpFetcher) Fetch(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
	// Tests stay on loopback: a link to another host that slipped past the
	// filters fails here instead of resolving a name.
	if u, err := url.Parse(r.URL); err != nil || u.Hostname() != "127.0.0.1" {
		return nil, nil, crawl.NewFailure(crawl.BlockedAddress, r, fmt.Errorf("test fetcher: %s is not loopback", r.URL))
	}
	return f.plain.Fetch(ctx, r)
}

// hitLog records what the server was asked for, to assert from the server
// side which URLs were followed.
type hitLog struct {
	mu   sync.Mutex
	hits []string
}

func (h *hitLog) add(path string) {
	h.mu.Lock()
	h.hits = append(h.hits, path)
	h.mu.Unlock()
}

func (h *hitLog) sorted() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := append([]string(nil), h.hits...)
	sort.Strings(out)
	return out
}

// itemSink is an engine exporter collecting items.
type itemSink struct {
	mu    sync.Mutex
	items []*crawl.Item
}

func (s *itemSink) Export(it *crawl.Item) error {
	s.mu.Lock()
	s.items = append(s.items, it)
	s.mu.Unlock()
	return nil
}
func (s *itemSink) Flush() error { return nil }
func (s *itemSink) Close() error { return nil }

// jsonl renders items sorted by their "url" field, one JSON object a line.
func (s *itemSink) jsonl(t *testing.T, host string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := make([]string, 0, len(s.items))
	for _, it := range s.items {
		b, err := it.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.ReplaceAll(string(b), host, "SHOP"))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// goSpider is an inner spider written in Go: named callbacks over a map,
// start URLs with the default ("") callback.
type goSpider struct {
	name      string
	start     []string
	callbacks map[string]func(resp *crawl.Response, out engine.Output) error
	errbacks  map[string]func(f *crawl.Failure, out engine.Output)
	failures  []string
	mu        sync.Mutex
}

func (s *goSpider) Name() string { return s.name }

func (s *goSpider) Start(ctx context.Context) engine.StartIterator {
	reqs := make([]*crawl.Request, len(s.start))
	for i, u := range s.start {
		reqs[i] = &crawl.Request{URL: u, Start: true}
	}
	return &reqStart{reqs: reqs}
}

func (s *goSpider) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	name := resp.Request.Callback
	cb, ok := s.callbacks[name]
	if !ok {
		return fmt.Errorf("no callback %q", name)
	}
	return cb(resp, out)
}

func (s *goSpider) Errback(ctx context.Context, f *crawl.Failure, out engine.Output) (bool, error) {
	s.mu.Lock()
	s.failures = append(s.failures, f.Request.Errback+" "+f.Request.URL)
	s.mu.Unlock()
	if eb, ok := s.errbacks[f.Request.Errback]; ok {
		eb(f, out)
		return true, nil
	}
	return false, nil
}

type reqStart struct {
	mu   sync.Mutex
	reqs []*crawl.Request
}

func (r *reqStart) Next(ctx context.Context) (*crawl.Request, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) == 0 {
		return nil, io.EOF
	}
	q := r.reqs[0]
	r.reqs = r.reqs[1:]
	return q, nil
}

// recorder is an engine.Output that keeps everything, for driving the
// wrapper without an engine.
type recorder struct {
	mu       sync.Mutex
	requests []*crawl.Request
	items    []*crawl.Item
	errs     []error
}

func (r *recorder) Request(q *crawl.Request) {
	r.mu.Lock()
	r.requests = append(r.requests, q)
	r.mu.Unlock()
}
func (r *recorder) Item(it *crawl.Item) { r.mu.Lock(); r.items = append(r.items, it); r.mu.Unlock() }
func (r *recorder) Error(err error)     { r.mu.Lock(); r.errs = append(r.errs, err); r.mu.Unlock() }

func (r *recorder) urls() []string {
	var out []string
	for _, q := range r.requests {
		out = append(out, q.URL)
	}
	return out
}

func page(url, body string, req *crawl.Request) *crawl.Response {
	if req == nil {
		req = &crawl.Request{URL: url}
	}
	return &crawl.Response{URL: url, Status: 200, Body: []byte(body), Request: req,
		Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html; charset=utf-8"}}}
}

var errTest = errors.New("test hook error")

// text returns the first CSS match's text on a response.
func text(t testing.TB, resp *crawl.Response, css string) string {
	root, err := extract.Root(resp)
	if err != nil {
		t.Fatal(err)
	}
	l, err := root.CSS(css)
	if err != nil {
		t.Fatal(err)
	}
	return l.Get()
}
