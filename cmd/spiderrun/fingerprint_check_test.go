package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// TestFingerprintCheck: check passes for the captured profiles (what we
// send is what they say, field by field) and fails, naming the field,
// for a profile asking for what the client does not send (a connection
// header over HTTP/2, which HTTP/2 forbids and the transport drops).
func TestFingerprintCheck(t *testing.T) {
	for _, name := range []string{"firefox_140", "chrome_148"} {
		code, stdout, stderr := runCLI(t, "fingerprint", "check", name)
		if code != exitOK || !strings.Contains(stdout, name+": every field as the profile says") ||
			!strings.Contains(stdout, "HTTP/2   JA4              ok") || strings.Contains(stdout, "DIFF") {
			t.Errorf("check %s: exit %d\n%s%s", name, code, stdout, stderr)
		}
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
	code, stdout, stderr := runCLI(t, "fingerprint", "check", file)
	if code != exitFailed || !strings.Contains(stdout, "HTTP/2   header names     DIFF") || !strings.Contains(stderr, "1 field(s) differ") {
		t.Errorf("broken profile: exit %d\n%s%s", code, stdout, stderr)
	}
}
