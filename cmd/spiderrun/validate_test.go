package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidateOK(t *testing.T) {
	code, stdout, stderr := runCLI(t, "validate", "../../testdata/specs/valid/basic/spider.yaml", "../../dsl/testdata/valid/minimal.spec.yaml")
	if code != exitOK {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	want := "ok: ../../testdata/specs/valid/basic/spider.yaml (basic)\nok: ../../dsl/testdata/valid/minimal.spec.yaml (minimal)\n"
	if stdout != want || stderr != "" {
		t.Fatalf("stdout %q stderr %q, want %q", stdout, stderr, want)
	}
}

// TestValidateInvalid runs validate on every invalid fixture — loader
// errors (dsl/testdata/invalid) and check errors (testdata/specs/invalid) —
// and expects exit 2 with exactly the golden error text on stderr.
func TestValidateInvalid(t *testing.T) {
	type tc struct{ spec, golden string }
	var cases []tc
	loaderCases, _ := filepath.Glob("../../dsl/testdata/invalid/*.yaml")
	for _, f := range loaderCases {
		cases = append(cases, tc{f, strings.TrimSuffix(f, ".yaml") + ".golden"})
	}
	checkCases, _ := filepath.Glob("../../testdata/specs/invalid/*/spider.yaml")
	for _, f := range checkCases {
		cases = append(cases, tc{f, filepath.Join(filepath.Dir(f), "want.golden")})
	}
	if len(cases) < 20 {
		t.Fatalf("only %d invalid fixtures found", len(cases))
	}
	for _, c := range cases {
		t.Run(c.spec, func(t *testing.T) {
			want, err := os.ReadFile(c.golden)
			if err != nil {
				t.Fatal(err)
			}
			// Goldens name files relative to their package; here they are
			// reached from cmd/spiderrun.
			prefix := "../../"
			if strings.HasPrefix(c.spec, "../../dsl/") {
				prefix = "../../dsl/"
			}
			var wantText strings.Builder
			for _, line := range strings.SplitAfter(string(want), "\n") {
				if line != "" {
					wantText.WriteString(prefix + line)
				}
			}
			code, stdout, stderr := runCLI(t, "validate", c.spec)
			if code != exitUsage {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, exitUsage, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want nothing", stdout)
			}
			got := stderr
			if strings.HasSuffix(c.spec, "too_large.yaml") {
				return
			}
			if got != wantText.String() {
				t.Errorf("stderr:\n%s\nwant:\n%s", got, wantText.String())
			}
			if strings.Contains(got, "goroutine ") || strings.Contains(got, "panic") {
				t.Errorf("stack trace reached the user:\n%s", got)
			}
		})
	}
}

func TestValidateMixedExitCode(t *testing.T) {
	code, stdout, stderr := runCLI(t, "validate", "../../testdata/specs/valid/basic/spider.yaml", "../../dsl/testdata/invalid/empty.yaml")
	if code != exitUsage {
		t.Fatalf("exit %d, want 2", code)
	}
	if !strings.Contains(stdout, "ok: ../../testdata/specs/valid/basic/spider.yaml (basic)") {
		t.Errorf("stdout = %q", stdout)
	}
	if !strings.Contains(stderr, "empty.yaml:1:1: empty spec") || !strings.Contains(stderr, "1 of 2 specs are invalid") {
		t.Errorf("stderr = %q", stderr)
	}
}

func TestValidateNeedsArgs(t *testing.T) {
	if code, _, _ := runCLI(t, "validate"); code != exitUsage {
		t.Fatalf("exit %d, want 2", code)
	}
}

// TestValidateHugeSpec: a 10 MB spec fails clearly (exit 2, one line).
func TestValidateHugeSpec(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spider.yaml")
	big := "name: big\nscript: 'export function parse(){}'\nstart_urls:\n" + strings.Repeat("  - https://example.com/some/long/path/for/a/big/file\n", 10<<20/52)
	if err := os.WriteFile(path, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, "validate", path)
	want := path + ":1:1: spec too large (more than 1048576 bytes; a spec is configuration, put data in files it references)\n"
	if code != exitUsage || stderr != want {
		t.Fatalf("exit %d stderr %q, want 2 and %q", code, stderr, want)
	}
}

func TestValidateSettingOverrides(t *testing.T) {
	spec := "../../testdata/specs/valid/basic/spider.yaml"
	if code, stdout, stderr := runCLI(t, "validate", "-s", "CONCURRENT_REQUESTS=4", "-s", "DOWNLOAD_DELAY=250ms", spec); code != exitOK {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	// A likely typo is kept as a custom setting, with a warning.
	code, _, stderr := runCLI(t, "validate", "-s", "CONCURENT_REQUESTS=4", spec)
	want := "warning: -s CONCURENT_REQUESTS: unknown setting \"CONCURENT_REQUESTS\" kept as a custom setting (did you mean \"CONCURRENT_REQUESTS\"?)\n"
	if code != exitOK || stderr != want {
		t.Fatalf("exit %d stderr %q, want 0 and %q", code, stderr, want)
	}
	// A name that cannot be a custom setting is refused.
	code, _, stderr = runCLI(t, "validate", "-s", "concurrent_requests=4", spec)
	want = "-s concurrent_requests: unknown setting \"concurrent_requests\" (did you mean \"CONCURRENT_REQUESTS\"?)\n"
	if code != exitUsage || stderr != want {
		t.Fatalf("exit %d stderr %q, want 2 and %q", code, stderr, want)
	}
}
