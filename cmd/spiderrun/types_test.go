package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/testenv"
	"github.com/spiderrun/spiderrun/jsbridge"
)

// lookTsc returns the path of TypeScript's tsc (a failure under CI).
func lookTsc(t *testing.T) string {
	t.Helper()
	return testenv.Tool(t, "tsc", "npm install -g typescript")
}

// TestTypesPrintsDeclarations: `spiderrun types` prints the declarations
// built into the binary, byte for byte jsbridge/spiderrun.d.ts.
func TestTypesPrintsDeclarations(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runCLI(t, "types")
	if code != exitOK || stderr != "" {
		t.Fatalf("exit %d stderr %q", code, stderr)
	}
	want, err := os.ReadFile("../../jsbridge/spiderrun.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(want) || !bytes.Equal(jsbridge.Declarations(), want) {
		t.Errorf("types printed %d bytes, want jsbridge/spiderrun.d.ts (%d bytes)", len(stdout), len(want))
	}
	if code, _, stderr := runCLI(t, "types", "extra"); code != exitUsage {
		t.Errorf("types extra: exit %d %s, want %d", code, stderr, exitUsage)
	}
}

// TestExampleTSMatchesQuotes: the TypeScript example is the quotes
// example with types, so its items are the quotes example's.
func TestExampleTSMatchesQuotes(t *testing.T) {
	t.Parallel()
	quotes := readLines(t, "../../examples/quotes/testdata/want.jsonl", "")
	ts := readLines(t, "../../examples/ts/testdata/want.jsonl", "")
	if len(ts) == 0 || !slices.Equal(quotes, ts) {
		t.Errorf("examples/ts items differ from examples/quotes'\n   ts: %s\nquotes: %s",
			strings.Join(ts, "\n       "), strings.Join(quotes, "\n       "))
	}
}

// tsSpider writes a spider whose script is a .ts file with the given
// source into a new directory and returns the spec's path.
func tsSpider(t *testing.T, dir, script string) string {
	t.Helper()
	write(t, filepath.Join(dir, "spider.ts"), script)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: typed\nstart_urls: [\"https://example.com/\"]\nscript: spider.ts\n")
	return spec
}

const (
	// tsGood type-checks under --strict: a plain interface as the item type.
	tsGood = `interface Page { url: string; title: string }
export function* parse(response: Response): Generator<Page | Request> {
  yield { url: response.url, title: response.css("title::text").get("") };
}
`
	// tsBad compiles (esbuild strips types) but fails tsc --strict on
	// line 3: get() without a default may be null.
	tsBad = `interface Page { url: string; title: string }
export function* parse(response: Response): Generator<Page | Request> {
  const title: string = response.css("title::text").get();
  yield { url: response.url, title };
}
`
)

// TestValidateTypeChecks: validate runs tsc on a .ts script when tsc is on
// the PATH: --strict against the built-in declarations when the script has
// no tsconfig.json beside it, the project's tsconfig.json when it has one;
// tsc's errors are reported as file:line:col and the spec is invalid.
func TestValidateTypeChecks(t *testing.T) {
	lookTsc(t)
	t.Parallel()
	t.Run("good", func(t *testing.T) {
		t.Parallel()
		spec := tsSpider(t, t.TempDir(), tsGood)
		code, stdout, stderr := runCLI(t, "validate", spec)
		if code != exitOK || stdout != "ok: "+spec+" (typed)\n" || stderr != "" {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
		}
	})
	t.Run("bad", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		spec := tsSpider(t, dir, tsBad)
		code, stdout, stderr := runCLI(t, "validate", spec)
		want := filepath.Join(dir, "spider.ts") + ":3:9: error TS2322: Type 'string | null' is not assignable to type 'string'.\n" +
			"  Type 'null' is not assignable to type 'string'.\n"
		if code != exitUsage || stdout != "" || stderr != want {
			t.Fatalf("exit %d\nstdout %s\nstderr %q\nwant   %q", code, stdout, stderr, want)
		}
		// --skip-script skips the type check with the compilation.
		if code, stdout, stderr := runCLI(t, "validate", "--skip-script", spec); code != exitOK {
			t.Errorf("--skip-script: exit %d %s%s", code, stdout, stderr)
		}
	})
	t.Run("project tsconfig", func(t *testing.T) {
		t.Parallel()
		// The project's own (non-strict) tsconfig.json is the one used:
		// the same script passes, and the project's declarations are its
		// copy of spiderrun types.
		dir := t.TempDir()
		spec := tsSpider(t, dir, tsBad)
		write(t, filepath.Join(dir, "spiderrun.d.ts"), string(jsbridge.Declarations()))
		write(t, filepath.Join(dir, "tsconfig.json"), `{"compilerOptions": {"strict": false, "lib": ["es2020"], "types": [],
  "module": "esnext", "moduleResolution": "bundler"}, "files": ["spider.ts", "spiderrun.d.ts"]}`)
		if code, stdout, stderr := runCLI(t, "validate", spec); code != exitOK || stderr != "" {
			t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
		}
		// Made strict, it fails as above; files are named as the spec
		// names the script.
		write(t, filepath.Join(dir, "tsconfig.json"), `{"compilerOptions": {"strict": true, "lib": ["es2020"], "types": [],
  "module": "esnext", "moduleResolution": "bundler"}, "files": ["spider.ts", "spiderrun.d.ts"]}`)
		code, _, stderr := runCLI(t, "validate", spec)
		if code != exitUsage || !strings.HasPrefix(stderr, filepath.Join(dir, "spider.ts")+":3:9: error TS2322: ") {
			t.Fatalf("exit %d stderr %q", code, stderr)
		}
	})
}

// TestValidateTypesWithoutTsc: without tsc on the PATH the spec is valid
// (run strips the types) and validate says that the types were not
// checked; a JavaScript script gets no such note. (Not parallel: it sets
// PATH.)
func TestValidateTypesWithoutTsc(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	spec := tsSpider(t, t.TempDir(), tsBad)
	code, stdout, stderr := runCLI(t, "validate", spec)
	want := "ok: " + spec + " (typed)\nnote: " + filepath.Join(filepath.Dir(spec), "spider.ts") +
		": types not checked: tsc is not on the PATH (npm install -g typescript); spiderrun strips TypeScript types without checking them\n"
	if code != exitOK || stdout != want || stderr != "" {
		t.Fatalf("exit %d\nstdout %q\nwant   %q\nstderr %s", code, stdout, want, stderr)
	}
	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), "export function parse(r) { return {url: r.url}; }\n")
	write(t, filepath.Join(dir, "spider.yaml"), "name: plain\nstart_urls: [\"https://example.com/\"]\nscript: spider.js\n")
	if code, stdout, _ := runCLI(t, "validate", filepath.Join(dir, "spider.yaml")); code != exitOK || strings.Contains(stdout, "note:") {
		t.Errorf("a .js script: exit %d stdout %q", code, stdout)
	}
}

// TestValidateTscOutput: how tsc's diagnostics become validate's lines,
// with a stand-in tsc: positions as file:line:col, elaborations kept under
// their diagnostic, the built-in declarations named as such, and output
// without positions still reported. (Not parallel: it sets PATH.)
func TestValidateTscOutput(t *testing.T) {
	bin := t.TempDir()
	write(t, filepath.Join(bin, "tsc"), `#!/bin/sh
# The generated config lists the built-in declarations by absolute path.
dts=$(sed -n 's/.*"\(\/[^"]*spiderrun\.d\.ts\)".*/\1/p' "$2")
echo "spider.ts(3,9): error TS2322: Type 'string | null' is not assignable to type 'string'."
echo "  Type 'null' is not assignable to type 'string'."
echo "lib/helper.ts(1,1): error TS1005: ';' expected."
echo "$dts(10,2): error TS2300: Duplicate identifier 'Request'."
echo "error TS5023: Unknown compiler option 'x'."
exit 2
`)
	if err := os.Chmod(filepath.Join(bin, "tsc"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	dir := t.TempDir()
	spec := tsSpider(t, dir, tsGood)
	code, stdout, stderr := runCLI(t, "validate", spec)
	want := strings.Join([]string{
		filepath.Join(dir, "spider.ts") + ":3:9: error TS2322: Type 'string | null' is not assignable to type 'string'.",
		"  Type 'null' is not assignable to type 'string'.",
		filepath.Join(dir, "lib", "helper.ts") + ":1:1: error TS1005: ';' expected.",
		"spiderrun.d.ts (built in):10:2: error TS2300: Duplicate identifier 'Request'.",
		filepath.Join(dir, "spider.ts") + ": tsc: error TS5023: Unknown compiler option 'x'.",
	}, "\n") + "\n"
	if code != exitUsage || stdout != "" || stderr != want {
		t.Fatalf("exit %d\nstdout %q\nstderr %s\nwant   %s", code, stdout, stderr, want)
	}
}
