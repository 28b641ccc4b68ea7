// Package reftest loads the Scrapy reference outputs under
// testdata/reference/ (see its README.md) for the differential tests.
// Only tests import it.
package reftest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is the absolute path of testdata/reference/<area>.
func Dir(area string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "reference", area)
}

// Load decodes testdata/reference/<area>/<name> into v, failing t on error.
func Load(t testing.TB, area, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(Dir(area), name))
	if err != nil {
		t.Fatalf("reference %s/%s: %v (regenerate with testdata/reference/regen)", area, name, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("reference %s/%s: %v", area, name, err)
	}
}

// Python is the interpreter the references are generated with: Debian's
// python3 with python3-scrapy, not whatever python3 is first on PATH.
func Python() string {
	if p := os.Getenv("SPIDERRUN_REFERENCE_PYTHON"); p != "" {
		return p
	}
	return "/usr/bin/python3"
}
