package jobserver

import (
	"io"
	"os"
	"time"

	"github.com/spiderrun/spiderrun/runtime/statsnap"
)

// maxSamples bounds a job's rate history (the chart's width).
const maxSamples = 120

// sample is one point of a job's history, taken from a new snapshot.
type sample struct {
	T     time.Time
	Pages int64
	Items int64
}

// liveJob is what the server remembers of a running job between
// snapshots: the history the pages/s and items/s charts are drawn from.
type liveJob struct {
	samples []sample
}

// sample reads the running jobs' snapshots every SnapshotInterval and
// records each new one.
func (s *Server) sample() {
	t := time.NewTicker(s.opts.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		s.mu.Lock()
		ids := make([]string, 0, len(s.running))
		for id := range s.running {
			ids = append(ids, id)
		}
		s.mu.Unlock()
		for _, id := range ids {
			j, err := s.store.get(id)
			if err != nil || j == nil {
				continue
			}
			snap, err := statsnap.Read(s.snapshotPath(j))
			if err != nil {
				continue // not written yet
			}
			s.mu.Lock()
			if lj := s.live[id]; lj != nil {
				if n := len(lj.samples); n == 0 || snap.Time.After(lj.samples[n-1].T) {
					lj.samples = append(lj.samples, sample{T: snap.Time, Pages: snap.Progress.Pages, Items: snap.Progress.Items})
					if len(lj.samples) > maxSamples {
						lj.samples = lj.samples[len(lj.samples)-maxSamples:]
					}
				}
			}
			s.mu.Unlock()
		}
	}
}

// history returns a copy of a job's samples.
func (s *Server) history(id string) []sample {
	s.mu.Lock()
	defer s.mu.Unlock()
	lj := s.live[id]
	if lj == nil {
		return nil
	}
	return append([]sample(nil), lj.samples...)
}

// snapshot is the job's latest stats: the snapshot the child writes while
// it runs (and last when it closes). nil when the job never wrote one.
func (s *Server) snapshot(j *Job) *statsnap.Snapshot {
	snap, err := statsnap.Read(s.snapshotPath(j))
	if err != nil {
		return nil
	}
	return snap
}

// readTail returns up to the last n bytes of a file.
func readTail(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	off := fi.Size() - n
	if off < 0 {
		off = 0
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		return nil, err
	}
	if off > 0 {
		// Drop the partial first line.
		for i, c := range b {
			if c == '\n' {
				return b[i+1:], nil
			}
		}
	}
	return b, nil
}
