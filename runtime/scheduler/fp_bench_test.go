package scheduler_test

import (
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

func BenchmarkFingerprint(b *testing.B) {
	r := &crawl.Request{URL: "http://127.0.0.1:36789/p/12345"}
	b.ReportAllocs()
	for b.Loop() {
		scheduler.Fingerprint(r)
	}
}

func BenchmarkEnqueueNext(b *testing.B) {
	s := scheduler.NewMemory(scheduler.MemoryOptions{})
	reqs := make([]*crawl.Request, 1024)
	for i := range reqs {
		reqs[i] = &crawl.Request{URL: "http://127.0.0.1:36789/p/" + string(rune('a'+i%26)), DontFilter: true}
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		_, _ = s.Enqueue(b.Context(), reqs[i%len(reqs)])
		_, _ = s.Next(b.Context())
		i++
	}
}
