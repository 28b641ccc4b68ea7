package main

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/fixture"
)

// The JA4 values Chromium 156 sends on this machine (see
// runtime/impersonate/testdata).
const (
	chromiumJA4   = "t13d1517h2_8daaf6152771_cb7bf5808d99"
	chromiumJA4H1 = "t13d1516h1_8daaf6152771_5b37b36a67c0"
)

func startFingerprint(t *testing.T) *fingerprint.Server {
	t.Helper()
	srv, err := fingerprint.Start(fingerprint.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

// fetchHeaders splits fetch --headers output into the request and the
// response header lines (Scrapy's "> " and "< " blocks around ">").
func fetchHeaders(t *testing.T, out string) (req, resp []string) {
	t.Helper()
	head, tail, ok := strings.Cut(out, ">\n")
	if !ok || !strings.HasSuffix(out, "\n") {
		t.Fatalf("no \">\" line between request and response headers:\n%s", out)
	}
	for _, l := range strings.Split(strings.TrimSuffix(head, "\n"), "\n") {
		if l == "" {
			continue
		}
		if !strings.HasPrefix(l, "> ") {
			t.Fatalf("request header line %q lacks \"> \"\n%s", l, out)
		}
		req = append(req, strings.TrimPrefix(l, "> "))
	}
	for _, l := range strings.Split(strings.TrimSuffix(tail, "\n"), "\n") {
		if !strings.HasPrefix(l, "< ") {
			t.Fatalf("response header line %q lacks \"< \"\n%s", l, out)
		}
		resp = append(resp, strings.TrimPrefix(l, "< "))
	}
	return req, resp
}

func TestFetchCommand(t *testing.T) {
	srv := startFingerprint(t)
	url := srv.URL("localhost", "/page?x=1")
	cases := []struct {
		name       string
		args       []string
		wantStatus string // on stderr
		wantJA4    string
		wantHeader string // a request header the server must have seen
	}{
		{"chrome http2", []string{"--impersonate", "chrome_156", "-H", "X-Extra: 1"}, "200 OK " + url + " (HTTP/2.0)", chromiumJA4, "x-extra"},
		{"chrome forced http1.1", []string{"--impersonate", "chrome", "--http-version", "1.1"}, "200 OK " + url + " (HTTP/1.1)", chromiumJA4H1, "Sec-Fetch-Mode"},
		{"setting IMPERSONATE", []string{"-s", "IMPERSONATE=chrome_156"}, "200 OK " + url + " (HTTP/2.0)", chromiumJA4, "sec-ch-ua"},
		{"firefox", []string{"--impersonate", "firefox"}, "200 OK " + url + " (HTTP/2.0)", "", "te"},
		{"no impersonation uses USER_AGENT", []string{"-s", "USER_AGENT=probe/1"}, "200 OK " + url + " (HTTP/2.0)", "", "User-Agent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"fetch", url, "-s", "TLS_VERIFY=false"}, tc.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %s", code, stderr)
			}
			if !strings.Contains(stderr, tc.wantStatus+"\n") {
				t.Errorf("stderr %q lacks the status %q", stderr, tc.wantStatus)
			}
			// stdout is the body and nothing else.
			var c fingerprint.Capture
			if err := json.Unmarshal([]byte(stdout), &c); err != nil {
				t.Fatalf("stdout is not the server's capture: %v\n%s", err, stdout)
			}
			if tc.wantJA4 != "" && c.JA4 != tc.wantJA4 {
				t.Errorf("JA4 = %s, want %s", c.JA4, tc.wantJA4)
			}
			if c.Path != "/page?x=1" {
				t.Errorf("path = %s", c.Path)
			}
			if !c.Headers.Has(tc.wantHeader) {
				t.Errorf("server did not see %s: %v", tc.wantHeader, c.HeaderNames())
			}
			if tc.name == "no impersonation uses USER_AGENT" && c.Headers.Get("user-agent") != "probe/1" {
				t.Errorf("user-agent = %q", c.Headers.Get("user-agent"))
			}

			// --headers: the headers the server saw, in its order, then
			// the response's.
			code, stdout, stderr = runCLI(t, append(args, "--headers")...)
			if code != exitOK {
				t.Fatalf("--headers: exit %d, stderr %s", code, stderr)
			}
			req, resp := fetchHeaders(t, stdout)
			if !slices.Contains(resp, "Content-Type: application/json") {
				t.Errorf("response headers = %q", resp)
			}
			var names []string
			for _, h := range req {
				n, _, _ := strings.Cut(h, ": ")
				names = append(names, strings.ToLower(n))
			}
			var seen []string
			for _, n := range c.HeaderNames() {
				switch n = strings.ToLower(n); n {
				case "host", "content-length", "accept-encoding", "connection", "te":
					// Added by the transport, not listed (as in Scrapy).
				default:
					if !strings.HasPrefix(n, ":") {
						seen = append(seen, n)
					}
				}
			}
			names = deleteNames(names, "accept-encoding", "connection", "te")
			if !impersonated(tc.args) {
				// Go's own transport sends headers in its order.
				slices.Sort(names)
				slices.Sort(seen)
			}
			if !slices.Equal(names, seen) {
				t.Errorf("--headers request headers\n%q\nserver saw\n%q", names, seen)
			}
		})
	}
}

func impersonated(args []string) bool {
	return slices.Contains(args, "--impersonate") || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "IMPERSONATE=") })
}

func deleteNames(l []string, drop ...string) []string {
	return slices.DeleteFunc(slices.Clone(l), func(s string) bool { return slices.Contains(drop, s) })
}

// TestFetchLikeScrapy: redirects followed by default, the body only on
// stdout, non-2xx printed with exit 0, --no-redirect shows the 3xx,
// --headers prints Scrapy's "> request" / ">" / "< response" blocks.
func TestFetchLikeScrapy(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	srv.Handle("/login", func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s3cret", Path: "/"})
		http.Redirect(w, r, "/cookies", http.StatusFound)
	})
	srv.Handle("/binary", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0, 1, 2, 0xff, '\n', 0})
	})
	redirect := srv.URL + "/redirect?to=/ok"
	tests := []struct {
		name       string
		args       []string
		wantStdout string // exact, when not checking headers
		wantReq    []string
		wantResp   []string
		wantStderr string
	}{
		{name: "redirect followed", args: []string{redirect},
			wantStdout: "<html><head><title>ok</title></head><body><p>ok</p></body></html>",
			wantStderr: "200 OK " + srv.URL + "/ok (HTTP/1.1); redirected from " + redirect + "\n"},
		{name: "redirect not followed", args: []string{redirect, "--no-redirect"},
			wantStdout: "",
			wantStderr: "302 Found " + redirect + " (HTTP/1.1)\n"},
		{name: "301 chain", args: []string{srv.URL + "/redirect-chain?n=3"},
			wantStdout: "done", wantStderr: "200 OK " + srv.URL + "/redirect-chain?n=3&i=3 (HTTP/1.1); redirected from " + srv.URL + "/redirect-chain?n=3\n"},
		{name: "404 is printed, exit 0", args: []string{srv.URL + "/status?code=404"},
			wantStdout: "<html><body>status 404</body></html>", wantStderr: "404 Not Found"},
		{name: "500 after retries", args: []string{srv.URL + "/status?code=500", "-s", "RETRY_TIMES=1"},
			wantStdout: "<html><body>status 500</body></html>", wantStderr: "500 Internal Server Error"},
		{name: "binary body byte for byte", args: []string{srv.URL + "/binary"}, wantStdout: "\x00\x01\x02\xff\n\x00"},
		{name: "POST data", args: []string{srv.URL + "/echo", "-d", "a=1"}, wantStderr: "200 OK"},
		{name: "headers of the final request and response", args: []string{redirect, "--headers", "-H", "X-Probe: 1"},
			wantReq: []string{"X-Probe: 1", "User-Agent: spiderrun/1 (+https://github.com/spiderrun/spiderrun)",
				"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Language: en"},
			wantResp: []string{"Content-Type: text/html; charset=utf-8"}},
		{name: "headers of the 3xx", args: []string{redirect, "--headers", "--no-redirect"},
			wantReq: []string{"User-Agent: spiderrun/1 (+https://github.com/spiderrun/spiderrun)",
				"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "Accept-Language: en"},
			wantResp: []string{"Location: /ok"}},
		{name: "cookie set on a redirect is sent and shown", args: []string{srv.URL + "/login", "--headers"},
			wantReq: []string{"Cookie: sid=s3cret"}},
		{name: "cookie reaches the server", args: []string{srv.URL + "/login"}, wantStdout: "sid=s3cret"},
		{name: "--no-body is --headers", args: []string{redirect, "--no-body", "--no-redirect"},
			wantResp: []string{"Location: /ok"}, wantStderr: "--no-body is deprecated: use --headers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCLI(t, append([]string{"fetch"}, tt.args...)...)
			if code != exitOK {
				t.Fatalf("exit %d\nstdout %q\nstderr %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q lacks %q", stderr, tt.wantStderr)
			}
			if tt.wantReq == nil && tt.wantResp == nil {
				if tt.name != "POST data" && stdout != tt.wantStdout {
					t.Errorf("stdout %q, want %q", stdout, tt.wantStdout)
				}
				if tt.name == "POST data" && !strings.Contains(stdout, `"method":"POST"`) && !strings.Contains(stdout, `"POST"`) {
					t.Errorf("echo did not see a POST: %s", stdout)
				}
				return
			}
			req, resp := fetchHeaders(t, stdout)
			for _, w := range tt.wantReq {
				if !slices.Contains(req, w) {
					t.Errorf("request headers %q lack %q", req, w)
				}
			}
			for _, w := range tt.wantResp {
				if !slices.Contains(resp, w) {
					t.Errorf("response headers %q lack %q", resp, w)
				}
			}
		})
	}
}

func TestFetchCommandErrors(t *testing.T) {
	srv := startFingerprint(t)
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"certificate verified by default", []string{"fetch", srv.URL("localhost", "/")}, exitFailed, "certificate signed by unknown authority"},
		{"unknown profile", []string{"fetch", srv.URL("localhost", "/"), "--impersonate", "netscape"}, exitUsage, "unknown impersonation profile \"netscape\" (known: chrome, chrome_100"},
		{"not a URL", []string{"fetch", "ftp://x"}, exitUsage, `"ftp://x" is not an http(s) URL`},
		{"bad header", []string{"fetch", "https://x.test/", "-H", "nocolon"}, exitUsage, `-H "nocolon": want 'Name: value'`},
		{"bad http version", []string{"fetch", "https://x.test/", "--http-version", "4"}, exitUsage, `--http-version "4"`},
		{"bad setting", []string{"fetch", "https://x.test/", "-s", "TLS_VERIFY=maybe"}, exitUsage, `-s TLS_VERIFY: expected true or false, got "maybe"`},
		{"refused", []string{"fetch", "https://127.0.0.1:1/", "-s", "RETRY_ENABLED=false"}, exitFailed, "GET https://127.0.0.1:1/: ConnectionRefusedError"},
		{"refused with --headers", []string{"fetch", "https://127.0.0.1:1/", "--headers", "-s", "RETRY_ENABLED=false"}, exitFailed, "ConnectionRefusedError"},
		{"no URL", []string{"fetch"}, exitUsage, "accepts 1 arg(s), received 0"},
		{"relative URL", []string{"fetch", "/just/a/path"}, exitUsage, `"/just/a/path" is not an http(s) URL`},
		{"missing spec", []string{"fetch", "https://x.test/", "--spec", "/nonexistent/spider.yaml"}, exitUsage, "/nonexistent/spider.yaml"},
		{"bad -a", []string{"fetch", "https://x.test/", "-a", "novalue"}, exitUsage, "-a novalue: want NAME=VALUE"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.args...)
			if code != tc.wantCode || !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("exit %d stderr %q; want %d and %q", code, stderr, tc.wantCode, tc.wantErr)
			}
		})
	}
}

// fetch maps settings exactly as run does: DENY_PRIVATE_NETWORKS refuses
// the loopback server, with and without a browser profile, and
// NETWORK_ALLOW opens it again.
func TestFetchUsesTheSpidersSettings(t *testing.T) {
	srv := fixture.New(t, fixture.Options{})
	for _, imp := range []string{"", "chrome"} {
		args := []string{"fetch", srv.URL + "/ok", "-s", "DENY_PRIVATE_NETWORKS=true", "-s", "RETRY_ENABLED=false"}
		if imp != "" {
			args = append(args, "--impersonate", imp)
		}
		code, _, stderr := runCLI(t, args...)
		if code != exitFailed || !strings.Contains(stderr, "BlockedAddress") || strings.Contains(stderr, "goroutine") {
			t.Errorf("impersonate %q: exit %d, stderr %q; want the address blocked", imp, code, stderr)
		}
		code, stdout, stderr := runCLI(t, append(args, "-s", "NETWORK_ALLOW=127.0.0.1/32")...)
		if code != 0 || !strings.Contains(stderr, "200 OK") || !strings.Contains(stdout, "<title>ok</title>") {
			t.Errorf("impersonate %q with NETWORK_ALLOW: exit %d\n%s%s", imp, code, stdout, stderr)
		}
	}
}
