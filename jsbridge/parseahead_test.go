package jsbridge

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract"
)

// blockLoop parks the event loop until the returned function is called.
func blockLoop(t *testing.T, s *Spider) (unblock func()) {
	t.Helper()
	parked, release := make(chan struct{}), make(chan struct{})
	if !s.loop.post(func() { close(parked); <-release }) {
		t.Fatal("loop not running")
	}
	<-parked
	var once sync.Once
	unblock = func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	return unblock
}

// gateResponses builds n HTML responses for testdata/parseahead.js's gate.
func gateResponses(n int) []*crawl.Response {
	out := make([]*crawl.Response, n)
	for i := range out {
		out[i] = htmlResponse(fmt.Sprintf("http://example.test/%d", i), "gate", fmt.Sprintf("<title>page %d</title>", i))
		out[i].Request.CbKwargs = map[string]any{"total": n}
	}
	return out
}

// Pages are parsed in the engine's goroutines before their callbacks are
// queued, at most maxParsedAhead of them while the loop is busy; the rest
// wait for a slot and are parsed as soon as callbacks start.
func TestParseAheadIsBoundedAndOffLoop(t *testing.T) {
	s, _ := newSpider(t, "parseahead.js", nil)
	unblock := blockLoop(t, s)
	n := 3 * maxParsedAhead()
	resps := gateResponses(n)
	recs := make([]*recorder, n)
	errs := make(chan error, n)
	for i, r := range resps {
		recs[i] = &recorder{}
		go func() { errs <- s.Callback(t.Context(), r, recs[i]) }()
	}
	parsed := func() int {
		k := 0
		for _, r := range resps {
			if extract.Parsed(r) {
				k++
			}
		}
		return k
	}
	// The loop is parked, so any parse seen here ran off the loop.
	proctest.WaitFor(t, "the pages parsed ahead", 20*time.Second, func() bool { return parsed() >= maxParsedAhead() })
	time.Sleep(20 * time.Millisecond) // room for a wrong extra parse to show: nothing to wait for
	if k := parsed(); k != maxParsedAhead() {
		t.Fatalf("%d pages parsed while the loop was busy, want the bound %d", k, maxParsedAhead())
	}
	unblock()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, r := range recs {
		if len(r.items) != 1 {
			t.Fatalf("callback %d emitted %s", i, r)
		}
		if v, _ := r.items[0].Get("title"); v != fmt.Sprintf("page %d", i) {
			t.Errorf("callback %d: title %v", i, v)
		}
	}
}

// A callback gives its slot back when it starts, not when it ends: here
// every callback waits until all of them have started, which could never
// happen if the first maxParsedAhead kept their slots while waiting.
func TestParseAheadSlotsFreedWhileCallbacksWait(t *testing.T) {
	s, _ := newSpider(t, "parseahead.js", nil)
	n := 4 * maxParsedAhead()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	errs := make(chan error, n)
	for _, r := range gateResponses(n) {
		go func() { errs <- s.Callback(ctx, r, &recorder{}) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("callback: %v (deadlocked on parse slots?)", err)
		}
	}
}

// Pages are parsed ahead only for callbacks that used the document the
// last time they ran; the others parse lazily if they ever ask.
func TestParseAheadOnlyWhereTheDOMIsUsed(t *testing.T) {
	s, _ := newSpider(t, "parseahead.js", nil)
	run := func(callback string, dom bool) (*crawl.Response, *recorder) {
		t.Helper()
		r := htmlResponse("http://example.test/p", callback, "<title>T</title>")
		r.Request.CbKwargs = map[string]any{"dom": dom}
		rec := &recorder{}
		if err := s.Callback(t.Context(), r, rec); err != nil {
			t.Fatal(err)
		}
		return r, rec
	}
	steps := []struct {
		callback   string
		dom        bool
		wantParsed bool
	}{
		{"text_only", false, true},  // first run: assumed to use it, parsed ahead
		{"text_only", false, false}, // learned: not parsed at all
		{"text_only", false, false},
		{"sometimes", true, true},  // first run, and used
		{"sometimes", false, true}, // parsed ahead, not used
		{"sometimes", true, true},  // not parsed ahead, parsed lazily when asked
		{"sometimes", true, true},  // learned again
	}
	for i, st := range steps {
		r, rec := run(st.callback, st.dom)
		if got := extract.Parsed(r); got != st.wantParsed {
			t.Fatalf("step %d (%s dom=%v): parsed = %v, want %v", i, st.callback, st.dom, got, st.wantParsed)
		}
		if len(rec.items) != 1 {
			t.Fatalf("step %d: output %s", i, rec)
		}
		if st.dom {
			if v, _ := rec.items[0].Get("title"); v != "T" {
				t.Fatalf("step %d: title %v", i, v)
			}
		}
	}
	// Which of those were parsed ahead, off the loop, is what usesDOM says.
	if s.usesDOM("text_only") || !s.usesDOM("sometimes") || !s.usesDOM("never_seen") {
		t.Fatalf("usesDOM: text_only %v, sometimes %v, never_seen %v", s.usesDOM("text_only"), s.usesDOM("sometimes"), s.usesDOM("never_seen"))
	}
}

// A callback waiting for a parse slot gives up when its context ends, and
// takes no slot with it.
func TestParseAheadWaitEndsWithContext(t *testing.T) {
	s, _ := newSpider(t, "parseahead.js", nil)
	unblock := blockLoop(t, s)
	errs := make(chan error, maxParsedAhead())
	for _, r := range gateResponses(maxParsedAhead()) {
		go func() { errs <- s.Callback(t.Context(), r, &recorder{}) }()
	}
	proctest.WaitFor(t, "the parse slots taken", 20*time.Second, func() bool { return len(s.parseSlots) >= maxParsedAhead() })
	ctx, cancel := context.WithCancel(t.Context())
	lateResp := htmlResponse("http://example.test/late", "text_only", "<title>late</title>")
	late := make(chan error, 1)
	go func() { late <- s.Callback(ctx, lateResp, &recorder{}) }()
	cancel()
	if err := <-late; err == nil {
		t.Fatal("a callback whose context ended while it waited for a parse slot returned no error")
	}
	if extract.Parsed(lateResp) {
		t.Fatal("the cancelled callback's page was parsed")
	}
	unblock()
	for range maxParsedAhead() {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.parseSlots); n != 0 {
		t.Fatalf("%d parse slots still taken after every callback ended", n)
	}
}
