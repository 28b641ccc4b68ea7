package jsbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
)

// logBuffer is a concurrency-safe log sink.
type logBuffer = proctest.Buffer

// newSpider compiles testdata/<file> and loads it.
func newSpider(t testing.TB, file string, mutate func(*Options)) (*Spider, *logBuffer) {
	t.Helper()
	path := filepath.Join("testdata", file)
	p, err := compile.Compile(compile.Source{Filename: path, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	opts := Options{Program: p, Name: "test", Logger: newTestLogger(logs)}
	if mutate != nil {
		mutate(&opts)
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s, logs
}

func newTestLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// recorder is an engine.Output that keeps everything, in order.
type recorder struct {
	mu     sync.Mutex
	events []string
	reqs   []*crawl.Request
	items  []*crawl.Item
	errs   []error
}

func (r *recorder) Request(q *crawl.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, q)
	r.events = append(r.events, "R "+q.GetMethod()+" "+q.URL)
}

func (r *recorder) Item(it *crawl.Item) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, it)
	b, err := json.Marshal(it)
	if err != nil {
		b = []byte(err.Error())
	}
	r.events = append(r.events, "I "+string(b))
}

func (r *recorder) Error(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, err)
	r.events = append(r.events, "E "+firstLine(err.Error()))
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.events, "\n")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// htmlResponse builds a response for callback as if url had been fetched.
func htmlResponse(url, callback, body string) *crawl.Response {
	return &crawl.Response{
		URL: url, Status: 200, Protocol: "HTTP/1.1",
		Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html; charset=utf-8"}},
		Body:    []byte(body),
		Request: &crawl.Request{URL: url, Callback: callback},
	}
}

// call runs one callback and returns what it emitted and its error.
func call(t testing.TB, s *Spider, callback string) (*recorder, error) {
	t.Helper()
	rec := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := s.Callback(ctx, htmlResponse("http://example.test/page", callback, "<html><title>T</title></html>"), rec)
	return rec, err
}

// httpFetcher is the test engine's downloader.
func httpFetcher(client *http.Client) engine.Fetcher { return fixture.Fetcher(client) }

// itemSink collects items at the end of the engine's pipelines.
type itemSink struct {
	mu    sync.Mutex
	items []*crawl.Item
}

func (f *itemSink) Export(it *crawl.Item) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.items = append(f.items, it)
	return nil
}
func (f *itemSink) Flush() error { return nil }
func (f *itemSink) Close() error { return nil }

func (f *itemSink) jsonLines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, it := range f.items {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(it)
		out = append(out, strings.TrimSuffix(b.String(), "\n"))
	}
	return out
}

// runEngine runs a real crawl with the spider.
func runEngine(t testing.TB, s *Spider, mutate func(*engine.Options)) (engine.Result, *itemSink) {
	t.Helper()
	sink := &itemSink{}
	opts := engine.Options{
		Spider:       s,
		Fetcher:      httpFetcher(http.DefaultClient),
		Feeds:        []engine.Exporter{sink},
		PollInterval: 20 * time.Millisecond,
		IdleInterval: 50 * time.Millisecond,
		Logger:       s.log,
	}
	if mutate != nil {
		mutate(&opts)
	}
	eng, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := eng.Run(ctx)
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("engine run: %v", err)
	}
	return res, sink
}
