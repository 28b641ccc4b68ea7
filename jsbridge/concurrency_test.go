package jsbridge

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// TestConcurrentCallbacks: 64 callbacks at once on one runtime (J11); -race
// checks that only the loop goroutine touches goja values.
func TestConcurrentCallbacks(t *testing.T) {
	t.Parallel()
	s, _ := newSpider(t, "shapes.js", nil)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cb := []string{"async_gen", "generator", "promise", "array"}[i%4]
			rec := &recorder{}
			resp := &crawl.Response{URL: fmt.Sprintf("http://example.test/%d", i), Status: 200, Request: &crawl.Request{URL: "http://example.test/", Callback: cb}}
			if err := s.Callback(context.Background(), resp, rec); err != nil {
				errs <- err
				return
			}
			if len(rec.reqs) == 0 {
				errs <- fmt.Errorf("%s: no output", cb)
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestShutdownLeaksNothing: the loop and watchdog goroutines end with the
// spider, and a cancelled callback returns at once.
func TestShutdownLeaksNothing(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, _ := newSpider(t, "holder.js", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Callback(ctx, htmlResponse("http://example.test/", "parse_never", "<html></html>"), &recorder{})
	}()
	// The callback waits on a holder forever; cancelling returns.
	for len(s.Stalled()) == 0 {
		<-s.loop.wakeSoon()
	}
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	s.Shutdown()
	<-s.loop.done
}
