package dsl

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/golden"
)

// normalizedJSON renders a spec for golden comparison, with the machine-
// specific directory replaced by $DIR.
func normalizedJSON(t *testing.T, s *Spec) []byte {
	t.Helper()
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(golden.JSON(t, s), []byte(abs), []byte("$TESTDATA"))
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
			golden.Check(t, strings.TrimSuffix(f, ".spec.yaml")+".golden.json", normalizedJSON(t, s))
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
			golden.Check(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}
