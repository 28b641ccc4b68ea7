package impersonate

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// corsServer is a fingerprinting server whose preflight answers the test
// chooses, recording what reached it.
type corsServer struct {
	*fingerprint.Server
	mu     sync.Mutex
	answer func(c fingerprint.Capture) crawl.Headers
}

func startCORSServer(t *testing.T) *corsServer {
	t.Helper()
	cs := &corsServer{}
	srv, err := fingerprint.Start(fingerprint.Config{Answer: func(c fingerprint.Capture) fingerprint.Answer {
		cs.mu.Lock()
		defer cs.mu.Unlock()
		a := fingerprint.Answer{ContentType: "application/json", Body: []byte(`{"ok":true}`)}
		if c.Method == "OPTIONS" {
			a.Body = nil
			a.Headers = cs.answer(c)
		}
		return a
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	cs.Server = srv
	return cs
}

func (cs *corsServer) setAnswer(f func(c fingerprint.Capture) crawl.Headers) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	cs.answer = f
}

// methods lists the methods that reached the server for path, in the
// order they were answered (waiting for want of them).
func (cs *corsServer) methods(t *testing.T, path string, want int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ms []string
		for _, c := range cs.Captures() {
			if c.Path == path {
				ms = append(ms, c.Method)
			}
		}
		if len(ms) >= want || time.Now().After(deadline) {
			return ms
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCORSPreflight sends fetch requests from a page of another site
// through the Transport: a non-simple one is preceded by its preflight and
// sent once allowed; a refused preflight fails the request with
// ErrCORSPreflight, naming the reason, and nothing more is sent; a simple
// one, or one to the page's own origin, has no preflight; an allowed
// preflight is reused for its Access-Control-Max-Age.
func TestCORSPreflight(t *testing.T) {
	t.Parallel()
	cs := startCORSServer(t)
	tr := newTestTransport(t, cs.CertPool(), "")
	const page = "https://www.example.test/app"
	allow := func(maxAge string) func(c fingerprint.Capture) crawl.Headers {
		return func(c fingerprint.Capture) crawl.Headers {
			h := crawl.Headers{{Name: "Access-Control-Allow-Origin", Value: c.Headers.Get("origin")},
				{Name: "Access-Control-Allow-Methods", Value: "PUT, DELETE"},
				{Name: "Access-Control-Allow-Headers", Value: "Content-Type, X-Token"},
				{Name: "Access-Control-Allow-Credentials", Value: "true"}}
			if maxAge != "" {
				h.Add("Access-Control-Max-Age", maxAge)
			}
			return h
		}
	}
	send := func(path, method, credentials string, headers crawl.Headers, body string) error {
		target := mustURL(t, cs.URL("localhost", path))
		r := &crawl.Request{URL: target.String(), Method: method, Kind: crawl.KindFetch, Parent: page, Credentials: credentials,
			Headers: append(crawl.Headers{{Name: "Referer", Value: page}}, headers...)}
		if body != "" {
			r.Body = []byte(body)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: method, URL: target, Headers: r.Headers, Body: r.Body,
			Impersonate: "chrome_156", Verify: true, Request: r})
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	}
	jsonCT := crawl.Headers{{Name: "Content-Type", Value: "application/json"}}

	cs.setAnswer(allow(""))
	if err := send("/put", "PUT", "", jsonCT, "{}"); err != nil {
		t.Fatalf("allowed PUT: %v", err)
	}
	if got := cs.methods(t, "/put", 2); !slices.Equal(got, []string{"OPTIONS", "PUT"}) {
		t.Errorf("allowed PUT: the server saw %v, want the preflight then the PUT", got)
	}
	for _, c := range cs.Captures() {
		if c.Path == "/put" && c.Method == "OPTIONS" {
			if c.Headers.Get("access-control-request-method") != "PUT" || c.Headers.Get("access-control-request-headers") != "content-type" ||
				c.Headers.Get("origin") != "https://www.example.test" || c.Headers.Has("cookie") || c.Headers.Has("sec-ch-ua") {
				t.Errorf("preflight headers: %v", c.Headers)
			}
		}
	}

	for _, c := range []struct {
		name, path, method, credentials string
		headers                         crawl.Headers
		answer                          func(fingerprint.Capture) crawl.Headers
		reason                          string
	}{
		{"no Allow-Origin", "/r1", "DELETE", "", nil, func(fingerprint.Capture) crawl.Headers { return nil }, "no Access-Control-Allow-Origin"},
		{"another origin", "/r2", "DELETE", "", nil, func(fingerprint.Capture) crawl.Headers {
			return crawl.Headers{{Name: "Access-Control-Allow-Origin", Value: "https://other.test"}, {Name: "Access-Control-Allow-Methods", Value: "DELETE"}}
		}, `"https://other.test" is not the page's origin`},
		{"method not allowed", "/r3", "PATCH", "", nil, allow(""), "method PATCH not in Access-Control-Allow-Methods"},
		{"header not allowed", "/r4", "POST", "", crawl.Headers{{Name: "X-Other", Value: "1"}}, allow(""), "header x-other not in Access-Control-Allow-Headers"},
		{"wildcard with credentials", "/r5", "DELETE", crawl.CredentialsInclude, nil, func(fingerprint.Capture) crawl.Headers {
			return crawl.Headers{{Name: "Access-Control-Allow-Origin", Value: "*"}, {Name: "Access-Control-Allow-Methods", Value: "DELETE"}}
		}, `"*" with credentials`},
		{"credentials not allowed", "/r6", "DELETE", crawl.CredentialsInclude, nil, func(c fingerprint.Capture) crawl.Headers {
			return crawl.Headers{{Name: "Access-Control-Allow-Origin", Value: c.Headers.Get("origin")}, {Name: "Access-Control-Allow-Methods", Value: "DELETE"}}
		}, "no Access-Control-Allow-Credentials"},
	} {
		cs.setAnswer(c.answer)
		err := send(c.path, c.method, c.credentials, c.headers, "")
		if !errors.Is(err, ErrCORSPreflight) || !strings.Contains(err.Error(), c.reason) || !strings.Contains(err.Error(), c.path) {
			t.Errorf("%s: error %v, want ErrCORSPreflight naming %s and %q", c.name, err, c.path, c.reason)
		}
		if got := cs.methods(t, c.path, 1); !slices.Equal(got, []string{"OPTIONS"}) {
			t.Errorf("%s: the server saw %v, want the preflight alone", c.name, got)
		}
	}

	// A wildcard without credentials allows any method and header.
	cs.setAnswer(func(fingerprint.Capture) crawl.Headers {
		return crawl.Headers{{Name: "Access-Control-Allow-Origin", Value: "*"}, {Name: "Access-Control-Allow-Methods", Value: "*"}, {Name: "Access-Control-Allow-Headers", Value: "*"}}
	})
	if err := send("/star", "PATCH", "", crawl.Headers{{Name: "X-Any", Value: "1"}}, ""); err != nil {
		t.Errorf("wildcards: %v", err)
	}

	// Simple requests: no preflight.
	cs.setAnswer(func(fingerprint.Capture) crawl.Headers { return nil })
	for _, c := range []struct {
		path, method string
		headers      crawl.Headers
	}{
		{"/s1", "GET", nil},
		{"/s2", "POST", crawl.Headers{{Name: "Content-Type", Value: "application/x-www-form-urlencoded"}}},
		{"/s3", "POST", crawl.Headers{{Name: "Accept", Value: "application/json"}, {Name: "Content-Language", Value: "en"}}},
	} {
		if err := send(c.path, c.method, "", c.headers, ""); err != nil {
			t.Errorf("simple %s %s: %v", c.method, c.path, err)
		}
		if got := cs.methods(t, c.path, 1); !slices.Equal(got, []string{c.method}) {
			t.Errorf("simple %s %s: the server saw %v", c.method, c.path, got)
		}
	}

	// The preflight cache: a Max-Age answer is reused, none is not.
	cs.setAnswer(allow("600"))
	for range 2 {
		if err := send("/cached", "PUT", "", jsonCT, "{}"); err != nil {
			t.Fatal(err)
		}
	}
	if got := cs.methods(t, "/cached", 3); !slices.Equal(got, []string{"OPTIONS", "PUT", "PUT"}) {
		t.Errorf("Max-Age 600: the server saw %v, want one preflight for two PUTs", got)
	}
	cs.setAnswer(allow("0"))
	for range 2 {
		if err := send("/uncached", "PUT", "", jsonCT, "{}"); err != nil {
			t.Fatal(err)
		}
	}
	if got := cs.methods(t, "/uncached", 4); !slices.Equal(got, []string{"OPTIONS", "PUT", "OPTIONS", "PUT"}) {
		t.Errorf("Max-Age 0: the server saw %v, want a preflight before each PUT", got)
	}
}

// TestPreflightFor covers the CORS-safelisted rules the live captures do
// not: which requests need a preflight and what it asks for.
func TestPreflightFor(t *testing.T) {
	t.Parallel()
	page := "https://www.example.com/app"
	for _, c := range []struct {
		name, kind, method, target string
		headers                    crawl.Headers
		chain                      []string
		want                       *Preflight
	}{
		{"same origin PUT", crawl.KindFetch, "PUT", "https://www.example.com/api", nil, nil, nil},
		{"cross-origin PUT", crawl.KindFetch, "PUT", "https://api.example.com/x", nil, nil, &Preflight{Method: "PUT"}},
		{"a link is no script", crawl.KindLink, "PUT", "https://api.example.com/x", nil, nil, nil},
		{"xhr with a token", crawl.KindXHR, "GET", "https://api.example.com/x", crawl.Headers{{Name: "X-Token", Value: "1"}, {Name: "Authorization", Value: "b"}}, nil,
			&Preflight{Method: "GET", Headers: []string{"authorization", "x-token"}}},
		{"forbidden headers do not count", crawl.KindFetch, "GET", "https://api.example.com/x",
			crawl.Headers{{Name: "Cookie", Value: "a=1"}, {Name: "Referer", Value: page}, {Name: "User-Agent", Value: "x"}, {Name: "Accept-Encoding", Value: "gzip"}}, nil, nil},
		{"text/plain", crawl.KindFetch, "POST", "https://api.example.com/x", crawl.Headers{{Name: "Content-Type", Value: "text/plain;charset=UTF-8"}}, nil, nil},
		{"JSON", crawl.KindFetch, "POST", "https://api.example.com/x", crawl.Headers{{Name: "content-type", Value: "application/json"}}, nil,
			&Preflight{Method: "POST", Headers: []string{"content-type"}}},
		{"an unsafe byte in Accept", crawl.KindFetch, "GET", "https://api.example.com/x", crawl.Headers{{Name: "Accept", Value: "a(b)"}}, nil,
			&Preflight{Method: "GET", Headers: []string{"accept"}}},
		{"a simple range", crawl.KindFetch, "GET", "https://api.example.com/x", crawl.Headers{{Name: "Range", Value: "bytes=0-99"}}, nil, nil},
		{"a multi-range", crawl.KindFetch, "GET", "https://api.example.com/x", crawl.Headers{{Name: "Range", Value: "bytes=0-1,5-6"}}, nil,
			&Preflight{Method: "GET", Headers: []string{"range"}}},
		{"back on the page's origin after a redirect", crawl.KindFetch, "DELETE", "https://www.example.com/x", nil, []string{"https://www.example.org/hop"},
			&Preflight{Method: "DELETE"}},
	} {
		u, _ := url.Parse(c.target)
		got := PreflightFor(RequestInfo{Kind: c.kind, Method: c.method, URL: u, Initiator: page, Chain: c.chain}, c.headers)
		if (got == nil) != (c.want == nil) || got != nil && (got.Method != c.want.Method || !slices.Equal(got.Headers, c.want.Headers)) {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}

// TestCORSCheck: the status must be ok.
func TestCORSCheck(t *testing.T) {
	t.Parallel()
	resp := &http.Response{StatusCode: 204, Header: http.Header{"Access-Control-Allow-Origin": {"https://a.test"}}}
	if _, err := corsCheck(resp, &Preflight{Method: "POST", Headers: nil}, "https://a.test", false); err != nil {
		t.Errorf("204 with the origin: %v", err)
	}
	resp.StatusCode = 403
	if _, err := corsCheck(resp, &Preflight{Method: "POST"}, "https://a.test", false); err == nil || !strings.Contains(err.Error(), "status 403") {
		t.Errorf("403: %v", err)
	}
}
