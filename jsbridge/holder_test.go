package jsbridge

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/engine"
)

// fixtureSite serves a list page linking to detail pages (one of them 404)
// and a stage-2 page.
func fixtureSite(t *testing.T, details int, missing string) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/list", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><body>")
		for i := 1; i <= details; i++ {
			fmt.Fprintf(w, `<a class="detail" href="/detail/%d">d%d</a>`, i, i)
		}
		fmt.Fprint(w, "</body></html>")
	})
	mux.HandleFunc("/detail/", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/detail/")
		if id == missing {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "<html><h1>title %s</h1></html>", id)
	})
	mux.HandleFunc("/stage2", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "<html><title>stage two</title></html>")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestResultHolderFlow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		missing string
		want    []string
	}{
		{"all subtasks succeed", "", []string{
			`{"detail":"1"}`, `{"detail":"2"}`, `{"detail":"3"}`,
			`{"stage":1,"titles":["title 1","title 2","title 3"],"failed":[]}`,
			`{"stage":2,"seen":3,"title":"stage two"}`,
		}},
		{"one subtask fails", "2", []string{
			`{"detail":"1"}`, `{"detail":"3"}`,
			`{"stage":1,"titles":["title 1","title 3"],"failed":["HttpError 404"]}`,
			`{"stage":2,"seen":2,"title":"stage two"}`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := fixtureSite(t, 3, tc.missing)
			s, logs := newSpider(t, "holder.js", func(o *Options) { o.StartURLs = []string{srv.URL + "/list"} })
			res, sink := runEngine(t, s, nil)
			if res.Reason != engine.ReasonFinished || res.Errors != 0 {
				t.Fatalf("reason %q errors %d stalled %q\nlogs:\n%s", res.Reason, res.Errors, res.Stalled, logs)
			}
			got := sink.jsonLines()
			// Detail items arrive in download order; the stages are ordered.
			details := slices.Clone(got[:len(got)-2])
			slices.Sort(details)
			got = append(details, got[len(got)-2:]...)
			if !slices.Equal(got, tc.want) {
				t.Errorf("items:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestStalledHolder: a holder nobody sets must close the crawl "stalled"
// within bounded time, naming the waiting callback and the await.
func TestStalledHolder(t *testing.T) {
	t.Parallel()
	srv := fixtureSite(t, 0, "")
	s, _ := newSpider(t, "holder.js", func(o *Options) {
		o.StartURLs = []string{srv.URL + "/list"}
		o.DefaultCallback = "parse_never"
	})
	res, sink := runEngine(t, s, nil)
	if res.Reason != engine.ReasonStalled {
		t.Fatalf("reason %q, want stalled", res.Reason)
	}
	want := []string{
		"callback parse_never (testdata/holder.js:33:24) for " + srv.URL + "/list is waiting on a promise that nothing can resolve",
		"ResultHolder.get_result() never resolved, awaited at testdata/holder.js:36:26",
	}
	if !slices.Equal(res.Stalled, want) {
		t.Errorf("stalled:\n%s\nwant:\n%s", strings.Join(res.Stalled, "\n"), strings.Join(want, "\n"))
	}
	if got := sink.jsonLines(); !slices.Equal(got, []string{`{"before":true}`}) {
		t.Errorf("items %q: the output before the await must be kept", got)
	}
}
