package compile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestLiterals: the callback names and queries a script passes as string
// literals are collected once each, at the literal's position in the
// user's file (for an inline script, in the YAML file).
func TestLiterals(t *testing.T) {
	t.Parallel()
	code := `import { Request as R } from "spiderrun";
export function* start() {
  yield new Request({ url: "https://example.com/", callback: "prase", errback: 'oops' });
  yield new R({ url: "https://example.com/", callback: parse });
  yield new MyRequest({ callback: "not_ours" });
}
export function* parse(response) {
  yield response.follow("/next", { callback: ` + "`parse_item`" + ` });
  const q = "div";
  return [response.css("a::txt").get(), response.xpath("//a[").get(), response.css(q), response.css("a", 1)];
}
`
	for _, tc := range []struct {
		name      string
		src       Source
		line, col int // added to the file's positions
	}{
		{name: "file", src: Source{Filename: "spider.js", Code: code, Path: "spider.js"}},
		{name: "inline", src: Source{Filename: "spider.yaml", Code: code, Line: 10, Col: 5}, line: 9, col: 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			f := tc.src.Filename
			want := []Literal{
				{Kind: "callback", Value: "prase", File: f, Line: 3 + tc.line, Col: 62 + tc.col},
				{Kind: "errback", Value: "oops", File: f, Line: 3 + tc.line, Col: 80 + tc.col},
				{Kind: "callback", Value: "parse_item", File: f, Line: 8 + tc.line, Col: 46 + tc.col},
				{Kind: "css", Value: "a::txt", File: f, Line: 10 + tc.line, Col: 24 + tc.col},
				{Kind: "xpath", Value: "//a[", File: f, Line: 10 + tc.line, Col: 56 + tc.col},
			}
			if !reflect.DeepEqual(p.Literals, want) {
				t.Errorf("Literals =\n%+v\nwant\n%+v", p.Literals, want)
			}
		})
	}
}

// TestNotText: a binary or compressed script is named at file:1:1, a stray
// byte that is not UTF-8 at its own position (esbuild passes it through;
// goja would reject it inside the bundle).
func TestNotText(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tc := range []struct {
		name, body string
		want       Error
	}{
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03", Error{Line: 1, Col: 1, Message: "binary file: a script must be UTF-8 text"}},
		{"nul", "export function parse() {}\x00\n", Error{Line: 1, Col: 1, Message: "binary file: a script must be UTF-8 text"}},
		{"regex byte", "export function parse(r) {\n  return /a\xffb/.test(r.text);\n}\n", Error{Line: 2, Col: 12, Message: "invalid UTF-8 byte 0xff: a script must be UTF-8 text"}},
		{"string byte", "export const s = \"\xc3\";\n", Error{Line: 1, Col: 19, Message: "invalid UTF-8 byte 0xc3: a script must be UTF-8 text"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(dir, tc.name+".js")
			if err := os.WriteFile(path, []byte(tc.body), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Compile(Source{Filename: path, Path: path})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *Error", err)
			}
			tc.want.File = path
			if !reflect.DeepEqual(*ce, tc.want) {
				t.Errorf("err = %+v, want %+v", *ce, tc.want)
			}
		})
	}
}

// TestGojaErrorsMapped: what esbuild accepts and goja rejects is reported
// at the user's position, never in the bundle.
func TestGojaErrorsMapped(t *testing.T) {
	t.Parallel()
	// A regular expression goja cannot compile (esbuild does not check them).
	_, err := Compile(Source{Filename: "spider.js", Path: "spider.js", Code: "export function parse(r) {\n  return /a{2,1}/.test(r.text);\n}\n"})
	want := "spider.js:2:10: invalid regular expression: invalid repeat count in `a{2,1}`"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %s", err, want)
	}
}
