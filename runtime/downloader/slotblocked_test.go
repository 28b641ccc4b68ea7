package downloader

import (
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestSlotBlocked: with AutoThrottle a block doubles the slot's delay (at
// least 100 ms, at most AUTOTHROTTLE_MAX_DELAY) for that slot only;
// without it, DOWNLOAD_DELAY stays as set.
func TestSlotBlocked(t *testing.T) {
	req := &crawl.Request{URL: "https://shop.test/p"}
	other := &crawl.Request{URL: "https://other.test/p"}
	d, err := New(Options{AutoThrottle: AutoThrottle{Enabled: true, StartDelay: time.Millisecond, MaxDelay: 300 * time.Millisecond, TargetConcurrency: 1}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []time.Duration{100, 200, 300, 300} {
		d.SlotBlocked(req)
		if got := d.SlotDelay("shop.test"); got != want*time.Millisecond {
			t.Fatalf("delay %v, want %v", got, want*time.Millisecond)
		}
	}
	if got := d.SlotDelay(SlotKey(other)); got != 0 {
		t.Errorf("another slot slowed down: %v", got)
	}
	plain, err := New(Options{Delay: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	plain.SlotBlocked(req)
	if got := plain.SlotDelay("shop.test"); got != 50*time.Millisecond {
		t.Errorf("without AutoThrottle the delay moved: %v", got)
	}
}
