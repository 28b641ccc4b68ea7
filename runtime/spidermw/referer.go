package spidermw

import (
	"net/url"
	"strings"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/engine"
	"github.com/spiderrun/spiderrun/runtime/referrer"
)

// Referer records, on every request a callback emits, the page it came
// from: Request.Parent (which the downloader uses to refuse file:// links
// found on network pages) and, when SetHeader is on (REFERER_ENABLED), the
// Referer header under the page's referrer policy, never for file://
// pages and never with the page's credentials or fragment. A Referer the
// callback set itself is kept.
//
// The policy is, as in Scrapy's RefererMiddleware, the request's meta
// referrer_policy, else the page's Referrer-Policy header, else Scrapy's
// default no-referrer-when-downgrade (no Referer from an https page to an
// http URL). A page's <meta name="referrer"> counts too, over the header,
// as in browsers (Scrapy ignores it). A policy the page declared is also
// written to the request's meta referrer_policy (unless the request has
// one), so that an impersonated request applies it as the browser would,
// over every hop of a redirect (specs/impersonation.md).
type Referer struct {
	SetHeader bool
}

// WrapOutput implements engine.SpiderMiddleware.
func (m *Referer) WrapOutput(resp *crawl.Response, next engine.Output) engine.Output {
	if resp == nil || resp.URL == "" || resp.Status == 0 {
		return next // errback output: there is no page
	}
	return &refererOutput{Output: next, page: resp.URL, header: m.SetHeader, resp: resp}
}

type refererOutput struct {
	engine.Output
	page   string
	header bool
	resp   *crawl.Response
	// policy is the page's declared policy, read once, when the first
	// request is emitted (pages that emit none cost nothing).
	policy     string
	policyRead bool
}

func (o *refererOutput) pagePolicy() string {
	if !o.policyRead {
		o.policyRead = true
		o.policy = referrer.Parse(o.resp.Headers.Get("Referrer-Policy"))
		if p := referrer.FromHTML(o.resp.Body); p != "" {
			o.policy = p
		}
	}
	return o.policy
}

func (o *refererOutput) Request(r *crawl.Request) {
	if r.Parent == "" {
		r.Parent = o.page
	}
	policy, _ := r.Meta["referrer_policy"].(string)
	policy = referrer.Parse(policy)
	if policy == "" {
		if policy = o.pagePolicy(); policy != "" {
			r.SetMeta("referrer_policy", policy)
		}
	}
	if o.header && !r.Headers.Has("Referer") {
		if ref := refererFor(policy, o.page, r.URL); ref != "" {
			r.Headers.Add("Referer", ref)
		}
	}
	o.Output.Request(r)
}

// refererFor applies policy ("" = no-referrer-when-downgrade, Scrapy's
// default) and strips credentials and the fragment.
func refererFor(policy, page, target string) string {
	p, err := url.Parse(page)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") {
		return ""
	}
	p.User = nil
	p.Fragment, p.RawFragment = "", ""
	if policy == "" {
		if p.Scheme == "https" && strings.HasPrefix(strings.ToLower(target), "http:") {
			return ""
		}
		return p.String()
	}
	t, err := url.Parse(target)
	if err != nil {
		return ""
	}
	return referrer.For(policy, p, t)
}
