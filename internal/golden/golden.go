// Package golden is the one golden-file helper of the test suites: it
// defines the -update flag once (go test ./pkg -update rewrites the golden
// files instead of comparing with them) and compares test output with the
// files under a package's testdata/.
//
// Only tests import it; importing it registers -update on the default
// flag set, so a test package must not define its own.
package golden

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ instead of comparing with them")

// Update reports whether the tests run with -update, for the few tests
// that compare their output in their own way (as a set of lines, as JSON
// values) and only need Write.
func Update() bool { return *update }

// Write writes data to path, creating its directory, failing t on error.
func Write(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Check compares got with the file at path byte for byte, reporting the
// differing lines; with -update it writes got to path instead.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		Write(t, path, got)
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it after checking):\n%s", path, Diff(string(want), string(got)))
	}
}

// CheckString is Check for a string.
func CheckString(t testing.TB, path, got string) {
	t.Helper()
	Check(t, path, []byte(got))
}

// JSON renders v as the golden files hold JSON: json.MarshalIndent with two
// spaces, and a final newline.
func JSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// CheckJSON is Check of JSON(v).
func CheckJSON(t testing.TB, path string, v any) {
	t.Helper()
	Check(t, path, JSON(t, v))
}

// Diff lists the lines that differ between want and got, with their line
// numbers, up to about 4 KB.
func Diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, c string
		aok, cok := i < len(w), i < len(g)
		if aok {
			a = w[i]
		}
		if cok {
			c = g[i]
		}
		if aok && cok && a == c {
			continue
		}
		if b.Len() > 4096 {
			b.WriteString("...\n")
			break
		}
		fmt.Fprintf(&b, "line %d:\n", i+1)
		if aok {
			fmt.Fprintf(&b, "  want %q\n", a)
		} else {
			b.WriteString("  want (no line)\n")
		}
		if cok {
			fmt.Fprintf(&b, "  got  %q\n", c)
		} else {
			b.WriteString("  got  (no line)\n")
		}
	}
	return b.String()
}
