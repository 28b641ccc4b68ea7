package livebrowser_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/middleware"
)

// laxWindow is Chromium's Lax+POST window under its
// ShortLaxAllowUnsafeThreshold feature (10 s instead of 2 minutes), so
// that the test need not wait two minutes for a cookie to age.
const laxWindow = 10 * time.Second

// TestLaxByDefault holds the cookie middleware's SameSite rules for
// cookies without the attribute to the browsers': the start page of
// www.example.com sets pageCookies once (among them lx, without
// SameSite), then a page of www.example.org posts a form to
// www.example.com (a top-level cross-site POST) twice: at once, and once
// the cookies are older than the Lax+POST window. Chromium treats lx as
// Lax but sends it with the young POST (its Lax+POST exception) and not
// with the old one; Firefox ESR 140 sends it both times, like None. Our
// cookie middleware, holding the same cookies for the same ages, must send
// exactly the browser's cookies both times.
func TestLaxByDefault(t *testing.T) {
	t.Parallel()
	for _, b := range []livebrowser.Browser{livebrowser.Chromium, livebrowser.Firefox} {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			bin := livebrowser.Require(t, b)
			ca, err := livebrowser.NewCA()
			if err != nil {
				t.Fatal(err)
			}
			site := kindsServer(t, ca)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			first := site.URL("www.example.com", "/start")
			r := livebrowser.Run{URL: first, Dir: t.TempDir(), Features: []string{"ShortLaxAllowUnsafeThreshold"}}
			s := openPage(t, ctx, b, bin, ca, r)
			defer s.Close()
			set := time.Now() // the page has set its cookies
			post := func(step string) (fingerprint.Capture, time.Duration, string) {
				page := site.URL("www.example.org", "/start?step="+step)
				if err := s.Navigate(ctx, page); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				if err := s.Click(ctx, "#to-com-post"); err != nil {
					t.Fatalf("%s: %v", step, err)
				}
				deadline := time.Now().Add(10 * time.Second)
				for {
					if c, ok := findCapture(site.Server, "/t/"+step); ok {
						age := time.Since(set)
						if err := s.WaitLoaded(ctx, site.URL("www.example.com", "/t/"+step)); err != nil {
							t.Fatalf("%s: %v", step, err)
						}
						return c, age, page
					}
					if time.Now().After(deadline) {
						t.Fatalf("%s: the browser sent no request", step)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			young, youngAge, youngPage := post("lax-young")
			// Let the cookies age past the window (a wait, not a timing
			// assertion: ages are compared, not durations).
			time.Sleep(laxWindow + 2*time.Second - time.Since(set))
			old, oldAge, oldPage := post("lax-old")
			if youngAge >= laxWindow || oldAge <= laxWindow {
				t.Fatalf("cookie ages %v and %v do not straddle the %v window", youngAge, oldAge, laxWindow)
			}

			if golden.Update() { // -update: rewrite the reference from the browser
				writeLaxReference(t, b.Name, site.Port(), []LaxPost{
					{Step: "lax-young", Page: youngPage, Target: site.URL("www.example.com", "/t/lax-young"), Age: youngAge.Round(time.Millisecond).String(), Browser: cookieNames(young.Headers)},
					{Step: "lax-old", Page: oldPage, Target: site.URL("www.example.com", "/t/lax-old"), Age: oldAge.Round(time.Millisecond).String(), Browser: cookieNames(old.Headers)},
				})
			}
			profile := map[string]string{"chromium": "chrome", "firefox": "firefox"}[b.Name]
			now := time.Unix(1_000_000, 0)
			cookies := middleware.NewCookies()
			cookies.SameSite, cookies.LaxAllowUnsafeMaxAge = true, laxWindow
			cookies.Now = func() time.Time { return now }
			resp := &crawl.Response{Status: 200, URL: "https://www.example.com/start"}
			for _, c := range pageCookies {
				resp.Headers.Add("Set-Cookie", c)
			}
			if _, err := cookies.ProcessResponse(ctx, &crawl.Request{URL: resp.URL}, resp); err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				step    string
				browser fingerprint.Capture
				age     time.Duration
				page    string
			}{{"lax-young", young, youngAge, youngPage}, {"lax-old", old, oldAge, oldPage}} {
				now = time.Unix(1_000_000, 0).Add(c.age)
				req := &crawl.Request{URL: site.URL("www.example.com", "/t/"+c.step), Method: "POST", Body: []byte("q=a+b"),
					Parent: c.page, Impersonate: profile}
				if _, err := cookies.ProcessRequest(ctx, req); err != nil {
					t.Fatal(err)
				}
				got, want := cookieNames(req.Headers), cookieNames(c.browser.Headers)
				t.Logf("%s after %v: %s sent %v", c.step, c.age.Round(time.Millisecond), b.Name, want)
				if !slices.Equal(got, want) {
					t.Errorf("%s (cookies %v old): our cookie middleware sends %v, %s %v", c.step, c.age.Round(time.Millisecond), got, b.Name, want)
				}
			}
			// What the documented rule rests on.
			lxYoung, lxOld := slices.Contains(cookieNames(young.Headers), "lx"), slices.Contains(cookieNames(old.Headers), "lx")
			if b == livebrowser.Chromium && (!lxYoung || lxOld) || b == livebrowser.Firefox && (!lxYoung || !lxOld) {
				t.Errorf("%s sent lx (no SameSite) with the young POST: %v, with the old one: %v (specs/impersonation.md says Chromium true/false, Firefox true/true)", b.Name, lxYoung, lxOld)
			}
		})
	}
}

// cookieNames are the names of the cookies of a request's Cookie header
// (or fields), sorted.
func cookieNames(h crawl.Headers) []string {
	var names []string
	for _, v := range h.Values("cookie") {
		for _, c := range strings.Split(v, ";") {
			if name, _, ok := strings.Cut(strings.TrimSpace(c), "="); ok {
				names = append(names, name)
			}
		}
	}
	slices.Sort(names)
	return names
}

// LaxReference is the file runtime/middleware's TestLaxByDefaultAgainstBrowsers
// replays without a browser (testdata/reference/lax_<browser>.json): the
// cookies the page set, the Lax+POST window the browser ran with, and per
// cross-site POST the cookies' age and the cookies the browser sent. The
// server's port is written as 8443.
type LaxReference struct {
	Browser     string    `json:"browser"`
	Regenerate  string    `json:"regenerate"`
	PageCookies []string  `json:"page_cookies"`
	SetBy       string    `json:"set_by"`
	Window      string    `json:"lax_allow_unsafe_window"`
	Posts       []LaxPost `json:"posts"`
}

// LaxPost is one top-level cross-site POST of a LaxReference.
type LaxPost struct {
	Step    string   `json:"step"`
	Page    string   `json:"page"`
	Target  string   `json:"target"`
	Age     string   `json:"cookie_age"`
	Browser []string `json:"browser_cookies"`
}

const laxReferenceDir = "../../runtime/middleware/testdata/reference"

func writeLaxReference(t *testing.T, browser string, port int, posts []LaxPost) {
	t.Helper()
	fix := func(s string) string { return strings.ReplaceAll(s, fmt.Sprintf(":%d", port), ":8443") }
	for i := range posts {
		posts[i].Page, posts[i].Target = fix(posts[i].Page), fix(posts[i].Target)
	}
	ref := LaxReference{Browser: browser, Regenerate: "go test ./internal/livebrowser -run TestLaxByDefault -update",
		PageCookies: pageCookies, SetBy: "https://www.example.com:8443/start", Window: laxWindow.String(), Posts: posts}
	b, err := json.MarshalIndent(ref, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(laxReferenceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(laxReferenceDir, "lax_"+browser+".json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
