package spidermw

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

type sink struct{ reqs []*crawl.Request }

func (s *sink) Request(r *crawl.Request) { s.reqs = append(s.reqs, r) }
func (s *sink) Item(*crawl.Item)         {}
func (s *sink) Error(error)              {}

func TestRefererPolicyAndParent(t *testing.T) {
	tests := []struct {
		page, target, want string
	}{
		{"http://a.test/p?q=1#frag", "http://a.test/next", "http://a.test/p?q=1"},
		{"https://user:pw@a.test/p", "https://b.test/", "https://a.test/p"},
		{"https://a.test/p", "http://a.test/downgrade", ""},
		{"file:///tmp/site/index.html", "file:///tmp/site/2.html", ""},
	}
	for _, tt := range tests {
		var s sink
		out := (&Referer{SetHeader: true}).WrapOutput(&crawl.Response{URL: tt.page, Status: 200}, &s)
		out.Request(&crawl.Request{URL: tt.target})
		r := s.reqs[0]
		if got := r.Headers.Get("Referer"); got != tt.want {
			t.Errorf("%s -> %s: Referer %q, want %q", tt.page, tt.target, got, tt.want)
		}
		if r.Parent != tt.page {
			t.Errorf("Parent = %q, want %q", r.Parent, tt.page)
		}
	}
	// Off: only Parent; a callback's own Referer is kept.
	var s sink
	out := (&Referer{}).WrapOutput(&crawl.Response{URL: "http://a.test/", Status: 200}, &s)
	out.Request(&crawl.Request{URL: "http://a.test/x"})
	if s.reqs[0].Headers.Has("Referer") || s.reqs[0].Parent != "http://a.test/" {
		t.Errorf("disabled: %+v", s.reqs[0])
	}
	out = (&Referer{SetHeader: true}).WrapOutput(&crawl.Response{URL: "http://a.test/", Status: 200}, &s)
	out.Request(&crawl.Request{URL: "http://a.test/y", Headers: crawl.Headers{{Name: "Referer", Value: "mine"}}})
	if got := s.reqs[1].Headers.Values("Referer"); len(got) != 1 || got[0] != "mine" {
		t.Errorf("own Referer replaced: %v", got)
	}
}

// TestRefererPolicyFromPage: a page's Referrer-Policy header (Scrapy) and
// <meta name="referrer"> (browsers; it wins over the header) decide the
// Referer of the requests it emits and are written to their meta
// referrer_policy; a request's own meta referrer_policy wins over both.
func TestRefererPolicyFromPage(t *testing.T) {
	page := "https://www.example.com/a/page?q=1"
	tests := []struct {
		name, header, body, own, target string
		wantRef, wantMeta               string
	}{
		{"default, cross-origin", "", "", "", "https://www.example.org/", page, ""},
		{"header origin", "origin", "", "", "https://www.example.com/b", "https://www.example.com/", "origin"},
		{"header list: last known wins", "no-referrer, bogus, same-origin", "", "", "https://www.example.org/", "", "same-origin"},
		{"meta over header", "no-referrer", `<html><head><META Name="referrer" content='unsafe-url'></head>`, "", "http://www.example.org/", page, "unsafe-url"},
		{"meta strict-origin-when-cross-origin", "", `<meta content="strict-origin-when-cross-origin" name=referrer>`, "", "https://www.example.org/x", "https://www.example.com/", "strict-origin-when-cross-origin"},
		{"request meta wins", "no-referrer", "", "unsafe-url", "https://www.example.org/", page, "unsafe-url"},
		{"unknown meta value ignored", "", `<meta name="referrer" content="bogus">`, "", "https://www.example.org/", page, ""},
	}
	for _, tt := range tests {
		var s sink
		resp := &crawl.Response{URL: page, Status: 200, Body: []byte(tt.body)}
		if tt.header != "" {
			resp.Headers = crawl.Headers{{Name: "Referrer-Policy", Value: tt.header}}
		}
		out := (&Referer{SetHeader: true}).WrapOutput(resp, &s)
		r := &crawl.Request{URL: tt.target}
		if tt.own != "" {
			r.SetMeta("referrer_policy", tt.own)
		}
		out.Request(r)
		if got := r.Headers.Get("Referer"); got != tt.wantRef {
			t.Errorf("%s: Referer %q, want %q", tt.name, got, tt.wantRef)
		}
		if got, _ := r.Meta["referrer_policy"].(string); got != tt.wantMeta && !(tt.own != "" && got == tt.own) {
			t.Errorf("%s: meta referrer_policy %q, want %q", tt.name, got, tt.wantMeta)
		}
	}
}
