package browser

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/session"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Sessions gives the identity a request was sent as and takes the cookies
// (and the extracted tokens, as headers) the browser earned for it;
// *session.Registry implements it.
type Sessions interface {
	IdentityOf(req *crawl.Request, rawURL string) (session.Identity, bool)
	ImportCookies(req *crawl.Request, rawURL string, cookies []*http.Cookie) error
	ImportHeaders(req *crawl.Request, headers map[string]string) error
}

// HandOff is the Blocks middleware's ChallengeSolver (BLOCK_BROWSER): it
// passes the challenge in a Pool's browser as the request's session
// member — its proxy, its cookies, the User-Agent of its profile, in a
// Chromium of the profile's version — and imports the cookies into the
// member's jar, so the request, sent again as the same member over plain
// HTTP, carries the clearance with the fingerprint it is bound to.
type HandOff struct {
	Pool     *Pool
	Sessions Sessions
	// DefaultProfile is IMPERSONATE: the profile of a member without its
	// own.
	DefaultProfile string
	// WaitCookie is BROWSER_WAIT_COOKIE: "" = cf_clearance for the
	// cloudflare detector, else any cookie the member did not have.
	WaitCookie string
	// WaitJS is BROWSER_WAIT_JS, a predicate on the page.
	WaitJS string
	// ExtractJS is BROWSER_EXTRACT_JS: tokens the cleared page holds,
	// given to the member as headers of its later requests.
	ExtractJS string
	// Reuse is how long a solve of one member and host stands for the
	// blocks of the same member's requests that were in flight before
	// its cookies arrived (0 = Pool's timeout).
	Reuse time.Duration

	mu      sync.Mutex
	flights map[string]*flight
}

type flight struct {
	done chan struct{}
	err  error
	at   time.Time
}

// Solve implements middleware.ChallengeSolver.
func (h *HandOff) Solve(ctx context.Context, req *crawl.Request, resp *crawl.Response) (bool, error) {
	target := resp.URL
	if target == "" {
		target = req.URL
	}
	id, ok := h.Sessions.IdentityOf(req, target)
	if !ok {
		return false, errors.New("the request has no session group member: the browser hand-off keeps an identity, so send the request with a session_id of register_sessions")
	}
	host := hostOf(target)
	key := id.Key + "\x00" + host

	h.mu.Lock()
	if h.flights == nil {
		h.flights = map[string]*flight{}
	}
	reuse := h.Reuse
	if reuse <= 0 {
		reuse = h.Pool.cfg.Timeout
	}
	if f := h.flights[key]; f != nil {
		select {
		case <-f.done:
			if f.err == nil && time.Since(f.at) < reuse {
				h.mu.Unlock()
				return false, nil
			}
		default:
			h.mu.Unlock()
			select {
			case <-f.done:
				return false, f.err
			case <-ctx.Done():
				return false, ctx.Err()
			}
		}
	}
	f := &flight{done: make(chan struct{})}
	h.flights[key] = f
	h.mu.Unlock()

	f.err = h.solve(ctx, req, resp, id, target)
	f.at = time.Now()
	close(f.done)
	return true, f.err
}

func (h *HandOff) solve(ctx context.Context, req *crawl.Request, resp *crawl.Response, id session.Identity, target string) error {
	bid, err := h.identity(req, id)
	if err != nil {
		return err
	}
	w := Wait{Cookie: h.WaitCookie, JS: h.WaitJS, Extract: h.ExtractJS}
	if w.Cookie == "" && isCloudflare(resp) {
		w.Cookie = "cf_clearance"
	}
	sol, err := h.Pool.Solve(ctx, target, bid, w)
	if err != nil {
		return err
	}
	if len(sol.Cookies) == 0 && len(sol.Tokens) == 0 && w.JS == "" {
		return fmt.Errorf("browser hand-off %s: the challenge cleared but the browser holds no cookie for the site", weburl.Redact(target))
	}
	if err := h.Sessions.ImportCookies(req, target, sol.Cookies); err != nil {
		return err
	}
	if len(sol.Tokens) > 0 {
		return h.Sessions.ImportHeaders(req, sol.Tokens)
	}
	return nil
}

// identity is the browser's side of the member: proxy and cookies as the
// request had them, User-Agent and client hints from its profile.
func (h *HandOff) identity(req *crawl.Request, id session.Identity) (Identity, error) {
	name := req.Impersonate
	if name == "" {
		name = id.Impersonate
	}
	if name == "" {
		name = h.DefaultProfile
	}
	if name == "" {
		return Identity{}, errors.New("browser hand-off: the identity has no impersonation profile, so its TLS is Go's and a clearance bound to the browser's would not hold: give the member (or IMPERSONATE) a chrome profile of the browser's version")
	}
	p, err := impersonate.LoadProfile(name)
	if err != nil {
		return Identity{}, fmt.Errorf("browser hand-off: %w", err)
	}
	proxy := req.Proxy
	if proxy == "" {
		proxy = id.Proxy
	}
	return Identity{
		Browser: p.Browser, Version: p.Version, ProfileName: p.Name,
		UserAgent: p.UserAgent(), ClientHints: p.DefaultHeaders().Get("sec-ch-ua"),
		Proxy: proxy, Cookies: id.Cookies,
	}, nil
}

func isCloudflare(resp *crawl.Response) bool {
	return resp.Headers.Get("cf-mitigated") != "" || strings.EqualFold(resp.Headers.Get("server"), "cloudflare")
}

func hostOf(raw string) string {
	rest := raw
	if _, after, ok := strings.Cut(raw, "://"); ok {
		rest = after
	}
	host, _, _ := strings.Cut(rest, "/")
	return strings.ToLower(host)
}
