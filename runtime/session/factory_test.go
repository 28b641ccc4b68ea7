package session_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/middleware"
	"github.com/spiderrun/spiderrun/runtime/session"
)

// whoSite: /login?user=U sets the session cookie sess=U; /whoami answers
// with the Cookie and X-Who headers it got.
func whoSite(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			http.SetCookie(w, &http.Cookie{Name: "sess", Value: r.URL.Query().Get("user"), Path: "/"})
		case "/whoami":
			fmt.Fprintf(w, "cookie=%s who=%s", r.Header.Get("Cookie"), r.Header.Get("X-Who"))
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newRigWith(t *testing.T, cookies *middleware.Cookies) *rig {
	t.Helper()
	dl, err := downloader.New(downloader.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	reg := session.NewRegistry(cookies.Jars)
	chain, err := middleware.NewChain(dl, reg, cookies)
	if err != nil {
		t.Fatal(err)
	}
	return &rig{reg: reg, chain: chain}
}

// loginFactory logs the member in as itself (its jar gets sess=NAME) and
// gives it the header X-Who: NAME; calls counts its runs.
func loginFactory(r *rig, base string, calls *atomic.Int32) session.Factory {
	return func(ctx context.Context, m session.NewMember) (session.Spec, error) {
		calls.Add(1)
		req := &crawl.Request{URL: base + "/login?user=" + m.Name, SessionID: m.SessionID, DontFilter: true,
			Meta: map[string]any{session.MetaMember: m.Name, session.MetaLogin: true}}
		if _, err := r.chain.Download(ctx, req, 5); err != nil {
			return session.Spec{}, err
		}
		return session.Spec{Headers: crawl.Headers{{Name: "X-Who", Value: m.Name}}}, nil
	}
}

// TestFactoryPoolLogsInReplacesAndResumes: the pool's factory logs each
// member in with a request sent as that member (the session cookie lands
// in its jar only); requests wait for the first members, then each
// carries exactly its member's cookie and header; a retired member is
// replaced by a new factory run; a resumed crawl (states and jars as the
// JOBDIR keeps them) gets the active members back without running the
// factory again, and the retired one stays retired.
func TestFactoryPoolLogsInReplacesAndResumes(t *testing.T) {
	srv := whoSite(t)
	jars1 := middleware.NewCookies()
	r1 := newRigWith(t, jars1)
	var calls atomic.Int32
	sid, err := r1.reg.RegisterFactory(loginFactory(r1, srv.URL, &calls), session.FactoryOptions{Name: "login", Size: 2, Context: t.Context()})
	if err != nil {
		t.Fatal(err)
	}
	check := func(r *rig, n int) map[string]int {
		t.Helper()
		used := map[string]int{}
		for range n {
			resp, m, err := r.get(t, srv.URL+"/whoami", sid)
			if err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("cookie=sess=%s who=%s", m, m); string(resp.Body) != want {
				t.Fatalf("sent as %s: the site got %q, want %q", m, resp.Body, want)
			}
			used[m]++
		}
		return used
	}
	// The first request waits for a member; the second member may still
	// be logging in then.
	check(r1, 1)
	waitActive(t, r1.reg, sid, "identity1")
	waitActive(t, r1.reg, sid, "identity2")
	if used := check(r1, 20); len(used) != 2 || used["identity1"] == 0 || used["identity2"] == 0 {
		t.Fatalf("members used: %v, want identity1 and identity2", used)
	}
	if err := r1.reg.End(sid, "identity1"); err != nil {
		t.Fatal(err)
	}
	waitActive(t, r1.reg, sid, "identity3")
	if used := check(r1, 20); used["identity1"] != 0 || used["identity3"] == 0 {
		t.Fatalf("after retiring identity1: %v, want identity3 (its replacement) used and identity1 not", used)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("factory ran %d times, want 3 (two, then one replacement)", n)
	}
	states := r1.reg.Saved()
	if st := states[sid+"/identity3"]; st.Spec == nil || st.Spec.Headers[0] != [2]string{"X-Who", "identity3"} {
		t.Fatalf("saved state of identity3 %+v: want its spec", st)
	}

	var cookies map[string][]middleware.SavedCookie
	var saved map[string]session.MemberState
	roundTrip(t, jars1.Jars.Saved(), &cookies)
	roundTrip(t, states, &saved)
	jars2 := middleware.NewCookies()
	jars2.Jars.Restore(cookies)
	r2 := newRigWith(t, jars2)
	r2.reg.Restore(saved)
	var calls2 atomic.Int32
	sid2, err := r2.reg.RegisterFactory(loginFactory(r2, srv.URL, &calls2), session.FactoryOptions{Name: "login", Size: 2, Context: t.Context()})
	if err != nil || sid2 != sid {
		t.Fatalf("registered again as %s (%v), want %s", sid2, err, sid)
	}
	if used := check(r2, 20); used["identity1"] != 0 || used["identity2"] == 0 || used["identity3"] == 0 {
		t.Fatalf("after the resume: %v, want identity2 and identity3", used)
	}
	if n := calls2.Load(); n != 0 {
		t.Errorf("the factory ran %d times on resume; the saved members were enough", n)
	}
	// The next member continues the numbering.
	if err := r2.reg.End(sid, "identity2"); err != nil {
		t.Fatal(err)
	}
	// identity3 alone serves requests while identity4 logs in: wait for
	// it, or 20 quick requests may all go to identity3 (1 run in ~20).
	waitActive(t, r2.reg, sid, "identity4")
	if used := check(r2, 20); used["identity4"] == 0 {
		t.Errorf("after retiring identity2 on the resumed crawl: %v, want identity4", used)
	}
}

// waitActive waits until the pool's replacement member is ready.
func waitActive(t *testing.T, reg *session.Registry, sid, name string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(reg.Active(sid), name) {
		if time.Now().After(deadline) {
			t.Fatalf("%s not active after 10 s: %v", name, reg.Active(sid))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestFactoryFailurePoolFails: a factory that always fails is tried Tries
// times, each as a new member, then OnFail gets one error naming the
// factory, and waiting requests fail with a SessionError carrying it.
func TestFactoryFailurePoolFails(t *testing.T) {
	r := newRig(t)
	var calls atomic.Int32
	failed := make(chan error, 4)
	sid, err := r.reg.RegisterFactory(func(ctx context.Context, m session.NewMember) (session.Spec, error) {
		calls.Add(1)
		return session.Spec{}, errors.New("the site said no")
	}, session.FactoryOptions{Name: "login", Size: 2, Tries: 3, Context: t.Context(), OnFail: func(err error) { failed <- err }})
	if err != nil {
		t.Fatal(err)
	}
	_, _, gerr := r.get(t, "http://127.0.0.1:1/", sid)
	var f *crawl.Failure
	if !errors.As(gerr, &f) || f.Type != crawl.SessionError || !strings.Contains(f.Error(), "session factory login could not create") || !strings.Contains(f.Error(), "the site said no") {
		t.Fatalf("request of a failed pool: %v", gerr)
	}
	err = <-failed
	if !strings.Contains(err.Error(), "(attempt 3 of 3): the site said no") {
		t.Errorf("OnFail got %v", err)
	}
	if len(failed) != 0 {
		t.Errorf("OnFail told more than once")
	}
}

// TestFactoryMemberMustBeConsistent: a member whose User-Agent contradicts
// the profile its factory gave it is not made (the attempt fails with the
// reason).
func TestFactoryMemberMustBeConsistent(t *testing.T) {
	r := newRig(t)
	failed := make(chan error, 1)
	_, err := r.reg.RegisterFactory(func(ctx context.Context, m session.NewMember) (session.Spec, error) {
		return session.ParseSpec(map[string]any{"impersonate": "firefox_140",
			"headers": map[string]any{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36"}})
	}, session.FactoryOptions{Name: "mixed", Size: 1, Tries: 1, Context: t.Context(), OnFail: func(err error) { failed <- err }})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-failed; !strings.Contains(err.Error(), "names chrome 148, but profile firefox_140 is firefox 140") {
		t.Errorf("got %v", err)
	}
}

// TestProfileSetDirectory: one member per captured profile file, with the
// cookies a browser exported beside it (Netscape and JSON formats) and
// extra headers checked against the profile.
func TestProfileSetDirectory(t *testing.T) {
	dir := t.TempDir()
	copyProfile := func(name, to string) {
		b, err := os.ReadFile(filepath.Join("..", "impersonate", "profiles", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyProfile("chrome_148", "alice.yaml")
	copyProfile("firefox_140", "bob.yaml")
	writeFile(t, filepath.Join(dir, "alice.cookies.txt"), "# Netscape HTTP Cookie File\n.shop.test\tTRUE\t/\tFALSE\t0\tsess\talice-1\n#HttpOnly_shop.test\tFALSE\t/\tTRUE\t0\tcsrf\tt1\n")
	writeFile(t, filepath.Join(dir, "bob.cookies.json"), `[{"name":"sess","value":"bob-1","domain":".shop.test","path":"/"}]`)
	reg := session.NewRegistry(middleware.NewCookieJars())
	sid, err := reg.RegisterProfiles(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, name := range []string{"alice", "bob"} {
		req := &crawl.Request{URL: "https://shop.test/", SessionID: sid, Meta: map[string]any{session.MetaMember: name}}
		if _, err := reg.ProcessRequest(t.Context(), req); err != nil {
			t.Fatal(err)
		}
		id, _ := reg.IdentityOf(req, "https://shop.test/")
		var cs []string
		for _, c := range id.Cookies {
			cs = append(cs, c.Name+"="+c.Value)
		}
		got[name] = filepath.Base(req.Impersonate) + " " + strings.Join(cs, ",")
	}
	if got["alice"] != "alice.yaml sess=alice-1,csrf=t1" || got["bob"] != "bob.yaml sess=bob-1" {
		t.Errorf("members: %q", got)
	}
	// Another site gets none of them.
	req := &crawl.Request{URL: "https://other.test/", SessionID: sid, Meta: map[string]any{session.MetaMember: "alice"}}
	if _, err := reg.ProcessRequest(t.Context(), req); err != nil {
		t.Fatal(err)
	}
	if id, _ := reg.IdentityOf(req, "https://other.test/"); len(id.Cookies) != 0 {
		t.Errorf("alice's shop.test cookies sent to other.test: %v", id.Cookies)
	}

	// A header that contradicts its profile refuses the set, naming the entry.
	writeFile(t, filepath.Join(dir, "bob.headers.txt"), "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/148.0.0.0 Safari/537.36\n")
	_, err = session.NewRegistry(middleware.NewCookieJars()).RegisterProfiles(dir)
	if err == nil || !strings.Contains(err.Error(), "bob.yaml: identity: User-Agent") || !strings.Contains(err.Error(), "profile firefox_140 is firefox 140") {
		t.Errorf("mismatched headers: %v", err)
	}
	if _, err := session.NewRegistry(nil).RegisterProfiles(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing directory: %v", err)
	}
}

func TestReadCookieFileErrors(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "c.txt")
	writeFile(t, p, "shop.test\tTRUE\t/\n")
	if _, err := session.ReadCookieFile(p); err == nil || !strings.Contains(err.Error(), "c.txt:1: want 7 tab-separated fields") {
		t.Errorf("short line: %v", err)
	}
	writeFile(t, p, `{"cookies": [{"name": "a", "value": "1", "domain": "shop.test"}]}`)
	if cs, err := session.ReadCookieFile(p); err != nil || len(cs) != 1 || cs[0].Domain != "shop.test" {
		t.Errorf("storage state: %v %v", cs, err)
	}
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
