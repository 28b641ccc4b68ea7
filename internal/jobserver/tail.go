package jobserver

import (
	"bytes"
	"sync"
)

// Tail keeps the last bytes written to it: the log panel of a crawl's
// dashboard, without a log file to read.
type Tail struct {
	mu  sync.Mutex
	max int
	buf []byte
	cut bool // the front was dropped: the first line is partial
}

// NewTail keeps up to max bytes.
func NewTail(max int) *Tail { return &Tail{max: max} }

// Write keeps p's end; it never fails.
func (t *Tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		// Drop whole bytes from the front, in one copy per overflow of a
		// quarter, so a busy log does not copy the buffer on every line.
		keep := t.max * 3 / 4
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-keep:]...)
		t.cut = true
	}
	return len(p), nil
}

// Bytes returns the kept text from its first whole line.
func (t *Tail) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if t.cut {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return append([]byte(nil), b...)
}
