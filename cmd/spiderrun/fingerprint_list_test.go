package main

import (
	"strings"
	"testing"
)

// TestFingerprintList: the list names every shipped profile once with its
// origin, aliases and random eligibility, as the profile files say.
func TestFingerprintList(t *testing.T) {
	code, stdout, stderr := runCLI(t, "fingerprint", "list")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n")[1:] {
		f := strings.Fields(line)
		rows[f[0]] = f
	}
	want := map[string]string{
		"chrome_156":  "chrome_156 chrome 156 captured chrome yes",
		"firefox_153": "firefox_153 firefox 153 captured firefox yes",
		"firefox_140": "firefox_140 firefox 140 captured - no",
		"chrome_148":  "chrome_148 chrome 148 captured - no",
		"edge_156":    "edge_156 edge 156 derived edge no",
		"safari_16_0": "safari_16_0 safari 16.0 derived safari no",
		"firefox_120": "firefox_120 firefox 120 derived - no",
		"chrome_100":  "chrome_100 chrome 100 derived - no",
	}
	for name, w := range want {
		if got := strings.Join(rows[name], " "); got != w {
			t.Errorf("%s: %q, want %q", name, got, w)
		}
	}
	for _, alias := range []string{"chrome", "firefox", "random"} {
		if _, ok := rows[alias]; ok {
			t.Errorf("alias %s listed as a profile", alias)
		}
	}
	_, verbose, _ := runCLI(t, "fingerprint", "list", "-v")
	if !strings.Contains(verbose, "edge_156: derived: chrome_156's capture") {
		t.Errorf("-v does not say what edge_156 is derived from:\n%s", verbose)
	}
}
