package dsl

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/golden"
)

// TestYAMLSyntaxErrorPositions checks that YAML syntax errors name
// file:line:col and that the column points at the offending character:
// each case names that character (at) and the test reads it back from the
// source at the reported position, so a column that is off by one fails.
// The full messages are in testdata/yaml_syntax_errors.golden (-update).
func TestYAMLSyntaxErrorPositions(t *testing.T) {
	const script = "script: 'export function parse(){}'\n"
	cases := []struct {
		name      string
		src       string
		line, col int
		at        rune // the character at line:col; 0 means the end of the file
		syntax    bool // reported by the parser ("invalid YAML: ...")
	}{
		// DOWNLOAD_DELAY is indented less than the key above it and more
		// than settings: 5:3 is its "D".
		{"bad_indentation", "name: s\n" + script + "settings:\n    CONCURRENT_REQUESTS: 2\n  DOWNLOAD_DELAY: 1\n", 5, 3, 'D', true},
		// A tab used as indentation: 4:1 is the tab itself.
		{"tab_indentation", "name: s\n" + script + "settings:\n\tDOWNLOAD_DELAY: 1\n", 4, 1, '\t', true},
		// A tab where the indentation of a nested mapping continues.
		{"tab_after_indentation", "name: s\n" + script + "settings:\n  DOWNLOAD_DELAY: 1\n\tCONCURRENT_REQUESTS: 2\n", 5, 1, '\t', true},
		// The quote is never closed; the parser fails at the end of the
		// file, the error points back at the opening quote (1:7).
		{"unclosed_double_quote", "name: \"broken\n" + script, 1, 7, '"', true},
		// Same for a single quote on line 2 ("script: " is 8 characters).
		{"unclosed_single_quote", "name: s\nscript: 'export function parse(){}\n", 2, 9, '\'', true},
		// A flow sequence still open at the end of the file: the "[" (3:13).
		{"unclosed_flow_sequence_at_end", "name: s\n" + script + "start_urls: [https://a.example/\n", 3, 13, '[', true},
		// A flow sequence the next key runs into: the parser stops at the
		// ":" after "settings" (4:9) and names where the list started.
		{"unclosed_flow_sequence_then_key", "name: s\n" + script + "start_urls: [https://a.example/, https://b.example/\nsettings: {}\n", 4, 9, ':', true},
		// A flow mapping never closed: its "{" (3:11).
		{"unclosed_flow_mapping", "name: s\n" + script + "settings: {DOWNLOAD_DELAY: 1\n", 3, 11, '{', true},
		// "name: a: b" — the second ":" (1:8) is not allowed there.
		{"mapping_value_in_wrong_context", "name: a: b\n" + script, 1, 8, ':', true},
		// An over-indented key reads as the continuation of the plain
		// scalar above, then its ":" (2:9) is not allowed.
		{"mapping_value_after_continuation", "name: s\n  script: x.js\n", 2, 9, ':', true},
		// Columns count characters, not bytes: "ééé" is three columns, so
		// the second ":" is at 1:10 (byte 13).
		{"columns_count_characters", "name: ééé: b\n" + script, 1, 10, ':', true},
		// An unknown escape: the backslash (2:11).
		{"unknown_escape", "name: s\nscript: \"a\\qb\"\n", 2, 11, '\\', true},
		// A comment glued to a flow sequence: the "#" (3:33).
		{"comment_without_space", "name: s\n" + script + "start_urls: [https://a.example/]# seeds\n", 3, 33, '#', true},
		// An alias to an anchor that does not exist: the "*" (1:7).
		{"unknown_anchor", "name: *nope\n" + script, 1, 7, '*', true},
		// CRLF line ends do not shift columns: the opening quote (2:9).
		{"crlf", "name: s\r\nscript: \"x\r\n", 2, 9, '"', true},
		// A control character (ESC) inside a string: the reader knows only
		// the byte offset, converted to 2:11, the ESC itself.
		{"control_character", "name: s\nscript: \"a\x1bb\"\n", 2, 11, '\x1b', true},
		// Nothing opened the construct the parser wanted: the position is
		// the end of the file (line 4, column 1, after the last newline).
		{"end_of_file", "name: s\n" + script + "start_urls: [\n", 4, 1, 0, true},
		// yaml.v4, like v3, does not report duplicate keys when it builds a
		// node tree; the spec decoder does, at the second key (2:1).
		{"duplicate_key", "name: a\nname: b\n" + script, 2, 1, 'n', false},
	}
	var out strings.Builder
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("spider.yaml", []byte(tc.src))
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want one error, got %v", err)
			}
			e := list[0]
			fmt.Fprintf(&out, "%s: %s\n", tc.name, e)
			if e.File != "spider.yaml" || e.Line != tc.line || e.Col != tc.col {
				t.Errorf("error at %s:%d:%d, want spider.yaml:%d:%d (%v)", e.File, e.Line, e.Col, tc.line, tc.col, e)
			}
			if got := charAt([]byte(tc.src), e.Line, e.Col); got != tc.at {
				t.Errorf("character at %d:%d is %q, want %q", e.Line, e.Col, got, tc.at)
			}
			if tc.syntax != strings.HasPrefix(e.Msg, "invalid YAML: ") {
				t.Errorf("message %q: want syntax error = %v", e.Msg, tc.syntax)
			}
			// The prefix gives the position; the message must not repeat it
			// in the parser's own words.
			for _, dup := range []string{fmt.Sprintf("line %d:", e.Line), fmt.Sprintf("line %d, column %d", e.Line, e.Col), "yaml: "} {
				if strings.Contains(e.Msg, dup) {
					t.Errorf("message %q repeats %q", e.Msg, dup)
				}
			}
		})
	}
	if !t.Failed() {
		golden.Check(t, "testdata/yaml_syntax_errors.golden", []byte(out.String()))
	}
}

// TestYAML12Parsing pins what changed when the YAML library moved from
// yaml.v3 to yaml.v4, whose scanner follows YAML 1.2 where v3 did not
// (specs/spec.md, "Changes from yaml.v3"). Each case says what v3 did.
func TestYAML12Parsing(t *testing.T) {
	const head = "name: s\nscript: 'export function parse(){}'\n"
	kwargs := func(s *Spec) any { return s.Rules[0].CbKwargs }
	cases := []struct {
		name    string
		body    string
		get     func(*Spec) any
		want    any    // when the spec loads
		wantErr string // else the exact error
	}{
		// v3: did not find expected ',' or ']' ("?" ended the scalar).
		{"question_mark_in_flow_url", "start_urls: [https://a.example/search?q=1&x=2]\n",
			func(s *Spec) any { return s.StartURLs }, []string{"https://a.example/search?q=1&x=2"}, ""},
		// v3: a mapping {x: null} ("?" started a complex key).
		{"question_mark_starts_flow_scalar", "rules:\n  - callback: parse\n    cb_kwargs: {a: [?x]}\n",
			kwargs, map[string]any{"a": []any{"?x"}}, ""},
		// v3: the string "localhost:".
		{"colon_before_flow_end_is_a_key", "start_urls: [https://a.example/, localhost:]\n",
			nil, nil, "spider.yaml:3:34: start_urls[1]: expected a string, got a mapping"},
		// v3: accepted (the "#" started a comment).
		{"comment_needs_space", "start_urls: [https://a.example/]# seeds\n",
			nil, nil, "spider.yaml:3:33: invalid YAML: found a comment without preceding whitespace"},
		// v3: the string "-".
		{"lone_dash_in_flow", "settings: {USER_AGENT: -}\n",
			nil, nil, "spider.yaml:3:24: invalid YAML: found character that cannot start any token"},
		// v3: the empty string (the "[" was read as part of the tag).
		{"bracket_in_tag", "start_urls: ![https://a.example/]\n",
			nil, nil, "spider.yaml:3:14: invalid YAML: found character '[' that is not allowed in a YAML tag (while parsing a tag started at line 3, column 13)"},
		// v3: anchor names were letters, digits, "-" and "_" only.
		{"anchor_name_characters", "rules:\n  - callback: parse\n    cb_kwargs: &base.kw:1 {a: 1}\n  - callback: parse\n    cb_kwargs: *base.kw:1\n",
			func(s *Spec) any { return s.Rules[1].CbKwargs }, map[string]any{"a": int64(1)}, ""},
		// v3: found character that cannot start any token.
		{"tab_after_dash", "start_urls:\n  -\thttps://a.example/\n",
			func(s *Spec) any { return s.StartURLs }, []string{"https://a.example/"}, ""},
		// v3: found character that cannot start any token.
		{"tab_before_comment", "\t# seeds\nstart_urls: [https://a.example/]\n",
			func(s *Spec) any { return s.StartURLs }, []string{"https://a.example/"}, ""},
		// v3: found a tab character where an indentation space is expected.
		{"tab_in_block_scalar_content", "rules:\n  - callback: parse\n    cb_kwargs:\n      text: |\n       \ta\n",
			kwargs, map[string]any{"text": "\ta\n"}, ""},
		// v3: found unknown escape character.
		{"escaped_slash", "start_urls: \"https:\\/\\/a.example\\/\"\n",
			func(s *Spec) any { return s.StartURLs }, []string{"https://a.example/"}, ""},
		// v3: the integer 12 and null ("!" was ignored); YAML 1.2 and v4:
		// the non-specific tag means a string.
		{"non_specific_tag", "rules:\n  - callback: parse\n    cb_kwargs: {a: ! 12, b: ! x, c: !, d: ! [1]}\n",
			kwargs, map[string]any{"a": "12", "b": "x", "c": "", "d": []any{int64(1)}}, ""},
		// Unchanged from v3 (normalizeTags): -0 is an integer, -0.0 a float.
		{"negative_zero", "rules:\n  - callback: parse\n    cb_kwargs: {a: -0, b: -0.0}\n",
			func(s *Spec) any {
				kw := s.Rules[0].CbKwargs
				return []string{fmt.Sprintf("%T", kw["a"]), fmt.Sprintf("%T", kw["b"])}
			}, []string{"int64", "float64"}, ""},
		{"negative_zero_setting", "settings: {CONCURRENT_REQUESTS: -0}\n",
			nil, nil, "spider.yaml:3:33: settings.CONCURRENT_REQUESTS: must be at least 1, got 0"},
		// Unchanged: yes/no/on/off stay strings, 0o17 and 0777 integers,
		// merge keys merge.
		{"yaml11_scalars", "rules:\n  - callback: parse\n    cb_kwargs: {a: yes, b: off, c: 0o17, d: Yes}\n",
			kwargs, map[string]any{"a": "yes", "b": "off", "c": int64(15), "d": "Yes"}, ""},
		{"merge_keys", "settings:\n  <<: [{DOWNLOAD_DELAY: 1}, {CONCURRENT_REQUESTS: 2}]\n",
			func(s *Spec) any {
				return []any{s.Settings.Int("CONCURRENT_REQUESTS"), s.Settings.Duration("DOWNLOAD_DELAY").String()}
			},
			[]any{2, "1s"}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse("spider.yaml", []byte(head+tc.body))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := tc.get(s); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}
