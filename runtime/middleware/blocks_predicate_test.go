package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/blocks"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// predicates is a BlockPredicates: the function named in the map decides
// (a reason, or an error); calls records the order.
type predicates struct {
	verdicts map[string]func(*crawl.Response) (string, error)
	calls    []string
}

func (p *predicates) BlockPredicate(_ context.Context, fn string, _ *crawl.Request, resp *crawl.Response) (bool, string, error) {
	p.calls = append(p.calls, fn)
	why, err := p.verdicts[fn](resp)
	return why != "", why, err
}

// TestBlocksJSPredicates: js: detectors run in their place in
// BLOCK_DETECTORS (after the rules, between built-ins), a reason makes a
// block named js:NAME whose BlockedError carries it; a predicate that
// fails is counted and skipped, not a block; CheckJS refuses a predicate
// the script does not export; a factory's login request that is blocked
// fails at once instead of moving to another member.
func TestBlocksJSPredicates(t *testing.T) {
	set, err := blocks.New([]string{"js:broken", "cloudflare", "js:is_wall"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	js := &predicates{verdicts: map[string]func(*crawl.Response) (string, error){
		"broken": func(*crawl.Response) (string, error) { return "", errors.New("spider.js:3:9: TypeError: boom") },
		"is_wall": func(r *crawl.Response) (string, error) {
			return map[bool]string{true: "hold-on page"}[strings.Contains(string(r.Body), "hold-on")], nil
		},
	}}
	st := stats.NewMemory()
	m := &Blocks{Detectors: set, Times: 0, JS: js, Stats: st}
	if err := m.CheckJS(func(fn string) bool { return fn != "broken" }); err == nil || err.Error() != `block detector js:broken: the script does not export a function "broken"` {
		t.Errorf("CheckJS: %v", err)
	}
	if err := (&Blocks{Detectors: set}).CheckJS(nil); err == nil {
		t.Error("CheckJS without a JS runtime passed")
	}
	ctx := context.Background()
	wall := &crawl.Response{URL: "https://shop.test/p", Status: 200, Body: []byte(`<div class="hold-on">`)}
	req := &crawl.Request{URL: "https://shop.test/p"}
	_, err = m.ProcessResponse(ctx, req, wall)
	var f *crawl.Failure
	if !errors.As(err, &f) || f.Type != crawl.Blocked || f.Message != "blocked by js:is_wall (status 200: hold-on page) on 1 attempts" {
		t.Fatalf("wall: %v", err)
	}
	if strings.Join(js.calls, ",") != "broken,is_wall" {
		t.Errorf("predicates called %v, want broken then is_wall", js.calls)
	}
	// A built-in before it wins: the predicate is not asked.
	js.calls = nil
	cf := &crawl.Response{URL: "https://shop.test/p", Status: 403, Body: []byte(`<div class="hold-on">`)}
	cf.Headers.Add("Cf-Mitigated", "challenge")
	if _, err := m.ProcessResponse(ctx, req, cf); !errors.As(err, &f) || !strings.HasPrefix(f.Message, "blocked by cloudflare") {
		t.Errorf("cloudflare: %v", err)
	}
	if strings.Join(js.calls, ",") != "broken" {
		t.Errorf("predicates called %v after cloudflare matched", js.calls)
	}
	page := &crawl.Response{URL: "https://shop.test/q", Status: 200, Body: []byte("<p>ok</p>")}
	if res, err := m.ProcessResponse(ctx, req, page); err != nil || res.Request != nil {
		t.Errorf("content: %+v, %v", res, err)
	}
	for k, want := range map[string]int64{"blocks/detector/js:is_wall": 1, "blocks/detector/cloudflare": 1, "blocks/detector_errors/js:broken": 3} {
		if v, _ := st.Get(k); v != want {
			t.Errorf("%s = %v, want %d", k, v, want)
		}
	}

	m.Times = 5
	login := &crawl.Request{URL: "https://shop.test/login", SessionID: "session1",
		Meta: map[string]any{MetaSessionMember: "identity2", MetaSessionLogin: true}}
	if res, err := m.ProcessResponse(ctx, login, wall); res.Request != nil || !errors.As(err, &f) ||
		f.Message != "blocked by js:is_wall (status 200: hold-on page) while creating session member identity2" {
		t.Errorf("blocked login: %+v, %v", res, err)
	}
}
