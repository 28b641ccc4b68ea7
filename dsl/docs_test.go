package dsl

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/golden"
)

const settingsDoc = "../specs/settings.md"

// settingsMarkdown renders specs/settings.md from the settings table and
// the classification of Scrapy's settings (ref: Scrapy's default_settings,
// testdata/reference/settings).
func settingsMarkdown(ref scrapyReference) string {
	var b strings.Builder
	b.WriteString(`# Settings

<!-- Generated from dsl/settings_table.go by ` + "`go test ./dsl -run TestSettingsDoc -update`" + `. Do not edit. -->

Settings use Scrapy's names. Precedence: the defaults below < the spec's
` + "`settings:`" + ` < ` + "`-s KEY=VALUE`" + ` on the command line. Values of the settings
below are checked for type and range. Other UPPER_CASE names are custom
settings (see [Custom settings](#custom-settings)); other names are errors
(with a "did you mean" hint).

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
	b.WriteString(customSettingsDoc)
	writeScrapyClassification(&b, ref)
	return b.String()
}

const customSettingsDoc = `
## Custom settings

As a Scrapy project keeps its own settings in settings.py, a spec (or ` + "`-s`" + `)
may carry settings of its own: any UPPER_CASE name (letters, digits and ` + "`_`" + `,
starting with a letter) that the table above does not know. It is kept
with its YAML value and scripts read it as ` + "`spider.settings.NAME`" + `:

<!-- doc-test: fragment (the settings: key of a spec alone; custom settings are run in dsl/settings_custom_test.go) -->
` + "```yaml" + `
settings:
  MAX_PAGES: 50          # spider.settings.MAX_PAGES === 50
  CATEGORIES: [books, music]
` + "```" + `

With ` + "`-s NAME=VALUE`" + ` the value is read as YAML too (` + "`-s MAX_PAGES=50`" + ` is the
number 50, ` + "`-s CATEGORIES=[books]`" + ` a list), and kept as text when it is not
valid YAML; an empty value is the empty string.

A custom name within a small edit distance of a known setting's (one edit
below 8 characters, two from 8) is kept too, but ` + "`validate`" + ` prints and ` + "`run`" + `
logs a warning, e.g.
` + "`spider.yaml:7:3: settings.DOWNLOAD_DELAI: unknown setting \"DOWNLOAD_DELAI\" kept as a custom setting (did you mean \"DOWNLOAD_DELAY\"?)`" + `.
A name that is not UPPER_CASE is an error at its file:line:col
(` + "`unknown setting \"download_delay\" (did you mean \"DOWNLOAD_DELAY\"?)`" + `), and so
is one of Scrapy's settings that spiderrun refuses (below).
`

// writeScrapyClassification writes the section that says, for each of
// Scrapy's default settings, whether it is implemented, accepted and
// ignored, or refused.
func writeScrapyClassification(b *strings.Builder, ref scrapyReference) {
	implemented, ignored, refusedList := scrapyClassification(ref)
	esc := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	fmt.Fprintf(b, `
## Scrapy's settings

Every setting of Scrapy %s's default_settings.py (listed by
testdata/reference/settings/gen.py) is classified; a test keeps this
complete. Of its %d settings, %d are implemented (same name, same meaning:
the table above), %d are accepted and ignored (kept as custom settings,
visible in `+"`spider.settings`"+`, without a warning), and %d are refused: an
error that says what to use instead, unless the setting holds Scrapy's
default, which a settings.py copied whole carries.

Implemented: %s.

### Accepted and ignored

| setting | why |
| --- | --- |
`, ref.Version, len(ref.Settings), len(implemented), len(ignored), len(refusedList), "`"+strings.Join(implemented, "`, `")+"`")
	for _, sc := range ignored {
		fmt.Fprintf(b, "| `%s` | %s |\n", sc.Name, esc(sc.Why))
	}
	b.WriteString("\n### Refused\n\n| setting | why | accepted |\n| --- | --- | --- |\n")
	for _, sc := range refusedList {
		v, _ := json.Marshal(sc.Unless)
		fmt.Fprintf(b, "| `%s` | %s | `%s` |\n", sc.Name, esc(sc.Why), esc(string(v)))
	}
}

func TestSettingsDoc(t *testing.T) {
	golden.CheckString(t, settingsDoc, settingsMarkdown(loadScrapyRef(t)))
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
