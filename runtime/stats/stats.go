// Package stats collects crawl statistics under Scrapy's stat names
// (downloader/request_count, item_scraped_count, finish_reason, ...).
package stats

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Collector is a concurrent-safe stats store. Values are int64, float64,
// string or time.Time.
type Collector interface {
	Get(key string) (any, bool)
	Set(key string, v any)
	Inc(key string, n int64)
	// Max sets key to v when v is larger than the current value.
	Max(key string, v int64)
	// Snapshot returns a copy of every stat.
	Snapshot() map[string]any
}

// Memory is the in-memory Collector. Counters (Inc, Max) are atomics in a
// sync.Map: every request bumps a dozen of them from as many goroutines as
// there are requests in flight, and one mutex around a map made them
// contend. Other values live in a plain map under a mutex.
type Memory struct {
	counters sync.Map // string -> *atomic.Int64

	mu sync.Mutex
	m  map[string]any
}

// NewMemory returns an empty collector.
func NewMemory() *Memory { return &Memory{m: map[string]any{}} }

// counter returns key's atomic counter, creating it from an int64 already
// set under key.
func (s *Memory) counter(key string) *atomic.Int64 {
	if c, ok := s.counters.Load(key); ok {
		return c.(*atomic.Int64)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.counters.Load(key); ok {
		return c.(*atomic.Int64)
	}
	c := new(atomic.Int64)
	if v, ok := s.m[key].(int64); ok {
		c.Store(v)
	}
	delete(s.m, key)
	s.counters.Store(key, c)
	return c
}

// Get returns a stat.
func (s *Memory) Get(key string) (any, bool) {
	if c, ok := s.counters.Load(key); ok {
		return c.(*atomic.Int64).Load(), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok
}

// Set sets a stat (replacing a counter of the same name).
func (s *Memory) Set(key string, v any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.counters.Load(key); ok {
		if n, isInt := v.(int64); isInt {
			c.(*atomic.Int64).Store(n)
			return
		}
		s.counters.Delete(key)
	}
	s.m[key] = v
}

// Inc adds n to an integer stat.
func (s *Memory) Inc(key string, n int64) { s.counter(key).Add(n) }

// Max keeps the largest value seen.
func (s *Memory) Max(key string, v int64) {
	c, ok := s.counters.Load(key)
	if !ok {
		s.mu.Lock()
		if c, ok = s.counters.Load(key); !ok {
			// Absent: v is the maximum so far (or the int64 already set).
			if old, isInt := s.m[key].(int64); isInt && old > v {
				v = old
			}
			delete(s.m, key)
			nc := new(atomic.Int64)
			nc.Store(v)
			s.counters.Store(key, nc)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
	ac := c.(*atomic.Int64)
	for {
		cur := ac.Load()
		if v <= cur || ac.CompareAndSwap(cur, v) {
			return
		}
	}
}

// Snapshot copies every stat.
func (s *Memory) Snapshot() map[string]any {
	s.mu.Lock()
	out := maps.Clone(s.m)
	s.mu.Unlock()
	s.counters.Range(func(k, c any) bool {
		out[k.(string)] = c.(*atomic.Int64).Load()
		return true
	})
	return out
}

// Int reads an integer stat (0 when absent).
func Int(c Collector, key string) int64 {
	v, _ := c.Get(key)
	n, _ := v.(int64)
	return n
}
