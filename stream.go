package spiderrun

import (
	"context"
	"errors"
	"io"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
)

// streamSpider runs the callback once per response of a streamed download
// (each WebSocket message): the engine hands it the first message, and it
// keeps reading the stream until it ends. Meanwhile the request counts as
// a running callback, so an open connection keeps the crawl from going
// idle. Opener, Closer, IdleHandler and StallReporter are forwarded.
type streamSpider struct {
	engine.Spider
}

func (s streamSpider) Callback(ctx context.Context, resp *crawl.Response, out engine.Output) error {
	err := s.Spider.Callback(ctx, resp, out)
	for cur := resp; cur.Stream != nil; {
		next, serr := cur.Stream(ctx)
		if errors.Is(serr, io.EOF) || (serr != nil && ctx.Err() != nil) {
			break
		}
		if serr != nil {
			var f *crawl.Failure
			if !errors.As(serr, &f) {
				f = crawl.NewFailure(crawl.WebSocketError, resp.Request, serr)
			}
			if handled, eerr := s.Spider.Errback(ctx, f, out); !handled || eerr != nil {
				out.Error(errors.Join(f, eerr))
			}
			break
		}
		if cerr := s.Spider.Callback(ctx, next, out); cerr != nil {
			out.Error(cerr)
		}
		cur = next
	}
	return err
}

func (s streamSpider) Open(ctx context.Context, c *engine.Crawl) error {
	if o, ok := s.Spider.(engine.Opener); ok {
		return o.Open(ctx, c)
	}
	return nil
}

func (s streamSpider) Close(ctx context.Context, reason string) error {
	if c, ok := s.Spider.(engine.Closer); ok {
		return c.Close(ctx, reason)
	}
	return nil
}

func (s streamSpider) Idle(ctx context.Context, out engine.Output) (bool, error) {
	if h, ok := s.Spider.(engine.IdleHandler); ok {
		return h.Idle(ctx, out)
	}
	return false, nil
}

func (s streamSpider) Stalled() []string {
	if r, ok := s.Spider.(engine.StallReporter); ok {
		return r.Stalled()
	}
	return nil
}
