package statsnap

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/health"
)

// TestReaderNeverSeesHalfASnapshot: snapshots are replaced by rename, so a
// reader polling the file while the writer rewrites it every millisecond
// always decodes a whole one, and the last one carries the close reason.
func TestReaderNeverSeesHalfASnapshot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "snap.json")
	var pages atomic.Int64
	const n = 2000 // keys: large enough that a write is not one syscall's worth
	w := &Writer{Path: path, Interval: time.Millisecond, Spider: "s",
		Stats: func() map[string]any {
			m := map[string]any{"when": time.Now()}
			for i := range n - 1 {
				m["key/"+time.Duration(i).String()] = i
			}
			return m
		},
		Progress: func() Progress { return Progress{Pages: pages.Add(1), Queued: -1} }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	reads := 0
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		s, err := Read(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // not written yet
		}
		if err != nil {
			t.Fatalf("read %d: %v", reads, err)
		}
		reads++
		if !s.Running || s.Spider != "s" || len(s.Stats) != n {
			t.Fatalf("snapshot %d: running %v spider %q, %d stats", reads, s.Running, s.Spider, len(s.Stats))
		}
		if _, ok := s.Stats["when"].(string); !ok {
			t.Fatalf("times are not written as RFC 3339 strings: %T", s.Stats["when"])
		}
	}
	cancel()
	<-done
	if err := w.Final("finished", nil); err != nil {
		t.Fatal(err)
	}
	s, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Running || s.Reason != "finished" || s.Progress.Queued != -1 {
		t.Errorf("last snapshot: %+v", s)
	}
	if reads == 0 {
		t.Error("no snapshot was read while the writer ran")
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".snapshot-*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

// TestSnapshotDomains: a snapshot carries the busiest TopDomains rows of
// the health board, in the board's order, with their JSON names.
func TestSnapshotDomains(t *testing.T) {
	path := filepath.Join(t.TempDir(), "snap.json")
	b := health.New(nil)
	for i := range TopDomains + 5 {
		for range i + 1 {
			b.Record(fmt.Sprintf("d%02d.test", i), health.OK, 3*time.Millisecond, 10)
		}
	}
	b.Record("d00.test", health.Failed, 0, 0)
	w := &Writer{Path: path, Spider: "s", Domains: func() []health.Row { return b.Rows(0) }}
	if err := w.Final("finished", map[string]any{}); err != nil {
		t.Fatal(err)
	}
	s, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Domains) != TopDomains {
		t.Fatalf("%d domain rows, want %d", len(s.Domains), TopDomains)
	}
	if first := s.Domains[0]; first.Domain != "d24.test" || first.Requests != 25 || first.OK != 25 || first.LatencyMS != 3 || first.Bytes != 250 {
		t.Errorf("busiest row %+v, want d24.test with 25 OK requests of 3 ms and 10 bytes", first)
	}
	for _, r := range s.Domains {
		if r.Domain == "d00.test" {
			t.Errorf("d00.test (2 requests) is not among the %d busiest: %+v", TopDomains, r)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `{"domain":"d24.test","requests":25,"ok":25,"blocked":0,"failed":0,"bytes":250,"avg_latency_ms":3,"degraded":false}`) {
		t.Errorf("snapshot JSON does not carry the row as documented:\n%.400s", raw)
	}
}
