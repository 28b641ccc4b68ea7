// Package statsnap writes and reads the periodic stats snapshot of a running
// crawl (STATS_SNAPSHOT_FILE): one JSON object, the crawl's stats and
// progress, replaced atomically every STATS_SNAPSHOT_INTERVAL. A file is the
// lowest common denominator every reader can use: `spiderrun serve` reads
// its jobs' snapshots for the dashboard and the per-job stats, and the same
// object can be pushed elsewhere (Redis, for `spiderrun status`) without a
// second format.
package statsnap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/health"
)

// TopDomains is how many rows of the per-domain health board a snapshot
// carries: the busiest domains, enough for a dashboard table, bounded
// however broad the crawl.
const TopDomains = 20

// Progress is the crawl's live state (engine.Progress, in JSON).
type Progress struct {
	Queued       int   `json:"queued"` // -1 when the scheduler cannot tell
	InFlight     int   `json:"in_flight"`
	Processing   int   `json:"processing"`
	PendingItems int   `json:"pending_items"`
	Pages        int64 `json:"pages"`
	Items        int64 `json:"items"`
	Errors       int64 `json:"errors"`
	// PagesPerMin is the pages (responses) per minute since the previous
	// snapshot; in the last snapshot, over the whole crawl.
	PagesPerMin float64 `json:"pages_per_min"`
}

// Snapshot is one STATS_SNAPSHOT_FILE.
type Snapshot struct {
	Time     time.Time      `json:"time"`
	Spider   string         `json:"spider"`
	PID      int            `json:"pid"`
	Worker   string         `json:"worker,omitempty"` // the worker id, in a Redis crawl
	Running  bool           `json:"running"`          // false in the last snapshot, written when the spider closed
	Reason   string         `json:"reason,omitempty"` // the close reason, in the last snapshot
	Progress Progress       `json:"progress"`
	Stats    map[string]any `json:"stats"` // the stats collector's keys, as --stats-json writes them
	// Domains are the TopDomains busiest rows of the crawl's per-domain
	// health board (runtime/health), the most requests first.
	Domains []health.Row `json:"domains,omitempty"`
}

// Writer writes the snapshots of one crawl.
type Writer struct {
	// Path is the snapshot file; "" writes none (Publish only).
	Path     string
	Interval time.Duration
	Spider   string
	Worker   string // a Redis crawl's worker id
	Stats    func() map[string]any
	Progress func() Progress
	// Domains returns the per-domain health rows, the busiest first (at
	// most TopDomains are kept); nil leaves them out.
	Domains func() []health.Row
	// Publish, when set, receives every snapshot's JSON besides the file
	// (final is true for the last one): a Redis crawl's worker stores it
	// under its key for `spiderrun status`. Its errors are reported like
	// the file's.
	Publish func(b []byte, final bool) error

	mu        sync.Mutex // the rate's state: Take may run beside Run
	start     time.Time  // the first snapshot
	prevTime  time.Time
	prevPages int64
	lastErr   error // of a periodic write, reported by Final
}

// Run writes a snapshot now and then every Interval until ctx ends. Write
// errors are returned by Final, not here: a full disk or a Redis outage
// must not stop the crawl, and the last snapshot reports it.
func (w *Writer) Run(ctx context.Context) {
	iv := w.Interval
	if iv <= 0 {
		iv = 5 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if err := w.write(true, "", nil); err != nil {
			w.lastErr = err
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Final writes the last snapshot, with the spider's close reason and the
// final stats (the crawl's result, which --stats-json writes too; nil reads
// the collector). Its error is the last one's, or else that of the latest
// periodic write that failed. Run must have returned.
func (w *Writer) Final(reason string, final map[string]any) error {
	if err := w.write(false, reason, final); err != nil {
		return err
	}
	return w.lastErr
}

// Take returns a snapshot of the running crawl without writing it (the
// dashboard of `spiderrun run --ui-addr`). Its pages_per_min is since the
// previous snapshot this Writer took: a Writer used by Take is best not the
// one that writes the file.
func (w *Writer) Take() *Snapshot { return w.take(true, "", nil) }

func (w *Writer) write(running bool, reason string, st map[string]any) error {
	b, err := json.Marshal(w.take(running, reason, st))
	if err != nil {
		return fmt.Errorf("stats snapshot: %w", err)
	}
	var ferr, perr error
	if w.Path != "" {
		ferr = writeAtomic(w.Path, b)
	}
	if w.Publish != nil {
		perr = w.Publish(b, !running)
	}
	return errors.Join(ferr, perr)
}

func (w *Writer) take(running bool, reason string, st map[string]any) *Snapshot {
	s := Snapshot{Time: time.Now().UTC(), Spider: w.Spider, PID: os.Getpid(), Worker: w.Worker, Running: running, Reason: reason}
	if w.Progress != nil {
		s.Progress = w.Progress()
	}
	w.mu.Lock()
	if w.start.IsZero() {
		w.start, w.prevTime = s.Time, s.Time
	}
	from, pages := w.prevTime, w.prevPages
	if !running {
		from, pages = w.start, 0
	}
	if dt := s.Time.Sub(from).Minutes(); dt > 0 {
		s.Progress.PagesPerMin = float64(s.Progress.Pages-pages) / dt
	}
	w.prevTime, w.prevPages = s.Time, s.Progress.Pages
	w.mu.Unlock()
	if w.Domains != nil {
		s.Domains = w.Domains()
		if len(s.Domains) > TopDomains {
			s.Domains = s.Domains[:TopDomains]
		}
	}
	s.Stats = map[string]any{}
	if st == nil && w.Stats != nil {
		st = w.Stats()
	}
	for k, v := range st {
		if t, ok := v.(time.Time); ok {
			v = t.UTC().Format(time.RFC3339Nano)
		}
		s.Stats[k] = v
	}
	return &s
}

// writeAtomic replaces path with b through a temporary file in the same
// directory and a rename, so a reader sees the old or the new snapshot.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("stats snapshot %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".snapshot-*")
	if err != nil {
		return fmt.Errorf("stats snapshot %s: %w", path, err)
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("stats snapshot %s: %w", path, err)
	}
	return nil
}

// Read reads a snapshot file.
func Read(path string) (*Snapshot, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("stats snapshot %s: %w", path, err)
	}
	return &s, nil
}
