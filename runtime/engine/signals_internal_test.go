package engine

import (
	"sync/atomic"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// BenchmarkSignalsEmit is a page's request_scheduled events (13, as on the
// crawl benchmark) through the bus to one subscriber, delivered before the
// next page: go test -bench SignalsEmit -benchmem ./runtime/engine.
func BenchmarkSignalsEmit(b *testing.B) {
	s := NewSignals()
	var n atomic.Int64
	s.Connect(func(Event) { n.Add(1) })
	r := &crawl.Request{URL: "http://a.test/"}
	b.ReportAllocs()
	for range b.N {
		for range 13 {
			s.emit(Event{Signal: RequestScheduled, Request: r})
		}
		s.wait()
	}
	if n.Load() != int64(13*b.N) {
		b.Fatalf("%d events delivered, want %d", n.Load(), 13*b.N)
	}
}
