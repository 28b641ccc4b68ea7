package scheduler

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// DupeFilter remembers request fingerprints. It is a plug-in point (exact
// set, Bloom filter, Redis set); the in-memory exact set is MemoryDupeFilter.
type DupeFilter interface {
	// Seen records fp and reports whether it had been recorded before. It is
	// atomic: of many concurrent calls with one fp, exactly one returns false.
	Seen(fp [16]byte) bool
}

// MemoryDupeFilter is an exact in-memory set of 16-byte fingerprints (about
// 36 B per request, RELIABILITY.md M16), never of URLs. The fingerprints
// are the first 128 bits of SHA-1, so two distinct requests collide (the
// second would be dropped as a duplicate) with probability about n²/2¹²⁹
// among n requests: below 10⁻²⁰ at a billion URLs (specs/engine.md,
// Scheduler). The zero value is not usable; call NewMemoryDupeFilter.
type MemoryDupeFilter struct {
	mu   sync.Mutex
	seen map[[16]byte]struct{}
}

// NewMemoryDupeFilter returns an empty exact dupefilter.
func NewMemoryDupeFilter() *MemoryDupeFilter {
	return &MemoryDupeFilter{seen: map[[16]byte]struct{}{}}
}

// Seen implements DupeFilter.
func (d *MemoryDupeFilter) Seen(fp [16]byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[fp]; ok {
		return true
	}
	d.seen[fp] = struct{}{}
	return false
}

// Len is the number of fingerprints stored.
func (d *MemoryDupeFilter) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.seen)
}

// MemoryOptions configures NewMemory. Every field is optional.
type MemoryOptions struct {
	// DupeFilter defaults to a new MemoryDupeFilter.
	DupeFilter DupeFilter
	// Stats receives scheduler/enqueued, scheduler/dequeued (and their
	// /memory variants) and dupefilter/filtered.
	Stats stats.Collector
	// Logger receives the "filtered duplicate request" debug lines.
	Logger *slog.Logger
	// Debug logs every filtered duplicate (DUPEFILTER_DEBUG); otherwise only
	// the first one is logged.
	Debug bool
	// SlotKey, when set, gives each download slot its own priority queue
	// (SCHEDULER_PRIORITY_QUEUE DownloaderAwarePriorityQueue, see
	// PerSlot): it must be the downloader's slot key (downloader.SlotKey),
	// computed once at Enqueue. Nil keeps one queue for the crawl
	// (ScrapyPriorityQueue).
	SlotKey func(*crawl.Request) string
}

// ErrClosed is returned by a scheduler used after Close.
var ErrClosed = errors.New("scheduler: closed")

// ErrWrite is matched by the errors of a persistent scheduler that could
// not store a change (the JOBDIR's disk is full, an I/O error). The engine
// closes the crawl with jobdir_error and leaves the request whose output
// could not be stored unacknowledged, so nothing is lost.
var ErrWrite = errors.New("jobdir write failed")

// Memory is the in-memory default Scheduler: one FIFO queue per priority
// (Scrapy's ScrapyPriorityQueue over memory queues) and an exact
// fingerprint dupefilter. With MemoryOptions.SlotKey it keeps those queues
// per download slot and implements HostNexter (Scrapy's
// DownloaderAwarePriorityQueue). It is safe for concurrent use.
//
// Pending requests are held packed (crawl.Pack: the URL and the fields that
// are set, in one string; the parent URL shared by the requests of one
// page), about 120 B of heap each instead of a 408-byte Request plus its
// strings and headers, and rebuilt by Next: a broad crawl's frontier holds
// millions of them. Next returns a new Request equal to the enqueued one,
// not the same pointer, except for a request that cannot be packed exactly
// (process-local state, a JavaScript object in meta), which is kept whole.
type Memory struct {
	opts MemoryOptions

	mu     sync.Mutex
	queues map[int]*fifo
	prios  prioHeap    // priorities that have a non-empty queue
	hosts  *hostQueues // per-slot queues (SlotKey set); queues and prios unused
	n      int
	closed bool
	dups   DuplicateLog
}

// NewMemory returns an empty in-memory scheduler.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.DupeFilter == nil {
		opts.DupeFilter = NewMemoryDupeFilter()
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Memory{opts: opts, queues: map[int]*fifo{},
		dups: DuplicateLog{Stats: opts.Stats, Logger: opts.Logger, Debug: opts.Debug}}
	if opts.SlotKey != nil {
		m.hosts = newHostQueues()
	}
	return m
}

// Open implements Scheduler.
func (m *Memory) Open(ctx context.Context) error { return nil }

// Enqueue implements Scheduler.
func (m *Memory) Enqueue(ctx context.Context, r *crawl.Request) (bool, error) {
	if r == nil {
		return false, errors.New("scheduler: enqueue nil request")
	}
	if !r.DontFilter && m.opts.DupeFilter.Seen(Fingerprint(r)) {
		m.dups.Filtered(r)
		return false, nil
	}
	p := crawl.Pack(r) // outside the lock: it copies the request's strings
	var key string
	if m.opts.SlotKey != nil {
		key = m.opts.SlotKey(r)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false, fmt.Errorf("enqueue %s: %w", r.URL, ErrClosed)
	}
	if m.hosts != nil {
		m.hosts.push(key, r.Priority, p)
		m.n++
		m.mu.Unlock()
		m.countEnqueued()
		return true, nil
	}
	q := m.queues[r.Priority]
	if q == nil {
		q = &fifo{}
		m.queues[r.Priority] = q
	}
	if q.len() == 0 {
		heap.Push(&m.prios, r.Priority)
	}
	q.push(p)
	m.n++
	m.mu.Unlock()
	m.countEnqueued()
	return true, nil
}

func (m *Memory) countEnqueued() {
	if s := m.opts.Stats; s != nil {
		s.Inc(stats.SchedulerEnqueued, 1)
		s.Inc(stats.SchedulerEnqueuedMemory, 1)
	}
}

// Next implements Scheduler.
func (m *Memory) Next(ctx context.Context) (*crawl.Request, error) {
	return m.NextHost(ctx, nil)
}

// NextHost implements HostNexter. Without per-slot queues (no
// MemoryOptions.SlotKey) slots is not consulted: the one queue's head
// comes out, as from Next.
func (m *Memory) NextHost(ctx context.Context, slots SlotView) (*crawl.Request, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	if m.n == 0 {
		m.mu.Unlock()
		return nil, nil
	}
	if m.hosts != nil {
		p, ok := m.hosts.take(slots)
		if !ok {
			m.mu.Unlock()
			return nil, nil
		}
		m.n--
		m.mu.Unlock()
		return m.unpack(p)
	}
	prio := m.prios[0]
	q := m.queues[prio]
	p := q.pop()
	if q.len() == 0 {
		heap.Pop(&m.prios)
		delete(m.queues, prio) // priorities are often per depth: do not keep empty queues
	}
	m.n--
	m.mu.Unlock()
	return m.unpack(p)
}

func (m *Memory) unpack(p crawl.Packed) (*crawl.Request, error) {
	r, err := p.Unpack()
	if err != nil {
		// Only a bug in crawl.Pack gets here: say which request it lost.
		return nil, fmt.Errorf("scheduler: dequeue %s: %w", p.URL(), err)
	}
	if s := m.opts.Stats; s != nil {
		s.Inc(stats.SchedulerDequeued, 1)
		s.Inc(stats.SchedulerDequeuedMemory, 1)
	}
	return r, nil
}

// Ack implements Scheduler; the memory queue has nothing to release.
func (m *Memory) Ack(ctx context.Context, r *crawl.Request) error { return nil }

// Len implements Scheduler.
func (m *Memory) Len(ctx context.Context) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.n, nil
}

// Close implements Scheduler. The queue is dropped: memory does not persist.
func (m *Memory) Close(ctx context.Context, reason string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.queues = nil
	m.prios = nil
	if m.hosts != nil {
		m.hosts = newHostQueues()
	}
	m.n = 0
	return nil
}

// prioHeap is a max-heap of priorities (higher priority first).
type prioHeap []int

func (h prioHeap) Len() int           { return len(h) }
func (h prioHeap) Less(i, j int) bool { return h[i] > h[j] }
func (h prioHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *prioHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *prioHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// fifo is a slice-backed queue that reuses its storage: popped slots are
// cleared so requests can be collected, and the slice is compacted when
// more than half of it is dead.
type fifo struct {
	items []crawl.Packed
	head  int
}

func (q *fifo) len() int { return len(q.items) - q.head }

func (q *fifo) push(r crawl.Packed) { q.items = append(q.items, r) }

func (q *fifo) pop() crawl.Packed {
	r := q.items[q.head]
	q.items[q.head] = crawl.Packed{}
	q.head++
	if q.head > 64 && q.head*2 >= len(q.items) {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	return r
}
