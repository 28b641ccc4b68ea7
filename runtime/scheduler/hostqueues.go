package scheduler

import (
	"slices"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// hostQueues is the per-slot frontier of Memory (MemoryOptions.SlotKey):
// each slot its own priority queue, ordered across slots by a SlotRing.
// Guarded by Memory.mu.
type hostQueues struct {
	ring *SlotRing[*hostQ]
}

// hostQ is one slot's queue. Its priorities are few (a crawl's priorities
// are mostly per depth), so they are a sorted slice, not a heap: a slot
// costs about 200 B besides its requests, which matters when a broad
// crawl has a million hosts with a page or two each.
type hostQ struct {
	prios []prioFifo // ascending by prio: the head is the last
	n     int
}

type prioFifo struct {
	prio int
	q    fifo
}

func newHostQueues() *hostQueues {
	return &hostQueues{ring: NewSlotRing[*hostQ]()}
}

func (h *hostQ) top() int { return h.prios[len(h.prios)-1].prio }

func (h *hostQ) push(prio int, p crawl.Packed) {
	i, ok := slices.BinarySearchFunc(h.prios, prio, func(e prioFifo, p int) int { return cmpInt(e.prio, p) })
	if !ok {
		h.prios = slices.Insert(h.prios, i, prioFifo{prio: prio})
	}
	h.prios[i].q.push(p)
	h.n++
}

func (h *hostQ) pop() crawl.Packed {
	last := len(h.prios) - 1
	p := h.prios[last].q.pop()
	if h.prios[last].q.len() == 0 {
		h.prios[last] = prioFifo{}
		h.prios = h.prios[:last]
	}
	h.n--
	return p
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (hq *hostQueues) push(key string, prio int, p crawl.Packed) {
	h, ok := hq.ring.Get(key)
	if !ok {
		h = &hostQ{}
	}
	h.push(prio, p)
	hq.ring.Raise(key, h, prio)
}

// take removes and returns the next request (HostNexter's rule), or false
// when every slot with requests is blocked.
func (hq *hostQueues) take(view SlotView) (crawl.Packed, bool) {
	key, h, ok := hq.ring.Pick(view)
	if !ok {
		return crawl.Packed{}, false
	}
	p := h.pop()
	if h.n > 0 {
		hq.ring.Served(key, h.top(), false)
	} else {
		hq.ring.Served(key, 0, true)
	}
	return p, true
}
