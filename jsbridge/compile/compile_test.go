package compile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dop251/goja"
	"go.yaml.in/yaml/v4"

	"github.com/spiderrun/spiderrun/internal/golden"
)

// inlineScript extracts the `script:` block scalar of a spec the way the
// spec loader does: yaml.Node gives the indicator's line; the content starts
// on the next line, at the block's indentation.
func inlineScript(t *testing.T, path string) Source {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "script" {
			continue
		}
		v := m.Content[i+1]
		if v.Style != yaml.LiteralStyle {
			t.Fatalf("%s: script is not a | block", path)
		}
		lines := strings.Split(string(data), "\n")
		first := lines[v.Line] // v.Line is 1-based: this is the next line
		indent := len(first) - len(strings.TrimLeft(first, " "))
		return Source{Filename: path, Code: v.Value, Line: v.Line + 1, Col: indent + 1, ResolveDir: filepath.Dir(path)}
	}
	t.Fatalf("%s: no script key", path)
	return Source{}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		src    func(t *testing.T) Source
		golden string
	}{
		{"js syntax", func(*testing.T) Source {
			return Source{Filename: "testdata/syntax.js", Path: "testdata/syntax.js"}
		}, "syntax_js.txt"},
		{"ts syntax", func(*testing.T) Source {
			return Source{Filename: "testdata/syntax.ts", Path: "testdata/syntax.ts"}
		}, "syntax_ts.txt"},
		{"inline yaml syntax", func(t *testing.T) Source {
			return inlineScript(t, "testdata/inline.yaml")
		}, "inline_yaml.txt"},
		{"unresolved imports and node built-ins", func(*testing.T) Source {
			return Source{Filename: "testdata/missing_import.js", Path: "testdata/missing_import.js"}
		}, "missing_import.txt"},
		{"missing file", func(*testing.T) Source {
			return Source{Filename: "testdata/nope.js", Path: "testdata/nope.js"}
		}, "missing_file.txt"},
		{"unsupported extension", func(*testing.T) Source {
			return Source{Filename: "testdata/inline.yaml", Path: "testdata/inline.yaml"}
		}, "bad_ext.txt"},
		{"editor buffer for a path", func(*testing.T) Source {
			return Source{Filename: "testdata/ok/main.js", Path: "testdata/ok/main.js", Code: "import { x } from './lib/clean.js';\nexport const = 1;\n"}
		}, "buffer.txt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tc.src(t))
			if err == nil {
				t.Fatalf("compiled without error: exports %v", p.Exports)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error is %T, want *compile.Error: %v", err, err)
			}
			golden.CheckString(t, filepath.Join("testdata", "golden", tc.golden), err.Error()+"\n")
		})
	}
}

func TestCompileExports(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		src      Source
		exports  []string
		commonJS bool
		files    []string
	}{
		{"esm bundle with node_modules and virtual module", Source{Filename: "testdata/ok/main.js", Path: "testdata/ok/main.js"},
			[]string{"nested", "notAFunction", "parse"}, false,
			[]string{"testdata/ok/main.js", "testdata/ok/lib/clean.js", "testdata/ok/node_modules/leftpad/index.js"}},
		{"typescript", Source{Filename: "testdata/ok/typed.ts", Path: "testdata/ok/typed.ts"},
			[]string{"Kind", "parse"}, false, []string{"testdata/ok/typed.ts"}},
		{"commonjs", Source{Filename: "testdata/ok/common.cjs", Path: "testdata/ok/common.cjs"},
			nil, true, []string{"testdata/ok/common.cjs"}},
		{"inline", Source{Filename: "spec.yaml", Code: "export function parse() {}\nexport async function* start() {}\n", Line: 5, Col: 3},
			[]string{"parse", "start"}, false, []string{"spec.yaml"}},
		// Nothing to map: compiles, with no exports (validate then says
		// which function is missing).
		{"only a comment", Source{Filename: "spec.yaml", Code: "// nothing yet\n"}, nil, false, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Exports, tc.exports) || p.CommonJS != tc.commonJS {
				t.Errorf("exports %q commonJS %v, want %q %v", p.Exports, p.CommonJS, tc.exports, tc.commonJS)
			}
			if !slices.Equal(p.Files, tc.files) {
				t.Errorf("files %q, want %q", p.Files, tc.files)
			}
			if strings.Contains(p.Code, "async function*") || strings.Contains(p.Code, "for await") {
				t.Errorf("async generators were not lowered:\n%s", p.Code)
			}
		})
	}
}

// run evaluates a compiled program in a bare goja runtime and calls one of
// its exports with an object argument.
func run(t *testing.T, p *Program, fn string, arg map[string]any) (goja.Value, error) {
	t.Helper()
	vm := goja.New()
	vm.Set("Request", func() {})
	vm.Set("ResultHolder", func() {})
	if _, err := vm.RunScript("spiderrun-bundle.js", p.Code); err != nil {
		t.Fatalf("evaluating bundle: %v", err)
	}
	exports := vm.Get(ExportsVar).ToObject(vm)
	f, ok := goja.AssertFunction(exports.Get(fn))
	if !ok {
		t.Fatalf("export %s is not a function", fn)
	}
	return f(goja.Undefined(), vm.ToValue(arg))
}

// TestRuntimeErrorPositions checks that goja, fed the inline source map,
// reports the user's file:line:col in stack traces — for a nested function
// in an imported module, in TypeScript, and inside a YAML file.
func TestRuntimeErrorPositions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		src    func(t *testing.T) Source
		fn     string
		golden string
	}{
		{"nested function", func(*testing.T) Source {
			return Source{Filename: "testdata/ok/main.js", Path: "testdata/ok/main.js"}
		}, "nested", "runtime_nested.txt"},
		{"typescript", func(*testing.T) Source {
			return Source{Filename: "testdata/ok/typed.ts", Path: "testdata/ok/typed.ts"}
		}, "parse", "runtime_ts.txt"},
		{"inline yaml", func(t *testing.T) Source {
			return inlineScript(t, "testdata/inline_runtime.yaml")
		}, "parse", "runtime_inline.txt"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tc.src(t))
			if err != nil {
				t.Fatal(err)
			}
			_, err = run(t, p, tc.fn, map[string]any{"url": "http://x/"})
			var ex *goja.Exception
			if !errors.As(err, &ex) {
				t.Fatalf("got %v, want a goja exception", err)
			}
			golden.CheckString(t, filepath.Join("testdata", "golden", tc.golden), ex.String()+"\n")
		})
	}
}

// TestOriginal maps generated positions through Program.Original: the
// position goja reports for a throw must come back to the user's file.
func TestOriginal(t *testing.T) {
	t.Parallel()
	p, err := Compile(Source{Filename: "spec.yaml", Code: "export function parse() {\n  return 1;\n}\n", Line: 10, Col: 5})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(p.Code, "\n")
	for i, l := range lines {
		if c := strings.Index(l, "return 1"); c >= 0 {
			file, line, col, ok := p.Original(i+1, c+1)
			if !ok || file != "spec.yaml" || line != 11 || col != 7 {
				t.Errorf("Original(%d, %d) = %s:%d:%d %v, want spec.yaml:11:7", i+1, c+1, file, line, col, ok)
			}
			return
		}
	}
	t.Fatalf("generated code has no `return 1`:\n%s", p.Code)
}

func TestVirtualModuleAndLowering(t *testing.T) {
	t.Parallel()
	p, err := Compile(Source{Filename: "testdata/ok/main.js", Path: "testdata/ok/main.js"})
	if err != nil {
		t.Fatal(err)
	}
	vm := goja.New()
	vm.Set("Request", func() {})
	vm.Set("ResultHolder", func() {})
	if _, err := vm.RunScript("spiderrun-bundle.js", p.Code); err != nil {
		t.Fatal(err)
	}
	// Drain the lowered async generator; goja runs promise jobs after
	// RunString returns, so collect into a global.
	// goja itself has no for-await: drive the iterator by hand.
	_, err = vm.RunString(`
		var got = [];
		(async () => {
			const it = ` + ExportsVar + `.parse({});
			for (;;) {
				const r = await it.next();
				if (r.done) break;
				got.push(JSON.stringify(r.value));
			}
		})().catch(e => got.push("error: " + e));
	`)
	if err != nil {
		t.Fatal(err)
	}
	got := vm.Get("got").Export()
	want := []any{`{"v":"1","padded":"  1"}`, `{"v":"2","padded":"  2"}`, `{"same":true,"holder":"function"}`}
	if !slices.Equal(got.([]any), want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestMappingsRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range []string{
		"",
		";;AAAA,SAAS;AACT,IAAA,CAAC",
		";;;;AAAA;AAAA;ACAO,WAAS,OAAO,GAAG;AACxB,WAAO,EAAE,IAAI",
		"AAAAA,CAACC;;E",
	} {
		segs, err := decodeMappings(m)
		if err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		if got := encodeMappings(segs); got != m {
			t.Errorf("round trip of %q gave %q", m, got)
		}
	}
	if _, err := decodeMappings("AA!A"); err == nil {
		t.Error("invalid character accepted")
	}
}

// Every async generator's iterator gets the spiderrun.asyncgen method
// (tagAsyncGenerators), also when the script's own names make esbuild
// rename the helper's locals, and the tag lists the running generator and
// esbuild's __await class while next() was never called.
func TestAsyncGeneratorsTagged(t *testing.T) {
	t.Parallel()
	for name, prefix := range map[string]string{
		"plain":           "",
		"colliding names": "export const generator = 1, q = 2, it = 3, v = 4, x = 5, method = 6, __await = 7;\n",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			src := prefix + `async function* g() { await null; yield 1; }
export function probe() {
  const it = g(), f = it[Symbol.for("spiderrun.asyncgen")];
  if (typeof f !== "function") return "untagged";
  const [gen, Await] = f();
  const first = gen.next();
  it.next();
  return [typeof gen.next, first.value instanceof Await, f() === false].join(",");
}
`
			p, err := Compile(Source{Filename: "tag.js", Code: src})
			if err != nil {
				t.Fatal(err)
			}
			got, err := run(t, p, "probe", nil)
			if err != nil {
				t.Fatal(err)
			}
			// Once the helper's own next() ran, the tag declines.
			if want := "function,true,true"; fmt.Sprint(got) != want {
				t.Fatalf("probe = %v, want %s", got, want)
			}
		})
	}
}
