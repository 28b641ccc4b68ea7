package engine

import (
	"sync"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Signal names an engine event (Scrapy's signal names).
type Signal string

// Signals, in the order a crawl emits the lifecycle ones.
const (
	EngineStarted    Signal = "engine_started"
	SpiderOpened     Signal = "spider_opened"
	RequestScheduled Signal = "request_scheduled"
	RequestDropped   Signal = "request_dropped"
	ResponseReceived Signal = "response_received"
	ItemScraped      Signal = "item_scraped"
	ItemDropped      Signal = "item_dropped"
	ItemError        Signal = "item_error"
	SpiderError      Signal = "spider_error"
	SpiderIdle       Signal = "spider_idle"
	SpiderClosed     Signal = "spider_closed"
)

// Event is one emitted signal with the objects it concerns; fields that do
// not apply are nil.
type Event struct {
	Signal   Signal
	Request  *crawl.Request
	Response *crawl.Response
	Item     *crawl.Item
	// Err is the error of item_dropped, item_error and spider_error.
	Err error
	// Reason is the close reason of spider_closed.
	Reason string
}

// Signals is a small ordered event bus. Subscribers are called one event at
// a time, in emission order, on one dispatcher goroutine: emitting never
// blocks the engine (a JS hook runs on its own event loop and must not be
// waited for by a callback on that same loop). Run delivers every event,
// spider_closed included, before it returns.
type Signals struct {
	mu      sync.Mutex
	subs    []func(Event)
	queue   []Event
	spare   []Event // a delivered batch's array, emptied, for the next queue
	running bool    // a dispatcher goroutine is delivering
	idle    *sync.Cond
}

// NewSignals returns a bus with no subscribers.
func NewSignals() *Signals {
	s := &Signals{}
	s.idle = sync.NewCond(&s.mu)
	return s
}

// Connect subscribes fn to every signal. Subscribe before Run: events
// emitted before Connect are not replayed.
func (s *Signals) Connect(fn func(Event)) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
}

// emit queues ev for delivery; with no subscriber it costs a lock.
func (s *Signals) emit(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.subs) == 0 {
		return
	}
	s.queue = append(s.queue, ev)
	if !s.running {
		s.running = true
		go s.dispatch()
	}
}

// maxSpareEvents bounds the array kept between batches (a burst of
// events is not held for the rest of the crawl).
const maxSpareEvents = 1024

func (s *Signals) dispatch() {
	s.mu.Lock()
	for len(s.queue) > 0 {
		batch := s.queue
		// The queue refills into the last batch's array: a crawl emits
		// about a dozen events a page (request_scheduled per link), and a
		// fresh array per batch was 1.5 % of its allocations (issue 20).
		s.queue, s.spare = s.spare, nil
		subs := s.subs
		s.mu.Unlock()
		for _, ev := range batch {
			for _, fn := range subs {
				callSafely(fn, ev)
			}
		}
		clear(batch) // the events' requests and responses are not kept alive
		s.mu.Lock()
		if cap(batch) <= maxSpareEvents {
			s.spare = batch[:0]
		}
	}
	s.running = false
	s.idle.Broadcast()
	s.mu.Unlock()
}

// callSafely keeps a panicking subscriber from killing the crawl.
func callSafely(fn func(Event), ev Event) {
	defer func() { _ = recover() }()
	fn(ev)
}

// wait blocks until every emitted event has been delivered.
func (s *Signals) wait() {
	s.mu.Lock()
	for s.running || len(s.queue) > 0 {
		s.idle.Wait()
	}
	s.mu.Unlock()
}
