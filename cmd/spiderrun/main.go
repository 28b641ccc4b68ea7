// Command spiderrun runs web spiders described as YAML specs with JavaScript
// callbacks. This package holds only commands, flags and exit codes; the work
// is done by the spiderrun, dsl, jsbridge and runtime packages.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Exit codes (DESIGN.md §5).
const (
	exitOK      = 0 // finished normally
	exitFailed  = 1 // the run failed (unhandled callback error, stalled, ...)
	exitUsage   = 2 // usage error or invalid spec
	exitAborted = 130
)

// exitError carries an exit code out of a command. A nil err with a code
// means the command already printed what the user needs.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// usageErr marks err as a usage or spec error (exit code 2).
func usageErr(err error) error { return &exitError{code: exitUsage, err: err} }

// failErr marks err as a failed run (exit code 1).
func failErr(err error) error { return &exitError{code: exitFailed, err: err} }

// commands lists constructors of the subcommands; each command's file adds
// itself in init so commands stay in their own files.
var commands []func() *cobra.Command

func register(f func() *cobra.Command) { commands = append(commands, f) }

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "spiderrun",
		Short: "Run web spiders described as YAML specs with JavaScript callbacks",
		Long: `spiderrun runs web spiders described as YAML specs whose callbacks are
JavaScript, with Scrapy's semantics, browser-grade TLS/HTTP2 fingerprints and
Redis-backed distributed crawling, from one static binary.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       versionText(), // --version (version.go)
	}
	root.SetVersionTemplate("{{.Version}}")
	for _, f := range commands {
		root.AddCommand(f())
	}
	return root
}

// run executes the CLI and returns the process exit code. A panic that
// escapes a command is a bug; the user gets one line naming it, not a Go
// stack trace (SPIDERRUN_TRACEBACK=1 shows the stack for a bug report).
func run(args []string, stdout, stderr io.Writer) (code int) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(stderr, "spiderrun: internal error: %v (please report it; SPIDERRUN_TRACEBACK=1 shows where)\n", v)
			if os.Getenv("SPIDERRUN_TRACEBACK") == "1" {
				fmt.Fprintf(stderr, "%s", debug.Stack())
			}
			code = exitFailed
		}
	}()
	root := newRootCmd()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintln(stderr, "spiderrun:", ee.err)
		}
		return ee.code
	}
	// Cobra's own errors (unknown flag, wrong arg count) are usage errors.
	fmt.Fprintln(stderr, "spiderrun:", err)
	return exitUsage
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
