package jobserver

import (
	"fmt"
	"strings"
	"testing"
)

// TestTail: the log panel keeps the end of what was written, from a whole
// line once the front has been dropped, and everything before that.
func TestTail(t *testing.T) {
	tl := NewTail(100)
	fmt.Fprint(tl, "one\ntwo\n")
	if got := string(tl.Bytes()); got != "one\ntwo\n" {
		t.Fatalf("short log: %q", got)
	}
	for i := range 50 {
		fmt.Fprintf(tl, "line %02d\n", i)
	}
	got := string(tl.Bytes())
	if !strings.HasSuffix(got, "line 49\n") || !strings.HasPrefix(got, "line ") || len(got) > 100 {
		t.Fatalf("long log kept %d bytes: %q", len(got), got)
	}
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if len(l) != len("line 00") {
			t.Fatalf("partial line %q in %q", l, got)
		}
	}
}
