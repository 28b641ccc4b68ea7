package redisq

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/redistest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// A request redelivered after its worker died adds its items once: the dead
// worker's buffered items died with it; the second worker's are committed
// with its ack.
func TestItemsExactlyOnceOnRedelivery(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	o := Options{Name: "items", LeaseTimeout: 500 * time.Millisecond, ItemsKey: "{name}:items", Persist: true}
	a, _ := openSched(t, srv, o)
	b, _ := openSched(t, srv, o)
	mustEnq(t, a, &crawl.Request{URL: "http://a.test/p"})
	emit := func(s *Scheduler, r *crawl.Request) {
		for i := range 2 {
			if _, err := s.Items().ProcessItem(crawl.WithRequest(ctx, r), crawl.NewItem("url", r.URL, "n", int64(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	ra, _ := a.Next(ctx)
	emit(a, ra)
	if n := a.Client().LLen(ctx, "items:items").Val(); n != 0 {
		t.Fatalf("items visible before the ack: %d", n)
	}
	a.crash()
	var rb *crawl.Request
	waitFor(t, "redelivery", 10*time.Second, func() bool { rb, _ = b.Next(ctx); return rb != nil })
	emit(b, rb)
	if err := b.Ack(ctx, rb); err != nil {
		t.Fatal(err)
	}
	got := b.Client().LRange(ctx, "items:items", 0, -1).Val()
	want := `[{"url":"http://a.test/p","n":0} {"url":"http://a.test/p","n":1}]`
	if fmt.Sprint(got) != want {
		t.Fatalf("items = %v\nwant %s", got, want)
	}
}

func TestItemsWithoutLeasedRequestArePushedAtOnce(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	s, _ := openSched(t, srv, Options{Name: "direct", ItemsKey: "out:{name}"})
	w := s.Items()
	if w.Key() != "out:direct" {
		t.Fatalf("key = %s", w.Key())
	}
	for _, c := range []context.Context{ctx, crawl.WithRequest(ctx, &crawl.Request{URL: "http://a.test/local"})} {
		if _, err := w.ProcessItem(c, crawl.NewItem("a", "b")); err != nil {
			t.Fatal(err)
		}
	}
	if n := s.Client().LLen(ctx, "out:direct").Val(); n != 2 {
		t.Fatalf("items = %d, want 2", n)
	}
	s2, _ := openSched(t, srv, Options{Name: "noitems"})
	if s2.Items() != nil {
		t.Fatal("Items() must be nil when REDIS_ITEMS_KEY is empty")
	}
}
