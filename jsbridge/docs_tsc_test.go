package jsbridge

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDocExamplesTypeCheck type-checks spiderrun.d.ts and, against it, every
// spider script of the documentation (the js/ts blocks TestDocExamples and
// cmd/spiderrun TestDocSpecs run; js_path contexts are classic browser
// scripts and are left out) with the TypeScript compiler: JavaScript with
// checkJs, so a documented call the declarations reject (a constructor
// form, an option name, a member) fails here. Not --strict: the
// documentation's scripts are JavaScript (TestDtsStrict checks the
// declarations, a TypeScript spider and examples/ts under --strict). tsc
// comes from npm (`npm install -g typescript`); without it the test skips,
// except under CI (CI=true), where it fails (lookTsc).
func TestDocExamplesTypeCheck(t *testing.T) {
	t.Parallel()
	tsc := lookTsc(t)
	dir := t.TempDir()
	dts, err := os.ReadFile("spiderrun.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	files := []string{"spiderrun.d.ts"}
	if err := os.WriteFile(filepath.Join(dir, "spiderrun.d.ts"), dts, 0o644); err != nil {
		t.Fatal(err)
	}
	origin := map[string]docBlock{}
	for _, path := range docFiles(t) {
		blocks := readDocBlocks(t, path)
		var contexts []string // js_path entries: not spider scripts
		for _, b := range blocks {
			if b.Lang == "yaml" && b.Kind != "fragment" {
				for _, m := range specJSPathRe.FindAllStringSubmatch(b.Code, -1) {
					for _, p := range strings.Split(m[1], ",") {
						contexts = append(contexts, strings.Trim(strings.TrimSpace(p), `'"`))
					}
				}
			}
		}
		for _, b := range blocks {
			if (b.Lang != "js" && b.Lang != "ts") || b.Kind == "fragment" || (b.Name != "" && usedBySpec(b.Name, contexts)) {
				continue
			}
			ext := ".js"
			if b.Lang == "ts" {
				ext = ".ts"
			}
			name := fmt.Sprintf("%s_%d%s", strings.NewReplacer("/", "_", ".md", "").Replace(b.File), b.Line, ext)
			// Keep the markdown's line numbers: pad with empty lines.
			code := strings.Repeat("\n", b.Line-1) + b.Code
			if err := os.WriteFile(filepath.Join(dir, name), []byte(code), 0o644); err != nil {
				t.Fatal(err)
			}
			files = append(files, name)
			origin[name] = b
		}
	}
	if len(origin) < 20 {
		t.Fatalf("only %d blocks to check", len(origin))
	}
	config := map[string]any{
		"compilerOptions": map[string]any{
			"allowJs": true, "checkJs": true, "noEmit": true, "strict": false,
			"target": "es2020", "module": "esnext", "moduleResolution": "bundler",
			// No DOM: a spider has none (and the DOM's Request and
			// Response would clash with spiderrun's).
			"lib": []string{"es2020"}, "types": []string{},
		},
		"files": files,
	}
	data, _ := json.MarshalIndent(config, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "tsconfig.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tsc, "-p", ".", "--pretty", "false")
	cmd.Dir = dir // messages name the files relative to it
	out, err := cmd.CombinedOutput()
	if err != nil {
		// Name the markdown file instead of the temporary one.
		msg := string(out)
		for name, b := range origin {
			msg = strings.ReplaceAll(msg, name, b.File)
		}
		t.Fatalf("tsc: %v\n%s", err, msg)
	}
	t.Logf("tsc: spiderrun.d.ts and %d documented scripts type-check", len(origin))
}
