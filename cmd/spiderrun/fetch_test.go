package main

import (
	"encoding/json"
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

// splitFetch splits fetch's output into the status line, header lines and
// the body.
func splitFetch(t *testing.T, out string) (status string, headers []string, body string) {
	t.Helper()
	head, body, ok := strings.Cut(out, "\n\n")
	if !ok {
		t.Fatalf("no blank line between headers and body:\n%s", out)
	}
	lines := strings.Split(head, "\n")
	return lines[0], lines[1:], body
}

func TestFetchCommand(t *testing.T) {
	srv := startFingerprint(t)
	url := srv.URL("localhost", "/page?x=1")
	cases := []struct {
		name       string
		args       []string
		wantStatus string
		wantJA4    string
		wantHeader string // a request header the server must have seen
	}{
		{"chrome http2", []string{"--impersonate", "chrome_156", "-H", "X-Extra: 1"}, "HTTP/2.0 200 OK", chromiumJA4, "x-extra"},
		{"chrome forced http1.1", []string{"--impersonate", "chrome", "--http-version", "1.1"}, "HTTP/1.1 200 OK", chromiumJA4H1, "Sec-Fetch-Mode"},
		{"setting IMPERSONATE", []string{"-s", "IMPERSONATE=chrome_156"}, "HTTP/2.0 200 OK", chromiumJA4, "sec-ch-ua"},
		{"firefox", []string{"--impersonate", "firefox"}, "HTTP/2.0 200 OK", "", "te"},
		{"no impersonation uses USER_AGENT", []string{"-s", "USER_AGENT=probe/1"}, "HTTP/2.0 200 OK", "", "User-Agent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"fetch", url, "-s", "TLS_VERIFY=false"}, tc.args...)
			code, stdout, stderr := runCLI(t, args...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr %s", code, stderr)
			}
			status, headers, body := splitFetch(t, stdout)
			if status != tc.wantStatus {
				t.Errorf("status line %q, want %q", status, tc.wantStatus)
			}
			if !strings.Contains(strings.Join(headers, "\n"), "Content-Type: application/json") {
				t.Errorf("headers = %v", headers)
			}
			var c fingerprint.Capture
			if err := json.Unmarshal([]byte(body), &c); err != nil {
				t.Fatalf("body is not the server's capture: %v\n%s", err, body)
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
		{"bad http version", []string{"fetch", "https://x.test/", "--http-version", "3"}, exitUsage, `--http-version "3"`},
		{"bad setting", []string{"fetch", "https://x.test/", "-s", "TLS_VERIFY=maybe"}, exitUsage, "-s TLS_VERIFY=maybe"},
		{"refused", []string{"fetch", "https://127.0.0.1:1/"}, exitFailed, "https://127.0.0.1:1/"},
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
		if code != exitFailed || !strings.Contains(stderr, "BlockedAddress") {
			t.Errorf("impersonate %q: exit %d, stderr %q; want the address blocked", imp, code, stderr)
		}
		code, stdout, stderr := runCLI(t, append(args, "-s", "NETWORK_ALLOW=127.0.0.1/32")...)
		if code != 0 || !strings.Contains(stdout, " 200 ") {
			t.Errorf("impersonate %q with NETWORK_ALLOW: exit %d\n%s%s", imp, code, stdout, stderr)
		}
	}
}
