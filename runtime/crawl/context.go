package crawl

import "context"

type requestKey struct{}

// WithRequest returns a context that carries the request whose response is
// being processed. The engine passes it to item pipelines so a backend can
// tie an item to its request (the Redis item writer commits a request's
// items together with the request's acknowledgement).
func WithRequest(ctx context.Context, r *Request) context.Context {
	return context.WithValue(ctx, requestKey{}, r)
}

// RequestFromContext returns the request set by WithRequest, or nil.
func RequestFromContext(ctx context.Context) *Request {
	r, _ := ctx.Value(requestKey{}).(*Request)
	return r
}
