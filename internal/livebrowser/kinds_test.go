package livebrowser_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/middleware"
)

// kindsPage is the page every request-kind step starts from, on
// https://www.example.com:PORT/start?step=NAME: links to the same origin,
// the same site (api.example.com) and another site (www.example.org),
// forms, and nothing that loads by itself.
const kindsPage = `<!doctype html><html><head><link rel="icon" href="data:,">{meta}<title>start</title></head><body>
<script>if (location.hostname == "www.example.com") {
  for (const c of {cookies}) document.cookie = c;
}</script>
<p><a id="same" href="/t/link-same">same origin</a></p>
<p><a id="site" href="https://api.example.com:{port}/t/link-site">same site</a></p>
<p><a id="cross" href="https://www.example.org:{port}/t/link-cross">cross site</a></p>
<p><a id="same-step" href="/t/{step}">same origin, this step</a></p>
<p><a id="cross-step" href="https://www.example.org:{port}/t/{step}">cross site, this step</a></p>
<p><a id="to-com" href="https://www.example.com:{port}/t/{step}">to www.example.com, this step</a></p>
<form action="https://www.example.com:{port}/t/{step}" method="post"><input name="q" value="a b"><button id="to-com-post">post to www.example.com</button></form>
<p><a id="redir-cross" href="https://www.example.org:{rport}/hop?to=https://www.example.com:{port}/t/link-redir-cross">back here through another site</a></p>
<p><a id="redir-site" href="https://api.example.com:{rport}/hop?to=https://www.example.com:{port}/t/link-redir-site">back here through the same site</a></p>
<p><a id="redir-policy" href="https://www.example.org:{rport}/hop?policy=no-referrer&amp;to=https://www.example.com:{port}/t/link-redir-policy">back here through another site that says no-referrer</a></p>
<form action="https://www.example.org:{rport}/hop?code=307&amp;to=https://www.example.com:{port}/t/form-post-redir-cross" method="post"><input name="q" value="a b"><button id="post-redir-cross">post back here through another site</button></form>
<form action="/t/form-get" method="get"><input name="q" value="a b"><button id="form-get">get</button></form>
<form action="/t/form-post" method="post"><input name="q" value="a b"><button id="form-post">post</button></form>
<form action="https://www.example.org:{port}/t/form-post-cross" method="post"><input name="q" value="a b"><button id="form-post-cross">post cross</button></form>
</body></html>`

// pageCookies are the cookies the start page of www.example.com sets: one
// of each SameSite attribute, one without (Lax by default in Chromium), and
// one for the whole site (Domain=example.com, for the credentialed
// requests to api.example.com).
var pageCookies = []string{"sid=abc; Secure; SameSite=Lax", "st=1; Secure; SameSite=Strict", "no=1; Secure; SameSite=None",
	"lx=1; Secure", "dom=1; Domain=example.com; Secure; SameSite=Lax"}

// pageCookiesJS is pageCookies as a JavaScript array.
func pageCookiesJS() string {
	b, _ := json.Marshal(pageCookies)
	return string(b)
}

// kindStep is one request a page makes: how the browser is made to send
// it, and the path the server sees.
type kindStep struct {
	name string
	// kind is the Request.Kind a spider gives the request ("" = the
	// default, crawl.DefaultKind); compare is false for what spiderrun
	// offers no kind for (a navigation by script).
	kind    string
	compare bool
	method  string
	body    string
	ctype   string // the Content-Type the spider sets
	// click is the element clicked (a user action); script, when set,
	// is evaluated instead.
	click, script string
	// host is the target's host ("" = www.example.com).
	host string
	// via is the host of a redirect the click goes through (the
	// redirecting server answers 302 to www.example.com); "" = none.
	via string
	// policy is the start page's <meta name="referrer"> ("" = none).
	policy string
	// from is the start page's host ("" = www.example.com).
	from string
	// viaCode is the redirect's status (0 = 302); viaPolicy the
	// Referrer-Policy header of the redirect response ("" = none).
	viaCode   int
	viaPolicy string
	// headers are request headers the spider (the page's script) sets.
	headers crawl.Headers
	// credentials is the fetch's credentials mode ("" = same-origin).
	credentials string
	// preflight: the browser sends a CORS preflight (OPTIONS) first;
	// refused: the server refuses it, and no request follows.
	preflight, refused bool
	// unordered, for the browser named, says why the order of the
	// request's headers is not held (only names and values are).
	unordered map[string]string
}

const xhr = `new Promise(res => { const x = new XMLHttpRequest(); x.open(%q, %q); x.onloadend = () => res(x.status); x.send(%s); })`

var kindSteps = []kindStep{
	{name: "link-same", compare: true, click: "#same"},
	{name: "link-site", compare: true, click: "#site", host: "api.example.com"},
	{name: "link-cross", compare: true, click: "#cross", host: "www.example.org"},
	{name: "link-redir-cross", compare: true, click: "#redir-cross", via: "www.example.org"},
	{name: "link-redir-site", compare: true, click: "#redir-site", via: "api.example.com"},
	{name: "link-cross-unsafe-url", compare: true, click: "#cross-step", host: "www.example.org", policy: "unsafe-url"},
	{name: "link-cross-same-origin", compare: true, click: "#cross-step", host: "www.example.org", policy: "same-origin"},
	{name: "link-same-no-referrer", compare: true, click: "#same-step", policy: "no-referrer"},
	{name: "samesite-link", compare: true, click: "#to-com", from: "www.example.org"},
	{name: "samesite-post", compare: true, method: "POST", body: "q=a+b", ctype: "application/x-www-form-urlencoded", click: "#to-com-post", from: "www.example.org"},
	{name: "samesite-fetch", kind: crawl.KindFetch, compare: true, from: "www.example.org",
		script: `fetch("https://www.example.com:{port}/t/samesite-fetch").then(r => r.status, e => 0)`},
	{name: "script-nav", compare: false, script: `(location.href = "/t/script-nav", 0)`},
	{name: "form-get", kind: crawl.KindForm, compare: true, click: "#form-get"},
	{name: "form-post", compare: true, method: "POST", body: "q=a+b", ctype: "application/x-www-form-urlencoded", click: "#form-post"},
	{name: "form-post-cross", kind: crawl.KindForm, compare: true, method: "POST", body: "q=a+b", ctype: "application/x-www-form-urlencoded", click: "#form-post-cross", host: "www.example.org"},
	{name: "fetch-get", kind: crawl.KindFetch, compare: true, script: `fetch("/t/fetch-get").then(r => r.status)`},
	{name: "fetch-post", kind: crawl.KindFetch, compare: true, method: "POST", body: "a=1", script: `fetch("/t/fetch-post", {method: "POST", body: "a=1"}).then(r => r.status)`},
	{name: "fetch-post-json", kind: crawl.KindFetch, compare: true, method: "POST", body: "{}", ctype: "application/json", script: `fetch("/t/fetch-post-json", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => r.status)`},
	{name: "fetch-site-get", kind: crawl.KindFetch, compare: true, host: "api.example.com", script: `fetch("https://api.example.com:{port}/t/fetch-site-get").then(r => r.status, e => 0)`},
	{name: "fetch-cross-get", kind: crawl.KindFetch, compare: true, host: "www.example.org", script: `fetch("https://www.example.org:{port}/t/fetch-cross-get").then(r => r.status, e => 0)`},
	{name: "fetch-cross-post", kind: crawl.KindFetch, compare: true, method: "POST", body: "a=1", host: "www.example.org", script: `fetch("https://www.example.org:{port}/t/fetch-cross-post", {method: "POST", body: "a=1"}).then(r => r.status, e => 0)`},
	{name: "xhr-get", kind: crawl.KindXHR, compare: true, script: fmt.Sprintf(xhr, "GET", "/t/xhr-get", "null")},
	{name: "xhr-post", kind: crawl.KindXHR, compare: true, method: "POST", body: "a=1", script: fmt.Sprintf(xhr, "POST", "/t/xhr-post", `"a=1"`)},
	// CORS: a non-simple method and headers, a JSON POST, a refused
	// preflight, credentials.
	{name: "cors-put", kind: crawl.KindFetch, compare: true, method: "PUT", body: "{}", ctype: "application/json", host: "www.example.org",
		headers: crawl.Headers{{Name: "X-Token", Value: "t1"}}, preflight: true,
		script: `fetch("https://www.example.org:{port}/t/cors-put", {method: "PUT", headers: {"Content-Type": "application/json", "X-Token": "t1"}, body: "{}"}).then(r => r.status, e => 0)`},
	{name: "cors-post-json", kind: crawl.KindFetch, compare: true, method: "POST", body: "{}", ctype: "application/json", host: "api.example.com", preflight: true,
		script: `fetch("https://api.example.com:{port}/t/cors-post-json", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => r.status, e => 0)`},
	{name: "cors-refused", kind: crawl.KindFetch, compare: true, method: "DELETE", host: "www.example.org", preflight: true, refused: true,
		script: `fetch("https://www.example.org:{port}/t/cors-refused", {method: "DELETE"}).then(r => r.status, e => 0)`},
	{name: "cors-cred-site", kind: crawl.KindFetch, compare: true, host: "api.example.com", credentials: "include",
		script: `fetch("https://api.example.com:{port}/t/cors-cred-site", {credentials: "include"}).then(r => r.status, e => 0)`},
	{name: "cors-cred-put", kind: crawl.KindFetch, compare: true, method: "PUT", body: "{}", ctype: "application/json", host: "api.example.com", credentials: "include", preflight: true,
		script: `fetch("https://api.example.com:{port}/t/cors-cred-put", {method: "PUT", credentials: "include", headers: {"Content-Type": "application/json"}, body: "{}"}).then(r => r.status, e => 0)`},
	{name: "cors-two-headers", kind: crawl.KindFetch, compare: true, method: "PUT", host: "www.example.org",
		headers: crawl.Headers{{Name: "X-Zeta", Value: "z"}, {Name: "X-Alpha", Value: "a"}}, preflight: true,
		script: `fetch("https://www.example.org:{port}/t/cors-two-headers", {method: "PUT", headers: [["X-Zeta", "z"], ["X-Alpha", "a"]]}).then(r => r.status, e => 0)`},
	// Eight headers in Blink's map: its table grows from 16 slots to 32,
	// which moves User-Agent after sec-ch-ua-mobile, and X-D and X-A
	// take the slots of sec-ch-ua-platform and sec-ch-ua-mobile, which
	// probe on (the script's headers go into the map first).
	{name: "cors-four-headers", kind: crawl.KindFetch, compare: true, method: "PUT", host: "www.example.org",
		headers: crawl.Headers{{Name: "X-A", Value: "1"}, {Name: "X-B", Value: "2"}, {Name: "X-C", Value: "3"}, {Name: "X-D", Value: "4"}}, preflight: true,
		script: `fetch("https://www.example.org:{port}/t/cors-four-headers", {method: "PUT", headers: [["X-A", "1"], ["X-B", "2"], ["X-C", "3"], ["X-D", "4"]]}).then(r => r.status, e => 0)`},
	// Three headers in the script's order, Content-Type between the
	// others: Firefox keeps that order, Chromium its map's.
	{name: "xhr-three-headers", kind: crawl.KindXHR, compare: true, method: "POST", body: "{}", host: "www.example.org",
		headers: crawl.Headers{{Name: "Authorization", Value: "Bearer t"}, {Name: "Content-Type", Value: "application/json"},
			{Name: "X-Requested-With", Value: "XMLHttpRequest"}}, preflight: true,
		script: `new Promise(res => { const x = new XMLHttpRequest(); x.open("POST", "https://www.example.org:{port}/t/xhr-three-headers"); x.setRequestHeader("Authorization", "Bearer t"); x.setRequestHeader("Content-Type", "application/json"); x.setRequestHeader("X-Requested-With", "XMLHttpRequest"); x.onloadend = () => res(x.status); x.send("{}"); })`},
	{name: "xhr-cors-put", kind: crawl.KindXHR, compare: true, method: "PUT", body: "{}", ctype: "application/json", host: "www.example.org",
		headers: crawl.Headers{{Name: "X-Token", Value: "t1"}}, preflight: true,
		script: `new Promise(res => { const x = new XMLHttpRequest(); x.open("PUT", "https://www.example.org:{port}/t/xhr-cors-put"); x.setRequestHeader("Content-Type", "application/json"); x.setRequestHeader("X-Token", "t1"); x.onloadend = () => res(x.status); x.send("{}"); })`},
	{name: "samesite-fetch-cred", kind: crawl.KindFetch, compare: true, from: "www.example.org", credentials: "include",
		script: `fetch("https://www.example.com:{port}/t/samesite-fetch-cred", {credentials: "include"}).then(r => r.status, e => 0)`},
	// Origin and Referer after redirects.
	{name: "link-redir-policy", compare: true, click: "#redir-policy", via: "www.example.org", viaPolicy: "no-referrer"},
	{name: "form-post-redir-cross", compare: true, method: "POST", body: "q=a+b", ctype: "application/x-www-form-urlencoded", click: "#post-redir-cross", via: "www.example.org", viaCode: 307},
	{name: "fetch-redir-get", kind: crawl.KindFetch, compare: true, via: "www.example.org",
		script: `fetch("https://www.example.org:{rport}/hop?to=https://www.example.com:{port}/t/fetch-redir-get").then(r => r.status, e => 0)`},
	{name: "fetch-redir-post", kind: crawl.KindFetch, compare: true, method: "POST", body: "a=1", via: "www.example.org", viaCode: 307,
		script: `fetch("https://www.example.org:{rport}/hop?code=307&to=https://www.example.com:{port}/t/fetch-redir-post", {method: "POST", body: "a=1"}).then(r => r.status, e => 0)`},
}

// kindsServer serves kindsPage for /start and a small page for anything
// else.
func kindsServer(t *testing.T, ca *livebrowser.CA) *kindsSite {
	t.Helper()
	// The redirecting server: /hop?to=URL answers 302 (or code) to URL,
	// with Referrer-Policy: policy when asked, and lets a script of any
	// origin follow it (CORS).
	hop := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if p := q.Get("policy"); p != "" {
			w.Header().Set("Referrer-Policy", p)
		}
		if o := r.Header.Get("Origin"); o != "" {
			w.Header().Set("Access-Control-Allow-Origin", o)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
		}
		code := http.StatusFound
		if c, err := strconv.Atoi(q.Get("code")); err == nil {
			code = c
		}
		http.Redirect(w, r, q.Get("to"), code)
	}))
	hop.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Leaf}}
	hop.StartTLS()
	t.Cleanup(hop.Close)
	rport := hop.Listener.Addr().(*net.TCPAddr).Port
	var srv *fingerprint.Server
	srv, err := fingerprint.Start(fingerprint.Config{
		Certificate: &ca.Leaf,
		Answer: func(c fingerprint.Capture) fingerprint.Answer {
			if strings.HasPrefix(c.Path, "/start") {
				u, _ := url.Parse(c.Path)
				step := u.Query().Get("step")
				meta := ""
				for _, st := range kindSteps {
					if st.name == step && st.policy != "" {
						meta = `<meta name="referrer" content="` + st.policy + `">`
					}
				}
				page := strings.NewReplacer("{port}", fmt.Sprint(srv.Port()), "{rport}", fmt.Sprint(rport),
					"{step}", step, "{meta}", meta, "{cookies}", pageCookiesJS()).Replace(kindsPage)
				return fingerprint.Answer{ContentType: "text/html", Body: []byte(page)}
			}
			return corsAnswer(c)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return &kindsSite{Server: srv, rport: strconv.Itoa(rport)}
}

// kindsSite is the fingerprinting server of the steps and the port of the
// redirecting server beside it.
type kindsSite struct {
	*fingerprint.Server
	rport string
}

// corsAnswer answers a CORS preflight by allowing what it asks (the
// origin, credentials, the method and headers), except for the paths of
// refusing steps (/t/cors-refused), which get a 200 without any
// Access-Control-* header; and any other request with a small page that
// the request's origin may read.
func corsAnswer(c fingerprint.Capture) fingerprint.Answer {
	origin := c.Headers.Get("origin")
	a := fingerprint.Answer{ContentType: "text/html", Body: []byte("<!doctype html><title>ok</title>ok")}
	if c.Method == "OPTIONS" {
		a.Body = nil
		if strings.HasPrefix(c.Path, "/t/cors-refused") {
			return a
		}
		a.Headers = crawl.Headers{{Name: "Access-Control-Allow-Origin", Value: origin},
			{Name: "Access-Control-Allow-Credentials", Value: "true"},
			{Name: "Access-Control-Allow-Methods", Value: c.Headers.Get("access-control-request-method")}}
		if h := c.Headers.Get("access-control-request-headers"); h != "" {
			a.Headers.Add("Access-Control-Allow-Headers", h)
		}
		return a
	}
	if origin != "" {
		a.Headers = crawl.Headers{{Name: "Access-Control-Allow-Origin", Value: origin}, {Name: "Access-Control-Allow-Credentials", Value: "true"}}
	}
	return a
}

// kindsVisit is what one browser session sent: the typed navigation it
// started with and each step's request, by step name.
type kindsVisit struct {
	// browser is the browser's name (chromium, firefox).
	browser string
	srv     *fingerprint.Server
	rport   string
	typed   fingerprint.Capture
	steps   map[string]fingerprint.Capture
	// preflights are the CORS preflights (OPTIONS) of the steps that
	// sent one, by step name.
	preflights map[string]fingerprint.Capture
	// from is the page each step's request was made from.
	from map[string]string
}

// findCapture finds the request for path (not its CORS preflight).
func findCapture(srv *fingerprint.Server, path string) (fingerprint.Capture, bool) {
	return findMethod(srv, path, false)
}

// findMethod finds the CORS preflight for path when options, else the
// request.
func findMethod(srv *fingerprint.Server, path string, options bool) (fingerprint.Capture, bool) {
	for _, c := range srv.Captures() {
		if (c.Method == "OPTIONS") != options {
			continue
		}
		if c.Path == path || strings.HasPrefix(c.Path, path+"?") {
			return c, true
		}
	}
	return fingerprint.Capture{}, false
}

// browseKinds starts the browser on the start page (a typed navigation)
// and runs every step from a freshly loaded start page.
func browseKinds(t *testing.T, b livebrowser.Browser, bin string, ca *livebrowser.CA, site *kindsSite, http1 bool) *kindsVisit {
	t.Helper()
	srv := site.Server
	port := fmt.Sprint(srv.Port())
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	first := srv.URL("www.example.com", "/start")
	r := livebrowser.Run{URL: first, HTTP1: http1, Dir: t.TempDir()}
	s := openPage(t, ctx, b, bin, ca, r)
	defer s.Close()
	var err error
	v := &kindsVisit{browser: b.Name, srv: srv, rport: site.rport, steps: map[string]fingerprint.Capture{},
		preflights: map[string]fingerprint.Capture{}, from: map[string]string{}}
	v.typed, _ = findCapture(srv, "/start")
	for _, st := range kindSteps {
		from := st.from
		if from == "" {
			from = "www.example.com"
		}
		page := srv.URL(from, "/start?step="+st.name)
		if err := s.Navigate(ctx, page); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if st.click != "" {
			err = s.Click(ctx, st.click)
		} else {
			err = s.Eval(ctx, strings.NewReplacer("{port}", port, "{rport}", v.rport).Replace(st.script), nil)
		}
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		v.from[st.name] = page
		deadline := time.Now().Add(10 * time.Second)
		if st.preflight {
			for {
				if c, ok := findMethod(srv, "/t/"+st.name, true); ok {
					v.preflights[st.name] = c
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: the browser sent no preflight for /t/%s", st.name, st.name)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		if st.refused {
			// The script awaited the fetch, which has failed: a request
			// would be here by now.
			if c, ok := findCapture(srv, "/t/"+st.name); ok {
				t.Errorf("%s: the browser sent %s after a refused preflight", st.name, c.Method)
			}
			continue
		}
		for {
			if c, ok := findCapture(srv, "/t/"+st.name); ok {
				v.steps[st.name] = c
				if c.Headers.Get("sec-fetch-dest") == "document" {
					// Let the navigation finish before the next one.
					host := st.host
					if host == "" {
						host = "www.example.com"
					}
					if err := s.WaitLoaded(ctx, srv.URL(host, "/t/"+st.name)); err != nil {
						t.Fatalf("%s: %v", st.name, err)
					}
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: the browser sent no request for /t/%s", st.name, st.name)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return v
}

// TestRequestKinds holds the headers of every request kind to the
// browsers': each browser opens the start page (a typed navigation), then,
// each time from a fresh start page, clicks a same-origin, a same-site and
// a cross-site link, submits forms (GET, POST, cross-site POST) with a
// click, and runs fetch() and XMLHttpRequest calls; over HTTP/2 and over
// HTTP/1.1. A profile is captured from the typed navigations alone, and
// our request for each step, built as the crawl builds it (Parent = the
// page, the Referer and Cookie the middlewares add, the kind the spider
// or the default gives), must reach the server with the browser's headers:
// names, order and values.
func TestRequestKinds(t *testing.T) {
	t.Parallel()
	for _, b := range []livebrowser.Browser{livebrowser.Chromium, livebrowser.Firefox} {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			bin := livebrowser.Require(t, b)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			version, err := livebrowser.Version(ctx, bin)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			ca, err := livebrowser.NewCA()
			if err != nil {
				t.Fatal(err)
			}
			var h2, h1 *kindsVisit
			srv2, srv1 := kindsServer(t, ca), kindsServer(t, ca) // they outlive the subtests
			t.Run("visits", func(t *testing.T) {
				t.Run("http2", func(t *testing.T) { t.Parallel(); h2 = browseKinds(t, b, bin, ca, srv2, false) })
				t.Run("http1.1", func(t *testing.T) { t.Parallel(); h1 = browseKinds(t, b, bin, ca, srv1, true) })
			})
			if h2 == nil || h1 == nil {
				t.FailNow()
			}
			profile := captureProfile(t, h2.typed, h1.typed)
			for _, v := range []struct {
				version string
				visit   *kindsVisit
			}{{"2", h2}, {"1.1", h1}} {
				t.Run("http"+v.version, func(t *testing.T) {
					if golden.Update() { // -update: rewrite the references from the browsers
						writeKindsReference(t, b.Name+" "+version, v.version, v.visit)
					}
					for _, st := range kindSteps {
						browser := v.visit.steps[st.name]
						if !st.compare {
							// What the documented choice rests on: a click
							// is user-activated, a script navigation not.
							if browser.Headers.Has("sec-fetch-user") || v.visit.steps["link-same"].Headers.Get("sec-fetch-user") != "?1" {
								t.Errorf("sec-fetch-user: clicked link %q, script navigation %q (specs/impersonation.md says ?1 and none)",
									v.visit.steps["link-same"].Headers.Get("sec-fetch-user"), browser.Headers.Get("sec-fetch-user"))
							}
							t.Logf("%s (not a kind spiderrun sends): %v", st.name, names(browser.Headers))
							continue
						}
						ours, err := sendKind(t, ca, v.visit, st, profile, v.version, browser)
						compareSent(t, st, ours, err, v.visit.preflights[st.name], browser, st.unordered[b.Name])
					}
				})
			}
		})
	}
}

// kindRequest is the crawl request a spider makes for step st on page
// from: the kind (its own or the default), the Referer the Referer
// middleware adds (the page's URL: Scrapy's policy; the browsers' policy
// is the transport's business), the request the redirect middleware makes
// of a redirect on the way, the cookie the cookie middleware adds where
// the browser had one, and the Content-Type and other headers the spider
// or FormRequest sets.
func kindRequest(st kindStep, target, from, browserName string, browser fingerprint.Capture) *crawl.Request {
	first := target
	if st.via != "" {
		// The redirecting server's port does not matter: only the hosts
		// of the chain do.
		first = "https://" + st.via + ":8444/hop?to=" + target
	}
	r := &crawl.Request{URL: first, Method: st.method, Kind: st.kind, Parent: from, Credentials: st.credentials,
		Headers: crawl.Headers{{Name: "Referer", Value: from}}}
	if st.policy != "" {
		// What the Referer spider middleware reads from the page's <meta
		// name="referrer"> (spidermw's TestRefererPolicyFromPage).
		r.SetMeta("referrer_policy", st.policy)
	}
	if st.body != "" {
		r.Body = []byte(st.body)
	}
	if st.ctype != "" {
		r.Headers.Add("Content-Type", st.ctype)
	}
	r.Headers = append(r.Headers, st.headers...)
	ctx := context.Background()
	if st.via != "" {
		// What the redirect middleware makes of the hop's answer.
		code := st.viaCode
		if code == 0 {
			code = http.StatusFound
		}
		hop := &crawl.Response{Status: code, URL: first, Headers: crawl.Headers{{Name: "Location", Value: target}}}
		if st.viaPolicy != "" {
			hop.Headers.Add("Referrer-Policy", st.viaPolicy)
		}
		res, err := middleware.NewRedirect(nil).ProcessResponse(ctx, r, hop)
		if err != nil || res.Request == nil {
			panic(fmt.Sprintf("%s: the redirect middleware did not follow the hop: %v", st.name, err))
		}
		r = res.Request
	}
	// The cookie middleware, holding what the pages of www.example.com
	// set, adds the cookies a browser sends with this kind of request from
	// this page (SameSite, as for an impersonated request).
	cookies := middleware.NewCookies()
	cookies.SameSite = true
	set := &crawl.Response{Status: 200, URL: "https://www.example.com/start"}
	for _, c := range pageCookies {
		set.Headers.Add("Set-Cookie", c)
	}
	if _, err := cookies.ProcessResponse(ctx, &crawl.Request{URL: set.URL}, set); err != nil {
		panic(err)
	}
	r.Impersonate = map[string]string{"chromium": "chrome", "firefox": "firefox"}[browserName]
	if _, err := cookies.ProcessRequest(ctx, r); err != nil {
		panic(err)
	}
	r.Impersonate = ""
	return r
}

// sendKind sends our request for st with profile to the visit's server
// (every name dialled on loopback) and returns what the server saw.
func sendKind(t *testing.T, ca *livebrowser.CA, v *kindsVisit, st kindStep, profile, version string, browser fingerprint.Capture) (sent sentKind, err error) {
	t.Helper()
	port := strconv.Itoa(v.srv.Port())
	tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: ca.Pool, HandshakeTimeout: 5 * time.Second,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, "127.0.0.1:"+port)
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	host := st.host
	if host == "" {
		host = "www.example.com"
	}
	path := browser.Path
	if path == "" {
		path = v.preflights[st.name].Path // a refused preflight: no request
	}
	target := v.srv.URL(host, path)
	req := kindRequest(st, target, v.from[st.name], v.browser, browser)
	u, _ := url.Parse(target)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	before := len(v.srv.Captures())
	out := &downloader.Outgoing{Method: req.GetMethod(), URL: u, Headers: req.Headers, Body: req.Body,
		Impersonate: profile, HTTPVersion: version, Verify: true, Request: req}
	resp, err := tr.RoundTrip(ctx, out)
	if err == nil {
		resp.Body.Close()
	}
	// A capture is recorded just after its answer is written: wait for
	// what the browser sent (a preflight, a request).
	deadline := time.Now().Add(5 * time.Second)
	for {
		sent = sentKind{}
		for _, c := range v.srv.Captures()[before:] {
			if c.Path != path {
				continue
			}
			if c.Method == "OPTIONS" && st.method != "OPTIONS" {
				sent.preflight = &c
			} else {
				sent.request = &c
			}
		}
		if (sent.preflight != nil || !st.preflight) && (sent.request != nil || st.refused) || time.Now().After(deadline) {
			return sent, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// compareSent holds what our client sent for st to what the browser sent:
// the preflight, when the browser sent one, header by header; the request
// unless the preflight was refused, in which case our client must fail
// saying so and send nothing more.
func compareSent(t *testing.T, st kindStep, ours sentKind, err error, preflight, browser fingerprint.Capture, unordered string) {
	t.Helper()
	switch {
	case st.preflight && ours.preflight == nil:
		t.Errorf("%s: the browser sent a CORS preflight, we did not", st.name)
	case !st.preflight && ours.preflight != nil:
		t.Errorf("%s: we sent a CORS preflight, the browser did not: %v", st.name, ours.preflight.Headers)
	case st.preflight:
		diffHeaders(t, st.name+" preflight", ours.preflight.Headers, unheadless(preflight.Headers))
		if ours.preflight.Path != preflight.Path {
			t.Errorf("%s: preflight for %s, browser's for %s", st.name, ours.preflight.Path, preflight.Path)
		}
	}
	if st.refused {
		if err == nil || !strings.Contains(err.Error(), "CORS preflight") {
			t.Errorf("%s: the preflight was refused, and our request says %v (want a CORS preflight error)", st.name, err)
		}
		if ours.request != nil {
			t.Errorf("%s: we sent %s after a refused preflight", st.name, ours.request.Method)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: %v", st.name, err)
		return
	}
	if ours.request == nil {
		t.Errorf("%s: our request never reached the server", st.name)
		return
	}
	if unordered != "" {
		t.Logf("%s: header order not held (%s):\n ours    %v\n browser %v", st.name, unordered, names(ours.request.Headers), names(browser.Headers))
		diffHeaders(t, st.name, sortedHeaders(ours.request.Headers), sortedHeaders(unheadless(browser.Headers)))
	} else {
		diffHeaders(t, st.name, ours.request.Headers, unheadless(browser.Headers))
	}
	if ours.request.Method != browser.Method || ours.request.Path != browser.Path {
		t.Errorf("%s: sent %s %s, browser %s %s", st.name, ours.request.Method, ours.request.Path, browser.Method, browser.Path)
	}
}

// sortedHeaders sorts by name, case-insensitively, keeping the order of
// a repeated name's values.
func sortedHeaders(h crawl.Headers) crawl.Headers {
	out := h.Clone()
	slices.SortStableFunc(out, func(a, b crawl.Header) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out
}

// sentKind is what our client sent for a step: its CORS preflight and
// its request (nil: not sent).
type sentKind struct {
	preflight, request *fingerprint.Capture
}

// KindsReference is the file runtime/impersonate's unit tests replay
// without a browser (testdata/reference/kinds_<browser>_h<version>.json):
// the typed navigation, and per step the request a spider makes and what
// the browser sent. The server's port is written as 8443.
type KindsReference struct {
	Browser     string        `json:"browser"`
	HTTPVersion string        `json:"http_version"`
	Regenerate  string        `json:"regenerate"`
	Typed       crawl.Headers `json:"typed"`
	// PageCookies are the cookies the start page of www.example.com sets
	// (document.cookie), for the cookie middleware's replay.
	PageCookies []string    `json:"page_cookies"`
	Steps       []KindsStep `json:"steps"`
}

// KindsStep is one request of a KindsReference.
type KindsStep struct {
	Name string `json:"name"`
	// Compare is false for what spiderrun offers no kind for.
	Compare bool           `json:"compare"`
	Request *crawl.Request `json:"request"`
	// Browser is the request the browser sent, Preflight its CORS
	// preflight (OPTIONS) when it sent one; Refused says the server
	// refused the preflight, and the browser sent no request.
	Browser   crawl.Headers `json:"browser,omitempty"`
	Preflight crawl.Headers `json:"preflight,omitempty"`
	Refused   bool          `json:"refused,omitempty"`
	// Unordered says why the order of Browser is not held (only its
	// names and values are); "" = it is.
	Unordered string `json:"unordered,omitempty"`
}

const kindsReferenceDir = "../../runtime/impersonate/testdata/reference"

func writeKindsReference(t *testing.T, browser, version string, v *kindsVisit) {
	t.Helper()
	port := strconv.Itoa(v.srv.Port())
	fix := func(s string) string { return strings.ReplaceAll(s, ":"+port, ":8443") }
	fixH := func(h crawl.Headers) crawl.Headers {
		out := h.Clone()
		for i := range out {
			out[i].Value = fix(out[i].Value)
		}
		return out
	}
	ref := KindsReference{Browser: browser, HTTPVersion: version, Regenerate: "go test ./internal/livebrowser -run TestRequestKinds -update",
		Typed: fixH(v.typed.Headers), PageCookies: pageCookies}
	for _, st := range kindSteps {
		c := v.steps[st.name]
		host := st.host
		if host == "" {
			host = "www.example.com"
		}
		pf, sentPreflight := v.preflights[st.name]
		path := c.Path
		if path == "" {
			path = pf.Path
		}
		req := kindRequest(st, v.srv.URL(host, path), v.from[st.name], v.browser, c)
		req.URL, req.Parent = fix(req.URL), fix(req.Parent)
		for i := range req.RedirectURLs {
			req.RedirectURLs[i] = fix(req.RedirectURLs[i])
		}
		req.Headers = fixH(req.Headers)
		if req.Method == "" {
			req.Method = c.Method
		}
		step := KindsStep{Name: st.name, Compare: st.compare, Request: req, Browser: fixH(c.Headers), Refused: st.refused,
			Unordered: st.unordered[v.browser]}
		if sentPreflight {
			step.Preflight = fixH(pf.Headers)
		}
		ref.Steps = append(ref.Steps, step)
	}
	b, err := json.MarshalIndent(ref, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	name, _, _ := strings.Cut(browser, " ")
	file := filepath.Join(kindsReferenceDir, fmt.Sprintf("kinds_%s_h%s.json", name, strings.TrimSuffix(version, ".1")))
	if err := os.MkdirAll(kindsReferenceDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
