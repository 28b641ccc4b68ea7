// Package compile turns a spider script (a file or inline YAML source, ES
// module, CommonJS or TypeScript, with relative imports and node_modules)
// into one ES2017 script that goja can run, plus the list of its exports and
// a source map back to the user's files.
//
// goja rejects async generators ("Async generators are not supported yet");
// esbuild with target ES2017 lowers `async function*` and `for await` to
// generator + promise helpers that goja runs, and gives ES modules,
// TypeScript and bundling for free. Positions: every error names the user's
// original file:line:col — for inline scripts, the line inside the YAML file.
//
// Running the result: evaluate Program.Code as a plain script; it defines
// the global variable ExportsVar holding the module's exports. The code ends
// with an inline source map, which goja applies to stack traces by itself
// (columns there are 1-based, like goja's own).
package compile

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/evanw/esbuild/pkg/api"
	"github.com/go-sourcemap/sourcemap"
)

// ExportsVar is the global variable the compiled script assigns its exports
// to (an object whose enumerable properties are the module's exports).
const ExportsVar = "__spiderrun_exports"

// ModuleName is the virtual module scripts may import the globals from:
// `import { Request, ResultHolder } from "spiderrun"`.
const ModuleName = "spiderrun"

// Globals are the names the virtual module "spiderrun" re-exports from
// globalThis. jsbridge defines each of them as a global before the script
// runs; `import spiderrun from "spiderrun"` gives an object holding them all.
var Globals = []string{
	"Request", "HttpRequest", "FormRequest", "WebSocketRequest", "WebSocketMsg",
	"ResultHolder", "DropItem", "CloseSpider", "IgnoreRequest", "DontCloseSpider",
	"LinkExtractor", "spider",
}

// Extensions are the script file types Compile accepts.
var Extensions = []string{".js", ".mjs", ".cjs", ".ts"}

// Source is one script to compile.
type Source struct {
	// Filename names the script in messages: the path as the user wrote it
	// (relative to the working directory or the spec), or the YAML file for
	// an inline script.
	Filename string
	// Path is the file to read; "" means inline (Code).
	Path string
	// Code is the inline source. When Path is set too, Code is used as the
	// content of Path (an editor buffer) instead of reading the file.
	Code string
	// Line and Col are the 1-based position of the first character of an
	// inline Code in the YAML file. Col-1 is added to the column of every
	// line: in a YAML block scalar (`script: |`) every line carries the same
	// indentation, which the YAML parser strips. For `script: |` read with
	// yaml.Node: Line = node.Line+1, Col = that line's indentation+1 (see
	// inlineScript in compile_test.go). Zero values mean 1.
	Line, Col int
	// ResolveDir is where relative imports and node_modules are resolved
	// from; "" means the directory of Path, or the working directory for an
	// inline script.
	ResolveDir string
	// TypeScript parses an inline Code as TypeScript (files use their
	// extension).
	TypeScript bool
}

// Program is a compiled script.
type Program struct {
	// Code is the ES2017 script to evaluate, ending with an inline source
	// map whose positions are the user's (1-based lines and columns).
	Code string
	// Exports are the names the module exports, sorted. Nil for a CommonJS
	// entry (module.exports is only known once it runs): see CommonJS.
	Exports []string
	// CommonJS is true when the entry is a CommonJS module.
	CommonJS bool
	// Literals are the callback names and selectors the script passes as
	// string literals (see Literal), in the order of the bundle.
	Literals []Literal
	// Filename is Source.Filename.
	Filename string
	// Files are the display names of every bundled file, entry first.
	Files []string

	sm *sourcemap.Consumer
}

// Original maps a position in Code (1-based line and column) to the user's
// file and position (for an inline script, the YAML file and the line in
// it). ok is false for positions inside esbuild's helpers.
func (p *Program) Original(line, col int) (file string, l, c int, ok bool) {
	if p == nil || p.sm == nil {
		return "", 0, 0, false
	}
	file, _, l, c, ok = p.sm.Source(line, col)
	if !ok || file == "" || l <= 0 {
		return "", 0, 0, false
	}
	return file, l, c, true
}

// Error is a compile error at the user's original position.
type Error struct {
	File      string
	Line, Col int
	Message   string
	// More holds further errors of the same build (esbuild stops at the
	// first syntax error of each file, but reports every unresolved import).
	More []*Error
}

// Error formats as "file:line:col: message", one line per error.
func (e *Error) Error() string {
	var b strings.Builder
	e.write(&b)
	for _, m := range e.More {
		b.WriteByte('\n')
		m.write(&b)
	}
	return b.String()
}

func (e *Error) write(b *strings.Builder) {
	switch {
	case e.File == "":
		b.WriteString(e.Message)
	case e.Line <= 0:
		fmt.Fprintf(b, "%s: %s", e.File, e.Message)
	default:
		fmt.Fprintf(b, "%s:%d:%d: %s", e.File, e.Line, e.Col, e.Message)
	}
}

// inlineName is the esbuild name of an inline script; it is replaced by the
// YAML file's name (with shifted positions) in messages and the source map.
// It must be a plain file name: esbuild URL-escapes source names in the map.
const inlineName = "__spiderrun_inline__.js"

// virtualNamespace is the esbuild namespace of the "spiderrun" module.
const virtualNamespace = "spiderrun-virtual"

// nodeBuiltins are Node modules a script may try to import; they do not
// exist in spiderrun (no file system or process access from callbacks), and
// esbuild's own hint ("use platform node") would mislead.
var nodeBuiltins = []string{
	"assert", "buffer", "child_process", "cluster", "crypto", "dgram", "dns",
	"events", "fs", "fs/promises", "http", "http2", "https", "net", "os",
	"path", "process", "querystring", "readline", "stream", "string_decoder",
	"timers", "tls", "url", "util", "v8", "vm", "worker_threads", "zlib",
}

// Compile bundles and lowers src. Errors are *Error naming the user's
// original file:line:col.
func Compile(src Source) (*Program, error) {
	c, err := newCompilation(src)
	if err != nil {
		return nil, err
	}
	if err := c.checkText(); err != nil {
		return nil, err
	}
	// Two builds: the IIFE one is what runs; the ESM one exists only for its
	// metafile, which lists the entry's exports (esbuild reports exports for
	// ESM output only). Both take a few milliseconds.
	run := api.Build(c.options(api.FormatIIFE))
	if len(run.Errors) > 0 {
		return nil, c.errorOf(run.Errors)
	}
	esm := api.Build(c.options(api.FormatESModule))
	if len(esm.Errors) > 0 {
		return nil, c.errorOf(esm.Errors)
	}
	p := &Program{Filename: src.Filename}
	if err := c.fillExports(p, esm.Metafile); err != nil {
		return nil, err
	}
	var code, mapJSON []byte
	for _, f := range run.OutputFiles {
		switch {
		case strings.HasSuffix(f.Path, ".map"):
			mapJSON = f.Contents
		case strings.HasSuffix(f.Path, ".js"):
			code = f.Contents
		}
	}
	code = tagAsyncGenerators(code)
	if code == nil || mapJSON == nil {
		return nil, &Error{File: src.Filename, Message: "esbuild produced no output"}
	}
	fixed, files, err := c.rewriteMap(mapJSON)
	if err != nil {
		return nil, &Error{File: src.Filename, Message: fmt.Sprintf("source map: %v", err)}
	}
	p.Files = files
	if !hasMappings(fixed) {
		// A script without code (only comments) has nothing to map.
		p.Code = string(code)
		return p, nil
	}
	p.sm, err = sourcemap.Parse("", fixed)
	if err != nil {
		return nil, &Error{File: src.Filename, Message: fmt.Sprintf("source map: %v", err)}
	}
	if err := c.checkBundle(p, string(code)); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.Grow(len(code) + len(fixed)*4/3 + 64)
	b.Write(code)
	b.WriteString("//# sourceMappingURL=data:application/json;base64,")
	b.WriteString(base64.StdEncoding.EncodeToString(fixed))
	b.WriteByte('\n')
	p.Code = b.String()
	return p, nil
}

// tagAsyncGenerators patches esbuild's __asyncGenerator helper (the
// lowering of `async function*`) so that its iterators also have a
// Symbol.for("spiderrun.asyncgen") method returning the underlying sync
// generator and esbuild's __await class, as long as nothing has called
// next() yet (the helper's queue variable is still undefined). The
// prelude's output driver then steps the generator itself and hands each
// yielded value to the sink at once, instead of the five promises and a
// dozen closures per yield of the helper (measured: 30 µs per yield,
// against 6 µs for a sync generator).
//
// esbuild renames the helper's locals when the script uses the same names,
// so they are read from the helper itself. Only the helper's last line
// changes, keeping every line's mappings. If an esbuild update changed the
// helper, nothing is patched and async generators run through the helper
// as before (TestAsyncGeneratorsTagged notices).
func tagAsyncGenerators(code []byte) []byte {
	m := asyncGenReturn.FindSubmatchIndex(code)
	if m == nil {
		return code
	}
	gen, it := code[m[2]:m[3]], code[m[4]:m[5]]
	head := code[max(0, m[0]-2000):m[0]]
	q := regexp.MustCompile(`, ([\w$]+), ` + regexp.QuoteMeta(string(it)) + ` = \{\};\s*$`).FindSubmatch(head)
	await := asyncGenAwait.FindAllSubmatch(head, -1)
	if q == nil || len(await) == 0 {
		return code
	}
	tag := fmt.Sprintf(`%s[Symbol.for("spiderrun.asyncgen")] = () => %s === void 0 && [%s, %s], %s;`,
		it, q[1], gen, await[len(await)-1][1], it)
	out := make([]byte, 0, len(code)+len(tag))
	out = append(out, code[:m[6]]...)
	out = append(out, tag...)
	return append(out, code[m[1]:]...)
}

var (
	// The helper's last statement; groups: the generator, the iterator
	// object, and the span of its final ", it;" operand.
	asyncGenReturn = regexp.MustCompile(`return ([\w$]+) = [\w$]+\.apply\([\w$]+, [\w$]+\), ([\w$]+)\[__knownSymbol\("asyncIterator"\)\] = \(\) => [\w$]+, [\w$]+\("next"\), [\w$]+\("throw"\), [\w$]+\("return"\), ([\w$]+;)`)
	asyncGenAwait  = regexp.MustCompile(`\([\w$]+ = [\w$]+\.value\) instanceof ([\w$]+)`)
)

// compilation holds what one Compile call derived from its Source.
type compilation struct {
	src      Source
	entry    string // absolute entry path ("" inline)
	dir      string // absolute working/resolve directory
	shownDir string // directory prefix for display names of other files
	loader   api.Loader
	line     int // inline line offset (0-based)
	col      int // inline column offset (0-based)
}

func newCompilation(src Source) (*compilation, error) {
	c := &compilation{src: src}
	if src.Filename == "" {
		src.Filename = src.Path
		c.src.Filename = src.Path
	}
	if src.Filename == "" {
		c.src.Filename = "<script>"
	}
	if src.Path != "" {
		abs, err := filepath.Abs(src.Path)
		if err != nil {
			return nil, &Error{File: c.src.Filename, Message: err.Error()}
		}
		c.entry = abs
		ext := strings.ToLower(filepath.Ext(abs))
		if !slices.Contains(Extensions, ext) {
			return nil, &Error{File: c.src.Filename, Message: fmt.Sprintf("unsupported script type %q (want one of %s)", ext, strings.Join(Extensions, " "))}
		}
		c.loader = api.LoaderJS
		if ext == ".ts" {
			c.loader = api.LoaderTS
		}
		if src.Code == "" {
			if _, err := os.Stat(abs); err != nil {
				return nil, &Error{File: c.src.Filename, Message: fmt.Sprintf("cannot read script: %v", unwrapPath(err))}
			}
		}
		c.dir = filepath.Dir(abs)
		c.shownDir = filepath.Dir(c.src.Filename)
	} else {
		c.loader = api.LoaderJS
		if src.TypeScript {
			c.loader = api.LoaderTS
		}
		c.line = max(src.Line, 1) - 1
		c.col = max(src.Col, 1) - 1
		c.dir = "."
		c.shownDir = filepath.Dir(c.src.Filename)
	}
	if src.ResolveDir != "" {
		c.dir = src.ResolveDir
	}
	abs, err := filepath.Abs(c.dir)
	if err != nil {
		return nil, &Error{File: c.src.Filename, Message: err.Error()}
	}
	c.dir = abs
	return c, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (c *compilation) options(format api.Format) api.BuildOptions {
	o := api.BuildOptions{
		AbsWorkingDir:  c.dir,
		Bundle:         true,
		Format:         format,
		Target:         api.ES2017,
		Platform:       api.PlatformNeutral,
		MainFields:     []string{"module", "main"},
		Conditions:     []string{"import", "require", "default"},
		Outfile:        filepath.Join(c.dir, "spiderrun-bundle.js"),
		Write:          false,
		Metafile:       format == api.FormatESModule,
		Sourcemap:      api.SourceMapExternal,
		SourcesContent: api.SourcesContentExclude,
		LogLevel:       api.LogLevelSilent,
		Charset:        api.CharsetUTF8,
		Loader: map[string]api.Loader{
			".js": api.LoaderJS, ".mjs": api.LoaderJS, ".cjs": api.LoaderJS,
			".ts": api.LoaderTS, ".mts": api.LoaderTS, ".cts": api.LoaderTS,
			".json": api.LoaderJSON,
		},
		ResolveExtensions: []string{".ts", ".js", ".mjs", ".cjs", ".json"},
		Plugins:           []api.Plugin{virtualModule(), noNodeBuiltins()},
	}
	if format == api.FormatIIFE {
		o.GlobalName = ExportsVar
	}
	if c.entry != "" && c.src.Code == "" {
		o.EntryPoints = []string{c.entry}
	} else {
		name := inlineName
		if c.entry != "" {
			name = filepath.Base(c.entry)
		}
		o.Stdin = &api.StdinOptions{
			Contents:   c.src.Code,
			ResolveDir: c.dir,
			Sourcefile: name,
			Loader:     c.loader,
		}
	}
	return o
}

// virtualModule resolves `import ... from "spiderrun"` to the globals.
func virtualModule() api.Plugin {
	var b strings.Builder
	b.WriteString("const g = globalThis;\n")
	for _, n := range Globals {
		fmt.Fprintf(&b, "export const %s = g.%s;\n", n, n)
	}
	b.WriteString("export default { ")
	b.WriteString(strings.Join(Globals, ", "))
	b.WriteString(" };\n")
	contents := b.String()
	return api.Plugin{
		Name: "spiderrun-virtual-module",
		Setup: func(pb api.PluginBuild) {
			pb.OnResolve(api.OnResolveOptions{Filter: "^" + ModuleName + "$"}, func(api.OnResolveArgs) (api.OnResolveResult, error) {
				return api.OnResolveResult{Path: ModuleName, Namespace: virtualNamespace}, nil
			})
			pb.OnLoad(api.OnLoadOptions{Filter: ".*", Namespace: virtualNamespace}, func(api.OnLoadArgs) (api.OnLoadResult, error) {
				return api.OnLoadResult{Contents: &contents, Loader: api.LoaderJS}, nil
			})
		},
	}
}

func noNodeBuiltins() api.Plugin {
	filter := "^(node:.*|" + strings.ReplaceAll(strings.Join(nodeBuiltins, "|"), "/", "\\/") + ")$"
	return api.Plugin{
		Name: "spiderrun-no-node-builtins",
		Setup: func(pb api.PluginBuild) {
			pb.OnResolve(api.OnResolveOptions{Filter: filter}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
				return api.OnResolveResult{}, fmt.Errorf("node built-in module %q is not available in spiderrun scripts", a.Path)
			})
		},
	}
}

// display turns an esbuild path (relative to the working directory) into
// the name users see.
func (c *compilation) display(p string) string {
	switch {
	case p == inlineName:
		return c.src.Filename
	case c.entry != "" && c.src.Code != "" && p == filepath.Base(c.entry):
		return c.src.Filename
	case p == ModuleName || strings.HasPrefix(p, virtualNamespace+":"):
		return ModuleName
	case filepath.IsAbs(p):
		return p
	}
	if c.entry != "" && filepath.Join(c.dir, p) == c.entry {
		return c.src.Filename
	}
	return filepath.ToSlash(filepath.Join(c.shownDir, p))
}

// position converts an esbuild location (1-based line, 0-based byte column)
// to the user's 1-based line and character column.
func (c *compilation) position(file string, line, byteCol int, lineText string) (int, int) {
	col := byteCol
	if byteCol <= len(lineText) {
		col = utf8.RuneCountInString(lineText[:byteCol])
	}
	col++
	if file == inlineName {
		line += c.line
		col += c.col
	}
	return line, col
}

func (c *compilation) errorOf(msgs []api.Message) error {
	var first *Error
	for _, m := range msgs {
		e := &Error{File: c.src.Filename, Message: m.Text}
		if loc := m.Location; loc != nil {
			e.File = c.display(loc.File)
			e.Line, e.Col = c.position(loc.File, loc.Line, loc.Column, loc.LineText)
		}
		if first == nil {
			first = e
		} else {
			first.More = append(first.More, e)
		}
	}
	return first
}

type metafile struct {
	Inputs map[string]struct {
		Format string `json:"format"`
	} `json:"inputs"`
	Outputs map[string]struct {
		Exports    []string `json:"exports"`
		EntryPoint string   `json:"entryPoint"`
	} `json:"outputs"`
}

func (c *compilation) fillExports(p *Program, meta string) error {
	var m metafile
	if err := json.Unmarshal([]byte(meta), &m); err != nil {
		return &Error{File: c.src.Filename, Message: fmt.Sprintf("esbuild metafile: %v", err)}
	}
	for _, out := range m.Outputs {
		if out.EntryPoint == "" {
			continue
		}
		if in, ok := m.Inputs[out.EntryPoint]; ok && in.Format == "cjs" {
			p.CommonJS = true
			return nil
		}
		p.Exports = slices.Sorted(slices.Values(out.Exports))
		if p.Exports == nil {
			p.Exports = []string{}
		}
		return nil
	}
	return &Error{File: c.src.Filename, Message: "esbuild metafile names no entry point"}
}

type rawMap struct {
	Version  int      `json:"version"`
	Sources  []string `json:"sources"`
	Names    []string `json:"names"`
	Mappings string   `json:"mappings"`
}

// rewriteMap renames sources to display names and shifts positions: inline
// sources move to their place in the YAML file, and every column becomes
// 1-based, because goja looks mappings up with 1-based columns and reports
// the mapped column as stored.
func (c *compilation) rewriteMap(data []byte) ([]byte, []string, error) {
	var m rawMap
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, nil, err
	}
	inline := -1
	var files []string
	for i, s := range m.Sources {
		if s == inlineName {
			inline = i
		}
		m.Sources[i] = c.display(s)
		if m.Sources[i] != ModuleName {
			files = append(files, m.Sources[i])
		}
	}
	// Entry first, then the imported files sorted: esbuild's order depends
	// on its internal traversal.
	slices.Sort(files)
	if i := slices.Index(files, c.src.Filename); i > 0 {
		files = append([]string{c.src.Filename}, slices.Delete(files, i, i+1)...)
	}
	segs, err := decodeMappings(m.Mappings)
	if err != nil {
		return nil, nil, err
	}
	for li := range segs {
		for si := range segs[li] {
			s := &segs[li][si]
			s.genCol++
			if !s.hasSource {
				continue
			}
			s.srcCol++
			if s.src == inline {
				s.srcLine += c.line
				s.srcCol += c.col
			}
		}
	}
	m.Mappings = encodeMappings(segs)
	out, err := json.Marshal(m)
	return out, files, err
}

// hasMappings reports whether a source map maps anything.
func hasMappings(mapJSON []byte) bool {
	var m struct {
		Mappings string `json:"mappings"`
	}
	return json.Unmarshal(mapJSON, &m) == nil && m.Mappings != ""
}
