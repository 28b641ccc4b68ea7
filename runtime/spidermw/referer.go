package spidermw

import (
	"net/url"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
)

// Referer records, on every request a callback emits, the page it came
// from: Request.Parent (which the downloader uses to refuse file:// links
// found on network pages) and, when SetHeader is on (REFERER_ENABLED), the
// Referer header under Scrapy's default policy
// no-referrer-when-downgrade: no Referer from an https page to an http URL,
// never for file:// pages, and never with the page's credentials or
// fragment. A Referer the callback set itself is kept.
type Referer struct {
	SetHeader bool
}

// WrapOutput implements engine.SpiderMiddleware.
func (m *Referer) WrapOutput(resp *crawl.Response, next engine.Output) engine.Output {
	if resp == nil || resp.URL == "" || resp.Status == 0 {
		return next // errback output: there is no page
	}
	return &refererOutput{Output: next, page: resp.URL, header: m.SetHeader}
}

type refererOutput struct {
	engine.Output
	page   string
	header bool
}

func (o *refererOutput) Request(r *crawl.Request) {
	if r.Parent == "" {
		r.Parent = o.page
	}
	if o.header && !r.Headers.Has("Referer") {
		if ref := refererFor(o.page, r.URL); ref != "" {
			r.Headers.Add("Referer", ref)
		}
	}
	o.Output.Request(r)
}

// refererFor applies no-referrer-when-downgrade and strips credentials and
// the fragment.
func refererFor(page, target string) string {
	p, err := url.Parse(page)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") {
		return ""
	}
	if p.Scheme == "https" && strings.HasPrefix(strings.ToLower(target), "http:") {
		return ""
	}
	p.User = nil
	p.Fragment = ""
	return p.String()
}
