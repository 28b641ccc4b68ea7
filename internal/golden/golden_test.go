package golden

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeT records failures instead of stopping the test.
type fakeT struct {
	testing.TB
	errs []string
}

func (f *fakeT) Helper()                        {}
func (f *fakeT) Errorf(format string, a ...any) { f.errs = append(f.errs, format) }
func (f *fakeT) Fatalf(format string, a ...any) { f.errs = append(f.errs, format); panic(f) }
func (f *fakeT) Fatal(a ...any)                 { f.errs = append(f.errs, "fatal"); panic(f) }
func run(f *fakeT, fn func()) {
	defer func() {
		if r := recover(); r != nil && r != f {
			panic(r)
		}
	}()
	fn()
}

func TestCheck(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.golden")
	f := &fakeT{}
	run(f, func() { Check(f, path, []byte("a\n")) })
	if len(f.errs) != 1 {
		t.Fatalf("missing file: %v", f.errs)
	}

	*update = true
	f = &fakeT{}
	run(f, func() { Check(f, path, []byte("a\nb\n")) })
	*update = false
	if len(f.errs) != 0 {
		t.Fatalf("-update: %v", f.errs)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "a\nb\n" {
		t.Fatalf("-update wrote %q, %v", b, err)
	}

	f = &fakeT{}
	run(f, func() { CheckString(f, path, "a\nb\n") })
	if len(f.errs) != 0 {
		t.Fatalf("same content: %v", f.errs)
	}
	f = &fakeT{}
	run(f, func() { Check(f, path, []byte("a\nc\n")) })
	if len(f.errs) != 1 {
		t.Fatalf("different content: %v", f.errs)
	}
}

func TestCheckJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(path, []byte("{\n  \"a\": [\n    1\n  ]\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f := &fakeT{}
	run(f, func() { CheckJSON(f, path, map[string][]int{"a": {1}}) })
	if len(f.errs) != 0 {
		t.Fatalf("%v", f.errs)
	}
}

func TestDiff(t *testing.T) {
	d := Diff("a\nb\nc", "a\nx\nc\nd")
	for _, s := range []string{"line 2:", `want "b"`, `got  "x"`, "line 4:", "want (no line)", `got  "d"`} {
		if !strings.Contains(d, s) {
			t.Errorf("diff lacks %q:\n%s", s, d)
		}
	}
	if strings.Contains(d, "line 1:") || strings.Contains(d, "line 3:") {
		t.Errorf("diff lists equal lines:\n%s", d)
	}
}
