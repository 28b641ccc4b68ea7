package jsbridge

import (
	"context"
	"os"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func TestResponseAPI(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile("testdata/page.html")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := newSpider(t, "response.js", nil)
	tests := []struct {
		name string
		resp *crawl.Response
	}{
		{"parse", &crawl.Response{
			URL: "http://example.test/dir/page.html", Status: 200, Protocol: "HTTP/1.1", Body: page,
			Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html; charset=utf-8"}, {Name: "Set-Cookie", Value: "a=1"}, {Name: "Set-Cookie", Value: "b=2"}},
			Request: &crawl.Request{URL: "http://example.test/dir/page.html", Callback: "parse"},
		}},
		{"parse_json", &crawl.Response{
			URL: "http://example.test/api", Status: 200, Body: []byte(`{"a": {"b": [1, 2, 3]}}`),
			Headers: crawl.Headers{{Name: "Content-Type", Value: "application/json"}},
			Request: &crawl.Request{URL: "http://example.test/api", Callback: "parse_json"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			if err := s.Callback(context.Background(), tc.resp, rec); err != nil {
				t.Fatal(err)
			}
			if rec.String() != `I {"ok":true}` {
				t.Errorf("output %s", rec)
			}
		})
	}
}
