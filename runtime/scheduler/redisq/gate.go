package redisq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"sync"
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
	ms := max(ttl.Milliseconds(), 1000)
	// A place this worker's last download on the slot gave back is reused
	// without a round trip (places.go), if it outlives this download.
	ttl = time.Duration(ms) * time.Millisecond
	if hp, ok := g.s.places.take(key, time.Now()); ok {
		g.s.countPlace("redis/places_reused")
		return g.keep(key, hp), nil
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	token := g.s.opts.WorkerID + ":" + hex.EncodeToString(b[:])
	backoff := 5 * time.Millisecond
	for {
		var wait int64
		start := time.Now()
		err := g.s.retry.do(ctx, "hold slot", func(ctx context.Context) error {
			var err error
			wait, err = scriptHold.Run(ctx, g.s.rdb, []string{key}, token, limit, ms).Int64()
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("redisq: hold slot %s: %w", slot, err)
		}
		if wait <= 0 {
			g.s.countPlace("redis/places_taken")
			return g.keep(key, heldPlace{token: token, reuseBy: start.Add(min(placeReuse, ttl/2))}), nil
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

// keep returns the release of a held place: it is kept for the worker's
// next download on the slot (places.go), once however often it is called.
func (g *Gate) keep(key string, hp heldPlace) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			hp.idle = time.Now()
			g.s.places.put(key, hp)
		})
	}
}
