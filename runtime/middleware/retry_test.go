package middleware

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

var fixedNow = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestRetry() (*Retry, *stats.Memory) {
	st := stats.NewMemory()
	m := NewRetry(st, nil)
	m.Now = func() time.Time { return fixedNow }
	m.BackoffBase = 0
	return m, st
}

func resp(status int, hdr ...string) *crawl.Response {
	r := &crawl.Response{Status: status, URL: "http://www.scrapytest.org/503"}
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Headers.Add(hdr[i], hdr[i+1])
	}
	return r
}

// Like Scrapy's test_503: retried RETRY_TIMES, then given up with the
// response passed on.
func TestRetryHTTPCodes(t *testing.T) {
	m, st := newTestRetry()
	ctx := context.Background()
	req := &crawl.Request{URL: "http://www.scrapytest.org/503", Priority: 5}
	for attempt := 1; attempt <= 2; attempt++ {
		res, err := m.ProcessResponse(ctx, req, resp(503))
		if err != nil || res.Request == nil {
			t.Fatalf("attempt %d: want a retry, got %+v %v", attempt, res, err)
		}
		next := res.Request
		if next.RetryTimes != attempt || !next.DontFilter || next.Priority != 5-attempt {
			t.Fatalf("retry %d: times %d dont_filter %v priority %d", attempt, next.RetryTimes, next.DontFilter, next.Priority)
		}
		req = next
	}
	res, err := m.ProcessResponse(ctx, req, resp(503))
	if err != nil || res.Request != nil || res.Response != nil {
		t.Fatalf("after max retries want the response passed on, got %+v %v", res, err)
	}
	for key, want := range map[string]int64{
		"retry/count": 2, "retry/max_reached": 1, "retry/reason_count/503 Service Unavailable": 2,
	} {
		if got := stats.Int(st, key); got != want {
			t.Errorf("%s = %d, want %d", key, got, want)
		}
	}
}

func TestRetryDoesNotRetry(t *testing.T) {
	m, st := newTestRetry()
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		req  *crawl.Request
		resp *crawl.Response
	}{
		{"404", &crawl.Request{URL: "http://x/"}, resp(404)},
		{"200", &crawl.Request{URL: "http://x/"}, resp(200)},
		{"dont_retry", &crawl.Request{URL: "http://x/", Meta: map[string]any{"dont_retry": true}}, resp(503)},
		{"max_retry_times 0 in meta", &crawl.Request{URL: "http://x/", Meta: map[string]any{"max_retry_times": 0}}, resp(503)},
		{"Request.MaxRetryTimes 0", &crawl.Request{URL: "http://x/", MaxRetryTimes: new(int)}, resp(503)},
	} {
		res, err := m.ProcessResponse(ctx, tc.req, tc.resp)
		if err != nil || res.Request != nil {
			t.Errorf("%s: want no retry, got %+v %v", tc.name, res, err)
		}
	}
	if stats.Int(st, "retry/count") != 0 {
		t.Fatalf("retry/count = %d", stats.Int(st, "retry/count"))
	}
	m.Enabled = false
	if res, _ := m.ProcessResponse(ctx, &crawl.Request{URL: "http://x/"}, resp(503)); res.Request != nil {
		t.Fatal("RETRY_ENABLED false still retried")
	}
}

func TestRetryExceptions(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		f     *crawl.Failure
		retry bool
	}{
		{&crawl.Failure{Type: crawl.TimeoutError, Message: "timeout after 500ms waiting for response headers"}, true},
		{&crawl.Failure{Type: crawl.ConnectionRefused, Message: "connection refused"}, true},
		{&crawl.Failure{Type: crawl.ConnectionReset, Message: "connection reset by peer"}, true},
		{&crawl.Failure{Type: crawl.ConnectionError, Message: "unexpected EOF: 16 of 1024 bytes"}, true},
		{&crawl.Failure{Type: crawl.DNSLookupError, Message: "dns timeout resolving slow.test"}, true},
		{&crawl.Failure{Type: crawl.DNSLookupError, Message: "no such host: nx.test"}, false},
		{&crawl.Failure{Type: crawl.TLSError, Message: "x509: certificate signed by unknown authority"}, false},
		{&crawl.Failure{Type: crawl.MaxSizeExceeded, Message: "too big"}, false},
		{&crawl.Failure{Type: crawl.BlockedAddress, Message: "blocked"}, false},
		{&crawl.Failure{Type: crawl.IgnoreRequest, Message: "robots"}, false},
	} {
		m, st := newTestRetry()
		res, err := m.ProcessException(ctx, &crawl.Request{URL: "http://x/"}, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if (res.Request != nil) != tc.retry {
			t.Errorf("%s %q: retried = %v, want %v", tc.f.Type, tc.f.Message, res.Request != nil, tc.retry)
		}
		if tc.retry && stats.Int(st, "retry/reason_count/"+string(tc.f.Type)) != 1 {
			t.Errorf("%s: reason stat missing: %v", tc.f.Type, st.Snapshot())
		}
	}
	m, _ := newTestRetry()
	if res, _ := m.ProcessException(ctx, &crawl.Request{URL: "http://x/"}, errors.New("plain error")); res.Request != nil {
		t.Error("a non-Failure error was retried")
	}
}

func notBefore(t *testing.T, r *crawl.Request) time.Duration {
	t.Helper()
	ms, ok := r.Meta[downloader.MetaNotBefore].(int64)
	if !ok {
		return 0
	}
	return time.UnixMilli(ms).Sub(fixedNow)
}

// D11: Retry-After is honoured, capped; backoff grows with jitter;
// the request's retry_delay wins over the backoff.
func TestRetryWaits(t *testing.T) {
	ctx := context.Background()
	m, _ := newTestRetry()
	res, _ := m.ProcessResponse(ctx, &crawl.Request{URL: "http://x/"}, resp(503, "Retry-After", "2"))
	if got := notBefore(t, res.Request); got != 2*time.Second {
		t.Fatalf("Retry-After 2: waits %v", got)
	}
	res, _ = m.ProcessResponse(ctx, &crawl.Request{URL: "http://x/"}, resp(429, "Retry-After", "86400"))
	if got := notBefore(t, res.Request); got != time.Minute {
		t.Fatalf("Retry-After 86400: waits %v, want the 60s cap", got)
	}
	m.BackoffBase = 100 * time.Millisecond
	r := &crawl.Request{URL: "http://x/", RetryTimes: 2, MaxRetryTimes: ptr(5)}
	res, _ = m.ProcessResponse(ctx, r, resp(500))
	// third retry: 100ms · 2² · U(0.5, 1.5)
	if got := notBefore(t, res.Request); got < 200*time.Millisecond || got > 600*time.Millisecond {
		t.Fatalf("backoff %v, want 200ms–600ms", got)
	}
	r.RetryDelay = 3 * time.Second
	res, _ = m.ProcessResponse(ctx, r, resp(500))
	if got := notBefore(t, res.Request); got != 3*time.Second {
		t.Fatalf("retry_delay: waits %v", got)
	}
}

func ptr[T any](v T) *T { return &v }
