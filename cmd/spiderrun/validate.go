package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun"
	"github.com/spiderrun/spiderrun/dsl"
)

func init() { register(newValidateCmd) }

func newValidateCmd() *cobra.Command {
	var skipScript bool
	var sets, argv []string
	cmd := &cobra.Command{
		Use:   "validate SPEC...",
		Short: "Check specs: structure, settings, script, callbacks, regexes, selectors",
		Long: `Validate loads each spec strictly (unknown keys, wrong types and bad
settings are errors), compiles its script as run would and runs its top
level (with the spider arguments -a gives), checks that every function the
spec names is exported, and compiles every regex, XPath and CSS selector:
the spec's, and the script's string literals (callback names in requests,
.css() and .xpath() queries). It checks every problem run checks before it
starts. A TypeScript script (.ts) is type-checked by tsc when tsc is on
the PATH (with the tsconfig.json next to the script, or else --strict
against the declarations of spiderrun types); without tsc a note says the
types were not checked (run strips them). Valid specs print "ok: SPEC
(name)"; problems print as file:line:col: path: message on stderr and the
exit code is 2.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spiderArgs, err := parseArgs(argv)
			if err != nil {
				return err
			}
			failed := 0
			for _, path := range args {
				if !validateOne(cmd.OutOrStdout(), cmd.ErrOrStderr(), path, sets, spiderArgs, skipScript) {
					failed++
				}
			}
			if failed > 0 {
				if len(args) > 1 {
					fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d specs are invalid\n", failed, len(args))
				}
				return &exitError{code: exitUsage}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&sets, "set", "s", nil, "check a setting override KEY=VALUE as run would apply it (repeatable)")
	cmd.Flags().StringArrayVarP(&argv, "arg", "a", nil, "spider argument `NAME=VALUE` the script's top level sees as spider.args, as run would pass it (repeatable)")
	cmd.Flags().BoolVar(&skipScript, "skip-script", false, "do not compile the script (and skip the checks of exported functions)")
	return cmd
}

// validateOne prints the verdict for one spec and reports whether it is valid.
func validateOne(stdout, stderr io.Writer, path string, sets []string, args map[string]string, skipScript bool) bool {
	spec, err := dsl.Load(path)
	if err != nil {
		var list dsl.ErrorList
		if errors.As(err, &list) {
			for _, e := range list {
				fmt.Fprintln(stderr, e)
			}
		} else {
			fmt.Fprintln(stderr, err)
		}
		return false
	}
	bad := false
	for _, kv := range sets {
		if err := spec.Settings.SetFromCLI(kv); err != nil {
			fmt.Fprintln(stderr, err)
			bad = true
		}
	}
	if bad {
		return false
	}
	// Custom settings close to a known name: warnings, not errors.
	for _, w := range spec.Settings.Warnings() {
		fmt.Fprintln(stderr, "warning: "+w)
	}
	errs := spiderrun.Check(spec, spiderrun.CheckOptions{SkipScript: skipScript, Args: args})
	for _, e := range errs {
		fmt.Fprintln(stderr, e)
	}
	if len(errs) > 0 {
		return false
	}
	var note string
	if !skipScript {
		var problems []string
		problems, note = checkTypes(spec.Script) // a .ts script: tsc, when on the PATH (types.go)
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
		}
		if len(problems) > 0 {
			return false
		}
	}
	fmt.Fprintf(stdout, "ok: %s (%s)\n", path, spec.Name)
	if note != "" {
		fmt.Fprintln(stdout, note)
	}
	return true
}
