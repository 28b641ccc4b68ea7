package scheduler

import (
	"iter"
	"slices"
)

// pickScan bounds how many unblocked slots of one priority level a pick
// compares by active downloads: beyond it the least recently served of
// those seen wins. Without a bound, a crawl of 100 000 hosts would scan
// them all on every take (Scrapy's pop does); the first slot with no
// active download ends the scan at once.
const pickScan = 64

// SlotRing orders the download slots of a per-slot frontier for
// HostNexter: slots grouped by the priority at the head of their queue,
// each group a ring in round-robin order. S is the backend's per-slot
// state (Memory's queue, the JOBDIR's window). It is not safe for
// concurrent use: the backend's lock guards it.
type SlotRing[S any] struct {
	nodes  map[string]*ringNode[S]
	levels map[int]*ringLevel[S]
	order  []int // priorities of the levels, ascending (highest last)
}

type ringNode[S any] struct {
	key        string
	val        S
	lvl        *ringLevel[S]
	prev, next *ringNode[S]
}

// ringLevel is the ring of the slots whose head has priority prio; cursor
// is the next slot to consider (the least recently served).
type ringLevel[S any] struct {
	prio   int
	n      int
	cursor *ringNode[S]
}

// NewSlotRing returns an empty ring.
func NewSlotRing[S any]() *SlotRing[S] {
	return &SlotRing[S]{nodes: map[string]*ringNode[S]{}, levels: map[int]*ringLevel[S]{}}
}

// Get returns slot key's state.
func (r *SlotRing[S]) Get(key string) (S, bool) {
	n, ok := r.nodes[key]
	if !ok {
		var zero S
		return zero, false
	}
	return n.val, true
}

// Len is the number of slots in the ring.
func (r *SlotRing[S]) Len() int { return len(r.nodes) }

// Raise records that slot key (state v) has a request of priority prio:
// a new slot goes last in its level; a slot whose head rises to prio
// goes last in the higher level.
func (r *SlotRing[S]) Raise(key string, v S, prio int) {
	n := r.nodes[key]
	if n == nil {
		n = &ringNode[S]{key: key, val: v}
		r.nodes[key] = n
		r.attach(n, prio)
		return
	}
	if prio > n.lvl.prio {
		r.detach(n)
		r.attach(n, prio)
	}
}

// Served records that slot key was just taken from: it goes behind every
// other slot of the level of its new head's priority, or leaves the ring
// when empty.
func (r *SlotRing[S]) Served(key string, headPrio int, empty bool) {
	n := r.nodes[key]
	if n == nil {
		return
	}
	r.detach(n)
	if empty {
		delete(r.nodes, key)
		return
	}
	r.attach(n, headPrio)
}

// Remove takes slot key out of the ring.
func (r *SlotRing[S]) Remove(key string) { r.Served(key, 0, true) }

// Pick returns the slot to take from (HostNexter's rule): among slots not
// blocked by view, the highest head priority, then the fewest active
// downloads, then the least recently served. A nil view blocks nothing.
// It reports false when every slot is blocked.
func (r *SlotRing[S]) Pick(view SlotView) (string, S, bool) {
	for i := len(r.order) - 1; i >= 0; i-- {
		if n := r.levels[r.order[i]].pick(view); n != nil {
			return n.key, n.val, true
		}
	}
	var zero S
	return "", zero, false
}

func (lv *ringLevel[S]) pick(view SlotView) *ringNode[S] {
	if view == nil {
		return lv.cursor
	}
	var best *ringNode[S]
	bestActive, seen := 0, 0
	n := lv.cursor
	for range lv.n {
		if !view.Blocked(n.key) {
			a := view.Active(n.key)
			if best == nil || a < bestActive {
				best, bestActive = n, a
				if a <= 0 {
					break
				}
			}
			if seen++; seen >= pickScan {
				break
			}
		}
		n = n.next
	}
	return best
}

// attach puts n last in round-robin order (just before the cursor) of the
// level of prio.
func (r *SlotRing[S]) attach(n *ringNode[S], prio int) {
	lv := r.levels[prio]
	if lv == nil {
		lv = &ringLevel[S]{prio: prio}
		r.levels[prio] = lv
		i, _ := slices.BinarySearch(r.order, prio)
		r.order = slices.Insert(r.order, i, prio)
	}
	n.lvl = lv
	lv.n++
	if lv.cursor == nil {
		n.prev, n.next = n, n
		lv.cursor = n
		return
	}
	c := lv.cursor
	n.prev, n.next = c.prev, c
	c.prev.next = n
	c.prev = n
}

// detach takes n out of its level's ring; a cursor on n moves on to the
// slot after it.
func (r *SlotRing[S]) detach(n *ringNode[S]) {
	lv := n.lvl
	lv.n--
	if lv.n == 0 {
		delete(r.levels, lv.prio)
		if i, ok := slices.BinarySearch(r.order, lv.prio); ok {
			r.order = slices.Delete(r.order, i, i+1)
		}
		lv.cursor = nil
	} else {
		if lv.cursor == n {
			lv.cursor = n.next
		}
		n.prev.next = n.next
		n.next.prev = n.prev
	}
	n.prev, n.next, n.lvl = nil, nil, nil
}

// Keys iterates over the slots in the ring, in no particular order.
func (r *SlotRing[S]) Keys() iter.Seq[string] {
	return func(yield func(string) bool) {
		for k := range r.nodes {
			if !yield(k) {
				return
			}
		}
	}
}

// Upcoming calls fn with the slots in the order plain picks (a nil view)
// would reach them — the highest priority level first, each from its
// cursor — until fn returns false. A backend uses it to read ahead the
// heads of the slots it will soon be asked for.
func (r *SlotRing[S]) Upcoming(fn func(key string, v S) bool) {
	for i := len(r.order) - 1; i >= 0; i-- {
		lv := r.levels[r.order[i]]
		n := lv.cursor
		for range lv.n {
			if !fn(n.key, n.val) {
				return
			}
			n = n.next
		}
	}
}
