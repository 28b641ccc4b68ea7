package dsl

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFunctionRefs(t *testing.T) {
	s, err := Load("testdata/valid/full.spec.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.FunctionRefs() {
		got = append(got, r.Path+"="+r.Name)
		if r.Pos.Line == 0 {
			t.Errorf("%s has no position", r.Path)
		}
	}
	want := []string{
		"callback=parse", "errback=errRet", "parse_start_url=parse",
		"rules[0].link_extractor.process_value=keep_first", "rules[0].callback=parse_quote",
		"rules[0].process_links=keep_first", "rules[0].process_request=add_header", "rules[0].errback=on_error",
		"sitemap_rules[0].callback=parse_quote", "sitemap_rules[1].callback=parse",
		"pipelines[0]=clean",
		"downloader_middlewares[0].process_request=sign", "downloader_middlewares[0].process_response=check_ban",
		"downloader_middlewares[0].process_exception=on_error",
		"spider_middlewares[0].process_spider_output=tag",
		"hooks.spider_closed=closed", "hooks.spider_opened=opened",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("FunctionRefs =\n%q\nwant\n%q", got, want)
	}
	if p := s.Pos("rules[0].callback"); p != (Position{Line: 28, Col: 15}) {
		t.Errorf("Pos(rules[0].callback) = %+v, want 28:15", p)
	}
	if p := s.Pos("settings.CONCURRENT_REQUESTS"); p.Line != 53 {
		t.Errorf("Pos(settings.CONCURRENT_REQUESTS) = %+v, want line 53", p)
	}
	if s.RedisKey != "quotes:start_urls" {
		t.Errorf("RedisKey = %q", s.RedisKey)
	}
}

func TestImplicitParseRef(t *testing.T) {
	s, err := Parse("i.yaml", []byte("name: i\nstart_urls: [https://a.example/]\nscript: 'export function parse(){}'\n"))
	if err != nil {
		t.Fatal(err)
	}
	refs := s.FunctionRefs()
	if len(refs) != 1 || refs[0].Name != "parse" || !refs[0].Implicit || refs[0].Pos != (Position{2, 13}) {
		t.Fatalf("refs = %+v, want the implicit parse at start_urls (2:13)", refs)
	}
}

// TestInlineScriptRoundTrip is Y08: JavaScript in a | block keeps tabs, #,
// ':' and unicode byte for byte, and its position points at the first line
// of code inside the YAML file.
func TestInlineScriptRoundTrip(t *testing.T) {
	js := "// a # comment: with colon ✓\nexport function parse(r) {\n\treturn {k: \"v # not a comment\"};\n}\n"
	var b strings.Builder
	b.WriteString("name: inline\nstart_urls: [https://a.example/]\nscript: |\n")
	for _, l := range strings.SplitAfter(js, "\n") {
		if l != "" {
			b.WriteString("    " + l)
		}
	}
	s, err := Parse("inline.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if s.Script.Inline != js {
		t.Errorf("inline script changed:\n%q\nwant\n%q", s.Script.Inline, js)
	}
	if s.Script.Path != "" || s.Script.Line != 4 || s.Script.Col != 5 || s.Script.Filename != "inline.yaml" {
		t.Errorf("script = %+v, want inline at inline.yaml:4:5", s.Script)
	}
}

func TestScriptPathOrInline(t *testing.T) {
	for _, tt := range []struct {
		v      string
		isPath bool
	}{
		{"quotes.js", true}, {"lib/spider.ts", true}, {"x.mjs", true}, {"x.cjs", true},
		{"export function parse(){}", false}, {"module.exports = {parse() {}}; // x.js", false},
		{"a.js\nb.js", false}, {"spider.py", false},
	} {
		if got := isScriptPath(tt.v); got != tt.isPath {
			t.Errorf("isScriptPath(%q) = %v, want %v", tt.v, got, tt.isPath)
		}
	}
}

// TestYAML11Strings is Y06: values users mean as text stay text.
func TestYAML11Strings(t *testing.T) {
	s, err := Parse("y.yaml", []byte("name: y\nscript: 'export function parse(){}'\nsession_id: 0123\nrules:\n  - cb_kwargs: {country: NO, on: yes, zip: '01234'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.SessionID != "0123" {
		t.Errorf("session_id = %q, want the text 0123", s.SessionID)
	}
	want := map[string]any{"country": "NO", "on": "yes", "zip": "01234"}
	if !reflect.DeepEqual(s.Rules[0].CbKwargs, want) {
		t.Errorf("cb_kwargs = %#v, want %#v", s.Rules[0].CbKwargs, want)
	}
}

// TestTooLarge is Y03 and the 10 MB bad-input case: rejected before
// parsing, from a real file, in bounded time and memory (only MaxSpecSize+1
// bytes are read).
func TestTooLarge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spider.yaml")
	var b bytes.Buffer
	b.WriteString("name: big\nscript: 'export function parse(){}'\nstart_urls:\n")
	for b.Len() < 10<<20 {
		b.WriteString("  - https://example.com/a/very/long/path/to/make/the/file/big\n")
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + ":1:1: spec too large (more than 1048576 bytes; a spec is configuration, put data in files it references)"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	got, err := os.ReadFile("testdata/invalid/too_large.golden")
	if err != nil {
		t.Fatal(err)
	}
	_, perr := Parse("spider.yaml", b.Bytes())
	if perr == nil || perr.Error()+"\n" != string(got) {
		t.Fatalf("Parse error %v does not match testdata/invalid/too_large.golden %q", perr, got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/nope.yaml")
	var list ErrorList
	if !errors.As(err, &list) || err.Error() != "testdata/nope.yaml: no such file" {
		t.Fatalf("err = %v", err)
	}
	_, err = Load("testdata")
	if err == nil || err.Error() != "testdata: is a directory, not a spec file" {
		t.Fatalf("err = %v", err)
	}
}

// TestErrorCap: a spec full of mistakes reports a bounded number of them.
func TestErrorCap(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: many\nscript: 'export function parse(){}'\nstart_urls:\n")
	for i := 0; i < 5000; i++ {
		b.WriteString("  - [x]\n")
	}
	_, err := Parse("many.yaml", []byte(b.String()))
	var list ErrorList
	if !errors.As(err, &list) || len(list) != maxErrors+1 || list[len(list)-1].Msg != "too many errors, stopping" {
		t.Fatalf("got %d errors, want %d ending with the cap notice", len(list), maxErrors+1)
	}
}

func TestSuggest(t *testing.T) {
	names := []string{"start_urls", "allowed_domains", "callback", "follow"}
	for in, want := range map[string]string{
		"start_url": "start_urls", "folow": "follow", "Callback": "callback", "allowed_domain": "allowed_domains",
		"zzz": "", "x": "",
	} {
		if got := suggest(in, names); got != want {
			t.Errorf("suggest(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzLoadSpec is Y10: no input may panic or hang the loader. The seeds are
// the valid and invalid fixtures (Y01–Y09) and run as a normal test.
func FuzzLoadSpec(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*/*.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("name: x\nscript: 'a'\nrules: [{link_extractor: {<<: [*a]}}]\n"))
	f.Add([]byte("a: &a {<<: *a}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("testdata/fuzz.yaml", data)
		if err == nil && s == nil {
			t.Fatal("nil spec without error")
		}
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %v", err)
			}
			for _, e := range list {
				// A panic recovered inside Parse is a bug even though the
				// user sees an error, and every syntax error has a position.
				if strings.HasPrefix(e.Msg, "internal error") {
					t.Fatalf("recovered panic: %v", e)
				}
				if strings.HasPrefix(e.Msg, "invalid YAML") && (e.Line == 0 || e.Col == 0) {
					t.Fatalf("syntax error without line:col: %v", e)
				}
			}
		}
	})
}

func TestRuleDefaults(t *testing.T) {
	yes, no := true, false
	for _, tt := range []struct {
		r    Rule
		want bool
	}{
		{Rule{}, true}, {Rule{Callback: "p"}, false}, {Rule{Callback: "p", Follow: &yes}, true}, {Rule{Follow: &no}, false},
	} {
		if got := tt.r.ShouldFollow(); got != tt.want {
			t.Errorf("%+v.ShouldFollow() = %v, want %v", tt.r, got, tt.want)
		}
	}
	if (&Spec{}).DefaultCallback() != "parse" || (&Spec{Callback: "x"}).DefaultCallback() != "x" {
		t.Error("DefaultCallback")
	}
}

// TestInlineScriptLeadingBlankLine: a blank first line is part of the
// script, so line 1 of the script is the line after "script: |".
func TestInlineScriptLeadingBlankLine(t *testing.T) {
	s, err := Parse("b.yaml", []byte("name: b\nscript: |\n\n  export function parse() {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Script.Inline != "\nexport function parse() {}\n" || s.Script.Line != 3 || s.Script.Col != 3 {
		t.Fatalf("script = %+v", s.Script)
	}
}
