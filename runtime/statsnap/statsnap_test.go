package statsnap

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
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
