package dsl

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// normalizedJSON renders a spec for golden comparison, with the machine-
// specific directory replaced by $DIR.
func normalizedJSON(t *testing.T, s *Spec) []byte {
	t.Helper()
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return append(bytes.ReplaceAll(b, []byte(abs), []byte("$TESTDATA")), '\n')
}

func TestLoadValid(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.spec.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid specs: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".spec.yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			checkGolden(t, strings.TrimSuffix(f, ".spec.yaml")+".golden.json", normalizedJSON(t, s))
		})
	}
}

func TestLoadInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid specs: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := Load(f)
			if err == nil {
				t.Fatalf("Load succeeded: %+v", s)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not a non-empty ErrorList: %v", err, err)
			}
			for _, e := range list {
				if e.File != f {
					t.Errorf("error names file %q, want %q", e.File, f)
				}
				if strings.HasSuffix(e.Msg, ".") || e.Msg == "" || strings.ToLower(e.Msg[:1]) != e.Msg[:1] {
					t.Errorf("message %q must be lowercase without a trailing period", e.Msg)
				}
			}
			checkGolden(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}
