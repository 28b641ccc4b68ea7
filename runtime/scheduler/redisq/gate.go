package redisq

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// Gate is the politeness gate shared by all workers: Acquire returns when
// the slot (a host, or meta download_slot) may be hit again, so N workers
// with DOWNLOAD_DELAY d still send one request per d to a slot together. It
// implements the downloader's SlotGate. The slot's next-allowed time lives in
// Redis (key N:slot:<slot>) and is moved by a Lua script on the Redis clock,
// so workers on different machines need no synchronised clocks.
type Gate struct {
	s *Scheduler
}

// Gate returns the shared politeness gate.
func (s *Scheduler) Gate() *Gate { return &Gate{s: s} }

// Acquire waits until slot may be used and reserves it for delay. A delay of
// zero or less returns at once.
func (g *Gate) Acquire(ctx context.Context, slot string, delay time.Duration) error {
	if delay <= 0 {
		return nil
	}
	key := g.s.keys.prefix + ":slot:" + slot
	ms := delay.Milliseconds()
	if ms < 1 {
		ms = 1
	}
	for {
		var wait int64
		err := g.s.retry.do(ctx, "politeness gate", func(ctx context.Context) error {
			var err error
			wait, err = scriptGate.Run(ctx, g.s.rdb, []string{key}, ms).Int64()
			return err
		})
		if err != nil {
			return fmt.Errorf("redisq: acquire slot %s: %w", slot, err)
		}
		if wait <= 0 {
			return nil
		}
		// A little jitter spreads the workers that wake for the same
		// instant; the script decides which one gets it.
		d := time.Duration(wait)*time.Millisecond + rand.N(2*time.Millisecond)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}
