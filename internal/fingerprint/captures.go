package fingerprint

import (
	"context"
	"errors"
	"sync"
)

// captures is what the TCP and the QUIC fingerprint servers keep of the
// requests they saw: every capture in order, a channel that Next reads,
// and the OnCapture hook. done is closed by the server's Close.
type captures struct {
	name      string // "fingerprint server", "quic fingerprint server"
	onCapture func(Capture)

	mu   sync.Mutex
	list []Capture
	ch   chan Capture
	done chan struct{}
}

func newCaptures(name string, onCapture func(Capture)) captures {
	return captures{name: name, onCapture: onCapture, ch: make(chan Capture, 1024), done: make(chan struct{})}
}

// Captures returns every capture so far.
func (c *captures) Captures() []Capture {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Capture(nil), c.list...)
}

// Next waits for the next capture.
func (c *captures) Next(ctx context.Context) (Capture, error) {
	select {
	case cp := <-c.ch:
		return cp, nil
	case <-ctx.Done():
		return Capture{}, ctx.Err()
	case <-c.done:
		return Capture{}, errors.New(c.name + " closed")
	}
}

func (c *captures) record(cp Capture) {
	c.mu.Lock()
	c.list = append(c.list, cp)
	c.mu.Unlock()
	select {
	case c.ch <- cp:
	default:
	}
	if c.onCapture != nil {
		c.onCapture(cp)
	}
}
