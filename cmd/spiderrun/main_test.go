package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runCLI runs the real CLI entry point in-process and returns its exit code
// and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	code, _, stderr := runCLI(t, "no-such-command")
	if code != exitUsage {
		t.Fatalf("exit code = %d, want %d", code, exitUsage)
	}
	if !strings.Contains(stderr, "unknown command") {
		t.Fatalf("stderr = %q, want it to name the unknown command", stderr)
	}
}

func TestHelpExitsZero(t *testing.T) {
	code, stdout, _ := runCLI(t, "--help")
	if code != exitOK || !strings.Contains(stdout, "spiderrun") {
		t.Fatalf("code=%d stdout=%q", code, stdout)
	}
}

// A panic in a command reaches the user as one line, not a stack trace.
func TestPanicIsOneLine(t *testing.T) {
	commands = append(commands, func() *cobra.Command {
		return &cobra.Command{Use: "boom", Hidden: true, RunE: func(*cobra.Command, []string) error { panic("kaboom") }}
	})
	defer func() { commands = commands[:len(commands)-1] }()
	code, _, stderr := runCLI(t, "boom")
	if code != exitFailed || !strings.Contains(stderr, "internal error: kaboom") || strings.Contains(stderr, "goroutine") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
}
