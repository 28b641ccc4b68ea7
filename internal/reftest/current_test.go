package reftest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/spiderrun/spiderrun/internal/testenv"
)

// TestReferencesCurrent regenerates every reference with the installed
// Scrapy and fails when a committed file differs: a fixture or case edited
// without running testdata/reference/regen, or a gen.py that is not
// deterministic.
func TestReferencesCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Scrapy for every area; the full suite runs it")
	}
	if err := exec.Command(Python(), "-c", "import scrapy").Run(); err != nil {
		testenv.Missing(t, "%s cannot import scrapy (%v): apt-get install python3-scrapy (.ci/run installs it)", Python(), err)
	}
	root := filepath.Dir(Dir("x"))
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(root, "regen"), out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("regen: %v\n%s", err, b)
	}
	areas, _ := filepath.Glob(filepath.Join(root, "*", "gen.py"))
	if len(areas) == 0 {
		t.Fatal("no testdata/reference/*/gen.py")
	}
	n := 0
	err := filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		got, _ := os.ReadFile(path)
		want, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil {
			t.Errorf("%s: generated but not committed (run testdata/reference/regen)", rel)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: differs from what Scrapy gives now (run testdata/reference/regen and review the diff)", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, gen := range areas {
		if m, _ := filepath.Glob(filepath.Join(out, filepath.Base(filepath.Dir(gen)), "*")); len(m) == 0 {
			t.Errorf("%s wrote nothing", gen)
		}
	}
	t.Logf("%d reference files in %d areas are current", n, len(areas))
}
