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
