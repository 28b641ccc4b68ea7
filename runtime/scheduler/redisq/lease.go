package redisq

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Lease is a worker's claim on a queue entry, held in Redis until Ack. It
// travels with the request in crawl.Request.Lease. A start entry that a
// make_request_from_data hook turned into several requests has one lease
// shared by them: it ends when the last of them is acknowledged or queued.
type Lease struct {
	s     *Scheduler
	id    string
	start bool

	mu    sync.Mutex
	refs  int
	items [][]byte
	lost  bool
	done  bool
}

// ID is the lease id (also the fencing token: ids are never reused).
func (l *Lease) ID() string { return l.id }

// releaseOne drops one reference; it reports whether that was the last one
// (the lease is to be released now).
func (l *Lease) releaseOne() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return false
	}
	l.refs--
	if l.refs <= 0 {
		l.done = true
		return true
	}
	return false
}

func (l *Lease) addItem(b []byte) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.done {
		return false
	}
	l.items = append(l.items, b)
	return true
}

func (l *Lease) takeItems() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	it := l.items
	l.items = nil
	return it
}

func (l *Lease) isLost() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lost
}

// reserveLeases takes up to n places of Options.MaxLeases for leases about
// to be acquired and returns how many it got (0 when the worker is at its
// bound). Each place is used by hold or given back with unreserve. Places
// are taken before the lease script runs, so concurrent callers never
// overshoot the bound.
func (s *Scheduler) reserveLeases(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.MaxLeases > 0 {
		n = min(n, s.opts.MaxLeases-len(s.held)-s.reserved)
	}
	if n <= 0 {
		return 0
	}
	s.reserved += n
	return n
}

// unreserve gives back n reserved places that were not used.
func (s *Scheduler) unreserve(n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	s.reserved -= n
	s.mu.Unlock()
	s.freed()
}

// boundWarnAfter is how long Next may find the worker at MaxLeases, with
// no lease ending meanwhile, before it says so (a variable for tests).
var boundWarnAfter = 30 * time.Second

// stuckAtBound records that Next found no free place, and logs once when
// no lease has ended for boundWarnAfter: the worker's requests are all
// held by callbacks that do not finish, and nothing more is taken. That
// is a deadlock when those callbacks wait on results of queued requests
// (state shared between callbacks of one worker): the bound is what keeps
// a kill from refetching more, so it is not raised for them.
func (s *Scheduler) stuckAtBound() {
	s.mu.Lock()
	now := time.Now()
	if s.boundSince.IsZero() {
		s.boundSince = now
	}
	warn := !s.boundWarned && now.Sub(s.boundSince) >= boundWarnAfter
	if warn {
		s.boundWarned = true
	}
	s.mu.Unlock()
	if warn {
		s.log.Warn("this worker holds its maximum of leases and none has ended for a while: it takes no more requests until one does; "+
			"callbacks that wait on results of other requests cannot hold more than max_leases at once (raise CONCURRENT_REQUESTS)",
			"max_leases", s.opts.MaxLeases, "for", boundWarnAfter)
	}
}

// freed wakes the task source waiting for a place.
func (s *Scheduler) freed() {
	s.mu.Lock()
	s.boundSince, s.boundWarned = time.Time{}, false
	s.mu.Unlock()
	select {
	case s.room <- struct{}{}:
	default:
	}
}

// hold records a lease this worker now holds (renewed by the heartbeat,
// returned on Close), in a place taken with reserveLeases.
func (s *Scheduler) hold(id string, start bool, refs int) *Lease {
	l := &Lease{s: s, id: id, start: start, refs: refs}
	s.mu.Lock()
	s.held[id] = l
	s.reserved--
	n := len(s.held)
	s.mu.Unlock()
	if st := s.opts.Stats; st != nil {
		st.Max("redis/leases_held_max", int64(n))
	}
	return l
}

func (s *Scheduler) forget(l *Lease) {
	s.mu.Lock()
	delete(s.held, l.id)
	s.mu.Unlock()
	s.freed()
}

// HeldLeases is the number of leases this worker holds.
func (s *Scheduler) HeldLeases() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}

func (s *Scheduler) heartbeatLoop(ctx context.Context) {
	defer close(s.hbDone)
	every := s.opts.LeaseTimeout / 3
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// One beat must finish well within the lease timeout to be useful;
		// during an outage the retry loop keeps trying until the server is
		// back (leases then may have expired: the fencing handles that).
		if _, err := s.heartbeat(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("lease heartbeat failed", "error", err)
		}
	}
}

// heartbeat renews every lease this worker holds and marks the lost ones.
func (s *Scheduler) heartbeat(ctx context.Context) (lost int, err error) {
	s.mu.Lock()
	args := make([]any, 0, 3+len(s.held))
	starting := 0
	if s.starting.Load() {
		starting = 1
	}
	args = append(args, s.opts.WorkerID, s.opts.LeaseTimeout.Milliseconds(), starting)
	for id := range s.held {
		args = append(args, id)
	}
	s.mu.Unlock()
	var gone []string
	err = s.retry.do(ctx, "heartbeat", func(ctx context.Context) error {
		var err error
		gone, err = scriptHeartbeat.Run(ctx, s.rdb, []string{s.keys.leases, s.keys.deadlines, s.keys.workers, s.keys.stats, s.keys.starting}, args...).StringSlice()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("redisq: heartbeat: %w", err)
	}
	for _, id := range gone {
		s.mu.Lock()
		l := s.held[id]
		delete(s.held, id)
		s.mu.Unlock()
		if l == nil {
			continue // acknowledged meanwhile
		}
		s.freed()
		l.mu.Lock()
		if l.done {
			// Its ack is being committed right now; the ack script decides.
			l.mu.Unlock()
			continue
		}
		l.lost = true
		l.mu.Unlock()
		s.log.Warn("lease expired while held (worker stalled longer than the lease timeout); its request was redelivered", "lease", id)
	}
	return len(gone), nil
}
