package downloader

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// memBudget bounds the bytes that response bodies being read hold at once,
// across all the downloads of a Downloader (DOWNLOAD_MEMORY_BUDGET). A
// download takes bytes as its body grows (the whole Content-Length up
// front when it is known, 64 KiB pieces otherwise) and gives them all back
// when the download ends, successful or not; from then on the response is
// the engine's (SCRAPER_SLOT_MAX_ACTIVE_SIZE bounds those).
//
// A download that needs more than is free waits, in arrival order, within
// its own deadline. A download that can never fit (it alone would need
// more than the whole budget) fails at once. And because downloads wait
// while holding what they have read so far, the budget can fill up with
// downloads that all wait for each other: when nobody holding bytes is
// still reading, the download that asked last gives up its bytes and fails
// (a retryable ConnectionError), so the others go on.
//
// A nil *memBudget is no budget.
type memBudget struct {
	limit int64

	mu   sync.Mutex
	used int64
	// active counts holds with bytes that are not waiting: downloads that
	// will give bytes back without anyone else's help.
	active  int
	waiters []*budgetWaiter // FIFO
}

// budgetHold is what one download holds.
type budgetHold struct {
	held    int64
	waiting bool
}

type budgetWaiter struct {
	h    *budgetHold
	n    int64
	done chan error // buffered; nil when granted
}

func newMemBudget(limit int64) *memBudget {
	if limit <= 0 {
		return nil
	}
	return &memBudget{limit: limit}
}

// BudgetError is a body that does not fit in DOWNLOAD_MEMORY_BUDGET.
type BudgetError struct {
	Budget int64
	// Declared is the Content-Length that alone exceeds the budget (0 when
	// the body grew past it).
	Declared int64
	// Held is how many bytes the download held; Want how many more it
	// asked for.
	Held, Want int64
	// Exhausted is set when the body could fit but the budget was full of
	// downloads waiting for each other; Bodies is how many held bytes.
	Exhausted bool
	Bodies    int
	// Joining is set when a complete body of unknown size could not be
	// joined into one slice (which takes its size again, while the pieces
	// still in memory, Held, are copied); Size is its size.
	Joining bool
	Size    int64
}

func (e *BudgetError) Error() string {
	switch {
	case e.Declared > 0:
		return fmt.Sprintf("Content-Length %s exceeds DOWNLOAD_MEMORY_BUDGET %s", humanBytes(e.Declared), humanBytes(e.Budget))
	case e.Joining && e.Held < e.Size:
		return fmt.Sprintf("body of %s needs its size plus the %s it holds in memory while it is joined, more than DOWNLOAD_MEMORY_BUDGET %s",
			humanBytes(e.Size), humanBytes(e.Held), humanBytes(e.Budget))
	case e.Joining:
		return fmt.Sprintf("body of %s needs twice its size while it is joined, more than DOWNLOAD_MEMORY_BUDGET %s",
			humanBytes(e.Size), humanBytes(e.Budget))
	case e.Exhausted:
		return fmt.Sprintf("DOWNLOAD_MEMORY_BUDGET %s exhausted: %d bodies being read hold it all and wait for more (this one had %s)",
			humanBytes(e.Budget), e.Bodies, humanBytes(e.Held))
	}
	return fmt.Sprintf("body needs more than DOWNLOAD_MEMORY_BUDGET %s (%s read, %s more needed)",
		humanBytes(e.Budget), humanBytes(e.Held), humanBytes(e.Want))
}

// grow takes n more bytes for h, waiting while the budget is full. It
// fails with a *BudgetError when h can never fit or is chosen to break a
// standstill, and with ctx's cause when ctx ends first.
func (b *memBudget) grow(ctx context.Context, h *budgetHold, n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	if h.held+n > b.limit {
		return &BudgetError{Budget: b.limit, Held: h.held, Want: n}
	}
	b.mu.Lock()
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.take(h, n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{h: h, n: n, done: make(chan error, 1)}
	if h.held > 0 {
		b.active--
	}
	h.waiting = true
	b.waiters = append(b.waiters, w)
	b.rebalance()
	b.mu.Unlock()
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case err := <-w.done:
		if err != nil {
			return err
		}
		// Granted just now: the bytes are h's and go back with release.
	default:
		b.waiters = slices.DeleteFunc(b.waiters, func(x *budgetWaiter) bool { return x == w })
		h.waiting = false
		if h.held > 0 {
			b.active++
		}
		b.rebalance()
	}
	return &budgetWaitError{inUse: b.used, limit: b.limit, cause: context.Cause(ctx)}
}

// budgetWaitError is a download whose deadline (or cancellation) came
// while it waited for the memory budget.
type budgetWaitError struct {
	inUse, limit int64
	cause        error
}

func (e *budgetWaitError) Error() string {
	return fmt.Sprintf("waiting for DOWNLOAD_MEMORY_BUDGET (%s of %s in use): %v", humanBytes(e.inUse), humanBytes(e.limit), e.cause)
}

func (e *budgetWaitError) Unwrap() error { return e.cause }

// shrink gives back n of h's bytes (pieces freed once a body is joined).
func (b *memBudget) shrink(h *budgetHold, n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, h.held)
	h.held -= n
	b.used -= n
	if h.held == 0 && n > 0 {
		b.active--
	}
	b.rebalance()
}

// release gives back everything h holds.
func (b *memBudget) release(h *budgetHold) {
	if b == nil {
		return
	}
	b.shrink(h, h.held)
}

// take accounts n bytes to h, which is not waiting; b.mu is held.
func (b *memBudget) take(h *budgetHold, n int64) {
	if h.held == 0 {
		b.active++
	}
	h.held += n
	b.used += n
}

// rebalance grants waiters in order while they fit, then breaks a
// standstill: when waiters remain and no download holding bytes is still
// reading, no byte will ever come back, so the newest waiter that holds
// bytes fails and gives them up. b.mu is held.
func (b *memBudget) rebalance() {
	for {
		for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
			w := b.waiters[0]
			b.waiters = b.waiters[1:]
			w.h.waiting = false
			if w.h.held > 0 {
				b.active++ // counted out while it waited
			}
			b.take(w.h, w.n)
			w.done <- nil
		}
		if len(b.waiters) == 0 || b.active > 0 {
			return
		}
		i := len(b.waiters) - 1
		for i >= 0 && b.waiters[i].h.held == 0 {
			i--
		}
		if i < 0 {
			// Nobody holds anything: the first waiter fits (grow checked
			// n ≤ limit), so this cannot happen; never spin.
			return
		}
		w := b.waiters[i]
		b.waiters = slices.Delete(b.waiters, i, i+1)
		bodies := b.active
		for _, x := range b.waiters {
			if x.h.held > 0 {
				bodies++
			}
		}
		w.done <- &BudgetError{Budget: b.limit, Held: w.h.held, Want: w.n, Exhausted: true, Bodies: bodies + 1}
		b.used -= w.h.held
		w.h.held = 0
		w.h.waiting = false
	}
}

// inUse is how many bytes the budget has given out (tests and messages).
func (b *memBudget) inUse() int64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
