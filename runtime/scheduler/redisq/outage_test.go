package redisq

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// X04: redis-server is killed (kill -9) mid-crawl and restarted from the
// same directory (appendfsync always): the worker pauses, logs it, retries
// with backoff and carries on; the lease it held survives and its ack works.
func TestRedisRestartMidCrawl(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, lb := openSched(t, srv, Options{Name: "outage", ItemsKey: "{name}:items", Persist: true, MaxBackoff: 200 * time.Millisecond})
	for _, u := range []string{"http://a.test/1", "http://a.test/2"} {
		mustEnq(t, s, &crawl.Request{URL: u})
	}
	held, err := s.Next(ctx)
	if err != nil || held == nil {
		t.Fatalf("Next: %v %v", held, err)
	}
	if _, err := s.Items().ProcessItem(crawl.WithRequest(ctx, held), crawl.NewItem("page", 1)); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	restarted := make(chan struct{})
	go func() {
		time.Sleep(time.Second) // the outage's length: the behaviour under test
		srv.Restart()
		close(restarted)
	}()
	// These block through the outage and complete once Redis is back.
	ok, err := s.Enqueue(ctx, &crawl.Request{URL: "http://a.test/3"})
	if err != nil || !ok {
		t.Fatalf("Enqueue during outage = %v, %v", ok, err)
	}
	<-restarted
	if err := s.Ack(ctx, held); err != nil {
		t.Fatalf("Ack of a lease taken before the outage: %v", err)
	}
	var rest []string
	for {
		r, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if r == nil {
			break
		}
		rest = append(rest, r.URL)
		_ = s.Ack(ctx, r)
	}
	if strings.Join(rest, " ") != "http://a.test/2 http://a.test/3" {
		t.Fatalf("after the restart got %v", rest)
	}
	if n := s.Client().LLen(ctx, "outage:items").Val(); n != 1 {
		t.Fatalf("items = %d, want 1", n)
	}
	logs := lb.String()
	for _, want := range []string{"redis unavailable; pausing and retrying with backoff", "redis is reachable again; continuing"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// Open against a server that is not there yet waits for it.
func TestOpenWaitsForRedis(t *testing.T) {
	srv := redistest.Start(t)
	srv.Kill()
	s, _ := newSched(t, srv, Options{Name: "late", MaxBackoff: 100 * time.Millisecond})
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		time.Sleep(500 * time.Millisecond) // Redis is late: the behaviour under test
		srv.Restart()
	}()
	// The restart must finish while the test is alive, whatever Open did.
	defer func() { <-restarted }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	_ = s.Close(ctx, "finished")
}

// A non-retryable error (wrong key type) fails at once with context.
func TestWrongTypeIsNotRetried(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, _ := openSched(t, srv, Options{Name: "wrongtype"})
	s.Client().Set(ctx, "wrongtype:requests", "x", 0)
	_, err := s.Enqueue(ctx, &crawl.Request{URL: "http://a.test/"})
	if err == nil || !strings.Contains(err.Error(), "WRONGTYPE") || !strings.Contains(err.Error(), "redis enqueue") {
		t.Fatalf("Enqueue = %v", err)
	}
}

// X06: a full Redis (maxmemory with noeviction) refuses writes; the worker
// pauses with an error-level log instead of dropping anything, and goes on
// when memory is available again.
func TestRedisFullPausesWrites(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{Args: []string{"--maxmemory-policy", "noeviction"}})
	ctx := context.Background()
	s, lb := openSched(t, srv, Options{Name: "full", Persist: true, MaxBackoff: 100 * time.Millisecond})
	// Fill the server, then cap it below what it holds.
	c := s.Client()
	pad := strings.Repeat("x", 1<<20)
	for i := range 8 {
		c.Set(ctx, "pad:"+string(rune('a'+i)), pad, 0)
	}
	if _, err := srv.Do("CONFIG", "SET", "maxmemory", "1mb"); err != nil {
		t.Fatal(err)
	}
	freed := make(chan struct{})
	go func() {
		defer close(freed)
		waitFor(t, "the pause to be logged", 10*time.Second, func() bool { return strings.Contains(lb.String(), "OOM") })
		if _, err := srv.Do("CONFIG", "SET", "maxmemory", "0"); err != nil {
			t.Error(err)
		}
	}()
	ok, err := s.Enqueue(ctx, &crawl.Request{URL: "http://a.test/after-oom"})
	<-freed
	if err != nil || !ok {
		t.Fatalf("Enqueue = %v, %v; want it to wait for memory and succeed", ok, err)
	}
	if n, _ := s.Len(ctx); n != 1 {
		t.Fatalf("Len = %d, want 1", n)
	}
	if !strings.Contains(lb.String(), "level=ERROR msg=\"redis unavailable; pausing and retrying with backoff\"") {
		t.Fatalf("the pause was not logged at error level:\n%s", lb)
	}
}

// Garbage written into the queue by something else is moved aside; the
// worker serves the next request.
func TestMalformedQueueEntryIsRejected(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, lb := openSched(t, srv, Options{Name: "garbage", Persist: true})
	s.Client().ZAdd(ctx, "garbage:requests", rz(-10, "not a request at all"))
	mustEnq(t, s, &crawl.Request{URL: "http://a.test/real"})
	r, err := s.Next(ctx)
	if err != nil || r == nil || r.URL != "http://a.test/real" {
		t.Fatalf("Next = %v, %v", r, err)
	}
	if n := s.Client().LLen(ctx, "garbage:rejected").Val(); n != 1 {
		t.Fatalf("rejected = %d, want 1", n)
	}
	if n := s.Client().HLen(ctx, "garbage:leases").Val(); n != 1 {
		t.Fatalf("leases = %d, want 1 (only the real request)", n)
	}
	if !strings.Contains(lb.String(), "dropping malformed queue entry") {
		t.Fatalf("log:\n%s", lb)
	}
}

// X13: rediss:// to a self-signed server fails verification by default; with
// the server's CA it works (and the backend runs over it).
func TestTLSVerification(t *testing.T) {
	srv := redistest.Start(t, redistest.Options{TLS: true})
	ctx := context.Background()
	plain, err := Dial(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if err := plain.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("Ping without the CA = %v, want a verification error", err)
	}
	trusted, err := DialWith(srv.URL(), DialOptions{CAFile: srv.CAFile})
	if err != nil {
		t.Fatal(err)
	}
	defer trusted.Close()
	s, _ := openSched(t, srv, Options{Client: trusted, Name: "tls"})
	mustEnq(t, s, &crawl.Request{URL: "http://a.test/over-tls"})
	if r, err := s.Next(ctx); err != nil || r == nil || r.URL != "http://a.test/over-tls" {
		t.Fatalf("Next over TLS = %v, %v", r, err)
	}
	if _, err := DialWith("redis://127.0.0.1:1/0", DialOptions{CAFile: srv.CAFile}); err == nil || !strings.Contains(err.Error(), "needs a rediss:// url") {
		t.Fatalf("CA with redis:// = %v", err)
	}
}
