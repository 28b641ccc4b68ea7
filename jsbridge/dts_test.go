package jsbridge

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
)

// TestTypeDeclarations checks that spiderrun.d.ts parses as TypeScript and
// declares every global of the virtual module.
func TestTypeDeclarations(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("spiderrun.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	res := api.Transform(string(src), api.TransformOptions{Loader: api.LoaderTS, Sourcefile: "spiderrun.d.ts"})
	for _, e := range res.Errors {
		t.Errorf("spiderrun.d.ts:%d:%d: %s", e.Location.Line, e.Location.Column, e.Text)
	}
	declared := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^declare (?:class|const) (\w+)`).FindAllStringSubmatch(string(src), -1) {
		declared[m[1]] = true
	}
	for _, g := range compile.Globals {
		if !declared[g] {
			t.Errorf("global %s is not declared in spiderrun.d.ts", g)
		}
	}
	// The virtual module "spiderrun" exports exactly the globals it
	// re-exports at runtime.
	m := regexp.MustCompile(`(?s)declare module "spiderrun" \{.*?export \{(.*?)\};`).FindStringSubmatch(string(src))
	if m == nil {
		t.Fatal(`spiderrun.d.ts: no export list in declare module "spiderrun"`)
	}
	var exported []string
	for _, e := range regexp.MustCompile(`as (\w+)`).FindAllStringSubmatch(m[1], -1) {
		exported = append(exported, e[1])
	}
	want := slices.Clone(compile.Globals)
	slices.Sort(exported)
	slices.Sort(want)
	if !slices.Equal(exported, want) {
		t.Errorf(`declare module "spiderrun" exports %v; the runtime module exports %v`, exported, want)
	}
	// And every declared global exists at runtime.
	s, _ := newSpider(t, "shapes.js", nil)
	done := make(chan []string, 1)
	s.loop.post(func() {
		var missing []string
		for g := range declared {
			if !present(s.vm.Get(g)) {
				missing = append(missing, g)
			}
		}
		slices.Sort(missing)
		done <- missing
	})
	if missing := <-done; len(missing) > 0 {
		t.Errorf("declared but not defined at runtime: %v", missing)
	}
}
