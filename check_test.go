package spiderrun

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/jsbridge/compile"
)

func TestCheckValidSpecs(t *testing.T) {
	specs, _ := filepath.Glob("testdata/specs/valid/*/spider.yaml")
	if len(specs) == 0 {
		t.Fatal("no valid specs")
	}
	for _, p := range specs {
		t.Run(filepath.Base(filepath.Dir(p)), func(t *testing.T) {
			spec, err := dsl.Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if errs := Check(spec, CheckOptions{}); len(errs) > 0 {
				t.Fatalf("Check: %v", errs)
			}
		})
	}
}

// TestCheckInvalidSpecs: each testdata/specs/invalid/<case>/spider.yaml
// loads (its structure is fine) but fails Check with exactly the text of
// <case>/want.golden.
func TestCheckInvalidSpecs(t *testing.T) {
	specs, _ := filepath.Glob("testdata/specs/invalid/*/spider.yaml")
	if len(specs) == 0 {
		t.Fatal("no invalid specs")
	}
	for _, p := range specs {
		dir := filepath.Dir(p)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			spec, err := dsl.Load(p)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			errs := Check(spec, CheckOptions{})
			if len(errs) == 0 {
				t.Fatal("Check found nothing")
			}
			var b strings.Builder
			for _, e := range errs {
				b.WriteString(e.Error() + "\n")
			}
			golden.CheckString(t, filepath.Join(dir, "want.golden"), b.String())
		})
	}
}

func TestCheckSkipScript(t *testing.T) {
	spec, err := dsl.Load("testdata/specs/invalid/js_syntax/spider.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if errs := Check(spec, CheckOptions{SkipScript: true}); len(errs) != 0 {
		t.Fatalf("SkipScript still compiled: %v", errs)
	}
}

// TestScriptExtensionsAgree: the loader decides "path or inline" by the
// same suffixes the compiler accepts.
func TestScriptExtensionsAgree(t *testing.T) {
	if !slices.Equal(dsl.ScriptExtensions, compile.Extensions) {
		t.Fatalf("dsl.ScriptExtensions %v != compile.Extensions %v", dsl.ScriptExtensions, compile.Extensions)
	}
}
