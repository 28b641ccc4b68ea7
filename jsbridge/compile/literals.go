package compile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/dop251/goja"
	"github.com/dop251/goja/ast"
	"github.com/dop251/goja/file"
	"github.com/dop251/goja/parser"
)

// Literal is a string literal the script passes where spiderrun later
// reads a name or a query: the callback or errback of a request built with
// new Request({...}) (and the other request classes), response.follow,
// follow_all, FormRequest.from_response or request.replace, and the query of
// a .css(...) or .xpath(...) call. A literal is as static as the spec's own
// callbacks and selectors, so `validate` checks it (spiderrun.Check) and a
// typo is reported before the crawl, at the literal's position.
type Literal struct {
	// Kind is "callback", "errback", "css" or "xpath".
	Kind string
	// Value is the literal's value.
	Value string
	// File, Line and Col are the literal's position in the user's file
	// (1-based; the YAML file for an inline script).
	File      string
	Line, Col int
}

// requestClasses are the request constructors whose options object names
// callbacks.
var requestClasses = map[string]bool{"Request": true, "HttpRequest": true, "FormRequest": true, "WebSocketRequest": true}

// requestOptionCalls are the methods whose arguments may hold request
// options ({callback: "name"}).
var requestOptionCalls = map[string]bool{"follow": true, "follow_all": true, "from_response": true, "replace": true}

// checkBundle parses the compiled code with goja, the engine that runs it,
// so that whatever goja rejects and esbuild let through (a raw byte that is
// not UTF-8, a regular expression goja cannot compile) is an error at the
// user's position rather than in the bundle; and it collects p.Literals.
func (c *compilation) checkBundle(p *Program, code string) error {
	prg, err := parser.ParseFile(nil, "", code, 0, parser.WithDisableSourceMaps)
	if err != nil {
		var list parser.ErrorList
		if errors.As(err, &list) && len(list) > 0 {
			return c.bundleError(p, list[0].Position.Line, list[0].Position.Column, list[0].Message)
		}
		return &Error{File: c.src.Filename, Message: err.Error()}
	}
	if _, err := goja.CompileAST(prg, !p.CommonJS); err != nil {
		var se *goja.CompilerSyntaxError
		if errors.As(err, &se) && se.File != nil {
			pos := se.File.Position(se.Offset)
			return c.bundleError(p, pos.Line, pos.Column, regexpMessage(se.Message))
		}
		return &Error{File: c.src.Filename, Message: strings.TrimPrefix(err.Error(), "SyntaxError: ")}
	}
	w := literalWalker{p: p, f: prg.File, seen: map[seenKey]bool{}}
	w.walk(reflect.ValueOf(prg))
	p.Literals = w.out
	return nil
}

// regexpMessage shortens goja's message for a regular expression neither
// of its engines compiles, which nests the same text three times:
// "Invalid regular expression (regexp2): a{2,1} (Invalid regular expression
// (regexp2): a{2,1} (error parsing regexp: invalid repeat count in
// `a{2,1}`))" becomes "invalid regular expression: invalid repeat count in
// `a{2,1}`".
func regexpMessage(msg string) string {
	const inner = "error parsing regexp: "
	if !strings.HasPrefix(msg, "Invalid regular expression") {
		return msg
	}
	if i := strings.LastIndex(msg, inner); i >= 0 {
		return "invalid regular expression: " + strings.TrimRight(msg[i+len(inner):], ")")
	}
	return msg
}

// bundleError maps a goja error at line:col of the bundle to the user's
// file; a position in esbuild's helpers keeps the entry's name without a
// position.
func (c *compilation) bundleError(p *Program, line, col int, msg string) error {
	if file, l, cl, ok := p.Original(line, col); ok {
		return &Error{File: file, Line: l, Col: cl, Message: msg}
	}
	return &Error{File: c.src.Filename, Message: msg}
}

type literalWalker struct {
	p    *Program
	f    *file.File
	out  []Literal
	seen map[seenKey]bool // nodes reached twice (Program.DeclarationList repeats declarations)
}

type seenKey struct {
	t reflect.Type
	p uintptr
}

var (
	nodeType = reflect.TypeOf((*ast.Node)(nil)).Elem()
	astPkg   = reflect.TypeOf(ast.Program{}).PkgPath()
)

// walk visits every node of the goja AST below v (goja has no visitor).
func (w *literalWalker) walk(v reflect.Value) {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return
		}
		if v.Kind() == reflect.Pointer {
			k := seenKey{v.Type(), v.Pointer()}
			if w.seen[k] {
				return
			}
			w.seen[k] = true
			if v.Type().Implements(nodeType) {
				w.visit(v.Interface().(ast.Node))
			}
		}
		w.walk(v.Elem())
	case reflect.Slice:
		for i := 0; i < v.Len(); i++ {
			w.walk(v.Index(i))
		}
	case reflect.Struct:
		if v.Type().PkgPath() != astPkg {
			return
		}
		for i := 0; i < v.NumField(); i++ {
			if f := v.Field(i); f.Kind() == reflect.Interface || f.Kind() == reflect.Pointer || f.Kind() == reflect.Slice || f.Kind() == reflect.Struct {
				if f.Kind() == reflect.Pointer && f.Type().Elem().PkgPath() != astPkg {
					continue
				}
				w.walk(f)
			}
		}
	}
}

func (w *literalWalker) visit(n ast.Node) {
	switch n := n.(type) {
	case *ast.NewExpression:
		// esbuild renames an imported class when the name is taken
		// (Request2).
		if requestClasses[strings.TrimRight(calleeName(n.Callee), "0123456789")] {
			for _, a := range n.ArgumentList {
				w.requestOptions(a)
			}
		}
	case *ast.CallExpression:
		d, ok := n.Callee.(*ast.DotExpression)
		if !ok {
			return
		}
		name := d.Identifier.Name.String()
		switch {
		case requestOptionCalls[name]:
			for _, a := range n.ArgumentList {
				w.requestOptions(a)
			}
		case (name == "css" || name == "xpath") && len(n.ArgumentList) == 1:
			if s, idx, ok := stringValue(n.ArgumentList[0]); ok {
				w.add(name, s, idx)
			}
		}
	}
}

// calleeName is the name a constructor is called by: Request, or the
// property name of ns.Request.
func calleeName(e ast.Expression) string {
	switch e := e.(type) {
	case *ast.Identifier:
		return e.Name.String()
	case *ast.DotExpression:
		return e.Identifier.Name.String()
	}
	return ""
}

// requestOptions records callback: "name" and errback: "name" of an
// object literal.
func (w *literalWalker) requestOptions(e ast.Expression) {
	o, ok := e.(*ast.ObjectLiteral)
	if !ok {
		return
	}
	for _, prop := range o.Value {
		pk, ok := prop.(*ast.PropertyKeyed)
		if !ok || pk.Computed || pk.Kind != ast.PropertyKindValue {
			continue
		}
		key, _, ok := stringValue(pk.Key)
		if !ok {
			if id, isID := pk.Key.(*ast.Identifier); isID {
				key, ok = id.Name.String(), true
			}
		}
		if !ok || (key != "callback" && key != "errback") {
			continue
		}
		if s, idx, ok := stringValue(pk.Value); ok {
			w.add(key, s, idx)
		}
	}
}

// stringValue is the value of a string literal or of a template literal
// without substitutions.
func stringValue(e ast.Expression) (string, file.Idx, bool) {
	switch e := e.(type) {
	case *ast.StringLiteral:
		return e.Value.String(), e.Idx, true
	case *ast.TemplateLiteral:
		if e.Tag == nil && len(e.Expressions) == 0 && len(e.Elements) == 1 && e.Elements[0].Valid {
			return e.Elements[0].Parsed.String(), e.OpenQuote, true
		}
	}
	return "", 0, false
}

// add records a literal found at idx of the bundle when it maps to the
// user's own code (not to a package under node_modules).
func (w *literalWalker) add(kind, value string, idx file.Idx) {
	pos := w.f.Position(int(idx) - w.f.Base())
	name, line, col, ok := w.p.Original(pos.Line, pos.Column)
	if !ok || strings.Contains(name, "node_modules/") {
		return
	}
	w.out = append(w.out, Literal{Kind: kind, Value: value, File: name, Line: line, Col: col})
}

// checkText rejects an entry that is not UTF-8 text: a binary or
// compressed file at its first character, a stray byte that is not UTF-8
// (which esbuild passes through and goja rejects) at its position.
func (c *compilation) checkText() error {
	var data []byte
	switch {
	case c.src.Code != "":
		data = []byte(c.src.Code)
	case c.entry != "":
		var err error
		if data, err = os.ReadFile(c.entry); err != nil {
			return nil // esbuild reports it
		}
	}
	if isBinary(data) {
		return &Error{File: c.src.Filename, Line: 1, Col: 1, Message: "binary file: a script must be UTF-8 text"}
	}
	if utf8.Valid(data) {
		return nil
	}
	line, col := 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			l, cl := line, col
			if c.entry == "" { // inline: the position in the YAML file
				l, cl = line+c.line, col+c.col
			}
			return &Error{File: c.src.Filename, Line: l, Col: cl, Message: fmt.Sprintf("invalid UTF-8 byte 0x%02x: a script must be UTF-8 text", data[0])}
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return nil
}

// isBinary reports a file that is no script at all: it holds a NUL byte,
// starts like a compressed archive or an executable, or has several bytes
// that are not UTF-8 in its first kilobyte (dsl has the same rule for
// specs).
func isBinary(data []byte) bool {
	if bytes.IndexByte(data, 0) >= 0 {
		return true
	}
	for _, magic := range []string{"\x1f\x8b", "PK\x03\x04", "BZh", "\xfd7zXZ", "\x28\xb5\x2f\xfd", "\x7fELF"} {
		if bytes.HasPrefix(data, []byte(magic)) {
			return true
		}
	}
	head := data[:min(len(data), 1024)]
	bad := 0
	for len(head) > 0 {
		r, size := utf8.DecodeRune(head)
		if r == utf8.RuneError && size <= 1 {
			bad++
		}
		head = head[size:]
	}
	return bad >= 3
}
