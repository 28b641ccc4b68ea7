package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestOfflineExample keeps the README's first command true: the offline
// example crawls its bundled site through file:// URLs and prints every
// quote and author as JSON lines on stdout.
func TestOfflineExample(t *testing.T) {
	code, stdout, stderr := runCLI(t, "run", "../../examples/offline/spider.yaml", "-o", "-")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	quotes, authors := 0, 0
	for _, l := range lines {
		var it map[string]any
		if err := json.Unmarshal([]byte(l), &it); err != nil {
			t.Fatalf("stdout line is not JSON: %q", l)
		}
		switch {
		case it["text"] != nil:
			quotes++
		case it["born"] != nil:
			authors++
		}
	}
	if quotes != 9 || authors != 7 {
		t.Fatalf("got %d quotes and %d authors, want 9 and 7\nstdout:\n%s", quotes, authors, stdout)
	}
	if !strings.Contains(stderr, `finish_reason: "finished"`) {
		t.Errorf("stats block missing from stderr:\n%s", stderr)
	}
}
