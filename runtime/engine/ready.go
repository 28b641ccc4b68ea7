package engine

import (
	"maps"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/scheduler"
)

// SlotReadiness is the downloader's non-blocking view of its politeness
// slots (*downloader.Downloader implements it): req's slot key, the
// earliest time a download of it could start (zero or past: now), and how
// many downloads the slot could start then.
type SlotReadiness interface {
	SlotReady(req *crawl.Request) (key string, at time.Time, free int)
}

// readyHosts is the ready-host layer (Options.Slots, Options.MaxWaiting):
// a request taken from the scheduler whose slot cannot start a download
// now does not take a fetch place, where it would only wait inside the
// downloader while other hosts' requests wait behind it (head-of-line
// blocking). It waits here, in its slot's FIFO, until the slot can start
// one; meanwhile the engine keeps pulling. Requests waiting here are
// leased (taken, not acknowledged): a kill makes a persistent scheduler
// give them back, and a close withdraws them (they stay pending). Every
// field is guarded by Engine.mu.
type readyHosts struct {
	slots   SlotReadiness
	max     int // Options.MaxWaiting
	hosts   map[string]*hostQueue
	waiting int    // requests in the queues
	seq     uint64 // arrival order, across slots
	timer   *time.Timer
	timerAt time.Time
	wake    func()
	// active counts, per slot key, the requests handed to a fetch whose
	// download has not returned: what a scheduler.HostNexter weighs slots
	// by (Scrapy's len(slot.active)).
	active map[string]int
}

// hostQueue is one slot's waiting requests, in the scheduler's order.
type hostQueue struct {
	key string
	q   []waitingReq
	// starting counts the requests of this slot handed to Fetch that have
	// not yet passed the downloader's waits: the downloader does not count
	// them until they reach it, so without this every pull would see the
	// slot free and send it more.
	starting int
	// notBefore is the slot's last known earliest start: it is not asked
	// again before then.
	notBefore time.Time
}

type waitingReq struct {
	req *crawl.Request
	seq uint64
}

func newReadyHosts(slots SlotReadiness, max int, wake func()) *readyHosts {
	if slots == nil || max <= 0 {
		return nil
	}
	return &readyHosts{slots: slots, max: max, hosts: map[string]*hostQueue{}, wake: wake, active: map[string]int{}}
}

// full reports whether no more requests may be taken to wait.
func (r *readyHosts) full() bool { return r.waiting >= r.max }

// room is how many more requests may be taken to wait.
func (r *readyHosts) room() int { return r.max - r.waiting }

// admit places a request just taken from the scheduler: it reports the
// slot to start it on now, or nil when it was queued to wait. A slot with
// requests already waiting queues it behind them (the scheduler's order
// within a host).
func (r *readyHosts) admit(req *crawl.Request, now time.Time) *hostQueue {
	key, at, free := r.slots.SlotReady(req)
	h := r.hosts[key]
	if h == nil {
		h = &hostQueue{key: key}
		r.hosts[key] = h
	}
	if len(h.q) == 0 && !at.After(now) && h.starting < free {
		h.starting++
		r.active[key]++
		return h
	}
	if at.After(now) {
		h.notBefore = at
		r.armTimer(at)
	}
	r.seq++
	h.q = append(h.q, waitingReq{req: req, seq: r.seq})
	r.waiting++
	return nil
}

// pop returns the waiting request to start now, with its slot: among the
// slots that can start a download, the head of the one whose head has the
// highest priority, then the earliest arrival. It returns nil when no
// waiting request can start, and arms the timer for the earliest slot that
// will be able to.
func (r *readyHosts) pop(now time.Time) (*crawl.Request, *hostQueue) {
	if r.waiting == 0 {
		return nil, nil
	}
	var best *hostQueue
	var earliest time.Time
	for _, h := range r.hosts {
		if len(h.q) == 0 {
			continue
		}
		if h.notBefore.After(now) {
			earliest = earlier(earliest, h.notBefore)
			continue
		}
		if best != nil && !before(h.q[0], best.q[0]) {
			continue // cannot win: spare the downloader the question
		}
		_, at, free := r.slots.SlotReady(h.q[0].req)
		if at.After(now) {
			h.notBefore = at
			earliest = earlier(earliest, at)
			continue
		}
		if h.starting >= free {
			continue // its concurrency is taken: a finished download wakes the engine
		}
		best = h
	}
	if best == nil {
		if !earliest.IsZero() {
			r.armTimer(earliest)
		}
		return nil, nil
	}
	w := best.q[0]
	best.q[0] = waitingReq{}
	best.q = best.q[1:]
	if len(best.q) == 0 {
		best.q = nil // let the backing array go
	}
	r.waiting--
	best.starting++
	r.active[best.key]++
	return w.req, best
}

// fetched records that a request of h started by admit or pop is no
// longer being downloaded.
func (r *readyHosts) fetched(h *hostQueue) {
	if r.active[h.key]--; r.active[h.key] <= 0 {
		delete(r.active, h.key)
	}
}

// slotView is the scheduler.SlotView a HostNexter is given: a snapshot of
// the layer, taken under Engine.mu, so that the scheduler never calls
// back into the engine while holding its own lock.
type slotView struct {
	blocked map[string]bool
	active  map[string]int
}

func (v slotView) Blocked(key string) bool { return v.blocked[key] }
func (v slotView) Active(key string) int   { return v.active[key] }

// view snapshots the slots a request taken now would have to wait for:
// those with requests already waiting (a new one would queue behind
// them) and those whose known earliest start is later. A slot whose
// limits the layer has not seen yet is not blocked: its first request is
// taken, and waits here if it must, after which the slot is blocked.
// So a slot has one request waiting here (a few when concurrent pulls
// read snapshots taken before its first one waited), and
// SCHEDULER_WAITING_MAX bounds blocked slots, not one slot's backlog.
func (r *readyHosts) view(now time.Time) scheduler.SlotView {
	v := slotView{active: maps.Clone(r.active)}
	for k, h := range r.hosts {
		if len(h.q) > 0 || h.notBefore.After(now) {
			if v.blocked == nil {
				v.blocked = map[string]bool{}
			}
			v.blocked[k] = true
		}
	}
	return v
}

// before orders waiting requests across slots: higher priority first, then
// arrival.
func before(a, b waitingReq) bool {
	if a.req.Priority != b.req.Priority {
		return a.req.Priority > b.req.Priority
	}
	return a.seq < b.seq
}

func earlier(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// started records that a request of h passed the downloader's waits (or
// returned without reaching them).
func (r *readyHosts) started(h *hostQueue) {
	h.starting--
	if h.starting == 0 && len(h.q) == 0 && r.hosts[h.key] == h {
		delete(r.hosts, h.key)
	}
}

// armTimer wakes the engine at t, when a delayed slot can start: the
// engine's poll interval would add up to its length to every delay.
func (r *readyHosts) armTimer(t time.Time) {
	if !r.timerAt.IsZero() && !t.Before(r.timerAt) && r.timerAt.After(time.Now()) {
		return // an earlier wake-up is already armed
	}
	r.timerAt = t
	d := time.Until(t)
	if r.timer == nil {
		r.timer = time.AfterFunc(d, r.wake)
		return
	}
	r.timer.Reset(d)
}

// withdraw empties the queues at close and returns how many requests were
// waiting: they were never fetched and, not acknowledged, stay pending in
// a persistent scheduler.
func (r *readyHosts) withdraw() int {
	n := r.waiting
	for k, h := range r.hosts {
		h.q = nil
		if h.starting == 0 {
			delete(r.hosts, k)
		}
	}
	r.waiting = 0
	if r.timer != nil {
		r.timer.Stop()
	}
	return n
}
