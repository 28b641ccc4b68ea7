package redisq

import (
	"context"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// placeLinger is how long a shared concurrency place this worker no longer
// uses stays held for its next download on the same slot before it is
// given back to the other workers.
//
// Taking a place costs a script call (5 Redis commands) and giving it back a
// ZREM: two round trips and six commands per download, 60 % of what a
// one-worker crawl sent to Redis (specs/benchmarks.md). A worker usually
// starts its next download on a slot within a millisecond of the last one
// ending, so it keeps the place for that one. Other workers wait at most
// this long longer for a place this worker stopped using (their own waits
// poll every 5–100 ms anyway; 100 ms is also the group commit's interval,
// whose bursts of acknowledgements start downloads in bursts: 20 ms kept
// 64 % of the places for the next download, 100 ms 82 %); the limit itself
// is never exceeded: a place kept is a place held in Redis.
const placeLinger = 100 * time.Millisecond

// placeReuse is how long after it was taken a place may be reused (at most
// half its ttl): a download started on it must end (the download timeout,
// which the ttl exceeds by a minute) before the place expires in Redis, or
// a second worker could take it while it is in use. Past that the place is
// given back and a fresh one taken.
const placeReuse = 30 * time.Second

// heldPlace is a concurrency place (a member of the slot's N:conn:<slot>
// ZSET) this worker holds and is not using.
type heldPlace struct {
	token string
	// reuseBy is the last moment a download may start on the place: its
	// expiry less the download's longest run (placeReuse), on this
	// machine's clock, counted from before the script ran (which takes
	// the later Redis time as the start of the ttl).
	reuseBy time.Time
	idle    time.Time // given back by its download at
}

// places keeps the shared places this worker's downloads gave back, by
// slot key, for placeLinger, and gives them back to Redis in batches.
type places struct {
	s *Scheduler

	mu     sync.Mutex
	free   map[string][]heldPlace
	n      int  // places kept
	closed bool // Close gave them all back: hold no more
	wake   chan struct{}
	stop   chan struct{} // closed by close
	start  sync.Once
}

func newPlaces(s *Scheduler) *places {
	return &places{s: s, free: map[string][]heldPlace{}, wake: make(chan struct{}, 1), stop: make(chan struct{})}
}

// take returns a kept place of key that may still be reused. Kept places
// too close to their expiry are given back on the way.
func (p *places) take(key string, now time.Time) (heldPlace, bool) {
	p.mu.Lock()
	var stale []string
	defer func() {
		p.mu.Unlock()
		if stale != nil {
			go p.giveBack(map[string][]string{key: stale})
		}
	}()
	q := p.free[key]
	// The most recently given back first: the oldest are the ones the
	// reaper gives back when fewer downloads run.
	for len(q) > 0 {
		hp := q[len(q)-1]
		q = q[:len(q)-1]
		p.free[key] = q
		p.n--
		if now.Before(hp.reuseBy) {
			return hp, true
		}
		stale = append(stale, hp.token)
	}
	return heldPlace{}, false
}

// put keeps a place a download gave back, or gives it back to Redis at once
// after Close.
func (p *places) put(key string, hp heldPlace) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.giveBack(map[string][]string{key: {hp.token}})
		return
	}
	p.free[key] = append(p.free[key], hp)
	p.n++
	p.mu.Unlock()
	p.start.Do(func() { go p.reap() })
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// reap gives back the places kept for placeLinger without being reused,
// in one ZREM per slot.
func (p *places) reap() {
	t := time.NewTimer(placeLinger)
	defer t.Stop()
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		now := time.Now()
		var due map[string][]string
		next := time.Duration(-1)
		for key, q := range p.free {
			keep := q[:0]
			for _, hp := range q {
				if left := min(placeLinger-now.Sub(hp.idle), hp.reuseBy.Sub(now)); left > 0 {
					keep = append(keep, hp)
					if next < 0 || left < next {
						next = left
					}
					continue
				}
				if due == nil {
					due = map[string][]string{}
				}
				due[key] = append(due[key], hp.token)
				p.n--
			}
			if len(keep) == 0 {
				delete(p.free, key)
			} else {
				p.free[key] = keep
			}
		}
		p.mu.Unlock()
		if due != nil {
			p.giveBack(due)
		}
		if next < 0 {
			select {
			case <-p.wake:
				next = placeLinger
			case <-p.stop:
				return
			}
		}
		t.Reset(next)
		select {
		case <-t.C:
		case <-p.stop:
			return
		}
	}
}

// close gives back every kept place (the worker stops: its places would
// otherwise block the others until their ttl).
func (p *places) close(ctx context.Context) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	close(p.stop)
	all := map[string][]string{}
	for key, q := range p.free {
		for _, hp := range q {
			all[key] = append(all[key], hp.token)
		}
	}
	p.free, p.n = map[string][]heldPlace{}, 0
	p.mu.Unlock()
	if len(all) > 0 {
		p.giveBackCtx(ctx, all)
	}
}

func (p *places) giveBack(tokens map[string][]string) {
	// On a fresh context: a place not given back is healed by its ttl.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.giveBackCtx(ctx, tokens)
}

func (p *places) giveBackCtx(ctx context.Context, tokens map[string][]string) {
	_ = p.s.retry.do(ctx, "release slot", func(ctx context.Context) error {
		_, err := p.s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
			for key, toks := range tokens {
				members := make([]any, len(toks))
				for i, t := range toks {
					members[i] = t
				}
				pipe.ZRem(ctx, key, members...)
			}
			return nil
		})
		return err
	})
}
