package jsbridge

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/session"
)

// TestRegisterFactory: register_factory's bad arguments are TypeErrors
// that say what is wanted; a good one returns the session_id at once, and
// the pool calls the exported factory for each member, which sets the
// member's proxy (identity.set) and returns its headers.
func TestRegisterFactory(t *testing.T) {
	t.Parallel()
	reg := session.NewRegistry(middleware.NewCookieJars())
	s, _ := newSpider(t, "identities.js", func(o *Options) { o.Sessions = reg })
	rec, err := call(t, s, "factory_args")
	if err != nil || len(rec.items) != 1 {
		t.Fatalf("%v %s", err, rec)
	}
	var got struct {
		ID   string   `json:"id"`
		Errs []string `json:"errs"`
	}
	b, _ := json.Marshal(crawl.Plain(rec.items[0]))
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"register_factory: want {new_identity: an exported function or its name, size}",
		"register_factory: new_identity is required",
		`register_factory: new_identity "nope" is not an exported function (exported: factory_args, login)`,
		"register_factory: new_identity must be an exported function or its name",
		"register_factory: size must be at least 1",
	}
	if got.ID != "session1" || !slices.Equal(got.Errs, want) {
		t.Fatalf("id %q, errors:\n%q\nwant\n%q", got.ID, got.Errs, want)
	}
	// The members come from the factory, run on the spider's loop.
	deadline := time.Now().Add(20 * time.Second)
	for len(reg.Active("session1")) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	for _, name := range []string{"identity1", "identity2"} {
		req := &crawl.Request{URL: "http://example.test/", SessionID: "session1", Meta: map[string]any{session.MetaMember: name}}
		if _, err := reg.ProcessRequest(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		if req.Headers.Get("X-Who") != name+"#1" || req.Proxy != "http://127.0.0.1:9" {
			t.Errorf("%s: X-Who %q, proxy %q", name, req.Headers.Get("X-Who"), req.Proxy)
		}
	}
}
