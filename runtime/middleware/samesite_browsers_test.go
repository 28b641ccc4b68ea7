package middleware

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// browserProfile is the shipped profile of each live browser's engine.
var browserProfile = map[string]string{"chromium": "chrome", "firefox": "firefox"}

// TestSameSiteAgainstBrowsers replays the live captures of every request
// kind (internal/livebrowser TestRequestKinds, kept in
// runtime/impersonate/testdata/reference) without a browser: holding the
// cookies the browser's start page set, the cookie middleware must give
// each request exactly the cookies the browser sent with it (kinds,
// credentials modes, SameSite attributes, redirects through other sites).
func TestSameSiteAgainstBrowsers(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../impersonate/testdata/reference/kinds_*.json")
	if len(files) != 4 {
		t.Fatalf("want chromium and firefox references over HTTP/2 and HTTP/1.1, have %v", files)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			t.Parallel()
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var ref struct {
				Browser     string   `json:"browser"`
				PageCookies []string `json:"page_cookies"`
				Steps       []struct {
					Name    string         `json:"name"`
					Compare bool           `json:"compare"`
					Request *crawl.Request `json:"request"`
					Browser crawl.Headers  `json:"browser"`
					Refused bool           `json:"refused"`
				} `json:"steps"`
			}
			if err := json.Unmarshal(b, &ref); err != nil {
				t.Fatal(err)
			}
			if len(ref.PageCookies) == 0 {
				t.Fatal("the reference names no page cookies: regenerate it (go test ./internal/livebrowser -run TestRequestKinds -update)")
			}
			name, _, _ := strings.Cut(ref.Browser, " ")
			m := NewCookies()
			setCookie(t, m, &crawl.Request{URL: "https://www.example.com:8443/start"}, "https://www.example.com:8443/start", ref.PageCookies...)
			for _, st := range ref.Steps {
				if !st.Compare || st.Refused {
					continue
				}
				r := st.Request.Copy()
				r.Headers.Del("Cookie")
				r.Meta = nil
				r.Impersonate = browserProfile[name]
				if _, err := m.ProcessRequest(context.Background(), r); err != nil {
					t.Fatal(err)
				}
				got, want := cookieNamesOf(r.Headers), cookieNamesOf(st.Browser)
				if !slices.Equal(got, want) {
					t.Errorf("%s (%s, kind %s, credentials %q): cookies %v, browser %v", st.Name, ref.Browser, crawl.DefaultKind(r), r.Credentials, got, want)
				}
			}
		})
	}
}

// TestLaxByDefaultAgainstBrowsers replays internal/livebrowser's
// TestLaxByDefault (testdata/reference/lax_*.json) without a browser: a
// cookie without SameSite goes with a top-level cross-site POST from a
// Chromium profile only while younger than the Lax+POST window (the
// browser ran with a 10 s window, the feature that shortens Chromium's
// 2 minutes), and from a Firefox profile always.
func TestLaxByDefaultAgainstBrowsers(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/reference/lax_*.json")
	if len(files) != 2 {
		t.Fatalf("want chromium and firefox references, have %v", files)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var ref struct {
			Browser     string   `json:"browser"`
			PageCookies []string `json:"page_cookies"`
			SetBy       string   `json:"set_by"`
			Window      string   `json:"lax_allow_unsafe_window"`
			Posts       []struct {
				Step    string   `json:"step"`
				Page    string   `json:"page"`
				Target  string   `json:"target"`
				Age     string   `json:"cookie_age"`
				Browser []string `json:"browser_cookies"`
			} `json:"posts"`
		}
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatal(err)
		}
		window, err := time.ParseDuration(ref.Window)
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Unix(1_000_000, 0)
		now := t0
		m := NewCookies()
		m.LaxAllowUnsafeMaxAge, m.Now = window, func() time.Time { return now }
		setCookie(t, m, &crawl.Request{URL: ref.SetBy}, ref.SetBy, ref.PageCookies...)
		for _, p := range ref.Posts {
			age, err := time.ParseDuration(p.Age)
			if err != nil {
				t.Fatal(err)
			}
			now = t0.Add(age)
			r := &crawl.Request{URL: p.Target, Method: "POST", Body: []byte("q=a+b"), Parent: p.Page, Impersonate: browserProfile[ref.Browser]}
			if _, err := m.ProcessRequest(context.Background(), r); err != nil {
				t.Fatal(err)
			}
			want := slices.Clone(p.Browser)
			slices.Sort(want)
			if got := cookieNamesOf(r.Headers); !slices.Equal(got, want) {
				t.Errorf("%s %s (cookies %s old): cookies %v, browser %v", ref.Browser, p.Step, p.Age, got, want)
			}
		}
	}
	// The default window is Chromium's two minutes.
	if DefaultLaxAllowUnsafeMaxAge != 2*time.Minute {
		t.Errorf("DefaultLaxAllowUnsafeMaxAge = %v", DefaultLaxAllowUnsafeMaxAge)
	}
}

func cookieNamesOf(h crawl.Headers) []string {
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
