package dsl

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/golden"
)

const settingsDoc = "../specs/settings.md"

// settingsMarkdown renders specs/settings.md from the settings table.
func settingsMarkdown() string {
	var b strings.Builder
	b.WriteString(`# Settings

<!-- Generated from dsl/settings_table.go by ` + "`go test ./dsl -run TestSettingsDoc -update`" + `. Do not edit. -->

Settings use Scrapy's names. Precedence: the defaults below < the spec's
` + "`settings:`" + ` < ` + "`-s KEY=VALUE`" + ` on the command line. Unknown names are errors
(with a "did you mean" hint), and values are checked for type and range.

This table is the only place a setting is declared. This page, the JSON
Schema and the typed ` + "`settings.Values`" + ` the crawl runs with
(runtime/settings/values_gen.go: one field per setting, ` + "`Defaults()`" + ` holding
the defaults below; ` + "`go run ./internal/gensettings`" + `) are generated from it.
` + "`spiderrun.ResolveSettings`" + ` is the only code that reads a setting by name;
each component maps its own settings next to its code (` + "`downloader.FromSettings`" + `,
` + "`middleware.BuiltinsFromSettings`" + `, ` + "`engine.FromSettings`" + `, ...), and a test per
component checks that the defaults below give its own zero-config defaults.
FEEDS is decoded like the spec's ` + "`feeds:`" + ` key, with the same options.

Value types:

| type | in spider.yaml | with -s |
| --- | --- | --- |
| integer | ` + "`16`" + ` (a quoted "16" is an error) | ` + "`16`" + ` |
| number | ` + "`0.5`" + ` | ` + "`0.5`" + ` |
| boolean | ` + "`true`" + ` / ` + "`false`" + ` (YAML 1.1's yes/no/on/off are errors) | ` + "`true` `false` `1` `0`" + ` |
| duration | seconds ` + "`0.5`" + `, ` + "`2`" + `, or ` + "`\"500ms\"`" + `, ` + "`2s`" + `, ` + "`1m30s`" + ` | same |
| size | bytes ` + "`1048576`" + ` or ` + "`32MiB`" + `, ` + "`1.5GB`" + ` (KB/MB/GB are 1000-based, KiB/MiB/GiB and K/M/G 1024-based) | same |
| string | any scalar, taken as written | the text |
| enum | one of the listed values (case-sensitive) | same |
| list of strings | ` + "`[a, b]`" + ` or a single ` + "`a`" + ` | ` + "`a,b`" + ` or ` + "`[\"a\",\"b\"]`" + ` |
| list of integers | ` + "`[500, 503]`" + ` or a single ` + "`500`" + ` | ` + "`500,503`" + ` or ` + "`[500,503]`" + ` |
| mapping | a YAML mapping (order kept) | a JSON object |

`)
	b.WriteString("| setting | type | default | description |\n| --- | --- | --- | --- |\n")
	for _, d := range Table() {
		typ := d.Kind.String()
		switch {
		case d.Kind == KindEnum:
			typ = "enum: " + strings.Join(d.Enum, ", ")
		case d.Min != nil:
			typ += fmt.Sprintf(" ≥ %v", *d.Min)
		}
		doc := d.Doc
		if len(d.Aliases) > 0 {
			doc += " Alias: " + strings.Join(d.Aliases, ", ") + "."
		}
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", d.Name, typ, strings.ReplaceAll(FormatDefault(d), "|", `\|`), strings.ReplaceAll(doc, "|", `\|`))
	}
	return b.String()
}

func TestSettingsDoc(t *testing.T) {
	golden.CheckString(t, settingsDoc, settingsMarkdown())
}

const (
	specDoc    = "../specs/spec.md"
	beginKeys  = "<!-- BEGIN GENERATED KEYS -->\n"
	endKeys    = "<!-- END GENERATED KEYS -->\n"
	keysHeader = "<!-- Generated from the doc comments in dsl/spec.go by `go test ./dsl -run TestSpecDoc -update`. -->\n\n"
)

// keysMarkdown renders the key reference of specs/spec.md from the doc
// comments of the Spec structs.
func keysMarkdown() string {
	var b strings.Builder
	b.WriteString(keysHeader)
	b.WriteString("| key | type | meaning | example |\n| --- | --- | --- | --- |\n")
	for _, k := range Keys() {
		req := ""
		if k.Required {
			req = " **(required)**"
		}
		ex := ""
		if k.Example != "" {
			ex = "`" + strings.ReplaceAll(k.Example, "|", `\|`) + "`"
		}
		fmt.Fprintf(&b, "| `%s`%s | %s | %s | %s |\n", k.Path, req, k.Type, strings.ReplaceAll(k.Doc, "|", `\|`), ex)
	}
	return b.String()
}

// TestSpecDoc keeps the generated key table of specs/spec.md current; the
// prose around it is hand-written.
func TestSpecDoc(t *testing.T) {
	doc, err := os.ReadFile(specDoc)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, beginKeys), strings.Index(s, endKeys)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the %q / %q markers", specDoc, beginKeys, endKeys)
	}
	// Only the key table is generated: Check compares (or, with -update,
	// rewrites) the whole file with the table replaced.
	golden.CheckString(t, specDoc, s[:i+len(beginKeys)]+keysMarkdown()+s[j:])
	for _, k := range Keys() {
		if k.Doc == "" {
			t.Errorf("key %s has no doc comment in dsl/spec.go", k.Path)
		}
	}
}
