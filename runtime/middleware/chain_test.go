package middleware

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// tracer records every call and answers as told.
type tracer struct {
	name  string
	log   *[]string
	mu    *sync.Mutex
	onReq func(*crawl.Request) (Result, error)
	onRes func(*crawl.Request, *crawl.Response) (Result, error)
	onExc func(*crawl.Request, error) (Result, error)
}

func (t *tracer) add(s string) {
	t.mu.Lock()
	*t.log = append(*t.log, t.name+"."+s)
	t.mu.Unlock()
}

func (t *tracer) ProcessRequest(_ context.Context, r *crawl.Request) (Result, error) {
	t.add("req")
	if t.onReq != nil {
		return t.onReq(r)
	}
	return Result{}, nil
}

func (t *tracer) ProcessResponse(_ context.Context, r *crawl.Request, resp *crawl.Response) (Result, error) {
	t.add("resp")
	if t.onRes != nil {
		return t.onRes(r, resp)
	}
	return Result{}, nil
}

func (t *tracer) ProcessException(_ context.Context, r *crawl.Request, err error) (Result, error) {
	t.add("exc")
	if t.onExc != nil {
		return t.onExc(r, err)
	}
	return Result{}, nil
}

type chainCase struct {
	log []string
	mu  sync.Mutex
}

func (c *chainCase) mw(name string) *tracer { return &tracer{name: name, log: &c.log, mu: &c.mu} }

func (c *chainCase) handler(resp *crawl.Response, err error) Handler {
	return HandlerFunc(func(_ context.Context, r *crawl.Request) (*crawl.Response, error) {
		c.mu.Lock()
		c.log = append(c.log, "download")
		c.mu.Unlock()
		if resp != nil {
			resp.Request = r
		}
		return resp, err
	})
}

func TestChainOrder(t *testing.T) {
	failure := &crawl.Failure{Type: crawl.TimeoutError, Message: "timeout"}
	for _, tc := range []struct {
		name     string
		setup    func(a, b, c *tracer)
		dlResp   *crawl.Response
		dlErr    error
		want     string
		wantResp int
		wantReq  string
		wantErr  crawl.FailureType
	}{
		{
			name: "plain", dlResp: &crawl.Response{Status: 200},
			want: "a.req b.req c.req download c.resp b.resp a.resp", wantResp: 200,
		},
		{
			name: "process_request answers with a response: no download, every process_response runs",
			setup: func(a, b, c *tracer) {
				b.onReq = func(*crawl.Request) (Result, error) { return Result{Response: &crawl.Response{Status: 203}}, nil }
			},
			want: "a.req b.req c.resp b.resp a.resp", wantResp: 203,
		},
		{
			name: "process_request returns a request: scheduled, nothing else runs",
			setup: func(a, b, c *tracer) {
				a.onReq = func(*crawl.Request) (Result, error) {
					return Result{Request: &crawl.Request{URL: "http://x/other"}}, nil
				}
			},
			want: "a.req", wantReq: "http://x/other",
		},
		{
			name:  "download error walks process_exception in reverse",
			dlErr: failure,
			want:  "a.req b.req c.req download c.exc b.exc a.exc", wantErr: crawl.TimeoutError,
		},
		{
			name:  "process_exception recovers with a response that then goes through process_response",
			dlErr: failure,
			setup: func(a, b, c *tracer) {
				b.onExc = func(*crawl.Request, error) (Result, error) {
					return Result{Response: &crawl.Response{Status: 299}}, nil
				}
			},
			want: "a.req b.req c.req download c.exc b.exc c.resp b.resp a.resp", wantResp: 299,
		},
		{
			name:  "process_exception returns a retry request",
			dlErr: failure,
			setup: func(a, b, c *tracer) {
				c.onExc = func(r *crawl.Request, _ error) (Result, error) { return Result{Request: r.Copy()}, nil }
			},
			want: "a.req b.req c.req download c.exc", wantReq: "http://x/",
		},
		{
			name:  "process_exception error ends the walk (Scrapy: the exception escapes, later methods do not run)",
			dlErr: failure,
			setup: func(a, b, c *tracer) {
				b.onExc = func(r *crawl.Request, _ error) (Result, error) { return Result{}, Ignore(r, "from b") }
			},
			want: "a.req b.req c.req download c.exc b.exc", wantErr: crawl.IgnoreRequest,
		},
		{
			name: "process_request error goes to process_exception",
			setup: func(a, b, c *tracer) {
				b.onReq = func(r *crawl.Request) (Result, error) { return Result{}, Ignore(r, "no") }
			},
			want: "a.req b.req c.exc b.exc a.exc", wantErr: crawl.IgnoreRequest,
		},
		{
			name:   "process_response error skips process_exception",
			dlResp: &crawl.Response{Status: 500},
			setup: func(a, b, c *tracer) {
				c.onRes = func(*crawl.Request, *crawl.Response) (Result, error) { return Result{}, errors.New("boom") }
			},
			want: "a.req b.req c.req download c.resp", wantErr: crawl.UnknownError,
		},
		{
			name:   "process_response replaces the response, then a request stops the walk",
			dlResp: &crawl.Response{Status: 302},
			setup: func(a, b, c *tracer) {
				c.onRes = func(*crawl.Request, *crawl.Response) (Result, error) {
					return Result{Response: &crawl.Response{Status: 301}}, nil
				}
				b.onRes = func(r *crawl.Request, resp *crawl.Response) (Result, error) {
					if resp.Status != 301 {
						t.Errorf("b saw %d, want the replaced 301", resp.Status)
					}
					return Result{Request: &crawl.Request{URL: "http://x/next"}}, nil
				}
			},
			want: "a.req b.req c.req download c.resp b.resp", wantReq: "http://x/next",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := &chainCase{}
			a, b, c := cc.mw("a"), cc.mw("b"), cc.mw("c")
			if tc.setup != nil {
				tc.setup(a, b, c)
			}
			ch, err := NewChain(cc.handler(tc.dlResp, tc.dlErr), a, b, c)
			if err != nil {
				t.Fatal(err)
			}
			resp, next, err := ch.Fetch(context.Background(), &crawl.Request{URL: "http://x/"})
			if got := strings.Join(cc.log, " "); got != tc.want {
				t.Errorf("calls:\n got %s\nwant %s", got, tc.want)
			}
			n := 0
			for _, ok := range []bool{resp != nil, next != nil, err != nil} {
				if ok {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("want exactly one result, got resp=%v next=%v err=%v", resp, next, err)
			}
			switch {
			case tc.wantResp != 0:
				if resp == nil || resp.Status != tc.wantResp {
					t.Fatalf("response %v, want status %d", resp, tc.wantResp)
				}
			case tc.wantReq != "":
				if next == nil || next.URL != tc.wantReq {
					t.Fatalf("request %v, want %s", next, tc.wantReq)
				}
			default:
				var f *crawl.Failure
				if !errors.As(err, &f) || f.Type != tc.wantErr || f.Request == nil {
					t.Fatalf("error %v, want a %s failure with its request", err, tc.wantErr)
				}
			}
		})
	}
}

func TestNewChainRejectsNonMiddleware(t *testing.T) {
	if _, err := NewChain(HandlerFunc(nil), struct{}{}); err == nil || !strings.Contains(err.Error(), "implements none") {
		t.Fatalf("err = %v", err)
	}
}

func TestChainDownloadFollowsRequests(t *testing.T) {
	hops := 0
	h := HandlerFunc(func(_ context.Context, r *crawl.Request) (*crawl.Response, error) {
		hops++
		if hops < 3 {
			return &crawl.Response{Status: 302, URL: r.URL, Request: r, Headers: crawl.Headers{{Name: "Location", Value: fmt.Sprintf("/hop%d", hops)}}}, nil
		}
		return &crawl.Response{Status: 200, URL: r.URL, Request: r}, nil
	})
	ch, _ := NewChain(h, NewRedirect(nil))
	resp, err := ch.Download(context.Background(), &crawl.Request{URL: "http://x/a"}, 10)
	if err != nil || resp.Status != 200 || resp.URL != "http://x/hop2" {
		t.Fatalf("resp %v err %v", resp, err)
	}
	hops = 0
	_, err = ch.Download(context.Background(), &crawl.Request{URL: "http://x/a"}, 1)
	if err == nil {
		t.Fatal("want a failure when the follow limit is hit")
	}
}
