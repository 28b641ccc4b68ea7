package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/jsbridge"
)

func init() { register(newTypesCmd) }

func newTypesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "types",
		Short: "Print the TypeScript declarations of the JavaScript API (spiderrun.d.ts)",
		Long: `Types prints spiderrun.d.ts, the TypeScript declarations of the
JavaScript API this binary implements (the globals Request, Response,
spider, ... and the "spiderrun" module), for editors and tsc:

  spiderrun types > spiderrun.d.ts

List the file in tsconfig.json "files" and compile with lib ["es2020"]
(no "dom": its Request and Response are other classes) and types [].
spiderrun new NAME URL --template ts writes both files for you. Your own
item types are plain interfaces:

  interface Quote { text: string; author: string }
  export function* parse(r: Response): Generator<Quote | Request> { ... }

spiderrun strips the types when it runs a spider; spiderrun validate runs
tsc on a .ts script when tsc is on the PATH.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(jsbridge.Declarations())
			return err
		},
	}
}

// tsconfig returns the tsconfig.json of a TypeScript spider listing files:
// strict, no emit (spiderrun compiles the script itself, with esbuild),
// and the runtime's globals only (lib es2020 without the DOM, whose
// Request and Response are other classes; types [] keeps @types/node's
// out for the same reason).
func tsconfig(files ...string) string {
	quoted := make([]string, len(files))
	for i, f := range files {
		q, _ := json.Marshal(f)
		quoted[i] = string(q)
	}
	return `{
  // Type-check with: tsc -p .  (or spiderrun validate spider.yaml).
  // spiderrun strips the types when it runs the spider.
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "target": "es2020",
    "module": "esnext",
    "moduleResolution": "bundler",
    "lib": ["es2020"],
    "types": [],
    "isolatedModules": true,
    "allowJs": true,
    "resolveJsonModule": true
  },
  "files": [` + strings.Join(quoted, ", ") + `]
}
`
}

// tscTimeout bounds one type check.
const tscTimeout = 2 * time.Minute

// tscLine is one diagnostic of tsc --pretty false: FILE(LINE,COL): MESSAGE.
var tscLine = regexp.MustCompile(`^(.+?)\((\d+),(\d+)\): (.*)$`)

// checkTypes is validate's type check of a TypeScript script (a .ts file;
// JavaScript and inline scripts are not checked). When tsc is on the PATH
// it runs it: with the tsconfig.json next to the script when there is one
// (the project as the user's editor sees it), otherwise under --strict
// against the declarations built into this binary. Problems are tsc's
// diagnostics as FILE:LINE:COL: error TSnnnn: message, the file named as
// the spec names the script. Without tsc the types are not checked, and
// note says so.
func checkTypes(script dsl.ScriptRef) (problems []string, note string) {
	if script.Path == "" || !strings.EqualFold(filepath.Ext(script.Path), ".ts") {
		return nil, ""
	}
	tsc, err := exec.LookPath("tsc")
	if err != nil {
		return nil, fmt.Sprintf("note: %s: types not checked: tsc is not on the PATH (npm install -g typescript); "+
			"spiderrun strips TypeScript types without checking them", script.Filename)
	}
	dir := filepath.Dir(script.Path)
	project := filepath.Join(dir, "tsconfig.json")
	var tmp string
	if _, err := os.Stat(project); err != nil {
		tmp, err = os.MkdirTemp("", "spiderrun-tsc-")
		if err != nil {
			return []string{fmt.Sprintf("%s: type check: %v", script.Filename, err)}, ""
		}
		defer os.RemoveAll(tmp)
		project = filepath.Join(tmp, "tsconfig.json")
		dts := filepath.Join(tmp, "spiderrun.d.ts")
		if err := errors.Join(
			os.WriteFile(dts, jsbridge.Declarations(), 0o644),
			os.WriteFile(project, []byte(tsconfig(script.Path, dts)), 0o644),
		); err != nil {
			return []string{fmt.Sprintf("%s: type check: %v", script.Filename, err)}, ""
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), tscTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tsc, "-p", project, "--noEmit", "--pretty", "false")
	cmd.Dir = dir // diagnostics name files relative to it
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil, ""
	}
	// name maps a file tsc names to the name validate shows.
	name := func(f string) string {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		if tmp != "" && strings.HasPrefix(f, tmp+string(filepath.Separator)) {
			return filepath.Base(f) + " (built in)"
		}
		if rel, err := filepath.Rel(dir, f); err == nil {
			return filepath.Join(filepath.Dir(script.Filename), rel)
		}
		return f
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch m := tscLine.FindStringSubmatch(line); {
		case strings.TrimSpace(line) == "":
		case m != nil:
			problems = append(problems, fmt.Sprintf("%s:%s:%s: %s", name(m[1]), m[2], m[3], m[4]))
		case strings.HasPrefix(line, " ") && len(problems) > 0:
			// tsc's elaboration of the diagnostic above.
			problems[len(problems)-1] += "\n" + line
		default:
			problems = append(problems, fmt.Sprintf("%s: tsc: %s", script.Filename, line))
		}
	}
	if len(problems) == 0 {
		if ctx.Err() != nil {
			err = fmt.Errorf("no answer within %v", tscTimeout)
		}
		problems = []string{fmt.Sprintf("%s: tsc: %v", script.Filename, err)}
	}
	return problems, ""
}
