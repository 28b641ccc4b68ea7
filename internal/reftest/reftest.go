// Package reftest loads the Scrapy reference outputs under
// testdata/reference/ (see its README.md) for the differential tests.
// Only tests import it.
package reftest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
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

// Each runs check, as a parallel subtest named after the case, for every
// case of <area>/<casesFile> (a JSON list of objects with a "name") with
// its result in <area>/<expectedFile> (an object keyed by case name). A
// case without a result, or results without a case, fail: the files were
// not regenerated together.
func Each[C, R any](t *testing.T, area, casesFile, expectedFile string, check func(t *testing.T, c C, want R)) {
	t.Helper()
	var raw []json.RawMessage
	var want map[string]R
	Load(t, area, casesFile, &raw)
	Load(t, area, expectedFile, &want)
	if len(raw) != len(want) {
		t.Errorf("%s: %d cases, %d expected results (regenerate with testdata/reference/regen)", area, len(raw), len(want))
	}
	// Parallel subtests finish before the parent's cleanup: a case that
	// never reached check (a filter, an early return) is reported there.
	var ran atomic.Int64
	t.Cleanup(func() {
		if n := ran.Load(); n != int64(len(raw)) {
			t.Errorf("%s: %d of %d cases were checked", area, n, len(raw))
		}
	})
	for i, r := range raw {
		var named struct {
			Name string `json:"name"`
		}
		var c C
		if err := json.Unmarshal(r, &named); err != nil || named.Name == "" {
			t.Fatalf("reference %s/%s: case %d has no name", area, casesFile, i)
		}
		if err := json.Unmarshal(r, &c); err != nil {
			t.Fatalf("reference %s/%s: case %q: %v", area, casesFile, named.Name, err)
		}
		t.Run(named.Name, func(t *testing.T) {
			t.Parallel()
			exp, ok := want[named.Name]
			if !ok {
				t.Fatal("no expected result (regenerate with testdata/reference/regen)")
			}
			ran.Add(1)
			check(t, c, exp)
		})
	}
}
