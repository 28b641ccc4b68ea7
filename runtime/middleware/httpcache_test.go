package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
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

// logRecorder collects log records as JSON objects (msg, level, attrs).
type logRecorder struct {
	mu   sync.Mutex
	recs []map[string]any
	raw  strings.Builder
}

func (l *logRecorder) Write(p []byte) (int, error) {
	var rec map[string]any
	if err := json.Unmarshal(p, &rec); err != nil {
		return 0, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.recs = append(l.recs, rec)
	l.raw.Write(p)
	return len(p), nil
}

// String is every record, as logged.
func (l *logRecorder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

func (l *logRecorder) logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// messages returns the messages of level (e.g. "WARN"; "" for any)
// containing sub.
func (l *logRecorder) messages(level, sub string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, r := range l.recs {
		if msg, _ := r["msg"].(string); (level == "" || r["level"] == level) && strings.Contains(msg, sub) {
			out = append(out, msg)
		}
	}
	return out
}

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newCache(t *testing.T, dir string, log *slog.Logger, mod func(*middleware.HTTPCache)) func(*downloader.Options, *middleware.Builtins) {
	t.Helper()
	return func(_ *downloader.Options, b *middleware.Builtins) {
		c, err := middleware.NewHTTPCache(dir, "myspider", b.Stats.Stats, log)
		if err != nil {
			t.Fatal(err)
		}
		if mod != nil {
			mod(c)
		}
		b.HTTPCache = c
	}
}

// cacheEntries lists the entry directories (those holding a meta.json)
// and fails on leftover temporary directories.
func cacheEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && strings.HasPrefix(d.Name(), ".") {
			t.Errorf("leftover temporary directory %s", p)
		}
		if d.Name() == "meta.json" {
			out = append(out, filepath.Dir(p))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func statsWant(t *testing.T, st stats.Collector, want map[string]int64) {
	t.Helper()
	for k, v := range want {
		if got := stats.Int(st, k); got != v {
			t.Errorf("%s = %d, want %d", k, got, v)
		}
	}
}

// A second crawl of the same URLs downloads nothing and yields the same
// responses, flagged cached; cached Set-Cookie and redirects go through
// the rest of the chain as downloaded ones do.
func TestHTTPCacheSecondCrawlFromCache(t *testing.T) {
	srv := fixture.New(t, fixture.Options{Pages: 5})
	dir := t.TempDir()
	paths := []string{"/ok", "/site/1", "/setcookie?name=sid&value=v1", "/redirect?to=/site/2", "/status?code=404"}
	crawl1 := func(s *stack) []*crawl.Response {
		var out []*crawl.Response
		for _, p := range paths {
			req := &crawl.Request{URL: srv.URL + p, Meta: map[string]any{"handle_httpstatus_list": []int{404}}}
			resp, err := s.chain.Download(context.Background(), req, 5)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			out = append(out, resp)
		}
		return out
	}
	s1 := newStack(t, newCache(t, dir, nil, nil))
	first := crawl1(s1)
	hits := srv.Count("")
	if hits != len(paths)+1 { // + the redirect target
		t.Fatalf("first crawl: server hits %v", srv.CountByPath("/"))
	}
	statsWant(t, s1.st, map[string]int64{"httpcache/miss": 6, "httpcache/firsthand": 6, "httpcache/store": 6, "httpcache/hit": 0})
	if n := len(cacheEntries(t, filepath.Join(dir, "myspider"))); n != 6 {
		t.Fatalf("%d cache entries, want 6", n)
	}

	s2 := newStack(t, newCache(t, dir, nil, nil))
	second := crawl1(s2)
	if n := srv.Count(""); n != hits {
		t.Fatalf("second crawl reached the server %d times", n-hits)
	}
	statsWant(t, s2.st, map[string]int64{"httpcache/hit": 6, "httpcache/miss": 0, "httpcache/store": 0, "httpcache/firsthand": 0,
		"downloader/response_count": 6, "downloader/response_status_count/302": 1})
	for i, a := range first {
		b := second[i]
		if a.URL != b.URL || a.Status != b.Status || !reflect.DeepEqual(a.Headers, b.Headers) || string(a.Body) != string(b.Body) ||
			a.Protocol != b.Protocol || a.IP != b.IP {
			t.Errorf("%s: cached response differs:\n%+v\n%+v", paths[i], a, b)
		}
		if slices.Contains(a.Flags, middleware.FlagCached) || !slices.Contains(b.Flags, middleware.FlagCached) {
			t.Errorf("%s: flags %v then %v", paths[i], a.Flags, b.Flags)
		}
		if b.Request == nil || b.Request.URL != b.URL {
			t.Errorf("%s: cached response's Request %+v", paths[i], b.Request)
		}
	}
	// The cached Set-Cookie went through the cookies middleware.
	if got := cookieValue(s2.b.Cookies, srv.URL+"/", "sid"); got != "v1" {
		t.Fatalf("cookie from the cached response: %q", got)
	}
}

func cookieValue(m *middleware.Cookies, rawURL, name string) string {
	req := &crawl.Request{URL: rawURL}
	if _, err := m.ProcessRequest(context.Background(), req); err != nil {
		return "error: " + err.Error()
	}
	for _, part := range strings.Split(req.Headers.Get("Cookie"), "; ") {
		if v, ok := strings.CutPrefix(part, name+"="); ok {
			return v
		}
	}
	return ""
}

// Entries older than HTTPCACHE_EXPIRATION_SECS are fetched again and
// replaced; 0 never expires.
func TestHTTPCacheExpiration(t *testing.T) {
	for _, tc := range []struct {
		name   string
		expiry time.Duration
		steps  []time.Duration // clock advance before each fetch
		hits   []int           // server hits after each fetch
	}{
		{"expires", time.Hour, []time.Duration{0, 30 * time.Minute, 31 * time.Minute, 59 * time.Minute, 2 * time.Minute}, []int{1, 1, 2, 2, 3}},
		{"never", 0, []time.Duration{0, 24 * time.Hour, 10 * 365 * 24 * time.Hour}, []int{1, 1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fixture.New(t, fixture.Options{})
			clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			s := newStack(t, newCache(t, t.TempDir(), nil, func(c *middleware.HTTPCache) {
				c.Expiration = tc.expiry
				c.Now = clk.Now
			}))
			for i, d := range tc.steps {
				clk.Advance(d)
				if _, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/ok"}, 1); err != nil {
					t.Fatal(err)
				}
				if n := srv.Count("/ok"); n != tc.hits[i] {
					t.Fatalf("fetch %d: %d server hits, want %d", i, n, tc.hits[i])
				}
			}
		})
	}
}

// HTTPCACHE_IGNORE_HTTP_CODES: such responses are not stored.
func TestHTTPCacheIgnoredCodes(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	dir := t.TempDir()
	s := newStack(t, newCache(t, dir, nil, func(c *middleware.HTTPCache) { c.IgnoreHTTPCodes = []int{404, 500} }))
	for range 2 {
		for _, code := range []int{404, 200} {
			req := &crawl.Request{URL: fmt.Sprintf("%s/status?code=%d", srv.URL, code), Meta: map[string]any{"handle_httpstatus_all": true}}
			resp, err := s.chain.Download(context.Background(), req, 1)
			if err != nil || resp.Status != code {
				t.Fatalf("%d: %v %v", code, resp, err)
			}
		}
	}
	if got := srv.Hits("/status"); len(got) != 3 || got[0].URL != "/status?code=404" || got[2].URL != "/status?code=404" {
		t.Fatalf("server hits %+v, want 404 twice and 200 once", got)
	}
	statsWant(t, s.st, map[string]int64{"httpcache/uncacheable": 2, "httpcache/store": 1, "httpcache/hit": 1, "httpcache/miss": 3})
	if n := len(cacheEntries(t, dir)); n != 1 {
		t.Fatalf("%d entries, want 1", n)
	}
}

// The key is the request fingerprint: method and body count.
func TestHTTPCacheMethodAndBodyAreKeys(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	srv.Handle("/m", func(w http.ResponseWriter, r *http.Request) {
		// The fixture has read the body into the hit already.
		hits := srv.Hits("/m")
		fmt.Fprintf(w, "%s %s", r.Method, hits[len(hits)-1].Body)
	})
	s := newStack(t, newCache(t, t.TempDir(), nil, nil))
	reqs := []struct{ method, body, want string }{
		{"GET", "", "GET "}, {"POST", "a=1", "POST a=1"}, {"POST", "a=2", "POST a=2"}, {"PUT", "a=1", "PUT a=1"},
	}
	for pass := range 2 {
		for _, r := range reqs {
			resp, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/m", Method: r.method, Body: []byte(r.body)}, 1)
			if err != nil {
				t.Fatal(err)
			}
			if string(resp.Body) != r.want || slices.Contains(resp.Flags, middleware.FlagCached) != (pass == 1) {
				t.Fatalf("pass %d %s %q: body %q flags %v", pass, r.method, r.body, resp.Body, resp.Flags)
			}
		}
	}
	if n := srv.Count("/m"); n != len(reqs) {
		t.Fatalf("%d server hits, want %d", n, len(reqs))
	}
}

// A damaged entry is a miss with a warning, is fetched again and
// replaced; it never crashes nor is served.
func TestHTTPCacheCorruptEntry(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, entry string)
	}{
		{"garbage meta", func(t *testing.T, e string) { write(t, filepath.Join(e, "meta.json"), "{not json") }},
		{"empty meta", func(t *testing.T, e string) { write(t, filepath.Join(e, "meta.json"), "") }},
		{"other version", func(t *testing.T, e string) { editMeta(t, e, func(m map[string]any) { m["version"] = 99 }) }},
		{"bad status", func(t *testing.T, e string) { editMeta(t, e, func(m map[string]any) { m["status"] = -1 }) }},
		{"truncated body", func(t *testing.T, e string) { write(t, filepath.Join(e, "response_body"), "<html>") }},
		{"flipped body", func(t *testing.T, e string) {
			b, err := os.ReadFile(filepath.Join(e, "response_body"))
			if err != nil {
				t.Fatal(err)
			}
			b[3] ^= 0x20
			write(t, filepath.Join(e, "response_body"), string(b))
		}},
		{"body is a directory", func(t *testing.T, e string) {
			if err := os.Remove(filepath.Join(e, "response_body")); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(filepath.Join(e, "response_body"), 0o700); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := fixture.New(t, fixture.Options{})
			dir := t.TempDir()
			var logs logRecorder
			s := newStack(t, newCache(t, dir, logs.logger(), nil))
			fetch := func() *crawl.Response {
				resp, err := s.chain.Download(context.Background(), &crawl.Request{URL: srv.URL + "/ok"}, 1)
				if err != nil {
					t.Fatal(err)
				}
				return resp
			}
			good := fetch()
			entries := cacheEntries(t, dir)
			if len(entries) != 1 {
				t.Fatalf("entries %v", entries)
			}
			tc.corrupt(t, entries[0])
			resp := fetch()
			if slices.Contains(resp.Flags, middleware.FlagCached) || string(resp.Body) != string(good.Body) || srv.Count("/ok") != 2 {
				t.Fatalf("damaged entry served: flags %v body %q, %d hits", resp.Flags, resp.Body, srv.Count("/ok"))
			}
			if w := logs.messages("WARN", "unreadable cache entry"); len(w) != 1 {
				t.Fatalf("warnings %v", w)
			}
			// The download replaced the entry.
			if resp := fetch(); !slices.Contains(resp.Flags, middleware.FlagCached) || srv.Count("/ok") != 2 {
				t.Fatalf("entry not repaired: flags %v", resp.Flags)
			}
			statsWant(t, s.st, map[string]int64{"httpcache/miss": 2, "httpcache/hit": 1, "httpcache/errors": 1, "httpcache/store": 2})
		})
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func editMeta(t *testing.T, entry string, f func(map[string]any)) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(entry, "meta.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	raw, _ = json.Marshal(m)
	write(t, filepath.Join(entry, "meta.json"), string(raw))
}

// Concurrent stores and reads of one key, from two caches on the same
// directory (two processes sharing HTTPCACHE_DIR): every read is a miss or
// a whole entry, never a mix, nothing is reported corrupt, and the last
// entry standing is one of the stored ones.
func TestHTTPCacheConcurrentStores(t *testing.T) {
	dir := t.TempDir()
	var logs logRecorder
	st := stats.NewMemory()
	var caches []*middleware.HTTPCache
	for range 2 {
		c, err := middleware.NewHTTPCache(dir, "", st, logs.logger())
		if err != nil {
			t.Fatal(err)
		}
		caches = append(caches, c)
	}
	const writers, rounds = 8, 20
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := caches[w%2]
			for i := range rounds {
				req := &crawl.Request{URL: "http://a.test/same"}
				id := fmt.Sprintf("%d-%d", w, i)
				resp := &crawl.Response{URL: req.URL, Status: 200, Headers: crawl.Headers{{Name: "X-Id", Value: id}},
					Body: []byte(strings.Repeat(id, 100+w*50))}
				if _, err := c.ProcessResponse(ctx, req, resp); err != nil {
					t.Error(err)
					return
				}
				res, err := c.ProcessRequest(ctx, &crawl.Request{URL: "http://a.test/same"})
				if err != nil {
					t.Error(err)
					return
				}
				if got := res.Response; got != nil {
					hid := got.Headers.Get("X-Id")
					if hid == "" || !strings.HasPrefix(string(got.Body), hid) || len(got.Body)%len(hid) != 0 {
						mu.Lock()
						bad = append(bad, fmt.Sprintf("header %q body %.20q", hid, got.Body))
						mu.Unlock()
					}
				}
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("mixed entries served: %v", bad)
	}
	if w := logs.messages("WARN", ""); len(w) > 0 {
		t.Fatalf("warnings: %v\n%s", w, logs.String())
	}
	if n := stats.Int(st, "httpcache/store"); n != writers*rounds {
		t.Fatalf("httpcache/store = %d", n)
	}
	if entries := cacheEntries(t, dir); len(entries) != 1 {
		t.Fatalf("entries %v", entries)
	}
	res, err := caches[0].ProcessRequest(ctx, &crawl.Request{URL: "http://a.test/same"})
	if err != nil || res.Response == nil || !strings.HasPrefix(string(res.Response.Body), res.Response.Headers.Get("X-Id")) {
		t.Fatalf("final entry: %+v %v", res.Response, err)
	}
}

// dont_cache, file:// and WebSocket requests are neither served nor
// stored; other flags survive the cache.
func TestHTTPCacheUncacheableRequests(t *testing.T) {
	dir := t.TempDir()
	st := stats.NewMemory()
	c, err := middleware.NewHTTPCache(dir, "s", st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, req := range []*crawl.Request{
		{URL: "http://a.test/x", Meta: map[string]any{"dont_cache": true}},
		{URL: "file:///etc/hostname"},
		{URL: "wss://a.test/socket"},
		{URL: "http://a.test/ws", WebSocket: &crawl.WebSocketSpec{}},
	} {
		resp := &crawl.Response{URL: req.URL, Status: 200, Body: []byte("x")}
		for range 2 {
			if res, err := c.ProcessRequest(ctx, req); err != nil || res.Response != nil {
				t.Fatalf("%s: served %v %v", req.URL, res.Response, err)
			}
			if _, err := c.ProcessResponse(ctx, req, resp); err != nil {
				t.Fatal(err)
			}
		}
	}
	if e := cacheEntries(t, dir); len(e) != 0 || len(st.Snapshot()) != 0 {
		t.Fatalf("entries %v, stats %v", e, st.Snapshot())
	}
	// Flags other than cached are kept; a response without Date gets one.
	req := &crawl.Request{URL: "http://a.test/partial"}
	if _, err := c.ProcessResponse(ctx, req, &crawl.Response{URL: req.URL, Status: 200, Body: []byte("par"), Flags: []string{"dataloss"}}); err != nil {
		t.Fatal(err)
	}
	res, _ := c.ProcessRequest(ctx, &crawl.Request{URL: "http://a.test/partial#frag"})
	if res.Response == nil || !reflect.DeepEqual(res.Response.Flags, []string{"dataloss", "cached"}) || res.Response.Headers.Get("Date") == "" ||
		res.Response.URL != "http://a.test/partial#frag" {
		t.Fatalf("cached response %+v", res.Response)
	}
}

func TestNewHTTPCacheErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	write(t, file, "")
	for _, tc := range []struct{ dir, spider, want string }{
		{"", "s", "empty HTTPCACHE_DIR"},
		{t.TempDir(), "../up", "cannot be used as a directory name"},
		{t.TempDir(), "a/b", "cannot be used as a directory name"},
		{t.TempDir(), "..", "cannot be used as a directory name"},
		{file, "s", "creating the cache directory"},
	} {
		if _, err := middleware.NewHTTPCache(tc.dir, tc.spider, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q %q: %v, want %q", tc.dir, tc.spider, err, tc.want)
		}
	}
}
