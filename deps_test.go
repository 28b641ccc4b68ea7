package spiderrun_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencyDirection enforces the layering of DESIGN.md §1: runtime/*
// never imports jsbridge, dsl or goja; dsl, runtime/crawl, runtime/settings and
// runtime/weburl import no other package of ours; the engine, the scheduler and the item
// pipeline do not link the HTML and selector stack of runtime/extract
// (issue 13: URL handling they need is in runtime/weburl).
func TestDependencyDirection(t *testing.T) {
	const mod = "github.com/spiderrun/spiderrun"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}:{{join .Deps \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	rules := []struct {
		pkgPrefix  string
		forbidden  []string
		ownAllowed bool // may import other packages of ours
	}{
		{mod + "/runtime/", []string{mod + "/jsbridge", mod + "/dsl", "github.com/dop251/goja", mod + "/cmd"}, true},
		{mod + "/dsl", []string{mod + "/"}, false},
		{mod + "/runtime/crawl", []string{mod + "/"}, false},
		{mod + "/runtime/settings", []string{mod + "/"}, false},
		{mod + "/runtime/weburl", []string{mod + "/"}, false},
		{mod + "/runtime/engine", []string{mod + "/runtime/extract"}, true},
		{mod + "/runtime/scheduler", []string{mod + "/runtime/extract"}, true},
		{mod + "/runtime/pipeline", []string{mod + "/runtime/extract"}, true},
		{mod + "/jsbridge", []string{mod + "/dsl", mod + "/cmd"}, true},
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, deps, _ := strings.Cut(line, ":")
		for _, r := range rules {
			if pkg != r.pkgPrefix && !strings.HasPrefix(pkg, strings.TrimSuffix(r.pkgPrefix, "/")+"/") {
				continue
			}
			checked++
			for _, d := range strings.Fields(deps) {
				if strings.HasPrefix(d, mod+"/internal/") && strings.HasSuffix(pkg, "test") {
					continue
				}
				for _, f := range r.forbidden {
					if d == strings.TrimSuffix(f, "/") || strings.HasPrefix(d, f) || strings.HasPrefix(d, strings.TrimSuffix(f, "/")+"/") {
						t.Errorf("%s imports %s (forbidden by the layering)", pkg, d)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no packages checked: go list output changed shape")
	}
}
