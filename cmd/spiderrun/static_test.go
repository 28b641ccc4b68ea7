package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// moduleRoot is the directory of go.mod (two levels up from this package).
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestGoInstallable checks what the README's install line,
//
//	CGO_ENABLED=0 go install github.com/spiderrun/spiderrun/cmd/spiderrun@latest
//
// relies on: go.mod declares that module path, ./cmd/spiderrun is its main
// package at that import path, and go.mod has no replace or exclude
// directive (go install pkg@version refuses a module that has one).
func TestGoInstallable(t *testing.T) {
	root := moduleRoot(t)
	gomod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(gomod), "\n")
	if lines[0] != "module github.com/spiderrun/spiderrun" {
		t.Fatalf("go.mod starts %q: go install github.com/spiderrun/spiderrun/cmd/spiderrun@latest needs that module path", lines[0])
	}
	for i, l := range lines {
		if f := strings.Fields(l); len(f) > 0 && (f[0] == "replace" || f[0] == "exclude") {
			t.Errorf("go.mod:%d: %q: go install ...@latest refuses a module with replace or exclude directives", i+1, l)
		}
	}
	list := exec.Command("go", "list", "-f", "{{.ImportPath}} {{.Name}}", "./cmd/spiderrun")
	list.Dir = root
	if out, err := list.CombinedOutput(); err != nil || strings.TrimSpace(string(out)) != "github.com/spiderrun/spiderrun/cmd/spiderrun main" {
		t.Fatalf("go list ./cmd/spiderrun: %v\n%s", err, out)
	}
}

// TestStaticBinary builds spiderrun exactly as the README documents,
//
//	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" ./cmd/spiderrun
//
// and checks the "one static binary" claim with debug/elf: no PT_INTERP
// program header (no dynamic loader) and no DT_NEEDED entry (no shared
// library), and that the binary's --version reports the checkout's VCS
// revision.
func TestStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary (about a minute); not under -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("the ELF check is for linux builds")
	}
	root := moduleRoot(t)

	// A user's checkout stamps VCS information (-buildvcs=auto, Go's
	// default); this machine's go env may turn it off, so ask for the
	// default explicitly when the tree is a git checkout.
	gitRev := ""
	if out, err := exec.Command("git", "-C", root, "rev-parse", "HEAD").Output(); err == nil {
		gitRev = strings.TrimSpace(string(out))
	}
	buildvcs := "-buildvcs=false"
	if gitRev != "" {
		buildvcs = "-buildvcs=auto"
	}
	bin := filepath.Join(t.TempDir(), "spiderrun")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./cmd/spiderrun")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS="+buildvcs)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w\" ./cmd/spiderrun: %v\n%s", err, out)
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has a PT_INTERP program header: it needs a dynamic loader")
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) > 0 {
		t.Errorf("the binary needs shared libraries (DT_NEEDED): %v", libs)
	}

	var out bytes.Buffer
	v := exec.Command(bin, "--version")
	v.Stdout = &out
	if err := v.Run(); err != nil {
		t.Fatalf("%s --version: %v", bin, err)
	}
	lines := strings.Split(out.String(), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "spiderrun ") || !strings.HasPrefix(lines[2], "go: go") {
		t.Fatalf("--version printed:\n%s", out.String())
	}
	// What --version prints is what the build stamped: the checkout's
	// revision when Go could read it (not from every git worktree), else
	// "unknown".
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	stamped := ""
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			stamped = s.Value
		}
	}
	switch {
	case stamped != "" && stamped != gitRev:
		t.Errorf("the build stamped revision %s, the checkout is at %s", stamped, gitRev)
	case stamped != "" && !strings.HasPrefix(lines[1], "revision: "+stamped):
		t.Errorf("--version line 2 = %q, want the stamped revision %s", lines[1], stamped)
	case stamped == "" && !strings.HasPrefix(lines[1], "revision: unknown"):
		t.Errorf("--version line 2 = %q for a build without VCS information", lines[1])
	}
}
