package jsbridge

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func TestRequestConstruction(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "request.js", nil)
	rec, err := call(t, s, "full")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.reqs) != 1 {
		t.Fatalf("output %s", rec)
	}
	r := rec.reqs[0]
	checks := []struct {
		what string
		got  any
		want any
	}{
		{"url", r.URL, "https://example.test/search?x=1&q=go+lang&page=2#frag"},
		{"method", r.Method, "PUT"},
		{"headers", r.Headers, crawl.Headers{{Name: "User-Agent", Value: "ua"}, {Name: "Accept", Value: "a/b"}, {Name: "Accept", Value: "c/d"}}},
		{"body", string(r.Body), "raw"},
		{"cookies", r.Cookies, []crawl.Cookie{{Name: "sid", Value: "1"}, {Name: "lang", Value: "en"}}},
		{"proxy", r.Proxy, "http://proxy.test:8080"},
		{"timeout", r.Timeout, 2500 * time.Millisecond},
		{"max_retry_times", *r.MaxRetryTimes, 3},
		{"retry_delay", r.RetryDelay, 500 * time.Millisecond},
		{"allow_redirects", *r.AllowRedirects, false},
		{"max_redirects", r.MaxRedirects, 4},
		{"verify", *r.Verify, false},
		{"impersonate", r.Impersonate, "chrome"},
		{"http_version", r.HTTPVersion, "2"},
		{"meta n", r.Meta["n"], int64(1)},
		{"meta nested", r.Meta["nested"], map[string]any{"a": []any{int64(1), int64(2)}}},
		{"cb_kwargs", r.CbKwargs, map[string]any{"kind": "quote"}},
		{"dont_filter", r.DontFilter, true},
		{"priority", r.Priority, 7},
		{"callback", r.Callback, "parse_item"},
		{"errback", r.Errback, "on_error"},
		{"session_id", r.SessionID, "s1"},
		{"desc_text", r.DescText, "search"},
	}
	for _, c := range checks {
		if g, w := jsonOf(c.got), jsonOf(c.want); g != w {
			t.Errorf("%s: got %s, want %s", c.what, g, w)
		}
	}
	for _, k := range []string{"holder", "fn"} {
		if _, ok := r.Meta[k].(*Opaque); !ok {
			t.Errorf("meta %s is %T, want *Opaque", k, r.Meta[k])
		}
	}
	if _, err := json.Marshal(r.Meta["holder"]); err == nil {
		t.Error("an opaque meta value must refuse to be serialized")
	}
	// The request comes back: response.meta holds the same objects.
	resp := &crawl.Response{URL: r.URL, Status: 200, Body: []byte("<p>x</p>"), Request: r}
	rec2 := &recorder{}
	if err := s.Callback(context.Background(), resp, rec2); err != nil {
		t.Fatal(err)
	}
	if rec2.String() != `I {"kind":"quote"}` {
		t.Errorf("parse_item output %s", rec2)
	}
}

func jsonOf(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

func TestRequestVariants(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "request.js", nil)
	rec, err := call(t, s, "data_json")
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"R POST http://example.test/form",
		"R POST http://example.test/api",
		"R POST http://example.test/login",
		"R GET http://example.test/s?q=a",
		"R POST http://example.test/api",
		"R GET wss://example.test/ws",
	}, "\n")
	if rec.String() != want {
		t.Fatalf("output:\n%s\nwant:\n%s", rec, want)
	}
	form, js, ws := rec.reqs[0], rec.reqs[1], rec.reqs[5]
	if form.Headers.Get("Content-Type") != "application/x-www-form-urlencoded" || string(form.Body) != "a=1&b=x&b=y" {
		t.Errorf("form: %v %q", form.Headers, form.Body)
	}
	if js.Callback != "parse_item" || js.Headers.Get("Content-Type") != "application/json" {
		t.Errorf("json request: %+v", js)
	}
	if ws.WebSocket == nil || ws.WebSocket.ID != "w1" || len(ws.WebSocket.Send) != 2 || !ws.WebSocket.Send[1].Binary || string(ws.WebSocket.Send[0].Data) != "hello" {
		t.Errorf("websocket: %+v", ws.WebSocket)
	}
	if !rec.reqs[4].DontFilter {
		t.Error("replace lost dont_filter")
	}
	if rec, err := call(t, s, "invalid"); err != nil || rec.String() != `I {"ok":true}` {
		t.Errorf("invalid: %v %s", err, rec)
	}
	// A closure callback stays with the request (Request.Local).
	rec, err = call(t, s, "closure")
	if err != nil || len(rec.reqs) != 1 {
		t.Fatalf("closure: %v %s", err, rec)
	}
	r := rec.reqs[0]
	if r.Callback != "" || r.Local == nil {
		t.Fatalf("closure request: callback %q local %v", r.Callback, r.Local)
	}
	out := &recorder{}
	if err := s.Callback(context.Background(), &crawl.Response{URL: r.URL, Status: 200, Request: r}, out); err != nil {
		t.Fatal(err)
	}
	if out.String() != `I {"local":"http://example.test/closure"}` {
		t.Errorf("closure output %s", out)
	}
}
