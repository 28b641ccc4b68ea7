// Package testenv decides what a test does when something it needs from
// the machine is missing (a tool, root): under CI (.ci/run sets CI, and
// installs everything) it fails, because a reference test that skips there
// proves nothing; elsewhere it skips with the reason and how to install it.
package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// CI reports whether the tests run under CI.
func CI() bool { return os.Getenv("CI") != "" }

// Missing ends the test because something it needs is missing: Fatal
// under CI, Skip elsewhere.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if CI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// Tool returns the path of the program name, or ends the test as Missing
// does, saying how to install it (install: "npm install -g typescript").
func Tool(t testing.TB, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		Missing(t, "%s is not on the PATH (%s; .ci/run installs it)", name, install)
	}
	return path
}
