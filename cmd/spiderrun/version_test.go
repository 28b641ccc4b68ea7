package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFormatVersion(t *testing.T) {
	t.Parallel()
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "3f2a1c9e0b7d51a4c0f6e1d2b3a4c5d6e7f8a9b0"
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{"checkout build, dirty", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261207054100-3f2a1c9e0b7d+dirty"},
			Settings: vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-12-07T05:41:00Z", "vcs.modified", "true")},
			"spiderrun v0.0.0-20261207054100-3f2a1c9e0b7d+dirty\nrevision: " + rev + "+dirty (2026-12-07T05:41:00Z)\ngo: go1.26.8 linux/amd64\n"},
		{"checkout build, clean", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", rev, "vcs.modified", "false")},
			"spiderrun (devel)\nrevision: " + rev + "\ngo: go1.26.8 linux/amd64\n"},
		{"go install module@version", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.0"}},
			"spiderrun v1.2.0\nrevision: none (built from the module zip of v1.2.0)\ngo: go1.26.8 linux/amd64\n"},
		{"-buildvcs=false", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			"spiderrun (devel)\nrevision: unknown (built without VCS information)\ngo: go1.26.8 linux/amd64\n"},
		{"no build info", nil,
			"spiderrun (devel)\nrevision: unknown (built without VCS information)\ngo: " + runtime.Version() + " linux/amd64\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatVersion(tt.bi, "linux/amd64"); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// `spiderrun version` and `spiderrun --version` print the same three lines.
func TestVersionCommand(t *testing.T) {
	code, stdout, stderr := runCLI(t, "version")
	if code != exitOK || stderr != "" {
		t.Fatalf("version: exit %d stderr %q", code, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "spiderrun ") || !strings.HasPrefix(lines[1], "revision: ") ||
		lines[2] != "go: "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version output:\n%s", stdout)
	}
	code, flagOut, stderr := runCLI(t, "--version")
	if code != exitOK || flagOut != stdout {
		t.Errorf("--version: exit %d stderr %q\n%s\nwant\n%s", code, stderr, flagOut, stdout)
	}
	code, _, stderr = runCLI(t, "version", "extra")
	if code != exitUsage || !strings.Contains(stderr, `unknown command "extra"`) {
		t.Errorf("version extra: exit %d stderr %q", code, stderr)
	}
}
