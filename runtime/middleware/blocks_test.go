package middleware

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/blocks"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

type fakeIdentities struct{ blocked, served int }

func (f *fakeIdentities) Blocked(req *crawl.Request) (string, bool) {
	f.blocked++
	m, _ := req.Meta[MetaSessionMember].(string)
	return m, f.blocked >= 2
}
func (f *fakeIdentities) Served(*crawl.Request) { f.served++ }

type fakeThrottle struct{ slots []string }

func (f *fakeThrottle) SlotBlocked(req *crawl.Request) { f.slots = append(f.slots, req.URL) }

// TestBlocksMiddleware: a block is sent again as another member after a
// backoff, slows its slot, and fails with a BlockedError carrying the block
// page once the attempts are used up; content scores the member up;
// meta dont_detect_blocks passes a block page through.
func TestBlocksMiddleware(t *testing.T) {
	set, err := blocks.New(blocks.DefaultNames, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids, thr := &fakeIdentities{}, &fakeThrottle{}
	now := time.UnixMilli(1_000_000)
	st := stats.NewMemory()
	m := &Blocks{Detectors: set, Times: 2, BackoffBase: time.Second, BackoffMax: time.Minute,
		Identities: ids, Throttle: thr, Stats: st, Now: func() time.Time { return now }}
	block := &crawl.Response{URL: "https://Shop.test/p", Status: 403}
	block.Headers.Add("Cf-Mitigated", "challenge")
	ctx := context.Background()

	req := &crawl.Request{URL: "https://shop.test/p", SessionID: "session1", Meta: map[string]any{MetaSessionMember: "alice", "keep": 1}}
	res, err := m.ProcessResponse(ctx, req, block)
	if err != nil || res.Request == nil {
		t.Fatalf("first block: %+v, %v", res, err)
	}
	next := res.Request
	if _, ok := next.Meta[MetaSessionMember]; ok || next.Meta[MetaSessionAvoid] != "alice" || next.Meta["keep"] != 1 || !next.DontFilter {
		t.Errorf("resent request meta %v, dont_filter %v", next.Meta, next.DontFilter)
	}
	if nb, _ := next.Meta[downloader.MetaNotBefore].(int64); nb < now.Add(500*time.Millisecond).UnixMilli() || nb > now.Add(1500*time.Millisecond).UnixMilli() {
		t.Errorf("first wait not within base·U(0.5,1.5): not before %d (now %d)", nb, now.UnixMilli())
	}
	next.SetMeta(MetaSessionMember, "bob")
	res, err = m.ProcessResponse(ctx, next, block)
	if err != nil || res.Request == nil || res.Request.Meta[metaBlockRetries] != 2 {
		t.Fatalf("second block: %+v, %v", res, err)
	}
	res.Request.SetMeta(MetaSessionMember, "carol")
	_, err = m.ProcessResponse(ctx, res.Request, block)
	var f *crawl.Failure
	if !errors.As(err, &f) || f.Type != crawl.Blocked || f.Response != block || f.Message != "blocked by cloudflare (status 403) on 3 attempts" {
		t.Fatalf("third block: %v", err)
	}
	if ids.blocked != 3 || len(thr.slots) != 3 {
		t.Errorf("identities told %d times, throttle %d times; want 3 and 3", ids.blocked, len(thr.slots))
	}
	for k, want := range map[string]int64{"blocks/count": 3, "blocks/detector/cloudflare": 3, "blocks/domain/shop.test": 3,
		"blocks/retry_count": 2, "blocks/gave_up": 1, "blocks/identities_retired": 2} {
		v, _ := st.Get(k)
		if got, _ := v.(int64); got != want {
			t.Errorf("%s = %v, want %d", k, v, want)
		}
	}

	page := &crawl.Response{URL: "https://shop.test/q", Status: 200, Body: []byte("<p>ok</p>")}
	if res, err := m.ProcessResponse(ctx, req, page); err != nil || res.Request != nil || res.Response != nil || ids.served != 1 {
		t.Errorf("content: %+v, %v, served %d", res, err, ids.served)
	}
	skip := &crawl.Request{URL: "https://shop.test/p", Meta: map[string]any{"dont_detect_blocks": true}}
	if res, err := m.ProcessResponse(ctx, skip, block); err != nil || res.Request != nil {
		t.Errorf("dont_detect_blocks: %+v, %v", res, err)
	}
}

// solverFunc is a ChallengeSolver from a func.
type solverFunc func(context.Context, *crawl.Request, *crawl.Response) (bool, error)

func (f solverFunc) Solve(ctx context.Context, r *crawl.Request, resp *crawl.Response) (bool, error) {
	return f(ctx, r, resp)
}

// TestBlocksBrowserHandOff: a JS challenge (a detector in
// BrowserDetectors) goes to the browser first and, solved, is sent again
// as the same member, unscored and without a backoff; a second block of
// that request, a failed solve and another detector take the usual way
// (another member). Only fresh solves count as browser_solved.
func TestBlocksBrowserHandOff(t *testing.T) {
	set, err := blocks.New(blocks.DefaultNames, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := &fakeIdentities{}
	st := stats.NewMemory()
	var calls int
	fail := false
	m := &Blocks{Detectors: set, Times: 5, BackoffBase: time.Second, Identities: ids, Stats: st,
		BrowserDetectors: []string{"cloudflare"},
		Browser: solverFunc(func(_ context.Context, r *crawl.Request, _ *crawl.Response) (bool, error) {
			calls++
			if fail {
				return true, errors.New("no clearance")
			}
			return calls == 1, nil
		})}
	cf := &crawl.Response{URL: "https://shop.test/p", Status: 403}
	cf.Headers.Add("Cf-Mitigated", "challenge")
	ctx := context.Background()
	req := &crawl.Request{URL: "https://shop.test/p", SessionID: "session1", Meta: map[string]any{MetaSessionMember: "alice"}}

	res, err := m.ProcessResponse(ctx, req, cf)
	if err != nil || res.Request == nil {
		t.Fatalf("solved block: %+v, %v", res, err)
	}
	next := res.Request
	if next.Meta[MetaSessionMember] != "alice" || next.Meta[MetaSessionAvoid] != nil || next.Meta[downloader.MetaNotBefore] != nil || !next.DontFilter {
		t.Errorf("after a solve: meta %v, want the same member, no backoff", next.Meta)
	}
	if ids.blocked != 0 {
		t.Errorf("the member was scored down %d times after a solve", ids.blocked)
	}
	// The same request blocked again: the clearance did not hold.
	res, err = m.ProcessResponse(ctx, next, cf)
	if err != nil || res.Request == nil || res.Request.Meta[MetaSessionAvoid] != "alice" || calls != 1 {
		t.Fatalf("block after a solve: %+v, %v, solver called %d times", res, err, calls)
	}
	// Another request of the member, blocked before the cookies came: no
	// new browser (fresh false), sent again as alice.
	res, _ = m.ProcessResponse(ctx, &crawl.Request{URL: "https://shop.test/q", SessionID: "session1", Meta: map[string]any{MetaSessionMember: "alice"}}, cf)
	if res.Request == nil || res.Request.Meta[MetaSessionMember] != "alice" || calls != 2 {
		t.Errorf("reused solve: %+v, solver called %d times", res.Request, calls)
	}
	// A failed solve: the usual way.
	fail = true
	res, _ = m.ProcessResponse(ctx, &crawl.Request{URL: "https://shop.test/r", SessionID: "session1", Meta: map[string]any{MetaSessionMember: "bob"}}, cf)
	if res.Request == nil || res.Request.Meta[MetaSessionAvoid] != "bob" {
		t.Errorf("after a failed solve: %+v, want another member", res.Request)
	}
	// Kasada is not a challenge a browser is given.
	kasada := &crawl.Response{URL: "https://shop.test/s", Status: 429}
	kasada.Headers.Add("X-Kpsdk-Ct", "0")
	before := calls
	if res, _ = m.ProcessResponse(ctx, &crawl.Request{URL: "https://shop.test/s"}, kasada); res.Request == nil || calls != before {
		t.Errorf("kasada went to the browser")
	}
	for k, want := range map[string]int64{"blocks/browser_solved": 1, "blocks/browser_failed": 1, "blocks/count": 5} {
		v, _ := st.Get(k)
		if got, _ := v.(int64); got != want {
			t.Errorf("%s = %v, want %d", k, v, want)
		}
	}
}
