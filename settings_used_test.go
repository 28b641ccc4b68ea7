package spiderrun_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/dsl"
)

// TestEverySettingIsRead: a setting in the table is public API with a
// documented effect, so some code other than the table must read it. This
// catches a setting declared, documented and accepted but wired to
// nothing (it has happened).
func TestEverySettingIsRead(t *testing.T) {
	literals := map[string]bool{}
	for path, f := range sourceFiles(t) {
		if path == "dsl/settings_table.go" {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					literals[s] = true
				}
			}
			return true
		})
	}
	for _, def := range dsl.Table() {
		if !literals[def.Name] {
			t.Errorf("setting %s is declared in dsl/settings_table.go but no code reads it", def.Name)
		}
	}
}

// TestEverySpecKeyIsRead: the same for the spec's keys. Each YAML key of
// dsl.Spec (nested structs included) is a Go field, and some code outside
// dsl/ and schema/ must select it (x.Field).
func TestEverySpecKeyIsRead(t *testing.T) {
	selected := map[string]bool{}
	for path, f := range sourceFiles(t) {
		// Only files that import dsl can read a spec's fields (other
		// packages have fields of the same names).
		importsDSL := false
		for _, imp := range f.Imports {
			importsDSL = importsDSL || imp.Path.Value == `"github.com/spiderrun/spiderrun/dsl"`
		}
		if !importsDSL || strings.HasPrefix(path, "dsl/") || strings.HasPrefix(path, "schema/") {
			continue
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				selected[sel.Sel.Name] = true
			}
			return true
		})
	}
	seen := map[reflect.Type]bool{}
	var walk func(typ reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ.PkgPath() != reflect.TypeOf(dsl.Spec{}).PkgPath() {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Anonymous {
				walk(f.Type, path) // embedded options: their keys are this struct's
				continue
			}
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "" || key == "-" || !f.IsExported() {
				continue
			}
			if !selected[f.Name] {
				t.Errorf("spec key %s%s (dsl.%s.%s) is read by no code outside dsl/", path, key, typ.Name(), f.Name)
			}
			walk(f.Type, path+key+".")
		}
	}
	walk(reflect.TypeOf(dsl.Spec{}), "")
	if len(seen) < 5 {
		t.Fatalf("only %d spec structs walked", len(seen))
	}
}

// sourceFiles parses the module's Go files, tests and testdata excluded,
// keyed by slash path.
func sourceFiles(t *testing.T) map[string]*ast.File {
	t.Helper()
	files := map[string]*ast.File{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(path)] = f
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
