package scheduler

import (
	"context"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// SlotView is what a HostNexter needs to know of the download slots, by
// slot key (the downloader's, downloader.SlotKey): which cannot start a
// download now, and how many downloads each has in progress. The engine
// hands a snapshot of its ready-host layer (runtime/engine/ready.go).
type SlotView interface {
	// Blocked reports whether slot key cannot start a download now (a
	// delay not passed, or requests of it already waiting for it): a
	// request of it taken now would only wait in the engine.
	Blocked(key string) bool
	// Active is how many requests of slot key are being downloaded
	// (Scrapy's len(downloader.slots[key].active)).
	Active(key string) int
}

// HostNexter is implemented by schedulers that keep one queue per
// download slot. The engine uses NextHost instead of Next when the
// scheduler implements it and the ready-host layer is on, so that the
// requests it takes belong to slots that can start them: one polite or
// slow host at the head of the frontier no longer fills the engine's
// waiting layer (SCHEDULER_WAITING_MAX) and starves the other hosts.
//
// NextHost returns the head of one slot that is not blocked, the slot
// chosen by (SlotRing):
//
//  1. priority: the highest priority at the head of a slot's queue;
//  2. among slots whose heads share it, the fewest active downloads
//     (Scrapy's DownloaderAwarePriorityQueue rule);
//  3. then round-robin: the slot that was served least recently (a slot
//     new to the level goes last).
//
// Within a slot the order is the queue's own (priority, then FIFO). It
// returns nil, nil when every pending request belongs to a blocked slot
// (Len still counts them). A nil view blocks nothing and counts no
// download, which is what Next does.
type HostNexter interface {
	NextHost(ctx context.Context, slots SlotView) (*crawl.Request, error)
}
