package middleware

import (
	"context"
	"errors"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

func TestDefaultHeaders(t *testing.T) {
	m := &DefaultHeaders{Headers: DefaultRequestHeaders(), UserAgent: "bot/1"}
	r := &crawl.Request{URL: "http://a/", Headers: crawl.Headers{{Name: "X-First", Value: "1"}, {Name: "accept-language", Value: "de"}}}
	m.ProcessRequest(context.Background(), r)
	want := crawl.Headers{{Name: "X-First", Value: "1"}, {Name: "accept-language", Value: "de"},
		{Name: "User-Agent", Value: "bot/1"}, {Name: "Accept", Value: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}}
	if len(r.Headers) != len(want) {
		t.Fatalf("headers %v", r.Headers)
	}
	for i := range want {
		if r.Headers[i] != want[i] {
			t.Fatalf("header %d = %v, want %v", i, r.Headers[i], want[i])
		}
	}
	imp := &crawl.Request{URL: "http://a/", Impersonate: "chrome"}
	m.ProcessRequest(context.Background(), imp)
	if len(imp.Headers) != 0 {
		t.Fatalf("impersonated request got our defaults: %v", imp.Headers)
	}
}

func TestHTTPError(t *testing.T) {
	st := stats.NewMemory()
	m := &HTTPError{AllowedCodes: []int{404}, Stats: st}
	for _, tc := range []struct {
		name   string
		meta   map[string]any
		status int
		pass   bool
	}{
		{"200", nil, 200, true},
		{"204", nil, 204, true},
		{"allowed 404", nil, 404, true},
		{"500", nil, 500, false},
		{"302 not followed", nil, 302, false},
		{"meta list", map[string]any{"handle_httpstatus_list": []int{500}}, 500, true},
		{"meta list overrides the setting", map[string]any{"handle_httpstatus_list": []any{int64(500)}}, 404, false},
		{"meta all", map[string]any{"handle_httpstatus_all": true}, 503, true},
	} {
		r := &crawl.Request{URL: "http://a/", Meta: tc.meta}
		resp := &crawl.Response{Status: tc.status}
		res, err := m.ProcessResponse(context.Background(), r, resp)
		if tc.pass {
			if err != nil || res.Request != nil {
				t.Errorf("%s: want pass, got %v", tc.name, err)
			}
			continue
		}
		var f *crawl.Failure
		if !errors.As(err, &f) || f.Type != crawl.HttpError || f.Response != resp || f.Request != r {
			t.Errorf("%s: want an HttpError carrying the response, got %v", tc.name, err)
		}
	}
	if stats.Int(st, "httperror/response_ignored_count") != 3 || stats.Int(st, "httperror/response_ignored_status_count/500") != 1 {
		t.Fatalf("stats %v", st.Snapshot())
	}
	all := &HTTPError{AllowAll: true}
	if _, err := all.ProcessResponse(context.Background(), &crawl.Request{}, &crawl.Response{Status: 500}); err != nil {
		t.Fatal("HTTPERROR_ALLOW_ALL did not allow")
	}
}

func TestDownloaderStats(t *testing.T) {
	st := stats.NewMemory()
	m := &Stats{Stats: st}
	ctx := context.Background()
	r := &crawl.Request{URL: "http://a/", Method: "POST", Body: []byte("abc")}
	m.ProcessRequest(ctx, r)
	m.ProcessRequest(ctx, &crawl.Request{URL: "http://a/"})
	m.ProcessResponse(ctx, r, &crawl.Response{Status: 200, Body: make([]byte, 100), Protocol: "HTTP/3.0"})
	m.ProcessException(ctx, r, &crawl.Failure{Type: crawl.TimeoutError})
	m.ProcessException(ctx, r, errors.New("odd"))
	for key, want := range map[string]int64{
		"downloader/request_count": 2, "downloader/request_method_count/POST": 1, "downloader/request_method_count/GET": 1,
		"downloader/response_count": 1, "downloader/response_status_count/200": 1, "downloader/exception_count": 2,
		"downloader/exception_type_count/TimeoutError": 1, "downloader/exception_type_count/Error": 1,
		"downloader/response_protocol_count/h3": 1,
	} {
		if got := stats.Int(st, key); got != want {
			t.Errorf("%s = %d, want %d", key, got, want)
		}
	}
	if stats.Int(st, "downloader/response_bytes") < 100 || stats.Int(st, "downloader/request_bytes") < 3 {
		t.Fatalf("byte counters: %v", st.Snapshot())
	}
}

func TestStackOrder(t *testing.T) {
	b := DefaultBuiltins(stats.NewMemory(), nil)
	b.Robots = NewRobotsTxt(nil, "")
	user := &DefaultHeaders{}
	names := []string{}
	for _, mw := range b.Stack(user) {
		switch mw.(type) {
		case *HTTPError:
			names = append(names, "httperror")
		case *RobotsTxt:
			names = append(names, "robots")
		case *DefaultHeaders:
			if mw == Downloader(user) {
				names = append(names, "user")
			} else {
				names = append(names, "headers")
			}
		case *Retry:
			names = append(names, "retry")
		case *Redirect:
			names = append(names, "redirect")
		case *Cookies:
			names = append(names, "cookies")
		case *Stats:
			names = append(names, "stats")
		}
	}
	if got := joinNames(names); got != "httperror robots headers user retry redirect cookies stats" {
		t.Fatalf("order %s", got)
	}
}

func joinNames(s []string) string {
	out := ""
	for i, n := range s {
		if i > 0 {
			out += " "
		}
		out += n
	}
	return out
}
