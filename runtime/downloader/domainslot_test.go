package downloader

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

func memberReq(slot string) *crawl.Request {
	r := &crawl.Request{URL: "https://shop.test/p"}
	if slot != "" {
		r.SetMeta("download_slot", slot)
	}
	return r
}

// take acquires req's slots as Download does.
func take(ctx context.Context, d *Downloader, req *crawl.Request) (func(), error) {
	release, _, err := d.acquire(ctx, d.getSlot(SlotKey(req)), d.domainSlot(req))
	return release, err
}

// TestDomainLimitConcurrency: two member slots of one host fill
// SESSION_DOMAIN_CONCURRENCY 2: a third member (and a request with no
// member) waits though its own slot is free, and SlotReady says so; a
// release lets it through. No slot keeps a ref of a download that gave up.
func TestDomainLimitConcurrency(t *testing.T) {
	d, err := New(Options{ConcurrentPerDomain: 8, Domain: DomainLimit{Concurrency: 2}})
	if err != nil {
		t.Fatal(err)
	}
	relA, err := take(context.Background(), d, memberReq("shop.test#s/a"))
	if err != nil {
		t.Fatal(err)
	}
	relB, err := take(context.Background(), d, memberReq("shop.test#s/b"))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*crawl.Request{memberReq("shop.test#s/c"), memberReq("")} {
		if _, _, free := d.SlotReady(r); free != 0 {
			t.Errorf("%s: SlotReady free %d with the domain full", SlotKey(r), free)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := take(ctx, d, r)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: took a place with the domain full (err %v)", SlotKey(r), err)
		}
	}
	if _, _, free := d.SlotReady(&crawl.Request{URL: "https://other.test/p"}); free != 2 {
		t.Errorf("another host: free %d, want 2", free)
	}
	relA()
	if _, _, free := d.SlotReady(memberReq("shop.test#s/c")); free != 1 {
		t.Errorf("after a release: free %d, want 1", free)
	}
	relC, err := take(context.Background(), d, memberReq("shop.test#s/c"))
	if err != nil {
		t.Fatal(err)
	}
	relB()
	relC()
	d.slotsMu.Lock()
	defer d.slotsMu.Unlock()
	for k, s := range d.slots {
		if s.refs != 0 || s.passed != 0 {
			t.Errorf("slot %q: refs %d, passed %d after every download ended", k, s.refs, s.passed)
		}
	}
}

// TestDomainLimitDelay: SESSION_DOMAIN_DELAY spaces the host's downloads
// whatever their member: after one, SlotReady puts the next of any member
// (or none) a delay later, and one at a time; another host is not delayed.
func TestDomainLimitDelay(t *testing.T) {
	d, err := New(Options{ConcurrentPerDomain: 8, Domain: DomainLimit{Delay: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	rel, err := take(context.Background(), d, memberReq("shop.test#s/a"))
	if err != nil {
		t.Fatal(err)
	}
	defer rel()
	for _, r := range []*crawl.Request{memberReq("shop.test#s/b"), memberReq("")} {
		_, at, free := d.SlotReady(r)
		if at.Before(before.Add(time.Hour)) || free != 1 {
			t.Errorf("%s: SlotReady at %v free %d, want an hour on and 1", SlotKey(r), at.Sub(before), free)
		}
	}
	if _, at, _ := d.SlotReady(&crawl.Request{URL: "https://other.test/"}); at.After(time.Now()) {
		t.Errorf("another host delayed to %v", at)
	}
}
