package logging

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Snapshot is what the progress line shows.
type Snapshot struct {
	Pages, Items, Errors int64
	Queued               int // -1 when unknown
	InFlight             int
}

// Live is a terminal writer with a progress line kept at the bottom:
// every log line written through it first erases the line and then draws
// it again, so logs scroll above it. Use it only when the output is a
// terminal (the caller decides; see IsTerminal); Stop erases the line.
type Live struct {
	mu      sync.Mutex
	w       io.Writer
	line    string
	start   time.Time
	last    Snapshot
	lastAt  time.Time
	rate    [2]float64 // pages/s, items/s over the last interval
	stop    chan struct{}
	done    chan struct{}
	stopped bool
}

// NewLive returns a Live writing to w (a terminal).
func NewLive(w io.Writer) *Live {
	now := time.Now()
	return &Live{w: w, start: now, lastAt: now}
}

// Write writes p above the progress line.
func (l *Live) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line != "" {
		io.WriteString(l.w, "\r\x1b[K")
	}
	n, err := l.w.Write(p)
	if l.line != "" {
		io.WriteString(l.w, l.line)
	}
	return n, err
}

// Start redraws the line every interval from snap until Stop.
func (l *Live) Start(interval time.Duration, snap func() Snapshot) {
	l.stop, l.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(l.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case now := <-t.C:
				l.Update(snap(), now)
			}
		}
	}()
}

// Update redraws the line with s as of now.
func (l *Live) Update(s Snapshot, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return
	}
	if dt := now.Sub(l.lastAt).Seconds(); dt > 0 {
		l.rate[0] = float64(s.Pages-l.last.Pages) / dt
		l.rate[1] = float64(s.Items-l.last.Items) / dt
	}
	l.last, l.lastAt = s, now
	l.line = FormatProgress(s, l.rate[0], l.rate[1], now.Sub(l.start))
	io.WriteString(l.w, "\r\x1b[K"+l.line)
}

// Stop ends the redraws and erases the line.
func (l *Live) Stop() {
	if l.stop != nil {
		close(l.stop)
		<-l.done
		l.stop = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.line != "" {
		io.WriteString(l.w, "\r\x1b[K")
		l.line = ""
	}
	l.stopped = true
}

// FormatProgress is the progress line.
func FormatProgress(s Snapshot, pagesPerSec, itemsPerSec float64, elapsed time.Duration) string {
	queued := "?"
	if s.Queued >= 0 {
		queued = fmt.Sprint(s.Queued)
	}
	return fmt.Sprintf("%d pages (%.1f/s) · %d items (%.1f/s) · queue %s · in flight %d · errors %d · %s",
		s.Pages, pagesPerSec, s.Items, itemsPerSec, queued, s.InFlight, s.Errors, elapsed.Round(time.Second))
}
