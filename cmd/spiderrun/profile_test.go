package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

// profileSpider writes a spider whose callback keeps the CPU busy for a
// while in a function of its own, crawling one local file.
func profileSpider(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "page.html"), "<title>p</title>")
	write(t, filepath.Join(dir, "busy.js"), `function busy(ms) {
  const end = Date.now() + ms;
  let x = 0;
  while (Date.now() < end) x++;
  return x;
}
export function* parse(response) {
  yield { url: response.url, spins: busy(300) };
}
`)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: busy\nscript: busy.js\nstart_urls: [\"file://"+filepath.ToSlash(filepath.Join(dir, "page.html"))+"\"]\n")
	return spec
}

func readProfile(t *testing.T, path string) *profile.Profile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p, err := profile.Parse(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p
}

// run --profile writes a CPU profile of the process, --profile-js one of
// the spider's JavaScript whose frames name the script's functions, file
// and lines.
func TestRunProfiles(t *testing.T) {
	spec := profileSpider(t)
	dir := t.TempDir()
	goProf, jsProf := filepath.Join(dir, "go.pprof"), filepath.Join(dir, "js.pprof")
	code, _, stderr := runCLI(t, "run", spec, "-O", filepath.Join(dir, "items.jsonl"), "--profile", goProf, "--profile-js", jsProf)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if p := readProfile(t, goProf); len(p.Sample) == 0 || p.PeriodType == nil || p.PeriodType.Type != "cpu" {
		t.Fatalf("--profile: %d samples, period %v", len(p.Sample), p.PeriodType)
	}
	p := readProfile(t, jsProf)
	found := false
	for _, s := range p.Sample {
		if len(s.Location) == 0 || len(s.Location[0].Line) == 0 {
			continue
		}
		ln := s.Location[0].Line[0]
		if ln.Function.Name == "busy" {
			if !strings.HasSuffix(ln.Function.Filename, "busy.js") || ln.Line < 2 || ln.Line > 4 {
				t.Fatalf("busy sampled at %s:%d, want busy.js:2-4", ln.Function.Filename, ln.Line)
			}
			found = true
		}
	}
	if !found {
		var names []string
		for _, f := range p.Function {
			names = append(names, f.Name+" "+f.Filename)
		}
		t.Fatalf("--profile-js: no sample in busy; functions: %s", strings.Join(names, ", "))
	}
}

func TestRunProfileErrors(t *testing.T) {
	spec := profileSpider(t)
	missing := filepath.Join(t.TempDir(), "no", "such", "dir", "x.pprof")
	for _, flag := range []string{"--profile", "--profile-js"} {
		code, _, stderr := runCLI(t, "run", spec, flag, missing)
		if code != exitUsage || !strings.Contains(stderr, flag+": open "+missing+": no such file or directory") {
			t.Errorf("%s to a missing directory: exit %d\n%s", flag, code, stderr)
		}
	}
}
