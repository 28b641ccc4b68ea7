package crawl

import (
	"context"
	"sync"
	"time"
)

// Response is a downloaded page.
type Response struct {
	URL      string  `json:"url"` // final URL, after redirects
	Status   int     `json:"status"`
	Headers  Headers `json:"headers,omitempty"`
	Body     []byte  `json:"body,omitempty"`
	Protocol string  `json:"protocol,omitempty"` // "HTTP/1.1", "HTTP/2.0", "file"
	// Request is the request that produced this response (after redirects,
	// the last one of the chain).
	Request *Request `json:"-"`
	// IP is the remote address the body came from, when known.
	IP      string   `json:"ip,omitempty"`
	Flags   []string `json:"flags,omitempty"` // e.g. "cached", "partial"
	Timings Timings  `json:"-"`

	// Stream, when set, yields further responses of the same request (the
	// next WebSocket messages); it returns io.EOF when there are no more.
	// Whoever runs the callback runs it once per streamed response.
	Stream func(ctx context.Context) (*Response, error) `json:"-"`
	// WebSocket is the open connection a WebSocket message came from.
	WebSocket WebSocketConn `json:"-"`

	mu    sync.Mutex
	cache map[any]any
}

// Timings records when a download started, got headers and ended.
type Timings struct {
	Start   time.Time
	Headers time.Time
	Done    time.Time
}

// Latency is the time from sending to receiving the headers, the figure
// AutoThrottle uses.
func (t Timings) Latency() time.Duration {
	if t.Headers.IsZero() || t.Start.IsZero() {
		return 0
	}
	return t.Headers.Sub(t.Start)
}

// Memo returns the value cached under key, computing it with fn once. Parsed
// documents are memoized here so a page is parsed at most once however many
// selectors and link extractors look at it.
func (r *Response) Memo(key any, fn func() any) any {
	r.mu.Lock()
	if v, ok := r.cache[key]; ok {
		r.mu.Unlock()
		return v
	}
	r.mu.Unlock()
	v := fn()
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.cache[key]; ok {
		return old
	}
	if r.cache == nil {
		r.cache = map[any]any{}
	}
	r.cache[key] = v
	return v
}

// Cached returns the value memoized under key, without computing it.
func (r *Response) Cached(key any) (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.cache[key]
	return v, ok
}

// WebSocketConn is the connection behind a WebSocket response, as callbacks
// use it (response.send, response.close).
type WebSocketConn interface {
	// ID is the websocket_id requests use to reach this connection.
	ID() string
	// Send sends one message.
	Send(ctx context.Context, msg WSMessage) error
	// Close sends a close frame and ends the connection.
	Close(code int, reason string) error
}
