package redisq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
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
		d := time.Duration(wait)*time.Millisecond + mrand.N(2*time.Millisecond)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
		}
	}
}

// Hold takes one of limit concurrent places on slot shared by all workers
// (CONCURRENT_REQUESTS_PER_DOMAIN across the crawl). It waits until a place
// is free and returns the function that gives it back; call it when the
// download ends. A place not given back (the worker died) frees itself after
// ttl, so pass the download timeout plus a margin. limit <= 0 means no
// limit.
func (g *Gate) Hold(ctx context.Context, slot string, limit int, ttl time.Duration) (release func(), err error) {
	if limit <= 0 {
		return func() {}, nil
	}
	key := g.s.keys.prefix + ":conn:" + slot
	var b [8]byte
	_, _ = rand.Read(b[:])
	token := g.s.opts.WorkerID + ":" + hex.EncodeToString(b[:])
	ms := max(ttl.Milliseconds(), 1000)
	backoff := 5 * time.Millisecond
	for {
		var wait int64
		err := g.s.retry.do(ctx, "hold slot", func(ctx context.Context) error {
			var err error
			wait, err = scriptHold.Run(ctx, g.s.rdb, []string{key}, token, limit, ms).Int64()
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("redisq: hold slot %s: %w", slot, err)
		}
		if wait <= 0 {
			return func() {
				// Best effort, on a fresh context: the caller's may be done; a
				// release that fails is healed by the ttl.
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				defer cancel()
				_ = g.s.retry.do(rctx, "release slot", func(ctx context.Context) error {
					return g.s.rdb.ZRem(ctx, key, token).Err()
				})
			}, nil
		}
		// Places are usually given back long before the earliest expiry:
		// poll with a short, growing backoff.
		d := min(time.Duration(wait)*time.Millisecond, backoff) + mrand.N(time.Millisecond)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
		backoff = min(backoff*2, 100*time.Millisecond)
	}
}
