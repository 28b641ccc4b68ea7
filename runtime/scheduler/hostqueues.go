package scheduler

import (
	"slices"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// pickScan bounds how many unblocked slots of one priority level a take
// compares by active downloads: beyond it the least recently served of
// those seen wins. Without a bound, a crawl of 100 000 hosts would scan
// them all on every take (Scrapy's pop does); the first slot with no
// active download ends the scan at once.
const pickScan = 64

// hostQueues is the per-slot frontier of Memory (MemoryOptions.SlotKey): each slot
// its own priority queue, and the slots grouped by the priority at the
// head of their queue into levels, each a ring in round-robin order.
// Guarded by Memory.mu.
type hostQueues struct {
	byKey  map[string]*hostQ
	levels map[int]*level
	order  []int // priorities of the levels, ascending (highest last)
}

// hostQ is one slot's queue. Its priorities are few (a crawl's priorities
// are mostly per depth), so they are a sorted slice, not a heap: a slot
// costs about 150 B besides its requests, which matters when a broad
// crawl has a million hosts with a page or two each.
type hostQ struct {
	key        string
	prios      []prioFifo // ascending by prio: the head is the last
	n          int
	lvl        *level
	prev, next *hostQ // the level's ring
}

type prioFifo struct {
	prio int
	q    fifo
}

// level is the ring of the slots whose head has priority prio; cursor is
// the next slot to consider (the least recently served).
type level struct {
	prio   int
	n      int
	cursor *hostQ
}

func newHostQueues() *hostQueues {
	return &hostQueues{byKey: map[string]*hostQ{}, levels: map[int]*level{}}
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
	h := hq.byKey[key]
	if h == nil {
		h = &hostQ{key: key}
		hq.byKey[key] = h
	}
	h.push(prio, p)
	if h.lvl == nil {
		hq.attach(h)
	} else if prio > h.lvl.prio {
		// Its head moved up: it joins the higher level, last in its turn.
		hq.detach(h)
		hq.attach(h)
	}
}

// take removes and returns the next request (HostNexter's rule), or false
// when every slot with requests is blocked.
func (hq *hostQueues) take(view SlotView) (crawl.Packed, bool) {
	for i := len(hq.order) - 1; i >= 0; i-- {
		lv := hq.levels[hq.order[i]]
		h := lv.pick(view)
		if h == nil {
			continue
		}
		p := h.pop()
		// Served: it goes behind every other slot of its level (or to its
		// new level's end), and the ring turns past it.
		hq.detach(h)
		if h.n > 0 {
			hq.attach(h)
		} else {
			delete(hq.byKey, h.key)
		}
		return p, true
	}
	return crawl.Packed{}, false
}

// pick chooses among the level's unblocked slots the one with the fewest
// active downloads, the least recently served first among equals.
func (lv *level) pick(view SlotView) *hostQ {
	if view == nil {
		return lv.cursor
	}
	var best *hostQ
	bestActive, seen := 0, 0
	h := lv.cursor
	for range lv.n {
		if !view.Blocked(h.key) {
			a := view.Active(h.key)
			if best == nil || a < bestActive {
				best, bestActive = h, a
				if a <= 0 {
					break
				}
			}
			if seen++; seen >= pickScan {
				break
			}
		}
		h = h.next
	}
	return best
}

// attach puts h in the level of its head's priority, last in round-robin
// order (just before the cursor).
func (hq *hostQueues) attach(h *hostQ) {
	prio := h.top()
	lv := hq.levels[prio]
	if lv == nil {
		lv = &level{prio: prio}
		hq.levels[prio] = lv
		i, _ := slices.BinarySearch(hq.order, prio)
		hq.order = slices.Insert(hq.order, i, prio)
	}
	h.lvl = lv
	lv.n++
	if lv.cursor == nil {
		h.prev, h.next = h, h
		lv.cursor = h
		return
	}
	c := lv.cursor
	h.prev, h.next = c.prev, c
	c.prev.next = h
	c.prev = h
}

// detach takes h out of its level's ring; a cursor on h moves on to the
// slot after it.
func (hq *hostQueues) detach(h *hostQ) {
	lv := h.lvl
	lv.n--
	if lv.n == 0 {
		delete(hq.levels, lv.prio)
		if i, ok := slices.BinarySearch(hq.order, lv.prio); ok {
			hq.order = slices.Delete(hq.order, i, i+1)
		}
		lv.cursor = nil
	} else {
		if lv.cursor == h {
			lv.cursor = h.next
		}
		h.prev.next = h.next
		h.next.prev = h.prev
	}
	h.prev, h.next, h.lvl = nil, nil, nil
}
