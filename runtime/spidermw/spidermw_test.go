package spidermw_test

import (
	"context"
	"io"
	"slices"
	"sync"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/spidermw"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// sink is the engine side of the chain in these tests.
type sink struct {
	mu   sync.Mutex
	reqs []*crawl.Request
}

func (s *sink) Request(r *crawl.Request) { s.mu.Lock(); s.reqs = append(s.reqs, r); s.mu.Unlock() }
func (s *sink) Item(*crawl.Item)         {}
func (s *sink) Error(error)              {}

func (s *sink) urls() []string {
	var out []string
	for _, r := range s.reqs {
		out = append(out, r.URL)
	}
	return out
}

func TestOffsite(t *testing.T) {
	cases := []struct {
		name    string
		allowed []string
		req     *crawl.Request
		pass    bool
	}{
		{"same domain", []string{"example.com"}, &crawl.Request{URL: "http://example.com/a"}, true},
		{"subdomain", []string{"example.com"}, &crawl.Request{URL: "https://www.shop.example.com/a"}, true},
		{"suffix is not a subdomain", []string{"example.com"}, &crawl.Request{URL: "http://badexample.com/a"}, false},
		{"other domain", []string{"example.com"}, &crawl.Request{URL: "http://other.org/"}, false},
		{"case and trailing dot", []string{"Example.COM"}, &crawl.Request{URL: "http://EXAMPLE.com./x"}, true},
		{"port in URL", []string{"example.com"}, &crawl.Request{URL: "http://example.com:8080/x"}, true},
		{"port in allowed", []string{"example.com:8080"}, &crawl.Request{URL: "http://example.com/x"}, true},
		{"scheme in allowed", []string{"https://example.com"}, &crawl.Request{URL: "http://example.com/x"}, true},
		{"ip", []string{"127.0.0.1"}, &crawl.Request{URL: "http://127.0.0.1:9/x"}, true},
		{"start request passes", []string{"example.com"}, &crawl.Request{URL: "http://other.org/", Start: true}, true},
		{"dont_filter passes", []string{"example.com"}, &crawl.Request{URL: "http://other.org/", DontFilter: true}, true},
		{"allow_offsite meta", []string{"example.com"}, &crawl.Request{URL: "http://other.org/", Meta: map[string]any{"allow_offsite": true}}, true},
		{"no allowed domains", nil, &crawl.Request{URL: "http://anything.test/"}, true},
		{"unparsable", []string{"example.com"}, &crawl.Request{URL: "http://[::1"}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := stats.NewMemory()
			o := spidermw.NewOffsite(c.allowed, st, nil)
			s := &sink{}
			o.WrapOutput(&crawl.Response{}, s).Request(c.req)
			if got := len(s.reqs) == 1; got != c.pass {
				t.Fatalf("passed = %v, want %v", got, c.pass)
			}
			if !c.pass && stats.Int(st, stats.OffsiteFiltered) != 1 {
				t.Fatalf("offsite/filtered = %d", stats.Int(st, stats.OffsiteFiltered))
			}
		})
	}
}

func TestOffsiteDomainsCountedOnce(t *testing.T) {
	st := stats.NewMemory()
	o := spidermw.NewOffsite([]string{"example.com"}, st, nil)
	out := o.WrapOutput(&crawl.Response{}, &sink{})
	for _, u := range []string{"http://a.org/1", "http://a.org/2", "http://b.org/1"} {
		out.Request(&crawl.Request{URL: u})
	}
	if stats.Int(st, stats.OffsiteDomains) != 2 || stats.Int(st, stats.OffsiteFiltered) != 3 {
		t.Fatalf("domains %d filtered %d", stats.Int(st, stats.OffsiteDomains), stats.Int(st, stats.OffsiteFiltered))
	}
}

func TestDepth(t *testing.T) {
	cases := []struct {
		name        string
		limit, prio int
		parent      int
		pass        bool
		wantPrio    int
	}{
		{"no limit", 0, 0, 5, true, 0},
		{"within limit", 3, 0, 2, true, 0},
		{"over limit", 3, 0, 3, false, 0},
		{"bfs priority", 0, 1, 2, true, -3},
		{"dfs priority", 0, -1, 2, true, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := stats.NewMemory()
			d := spidermw.NewDepth(c.limit, c.prio, true, st, nil)
			s := &sink{}
			parent := &crawl.Response{Request: &crawl.Request{URL: "http://a.test/", Depth: c.parent}}
			r := &crawl.Request{URL: "http://a.test/child"}
			d.WrapOutput(parent, s).Request(r)
			if got := len(s.reqs) == 1; got != c.pass {
				t.Fatalf("passed = %v, want %v", got, c.pass)
			}
			if r.Depth != c.parent+1 || r.Priority != c.wantPrio {
				t.Fatalf("depth %d priority %d, want %d %d", r.Depth, r.Priority, c.parent+1, c.wantPrio)
			}
			if c.pass {
				if stats.Int(st, stats.RequestDepthMax) != int64(c.parent+1) {
					t.Fatalf("request_depth_max = %d", stats.Int(st, stats.RequestDepthMax))
				}
				if stats.Int(st, stats.RequestDepthCount+itoa(c.parent+1)) != 1 {
					t.Fatalf("request_depth_count missing: %v", st.Snapshot())
				}
			}
		})
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

type slice struct{ reqs []*crawl.Request }

func (s *slice) Next(context.Context) (*crawl.Request, error) {
	if len(s.reqs) == 0 {
		return nil, io.EOF
	}
	r := s.reqs[0]
	s.reqs = s.reqs[1:]
	return r, nil
}

func TestDepthStartCounted(t *testing.T) {
	st := stats.NewMemory()
	d := spidermw.NewDepth(0, 0, true, st, nil)
	it := d.WrapStart(&slice{reqs: []*crawl.Request{{URL: "http://a.test/1"}, {URL: "http://a.test/2"}}})
	var got []string
	for {
		r, err := it.Next(t.Context())
		if err == io.EOF {
			break
		}
		got = append(got, r.URL)
	}
	if !slices.Equal(got, []string{"http://a.test/1", "http://a.test/2"}) || stats.Int(st, stats.RequestDepthCount+"0") != 2 {
		t.Fatalf("got %v, depth_count/0 = %d", got, stats.Int(st, stats.RequestDepthCount+"0"))
	}
}

// TestChainOrder checks that middlewares compose as the engine composes
// them: the callback's output passes the last middleware first.
func TestChainOrder(t *testing.T) {
	st := stats.NewMemory()
	mws := []engine.SpiderMiddleware{
		spidermw.NewOffsite([]string{"a.test"}, st, nil),
		spidermw.NewDepth(1, 0, false, st, nil),
	}
	s := &sink{}
	var out engine.Output = s
	resp := &crawl.Response{Request: &crawl.Request{URL: "http://a.test/", Depth: 0}}
	for _, m := range mws {
		out = m.WrapOutput(resp, out)
	}
	out.Request(&crawl.Request{URL: "http://a.test/1"})
	out.Request(&crawl.Request{URL: "http://b.test/1"})
	if !slices.Equal(s.urls(), []string{"http://a.test/1"}) || s.reqs[0].Depth != 1 {
		t.Fatalf("got %v", s.urls())
	}
}
