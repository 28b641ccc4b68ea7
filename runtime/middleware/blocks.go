package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spiderrun/spiderrun/runtime/blocks"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/health"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Meta keys of the identity a request is sent as; runtime/session sets
// MetaSessionMember and reads MetaSessionAvoid.
const (
	MetaSessionMember = "session_member"
	MetaSessionAvoid  = "session_avoid"
	// MetaSessionLogin marks a request a session factory sends as the
	// member it is creating (a login): a block fails it at once, as the
	// factory's error, instead of sending it again as another member.
	MetaSessionLogin = "session_login"
	// metaBlockRetries counts the times a request was sent again after a
	// block (Scrapy-style meta, like retry_times).
	metaBlockRetries = "block_retry_times"
)

// Identities scores the identity (session group member) a request was
// sent as; *session.Registry implements it.
type Identities interface {
	// Blocked scores the member down, retiring it past its limit.
	Blocked(req *crawl.Request) (member string, retired bool)
	// Served scores the member up.
	Served(req *crawl.Request)
}

// BlockThrottle slows a download slot down after a block;
// *downloader.Downloader implements it (AutoThrottle).
type BlockThrottle interface {
	SlotBlocked(req *crawl.Request)
}

// Blocks keeps block pages away from callbacks, and keeps the per-domain
// health scoreboard (Health) of every attempt. A response a detector
// recognises (a Cloudflare challenge, a DataDome captcha, …: runtime/blocks)
// scores the identity it was fetched as down (retiring it past
// BLOCK_RETIRE_SCORE) and is sent again, as another identity when the
// request belongs to a session group, after a backoff; after Times such
// attempts the request fails with a BlockedError (its errback gets it).
// Stats say which detector fired on which domain; the first block of each
// (domain, detector) is a WARNING.
type Blocks struct {
	Detectors blocks.Set
	// Times is BLOCK_RETRY_TIMES.
	Times int
	// BackoffBase and BackoffMax shape the wait before each new attempt:
	// base·2^(n-1)·U(0.5,1.5), capped at max.
	BackoffBase, BackoffMax time.Duration
	Identities              Identities
	// Throttle, when set, is told of every block (AutoThrottle doubles
	// the slot's delay).
	Throttle BlockThrottle
	// Health, when set, records every attempt's outcome per domain.
	Health *health.Board
	Stats  stats.Collector
	Logger *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
	// Browser, when set (BLOCK_BROWSER), gets the blocks whose detector
	// is in BrowserDetectors first: a real browser passes the challenge
	// as the same identity, and the request is sent again as that
	// identity instead of another one (specs/sessions.md "Browser
	// hand-off").
	Browser          ChallengeSolver
	BrowserDetectors []string
	// JS runs the detectors that are JavaScript predicates ("js:NAME"
	// entries of BLOCK_DETECTORS), in their place in the order.
	JS BlockPredicates

	warned sync.Map // "domain\x00detector" → struct{}
}

// BlockPredicates runs the spider's JavaScript block detectors;
// jsbridge's Spider implements it.
type BlockPredicates interface {
	// BlockPredicate calls the exported function fn with the response
	// (as a callback gets it): a block when it returns a reason (a
	// non-empty string) or true. A throw is err, with the script's
	// file:line:col.
	BlockPredicate(ctx context.Context, fn string, req *crawl.Request, resp *crawl.Response) (blocked bool, reason string, err error)
}

// CheckJS makes sure every JavaScript detector has a runtime that can
// call it and names a function the script exports (has), so a typo is an
// error when the crawl starts rather than a detector that never fires.
func (m *Blocks) CheckJS(has func(fn string) bool) error {
	for _, d := range m.Detectors {
		if d.JS == "" {
			continue
		}
		if m.JS == nil {
			return fmt.Errorf("block detector %s: no JavaScript runtime to call it", d.Name)
		}
		if has != nil && !has(d.JS) {
			return fmt.Errorf("block detector %s: the script does not export a function %q", d.Name, d.JS)
		}
	}
	return nil
}

// detect returns the first detector that recognises resp as a block, and
// the reason a JavaScript predicate gave. A predicate that throws is
// counted (blocks/detector_errors/js:NAME) and logged with its script
// position, and does not make the response a block: one bad predicate
// must not stop the crawl or turn every page into a block.
func (m *Blocks) detect(ctx context.Context, r *crawl.Request, resp *crawl.Response) (detector, reason string) {
	for _, d := range m.Detectors {
		if d.JS == "" {
			if d.Match(resp) {
				return d.Name, ""
			}
			continue
		}
		if m.JS == nil {
			continue // CheckJS refuses this when the crawl starts
		}
		hit, why, err := m.JS.BlockPredicate(ctx, d.JS, r, resp)
		if err != nil {
			if ctx.Err() != nil {
				return "", ""
			}
			m.inc("blocks/detector_errors/" + d.Name)
			lvl := slog.LevelDebug
			if _, seen := m.warned.LoadOrStore("jserr\x00"+d.Name, struct{}{}); !seen {
				lvl = slog.LevelError
			}
			m.log().Log(ctx, lvl, "block detector failed; the response is not a block by it", "detector", d.Name,
				"url", weburl.Redact(resp.URL), "error", err)
			continue
		}
		if hit {
			return d.Name, why
		}
	}
	return "", ""
}

// DefaultBlockRetryTimes is BLOCK_RETRY_TIMES' default: enough to get past
// a few burnt identities, bounded so a site that blocks everyone ends.
const DefaultBlockRetryTimes = 5

// ProcessResponse implements ResponseProcessor.
func (m *Blocks) ProcessResponse(ctx context.Context, r *crawl.Request, resp *crawl.Response) (Result, error) {
	detector, reason := "", ""
	if !r.MetaBool("dont_detect_blocks") {
		if resp.Request == nil {
			resp.Request = r // a JS predicate sees response.request
		}
		detector, reason = m.detect(ctx, r, resp)
	}
	domain := hostOf(resp.URL)
	if m.Health != nil {
		o := health.OK
		if detector != "" {
			o = health.Blocked
		}
		m.Health.Record(domain, o, resp.Timings.Latency(), len(resp.Body))
	}
	if detector == "" {
		if m.Identities != nil {
			m.Identities.Served(r)
		}
		return Result{}, nil
	}
	m.inc("blocks/count")
	m.inc("blocks/detector/" + detector)
	m.inc("blocks/domain/" + domain)
	why := ""
	if reason != "" {
		why = ": " + reason
	}
	if r.MetaBool(MetaSessionLogin) {
		// A session factory's login: the factory fails (and is tried
		// again as a new identity) rather than the request moving to
		// another member, which would log in someone else.
		return Result{}, &crawl.Failure{Type: crawl.Blocked, Request: r, Response: resp,
			Message: fmt.Sprintf("blocked by %s (status %d%s) while creating session member %v", detector, resp.Status, why, r.Meta[MetaSessionMember])}
	}
	if next, ok := m.handOff(ctx, r, resp, detector); ok {
		return Result{Request: next}, nil
	}
	if m.Throttle != nil {
		m.Throttle.SlotBlocked(r)
	}
	var member string
	var retired bool
	if m.Identities != nil {
		member, retired = m.Identities.Blocked(r)
	}
	if retired {
		m.inc("blocks/identities_retired")
		m.log().Info("identity retired after blocks", "session", r.SessionID, "member", member, "detector", detector, "domain", domain, withReason(reason))
	}
	done, _ := metaNumber(r.Meta[metaBlockRetries])
	n := done + 1
	lvl := slog.LevelDebug
	if _, seen := m.warned.LoadOrStore(domain+"\x00"+detector, struct{}{}); !seen {
		lvl = slog.LevelWarn
	}
	if n > m.Times {
		m.inc("blocks/gave_up")
		m.log().Log(context.Background(), max(lvl, slog.LevelWarn), "blocked: giving up", "url", weburl.Redact(r.URL), "detector", detector, "status", resp.Status, "attempts", n, withReason(reason))
		return Result{}, &crawl.Failure{Type: crawl.Blocked, Request: r, Response: resp,
			Message: fmt.Sprintf("blocked by %s (status %d%s) on %d attempts", detector, resp.Status, why, n)}
	}
	next := r.Copy()
	next.DontFilter = true
	next.SetMeta(metaBlockRetries, n)
	if member != "" {
		delete(next.Meta, MetaSessionMember)
		next.SetMeta(MetaSessionAvoid, member)
	}
	wait := time.Duration(0)
	if m.BackoffBase > 0 {
		wait = time.Duration(float64(m.BackoffBase<<(n-1)) * (0.5 + rand.Float64()))
		if m.BackoffMax > 0 {
			wait = min(wait, m.BackoffMax)
		}
		next.SetMeta(downloader.MetaNotBefore, m.now().Add(wait).UnixMilli())
	}
	m.inc("blocks/retry_count")
	m.log().Log(context.Background(), lvl, "blocked: sending again", "url", weburl.Redact(r.URL), "detector", detector,
		"status", resp.Status, "attempt", n, "of", m.Times, "member", member, "wait", wait, "domain", domain, withReason(reason))
	return Result{Request: next}, nil
}

// withReason is the log attribute of a JavaScript predicate's reason;
// an empty group (no attribute) for the other detectors.
func withReason(reason string) slog.Attr {
	if reason == "" {
		return slog.Attr{}
	}
	return slog.String("reason", reason)
}

// hostOf is the lower-cased host of a URL, the key of the per-domain
// block stats ("" when it does not parse).
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// ProcessException implements ExceptionProcessor: a download that failed
// counts against its domain's health; the error goes on unchanged.
func (m *Blocks) ProcessException(_ context.Context, r *crawl.Request, _ error) (Result, error) {
	if m.Health != nil {
		m.Health.Record(hostOf(r.URL), health.Failed, 0, 0)
	}
	return Result{}, nil
}

func (m *Blocks) inc(key string) {
	if m.Stats != nil {
		m.Stats.Inc(key, 1)
	}
}

func (m *Blocks) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *Blocks) log() *slog.Logger {
	if m.Logger != nil {
		return m.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// ChallengeSolver passes a challenge in a real browser as the identity a
// request was sent as and gives that identity the cookies it earned;
// runtime/browser's HandOff implements it.
type ChallengeSolver interface {
	// Solve reports fresh=false when it did not start a browser because
	// a solve of the same identity and site, running or just finished,
	// already gave the identity its cookies.
	Solve(ctx context.Context, req *crawl.Request, resp *crawl.Response) (fresh bool, err error)
}

// metaBrowserTried marks a request sent again after a browser solve: a
// second block means the clearance did not hold, and the request goes the
// usual way (another identity).
const metaBrowserTried = "block_browser_tried"

// handOff sends a JS challenge to the browser; ok when the request is to
// be sent again as the same identity, with the cookies the browser got.
func (m *Blocks) handOff(ctx context.Context, r *crawl.Request, resp *crawl.Response, detector string) (*crawl.Request, bool) {
	if m.Browser == nil || !slices.Contains(m.BrowserDetectors, detector) || r.MetaBool(metaBrowserTried) {
		return nil, false
	}
	started := m.now()
	fresh, err := m.Browser.Solve(ctx, r, resp)
	if err != nil {
		m.inc("blocks/browser_failed")
		// A WARNING the first time per domain: the same reason (no
		// member, a profile the browser cannot be) repeats on every block.
		lvl := slog.LevelDebug
		if _, seen := m.warned.LoadOrStore("browser\x00"+hostOf(resp.URL), struct{}{}); !seen {
			lvl = slog.LevelWarn
		}
		m.log().Log(ctx, lvl, "blocked: the browser did not pass the challenge", "url", weburl.Redact(r.URL), "detector", detector, "error", err)
		return nil, false
	}
	if fresh {
		m.inc("blocks/browser_solved")
		m.log().Info("blocked: the browser passed the challenge; sending again as the same identity", "url", weburl.Redact(r.URL),
			"detector", detector, "member", r.Meta[MetaSessionMember], "took", m.now().Sub(started).Round(time.Millisecond))
	}
	next := r.Copy()
	next.DontFilter = true
	next.SetMeta(metaBrowserTried, true)
	return next, true
}
