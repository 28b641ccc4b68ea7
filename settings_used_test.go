package spiderrun_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/dsl"
	"github.com/spiderrun/spiderrun/runtime/settings"
)

// TestEverySettingIsRead: a setting in the table is public API with a
// documented effect, so some code must read it. The generated
// ResolveSettings reads every setting into its field of settings.Values;
// each field must then be read by a component's builder or by the wiring:
// a selector x.Field where x is a settings.Values (a parameter, variable or
// struct field of that type, or a call to ResolveSettings). This catches a
// setting declared, documented and accepted but wired to nothing (it has
// happened).
func TestEverySettingIsRead(t *testing.T) {
	read := map[string]bool{}
	for path, f := range sourceFiles(t) {
		if strings.HasSuffix(path, "_gen.go") {
			continue
		}
		vals := valuesNames(f)
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch x := sel.X.(type) {
			case *ast.Ident:
				read[sel.Sel.Name] = read[sel.Sel.Name] || vals[x.Name]
			case *ast.SelectorExpr: // t.v.Field
				read[sel.Sel.Name] = read[sel.Sel.Name] || vals[x.Sel.Name]
			case *ast.CallExpr: // ResolveSettings(set).Field
				read[sel.Sel.Name] = read[sel.Sel.Name] || isResolveSettings(x.Fun)
			}
			return true
		})
	}
	typ := reflect.TypeOf(settings.Values{})
	fields := map[string]bool{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		fields[f.Tag.Get("setting")] = true
		if !read[f.Name] {
			t.Errorf("setting %s (settings.Values.%s) is read by no component", f.Tag.Get("setting"), f.Name)
		}
	}
	for _, def := range dsl.Table() {
		if !fields[def.Name] {
			t.Errorf("setting %s has no field in settings.Values: run go run ./internal/gensettings", def.Name)
		}
	}
}

// valuesNames are the names a file declares as a settings.Values (or a
// pointer to one): parameters, variables, struct fields, and variables
// assigned from ResolveSettings or settings.Defaults.
func valuesNames(f *ast.File) map[string]bool {
	names := map[string]bool{}
	isValues := func(e ast.Expr) bool {
		if st, ok := e.(*ast.StarExpr); ok {
			e = st.X
		}
		sel, ok := e.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != "Values" {
			return false
		}
		pkg, ok := sel.X.(*ast.Ident)
		return ok && pkg.Name == "settings"
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.Field:
			if isValues(n.Type) {
				for _, id := range n.Names {
					names[id.Name] = true
				}
			}
		case *ast.ValueSpec:
			if n.Type != nil && isValues(n.Type) {
				for _, id := range n.Names {
					names[id.Name] = true
				}
			}
		case *ast.AssignStmt:
			for i, rhs := range n.Rhs {
				call, ok := rhs.(*ast.CallExpr)
				if !ok || i >= len(n.Lhs) {
					continue
				}
				if id, ok := n.Lhs[i].(*ast.Ident); ok && (isResolveSettings(call.Fun) || isSelector(call.Fun, "settings", "Defaults")) {
					names[id.Name] = true
				}
			}
		}
		return true
	})
	return names
}

func isResolveSettings(fun ast.Expr) bool {
	if id, ok := fun.(*ast.Ident); ok {
		return id.Name == "ResolveSettings"
	}
	return isSelector(fun, "spiderrun", "ResolveSettings")
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != name {
		return false
	}
	id, ok := sel.X.(*ast.Ident)
	return ok && id.Name == pkg
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
