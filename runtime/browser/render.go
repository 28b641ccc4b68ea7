package browser

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/middleware"
)

// Rendered is a page as the browser shows it once loaded.
type Rendered struct {
	// URL is the page the browser ended on.
	URL    string
	Status int
	// Headers are the main document's response headers (sorted by name:
	// DevTools gives them as a map).
	Headers crawl.Headers
	// HTML is the DOM serialised (document.documentElement.outerHTML).
	HTML string
}

// Render opens rawURL in a new browser as id and returns the DOM once the
// load event has fired and, when given, the CSS selector waitFor matches
// an element and the expression waitJS is true.
func (p *Pool) Render(ctx context.Context, rawURL string, id Identity, waitFor, waitJS string) (*Rendered, error) {
	var out *Rendered
	err := p.run(ctx, rawURL, id, func(ctx context.Context, u *url.URL) error {
		if err := p.setup(ctx, u, id, nil); err != nil {
			return err
		}
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u.String()))
		if err != nil {
			return err
		}
		if waitFor != "" {
			if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(waitFor))); err != nil {
				return fmt.Errorf("wait_for %q: %w", waitFor, err)
			}
		}
		if waitJS != "" {
			if _, err := chromedp.Run(ctx, chromedp.Poll[bool]("!!("+waitJS+")", chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
				return fmt.Errorf("wait_for_js %q: %w", waitJS, err)
			}
		}
		html, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.documentElement.outerHTML"))
		if err != nil {
			return err
		}
		final, _ := chromedp.Run(ctx, chromedp.Evaluate[string]("location.href"))
		out = &Rendered{URL: final, HTML: "<!DOCTYPE html>" + html}
		if resp != nil {
			out.Status = int(resp.Status)
			names := make([]string, 0, len(resp.Headers))
			for k := range resp.Headers {
				names = append(names, k)
			}
			slices.Sort(names)
			for _, k := range names {
				out.Headers = append(out.Headers, crawl.Header{Name: k, Value: fmt.Sprint(resp.Headers[k])})
			}
		}
		return nil
	})
	return out, err
}

// RenderMiddleware is a downloader middleware: a request with meta
// render: true is loaded in the browser (as its session member, when it
// has one: the member's proxy, cookies and profile's User-Agent) and the
// rendered DOM comes back as its Response, which then goes through the
// response middlewares as a download would. meta wait_for (a CSS
// selector) and wait_for_js (an expression) say when the page is ready.
// The pool starts on the first such request, so a crawl without one needs
// no Chromium.
type RenderMiddleware struct {
	Config   Config
	Sessions Sessions
	// DefaultProfile is IMPERSONATE.
	DefaultProfile string

	once sync.Once
	pool *Pool
	err  error
}

// Meta keys of a rendered request.
const (
	MetaRender    = "render"
	MetaWaitFor   = "wait_for"
	MetaWaitForJS = "wait_for_js"
)

// ProcessRequest implements middleware.RequestProcessor.
func (m *RenderMiddleware) ProcessRequest(ctx context.Context, req *crawl.Request) (middleware.Result, error) {
	if !req.MetaBool(MetaRender) {
		return middleware.Result{}, nil
	}
	m.once.Do(func() { m.pool, m.err = New(m.Config) })
	if m.err != nil {
		return middleware.Result{}, fmt.Errorf("render %s: %w", req.URL, m.err)
	}
	id := Identity{}
	if m.Sessions != nil {
		if sid, ok := m.Sessions.IdentityOf(req, req.URL); ok {
			h := &HandOff{Pool: m.pool, DefaultProfile: m.DefaultProfile}
			bid, err := h.identity(req, sid)
			if err != nil {
				return middleware.Result{}, fmt.Errorf("render %s: %w", req.URL, err)
			}
			id = bid
		}
	}
	if id.UserAgent == "" {
		// Headless Chromium says HeadlessChrome: the same browser with a
		// window says Chrome.
		id.UserAgent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/" + m.pool.Version() + ".0.0.0 Safari/537.36"
	}
	waitFor, _ := req.Meta[MetaWaitFor].(string)
	waitJS, _ := req.Meta[MetaWaitForJS].(string)
	started := time.Now()
	r, err := m.pool.Render(ctx, req.URL, id, waitFor, waitJS)
	if err != nil {
		return middleware.Result{}, err
	}
	resp := &crawl.Response{URL: r.URL, Status: r.Status, Headers: r.Headers, Body: []byte(r.HTML), Request: req,
		Flags: []string{"rendered"}, Timings: crawl.Timings{Start: started, Headers: time.Now(), Done: time.Now()}}
	// The body is the DOM, re-serialised: the original encoding and
	// length no longer apply.
	resp.Headers.Del("Content-Encoding")
	resp.Headers.Del("Content-Length")
	resp.Headers.Set("Content-Type", "text/html; charset=utf-8")
	return middleware.Result{Response: resp}, nil
}

// Close stops the pool, if it started.
func (m *RenderMiddleware) Close() {
	m.once.Do(func() {}) // a pool being started is waited for
	if m.pool != nil {
		m.pool.Close()
	}
}
