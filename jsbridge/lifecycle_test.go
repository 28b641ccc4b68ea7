package jsbridge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/pipeline"
	"github.com/spiderrun/spiderrun/runtime/session"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func TestCrawlLifecycle(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	for _, p := range []string{"p1", "p2", "p3", "detail"} {
		title := strings.ToUpper(p)
		mux.HandleFunc("/"+p, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "<html><title>%s</title></html>", title)
		})
	}
	mux.HandleFunc("/inline", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "inline body") })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	s, logs := newSpider(t, "lifecycle.js", func(o *Options) {
		o.TaskData = map[string]any{"pages": []any{"/p1", "/p2"}}
		o.Args = map[string]string{"base": srv.URL}
		o.Settings = map[string]any{"CONCURRENT_REQUESTS": int64(4)}
		o.Hooks = map[string]string{"spider_opened": "opened", "spider_idle": "idle", "spider_closed": "closed", "item_scraped": "on_item"}
		o.SpiderMiddlewares = []SpiderMiddleware{{ProcessSpiderOutput: "add_source", ProcessStart: "tag_start"}}
	})
	var pipes []pipeline.Pipeline
	for _, fn := range []string{"drop_flagged", "mark"} {
		p, err := s.Pipeline(fn)
		if err != nil {
			t.Fatal(err)
		}
		pipes = append(pipes, p)
	}
	st := stats.NewMemory()
	sig := engine.NewSignals()
	sig.Connect(s.SignalHandler())
	res, sink := runEngine(t, s, func(o *engine.Options) {
		o.Pipelines = pipes
		o.Stats = st
		o.Signals = sig
	})
	if res.Reason != engine.ReasonFinished || res.Errors != 0 {
		t.Fatalf("reason %q errors %d\nlogs:\n%s", res.Reason, res.Errors, logs)
	}
	got := sink.jsonLines()
	slices.Sort(got)
	want := []string{
		`{"crawled":"DETAIL","source":"mw","piped":true}`,
		`{"detail":"DETAIL","inline":"inline body","failure":"HttpError 404","source":"mw","piped":true}`,
		`{"failed":"HttpError","status":404,"url":"missing","tagged":true,"source":"mw","piped":true}`,
		`{"page":"P1","tagged":true,"from":"start","source":"mw","piped":true}`,
		`{"page":"P3","tagged":null,"from":"idle","source":"mw","piped":true}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("items:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	checks := map[string]any{"js/pages": int64(3), "js/opened": true, "js/closed": "finished", "js/scraped": int64(5)}
	for k, v := range checks {
		if g, _ := st.Get(k); g != v {
			t.Errorf("stat %s = %v, want %v", k, g, v)
		}
	}
	if l := logs.String(); !strings.Contains(l, `msg="parsed {\"url\":\"`+srv.URL+`/p1\"}"`) || !strings.Contains(l, "js=testdata/lifecycle.js:28:") {
		t.Errorf("console.log not routed to the logger with its position:\n%s", l)
	}
}

// TestCloseSpider: CloseSpider thrown by a callback closes the crawl with
// its reason; spider.close does the same from anywhere.
func TestCloseSpider(t *testing.T) {
	t.Parallel()
	srv := fixtureSite(t, 0, "")
	for _, tc := range []struct{ callback, reason string }{{"throw_close", "enough"}, {"call_close", "done by hand"}} {
		s, _ := newSpider(t, "shapes.js", func(o *Options) {
			o.StartURLs = []string{srv.URL + "/list"}
			o.DefaultCallback = tc.callback
		})
		res, _ := runEngine(t, s, nil)
		if res.Reason != tc.reason {
			t.Errorf("%s: reason %q, want %q", tc.callback, res.Reason, tc.reason)
		}
	}
}

// TestSessionHook: spider.hooks.session reaches the session registry
// (register_sessions with every member shape, end_session by name and by
// request), and says so clearly when sessions are absent.
func TestSessionHook(t *testing.T) {
	t.Parallel()
	reg := session.NewRegistry(middleware.NewCookieJars())
	s, _ := newSpider(t, "misc.js", func(o *Options) { o.Sessions = reg })
	rec, err := call(t, s, "sessions")
	if err != nil || rec.String() != `I {"id":"session1","err":"end_session: no session named \"nobody\""}` {
		t.Fatalf("%v %s", err, rec)
	}
	if got := reg.Active("session1"); !slices.Equal(got, []string{"u3"}) {
		t.Errorf("active members %v, want [u3] (u1 ended by name, u2 by request)", got)
	}
	s2, _ := newSpider(t, "misc.js", nil)
	_, err = call(t, s2, "sessions")
	if err == nil || !strings.Contains(err.Error(), "sessions are not available in this build") {
		t.Errorf("without Sessions: %v", err)
	}
}

// TestNoFalseStall: while the engine pulls start requests whose downloads
// all fail at once, Stalled must never report the start iterator between
// two pulls (a posted-but-not-running job once looked like a stall).
func TestNoFalseStall(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "close.js", nil)
	res, _ := runEngine(t, s, func(o *engine.Options) {
		o.Fetcher = engine.FetcherFunc(func(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
			return nil, nil, crawl.NewFailure(crawl.DNSLookupError, r, errors.New("no such host"))
		})
	})
	if res.Reason != engine.ReasonFinished {
		t.Fatalf("reason %q, stalled %q", res.Reason, res.Stalled)
	}
	// Deterministically: an invocation created but not yet running is not
	// a stalled one.
	s2, _ := newSpider(t, "close.js", nil)
	inv := s2.newInvocation("start", "start", "", nil)
	if got := s2.Stalled(); got != nil {
		t.Errorf("Stalled() = %q for an invocation whose job has not run", got)
	}
	inv.finish(nil)
}
