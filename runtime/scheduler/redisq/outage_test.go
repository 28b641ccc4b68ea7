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
		time.Sleep(time.Second)
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
	go func() {
		time.Sleep(500 * time.Millisecond)
		srv.Restart()
	}()
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
