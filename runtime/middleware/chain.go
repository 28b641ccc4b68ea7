package middleware

import (
	"context"
	"errors"
	"fmt"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Handler is the end of the chain: the downloader.
// *downloader.Downloader implements it.
type Handler interface {
	Download(ctx context.Context, req *crawl.Request) (*crawl.Response, error)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, req *crawl.Request) (*crawl.Response, error)

// Download calls f.
func (f HandlerFunc) Download(ctx context.Context, req *crawl.Request) (*crawl.Response, error) {
	return f(ctx, req)
}

// Chain runs requests through an ordered list of downloader middlewares
// and the downloader, with Scrapy's semantics
// (scrapy/core/downloader/middleware.py):
//
//   - ProcessRequest runs in list order. A Response stops the walk and
//     skips the download (the response still goes through every
//     ProcessResponse); a Request stops everything and is returned to be
//     scheduled; an error goes to the ProcessException walk.
//   - The downloader runs when no ProcessRequest answered; its error goes
//     to the ProcessException walk.
//   - ProcessException runs in reverse list order. A Response resumes
//     normal processing through every ProcessResponse; a Request is
//     returned to be scheduled; nothing passes the error on; an error
//     ends the walk and is the request's failure. Errors from
//     ProcessResponse are not seen by ProcessException (Scrapy's order).
//   - ProcessResponse runs in reverse list order; a Request stops and is
//     returned to be scheduled, a Response replaces the current one.
//
// Chain implements the engine's Fetcher:
//
//	Fetch(ctx, r) (*crawl.Response, *crawl.Request, error)
//
// Errors are always *crawl.Failure.
type Chain struct {
	mws      []Downloader
	reqs     []RequestProcessor
	resps    []ResponseProcessor // reverse list order
	excs     []ExceptionProcessor
	handler  Handler
	excNames []string
}

// NewChain builds a chain from middlewares (in list order: the first is
// closest to the engine) ending in h. A value implementing none of the
// processor interfaces is an error, caught here rather than silently
// ignored.
func NewChain(h Handler, mws ...Downloader) (*Chain, error) {
	c := &Chain{mws: mws, handler: h}
	for i, mw := range mws {
		rp, ok1 := mw.(RequestProcessor)
		_, ok2 := mw.(ResponseProcessor)
		_, ok3 := mw.(ExceptionProcessor)
		if !ok1 && !ok2 && !ok3 {
			return nil, fmt.Errorf("downloader middleware %d (%T) implements none of ProcessRequest, ProcessResponse, ProcessException", i, mw)
		}
		if ok1 {
			c.reqs = append(c.reqs, rp)
		}
	}
	for i := len(mws) - 1; i >= 0; i-- {
		if rp, ok := mws[i].(ResponseProcessor); ok {
			c.resps = append(c.resps, rp)
		}
		if ep, ok := mws[i].(ExceptionProcessor); ok {
			c.excs = append(c.excs, ep)
		}
	}
	return c, nil
}

// Middlewares returns the list the chain was built from.
func (c *Chain) Middlewares() []Downloader { return c.mws }

// Fetch downloads r through the middlewares. Exactly one of the results is
// non-nil: a response for the callback, a request to schedule instead
// (retry, redirect), or a *crawl.Failure.
func (c *Chain) Fetch(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
	resp, next, err := c.request(ctx, r)
	if err != nil {
		resp, next, err = c.exception(ctx, r, err)
	}
	if next != nil {
		return nil, next, nil
	}
	if err != nil {
		return nil, nil, asFailure(r, err)
	}
	return c.response(ctx, r, resp)
}

// Download fetches r inline like Scrapy's engine.download: replacement
// requests (redirects, retries) are followed in place, up to limit
// hops, and the final response or failure is returned.
func (c *Chain) Download(ctx context.Context, r *crawl.Request, limit int) (*crawl.Response, error) {
	for range max(limit, 1) {
		resp, next, err := c.Fetch(ctx, r)
		if err != nil || resp != nil {
			return resp, err
		}
		r = next
	}
	return nil, &crawl.Failure{Type: crawl.TooManyRedirects, Message: fmt.Sprintf("inline download gave up after %d follow-up requests", limit), Request: r}
}

func (c *Chain) request(ctx context.Context, r *crawl.Request) (*crawl.Response, *crawl.Request, error) {
	for _, mw := range c.reqs {
		res, err := mw.ProcessRequest(ctx, r)
		if err != nil {
			return nil, nil, err
		}
		if res.Request != nil {
			return nil, res.Request, nil
		}
		if res.Response != nil {
			return res.Response, nil, nil
		}
	}
	resp, err := c.handler.Download(ctx, r)
	if err == nil && resp == nil {
		err = errors.New("downloader returned neither a response nor an error")
	}
	return resp, nil, err
}

func (c *Chain) exception(ctx context.Context, r *crawl.Request, err error) (*crawl.Response, *crawl.Request, error) {
	for _, mw := range c.excs {
		res, perr := mw.ProcessException(ctx, r, err)
		if perr != nil {
			// A failing process_exception ends the walk with its error:
			// in Scrapy the exception escapes the loop, the later
			// process_exception methods do not run, and neither does
			// process_response.
			return nil, nil, perr
		}
		if res.Request != nil {
			return nil, res.Request, nil
		}
		if res.Response != nil {
			return res.Response, nil, nil
		}
	}
	return nil, nil, err
}

func (c *Chain) response(ctx context.Context, r *crawl.Request, resp *crawl.Response) (*crawl.Response, *crawl.Request, error) {
	for _, mw := range c.resps {
		res, err := mw.ProcessResponse(ctx, r, resp)
		if err != nil {
			return nil, nil, asFailure(r, err)
		}
		if res.Request != nil {
			return nil, res.Request, nil
		}
		if res.Response != nil {
			resp = res.Response
		}
	}
	return resp, nil, nil
}

// asFailure wraps any error as a *crawl.Failure so errbacks always get a
// type; a context cancellation keeps its cause.
func asFailure(r *crawl.Request, err error) *crawl.Failure {
	var f *crawl.Failure
	if errors.As(err, &f) {
		if f.Request == nil {
			f.Request = r
		}
		return f
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &crawl.Failure{Type: crawl.UnknownError, Message: "download cancelled: " + err.Error(), Request: r, Err: err}
	}
	return &crawl.Failure{Type: crawl.UnknownError, Message: err.Error(), Request: r, Err: err}
}

// Ignore builds an IgnoreRequest failure (a middleware's way to drop a
// request, like raising Scrapy's IgnoreRequest).
func Ignore(r *crawl.Request, format string, args ...any) *crawl.Failure {
	return &crawl.Failure{Type: crawl.IgnoreRequest, Message: fmt.Sprintf(format, args...), Request: r}
}
