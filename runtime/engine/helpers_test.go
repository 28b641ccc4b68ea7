package engine_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/antchfx/htmlquery"
	"go.uber.org/goleak"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// httpFetcher is a small real Fetcher over net/http for engine tests (the
// full downloader middleware chain is tested in runtime/middleware).
// Statuses >= 400 become HttpError failures carrying the response.
type httpFetcher struct {
	client *http.Client
}

func newFetcher(t *testing.T) *httpFetcher {
	tr := &http.Transport{MaxIdleConnsPerHost: 128, MaxConnsPerHost: 0}
	t.Cleanup(tr.CloseIdleConnections)
	return &httpFetcher{client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (f *httpFetcher) Fetch(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
	req, err := http.NewRequestWithContext(ctx, r.GetMethod(), r.URL, bytes.NewReader(r.Body))
	if err != nil {
		return nil, nil, crawl.NewFailure(crawl.UnknownError, r, err)
	}
	start := time.Now()
	resp, err := f.client.Do(req)
	if err != nil {
		t := crawl.ConnectionError
		if errors.Is(err, context.Canceled) {
			t = crawl.IgnoreRequest
		}
		return nil, nil, crawl.NewFailure(t, r, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, crawl.NewFailure(crawl.ConnectionReset, r, err)
	}
	out := &crawl.Response{URL: r.URL, Status: resp.StatusCode, Headers: crawl.FromHTTP(resp.Header),
		Body: body, Protocol: resp.Proto, Request: r, Timings: crawl.Timings{Start: start, Done: time.Now()}}
	if resp.StatusCode >= 400 {
		return nil, nil, &crawl.Failure{Type: crawl.HttpError, Message: resp.Status, Request: r, Response: out}
	}
	return out, nil, nil
}

// listStart is a StartIterator over a slice.
type listStart struct {
	mu   sync.Mutex
	reqs []*crawl.Request
}

func startURLs(urls ...string) *listStart {
	s := &listStart{}
	for _, u := range urls {
		s.reqs = append(s.reqs, &crawl.Request{URL: u})
	}
	return s
}

func (s *listStart) Next(ctx context.Context) (*crawl.Request, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return nil, io.EOF
	}
	r := s.reqs[0]
	s.reqs = s.reqs[1:]
	return r, nil
}

// goSpider is a Go spider whose behaviour is given by functions.
type goSpider struct {
	start    func(ctx context.Context) engine.StartIterator
	callback func(ctx context.Context, resp *crawl.Response, out engine.Output) error
	errback  func(ctx context.Context, f *crawl.Failure, out engine.Output) (bool, error)
}

func (s *goSpider) Name() string { return "test" }

func (s *goSpider) Start(ctx context.Context) engine.StartIterator { return s.start(ctx) }

func (s *goSpider) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	if s.callback == nil {
		return nil
	}
	return s.callback(ctx, resp, out)
}

func (s *goSpider) Errback(ctx context.Context, f *crawl.Failure, out engine.Output) (bool, error) {
	if s.errback == nil {
		return false, nil
	}
	return s.errback(ctx, f, out)
}

// parseSite is the callback of a product spider over the fixture's /site
// pages: one item of 4 fields per page, every link followed.
func parseSite(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	doc, err := htmlquery.Parse(bytes.NewReader(resp.Body))
	if err != nil {
		return err
	}
	text := func(expr string) string {
		if n := htmlquery.FindOne(doc, expr); n != nil {
			return strings.TrimSpace(htmlquery.InnerText(n))
		}
		return ""
	}
	out.Item(crawl.NewItem(
		"url", resp.URL,
		"name", text(`//h1[@class="name"]`),
		"price", text(`//span[@class="price"]`),
		"sku", text(`//span[@class="sku"]`),
		"description", text(`//p[@class="description"]`),
	))
	base, err := resp.Request.ParsedURL()
	if err != nil {
		return err
	}
	for _, a := range htmlquery.Find(doc, `//ul[@class="links"]//a/@href`) {
		u, err := base.Parse(htmlquery.InnerText(a))
		if err != nil {
			continue
		}
		out.Request(&crawl.Request{URL: u.String()})
	}
	return nil
}

func siteSpider(startURL string) *goSpider {
	return &goSpider{
		start:    func(context.Context) engine.StartIterator { return startURLs(startURL) },
		callback: parseSite,
	}
}

// recorder collects signals.
type recorder struct {
	mu     sync.Mutex
	events []engine.Event
}

func (r *recorder) add(ev engine.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) list() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]engine.Event(nil), r.events...)
}

func (r *recorder) count(s engine.Signal) int {
	n := 0
	for _, ev := range r.list() {
		if ev.Signal == s {
			n++
		}
	}
	return n
}

func mustRun(t *testing.T, opts engine.Options) engine.Result {
	t.Helper()
	e, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// waitFor polls cond until it holds, failing the test after 20 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	proctest.WaitFor(t, "the condition", 20*time.Second, cond)
}

// settle gives a misbehaving engine time to do what it must not (pull more
// requests); the assertion after it is on counts, not on time. A sleep, as
// there is no condition to wait for: nothing happening is the behaviour.
func settle() { time.Sleep(200 * time.Millisecond) }

func pipelineDropSKU(sku string) []pipeline.Pipeline {
	return []pipeline.Pipeline{pipeline.Func(func(ctx context.Context, it *crawl.Item) (*crawl.Item, error) {
		if v, _ := it.Get("sku"); v == sku {
			return nil, &pipeline.DropError{Reason: "unwanted " + sku}
		}
		return it, nil
	})}
}

// pipelineSlow yields between items so a premature Ack would be visible.
func pipelineSlow() []pipeline.Pipeline {
	return []pipeline.Pipeline{pipeline.Func(func(ctx context.Context, it *crawl.Item) (*crawl.Item, error) {
		time.Sleep(5 * time.Millisecond) // the slowness is the behaviour under test
		return it, nil
	})}
}

// hitCount counts server hits on an exact request target (path and query).
func hitCount(srv *fixture.Server, target string) int {
	n := 0
	for _, h := range srv.Hits("") {
		if h.URL == target {
			n++
		}
	}
	return n
}
