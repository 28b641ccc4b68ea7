package jsbridge

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
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

// TestLinkExtractorCap: a JS LinkExtractor applies LINKEXTRACTOR_MAX_LINKS
// like a CrawlSpider rule, with one warning and a stat per page cut short.
func TestLinkExtractorCap(t *testing.T) {
	t.Parallel()
	s, logs := newSpider(t, "response.js", func(o *Options) { o.MaxLinks = 2 })
	body := "<html><body>"
	for i := range 10 {
		body += `<a href="/p/` + string(rune('a'+i)) + `">x</a>`
	}
	resp := &crawl.Response{URL: "http://example.test/", Status: 200, Body: []byte(body + "</body></html>"),
		Headers: crawl.Headers{{Name: "Content-Type", Value: "text/html"}},
		Request: &crawl.Request{URL: "http://example.test/", Callback: "parse_capped"}}
	rec := &recorder{}
	if err := s.Callback(context.Background(), resp, rec); err != nil {
		t.Fatal(err)
	}
	if rec.String() != `I {"ok":true}` {
		t.Fatalf("output %s", rec)
	}
	if !strings.Contains(logs.String(), "LINKEXTRACTOR_MAX_LINKS") {
		t.Errorf("no warning for the page cut short:\n%s", logs)
	}
	if n := stats.Int(s.Stats(), "linkextractor/pages_truncated"); n != 1 {
		t.Errorf("linkextractor/pages_truncated = %d, want 1", n)
	}
}
