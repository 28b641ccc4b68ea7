package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// TestFingerprintCheckHTTP3: `check --http-version 3` passes for
// chrome_148, whose http3 section was captured from Chromium 148 (every
// field, JA4, transport parameters and their shuffling, SETTINGS, the
// GREASE frame, headers, read back from what reached a QUIC server);
// fails naming the field for a profile asking for what our HTTP/3 client
// does not send (a connection header, which HTTP/3 forbids and the client
// drops); and refuses a profile without a browser QUIC hello.
func TestFingerprintCheckHTTP3(t *testing.T) {
	code, stdout, stderr := runCLI(t, "fingerprint", "check", "chrome_148", "--http-version", "3")
	for _, want := range []string{
		"HTTP/3   JA4              ok    q13d0311h3_55b375c5d22e_653d80c3fe9d",
		"HTTP/3   params shuffled  ok    true",
		"HTTP/3   GREASE param len ok    random 0..15",
		"HTTP/3   settings         ok    1:65536;6:262144;7:100;51:1;grease",
		"HTTP/3   GREASE frame     ok    true",
		"chrome_148: every HTTP/3 field as the profile says (4 QUIC connections)",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("missing %q", want)
		}
	}
	if code != exitOK || strings.Contains(stdout, "DIFF") {
		t.Errorf("check chrome_148 --http-version 3: exit %d\n%s%s", code, stdout, stderr)
	}

	p, err := impersonate.LoadProfile("chrome_148")
	if err != nil {
		t.Fatal(err)
	}
	p.Name, p.Headers = "broken", append(p.Headers, "connection: keep-alive")
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "broken.yaml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "fingerprint", "check", file, "--http-version", "3")
	if code != exitFailed || !strings.Contains(stdout, "HTTP/3   header names     DIFF") || !strings.Contains(stderr, "1 field(s) differ from the profile over HTTP/3") {
		t.Errorf("broken profile: exit %d\n%s%s", code, stdout, stderr)
	}

	code, _, stderr = runCLI(t, "fingerprint", "check", "firefox_140", "--http-version", "3")
	if code != exitUsage || !strings.Contains(stderr, "firefox_140: --http-version 3: profile firefox_140 has no browser QUIC hello") {
		t.Errorf("firefox_140: exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI(t, "fingerprint", "check", "chrome_148", "--http-version", "4")
	if code != exitUsage || !strings.Contains(stderr, `--http-version "4"`) {
		t.Errorf("--http-version 4: exit %d, %s", code, stderr)
	}
}
