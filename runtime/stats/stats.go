// Package stats collects crawl statistics under Scrapy's stat names
// (downloader/request_count, item_scraped_count, finish_reason, ...).
package stats

import (
	"maps"
	"sync"
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

// Memory is the in-memory Collector.
type Memory struct {
	mu sync.Mutex
	m  map[string]any
}

// NewMemory returns an empty collector.
func NewMemory() *Memory { return &Memory{m: map[string]any{}} }

// Get returns a stat.
func (s *Memory) Get(key string) (any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[key]
	return v, ok
}

// Set sets a stat.
func (s *Memory) Set(key string, v any) {
	s.mu.Lock()
	s.m[key] = v
	s.mu.Unlock()
}

// Inc adds n to an integer stat.
func (s *Memory) Inc(key string, n int64) {
	s.mu.Lock()
	cur, _ := s.m[key].(int64)
	s.m[key] = cur + n
	s.mu.Unlock()
}

// Max keeps the largest value seen.
func (s *Memory) Max(key string, v int64) {
	s.mu.Lock()
	if cur, ok := s.m[key].(int64); !ok || v > cur {
		s.m[key] = v
	}
	s.mu.Unlock()
}

// Snapshot copies every stat.
func (s *Memory) Snapshot() map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.m)
}

// Int reads an integer stat (0 when absent).
func Int(c Collector, key string) int64 {
	v, _ := c.Get(key)
	n, _ := v.(int64)
	return n
}
