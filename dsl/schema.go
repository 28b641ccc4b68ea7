package dsl

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v4"
)

// specSource is this package's spec.go: the doc comments of the spec's
// fields are the single source of the schema's descriptions and of the key
// reference in specs/spec.md.
//
//go:embed spec.go
var specSource []byte

// FieldDoc is the documentation of one spec key, taken from the doc comment
// of its Go field.
type FieldDoc struct {
	Key      string // YAML key
	Path     string // dotted path in the spec, e.g. rules[].link_extractor.allow
	Type     string // human-readable type
	Doc      string // the comment without its Example line
	Example  string // the YAML after "Example:", "" if none
	Required bool
}

var (
	docsOnce sync.Once
	docs     map[string]string // "Type.Field" → comment
)

func fieldDocs() map[string]string {
	docsOnce.Do(func() {
		docs = map[string]string{}
		f, err := parser.ParseFile(token.NewFileSet(), "spec.go", specSource, parser.ParseComments)
		if err != nil {
			return // covered by TestSchemaUpToDate: every key must have a doc
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, fld := range st.Fields.List {
				if fld.Doc == nil {
					continue
				}
				for _, name := range fld.Names {
					docs[ts.Name.Name+"."+name.Name] = strings.TrimSpace(fld.Doc.Text())
				}
			}
			return false
		})
	})
	return docs
}

func splitExample(doc string) (text, example string) {
	lines := strings.Split(doc, "\n")
	var keep []string
	for _, l := range lines {
		if ex, ok := strings.CutPrefix(strings.TrimSpace(l), "Example:"); ok {
			example = strings.TrimSpace(ex)
			continue
		}
		keep = append(keep, strings.TrimSpace(l))
	}
	return strings.Join(keep, " "), example
}

// Keys documents every key of the spec, depth first in declaration order.
func Keys() []FieldDoc {
	var out []FieldDoc
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "" || key == "-" {
				continue
			}
			text, ex := splitExample(fieldDocs()[t.Name()+"."+f.Name])
			path := key
			if prefix != "" {
				path = prefix + "." + key
			}
			out = append(out, FieldDoc{Key: key, Path: path, Type: typeName(f.Type), Doc: text, Example: ex, Required: f.Tag.Get("required") == "true"})
			switch {
			case f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(ScriptRef{}):
				walk(f.Type, path)
			case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct && f.Type != reflect.TypeOf(Feeds{}):
				walk(f.Type.Elem(), path+"[]")
			case f.Type == reflect.TypeOf(Feeds{}):
				walk(reflect.TypeOf(FeedOptions{}), path+".<uri>")
			}
		}
	}
	walk(reflect.TypeOf(Spec{}), "")
	return out
}

func typeName(t reflect.Type) string {
	switch t {
	case reflect.TypeOf(ScriptRef{}):
		return "path or inline source"
	case reflect.TypeOf(&Settings{}):
		return "mapping of settings"
	case reflect.TypeOf(Feeds{}):
		return "mapping of URI to feed options"
	case reflect.TypeOf([]SitemapRule{}):
		return "list of {regex, callback}"
	case reflect.TypeOf(map[string]string{}):
		return "mapping of signal to function name"
	case reflect.TypeOf(map[string]any{}):
		return "mapping"
	case reflect.TypeOf(FeedFields{}):
		return "list of fields, or mapping of field to output name"
	}
	if t.Kind() == reflect.Interface {
		return "integer or name"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeName(t.Elem())
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int:
		return "integer"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "string or list of strings"
		}
		return "list of " + strings.ToLower(t.Elem().Name())
	case reflect.Struct:
		return "mapping"
	}
	return t.String()
}

// SchemaID is the $id of the spec's JSON Schema.
const SchemaID = "https://raw.githubusercontent.com/spiderrun/spiderrun/main/schema/spider.schema.json"

// JSONSchema returns the JSON Schema (2020-12) of spider.yaml, generated
// from the Spec structs, their doc comments and the settings table.
// schema/spider.schema.json is this output; a test keeps them equal.
func JSONSchema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.structSchema(reflect.TypeOf(Spec{}))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "spiderrun spider spec (spider.yaml)"
	root["description"] = "A web spider: start URLs, JavaScript callbacks, CrawlSpider rules, settings. See specs/spec.md."
	g.defs["stringList"] = map[string]any{
		"description": "A string, or a list of strings.",
		"oneOf": []any{
			map[string]any{"type": "string"},
			map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
		},
	}
	g.defs["feedFields"] = map[string]any{
		"description": "Field names (a string, or a list whose entries are names or {field: output name}), or a mapping of field name to output name.",
		"oneOf": []any{
			map[string]any{"type": "string"},
			map[string]any{"type": "array", "items": map[string]any{"oneOf": []any{
				map[string]any{"type": "string"},
				map[string]any{"type": "object", "minProperties": 1, "maxProperties": 1, "additionalProperties": map[string]any{"type": "string"}},
			}}},
			map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}},
		},
	}
	root["$defs"] = g.defs
	b, err := json.MarshalIndent(root, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal schema: %w", err)
	}
	return append(b, '\n'), nil
}

type schemaGen struct {
	defs map[string]any
}

func describe(s map[string]any, doc string) map[string]any {
	text, ex := splitExample(doc)
	if text != "" {
		s["description"] = text
	}
	if ex != "" {
		var v any
		if yaml.Unmarshal([]byte(ex), &v) == nil {
			if jv, err := jsonCompatible(v); err == nil {
				s["examples"] = []any{jv}
			}
		}
	}
	return s
}

// jsonCompatible turns a yaml-decoded value into one encoding/json
// accepts (it already is: maps have string keys), via a round trip that
// also normalizes numbers.
func jsonCompatible(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	return out, json.Unmarshal(b, &out)
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if key == "" || key == "-" {
			continue
		}
		s := g.typeSchema(f)
		props[key] = describe(s, fieldDocs()[t.Name()+"."+f.Name])
		if f.Tag.Get("required") == "true" {
			required = append(required, key)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

func (g *schemaGen) ref(t reflect.Type) map[string]any {
	if _, ok := g.defs[t.Name()]; !ok {
		g.defs[t.Name()] = map[string]any{} // placeholder stops recursion
		g.defs[t.Name()] = g.namedSchema(t)
	}
	return map[string]any{"$ref": "#/$defs/" + t.Name()}
}

func (g *schemaGen) namedSchema(t reflect.Type) map[string]any {
	if t == reflect.TypeOf(SitemapRule{}) {
		return map[string]any{
			"description": "A sitemap rule: {regex, callback} or [regex, callback].",
			"oneOf": []any{
				g.structSchema(t),
				map[string]any{"type": "array", "prefixItems": []any{map[string]any{"type": "string"}, map[string]any{"type": "string"}}, "minItems": 2, "maxItems": 2},
			},
		}
	}
	return g.structSchema(t)
}

func (g *schemaGen) typeSchema(f reflect.StructField) map[string]any {
	t := f.Type
	switch t {
	case reflect.TypeOf(ScriptRef{}):
		return map[string]any{"type": "string", "minLength": 1}
	case reflect.TypeOf(&Settings{}):
		return g.settingsSchema()
	case reflect.TypeOf(Feeds{}):
		return map[string]any{"type": "object", "additionalProperties": g.ref(reflect.TypeOf(FeedOptions{}))}
	case reflect.TypeOf(map[string]string{}):
		return map[string]any{"type": "object", "propertyNames": map[string]any{"enum": stringsToAny(Signals)}, "additionalProperties": map[string]any{"type": "string"}}
	case reflect.TypeOf(map[string]any{}):
		return map[string]any{"type": "object"}
	case reflect.TypeOf(FeedFields{}):
		return map[string]any{"$ref": "#/$defs/feedFields"}
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		s := map[string]any{"type": "string"}
		if e := f.Tag.Get("enum"); e != "" {
			s["enum"] = stringsToAny(strings.Split(e, ","))
		}
		if p := f.Tag.Get("pattern"); p != "" {
			s["pattern"] = p
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int:
		s := map[string]any{"type": "integer"}
		if m := f.Tag.Get("minimum"); m != "" {
			s["minimum"] = json.Number(m)
		}
		return s
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return map[string]any{"$ref": "#/$defs/stringList"}
		}
		return map[string]any{"type": "array", "items": g.ref(t.Elem())}
	case reflect.Struct:
		return g.ref(t)
	}
	return map[string]any{}
}

func stringsToAny(l []string) []any {
	out := make([]any, len(l))
	for i, s := range l {
		out[i] = s
	}
	return out
}

const (
	durationPattern = `^\s*(([0-9]+(\.[0-9]*)?|\.[0-9]+)|([0-9]+(\.[0-9]*)?(ns|us|µs|ms|s|m|h))+)\s*$`
	sizePattern     = `^\s*[0-9]+(\.[0-9]+)?\s*([bB]|[kKmMgG]([bB]|i[bB])?)?\s*$`
)

func (g *schemaGen) settingsSchema() map[string]any {
	props := map[string]any{}
	for _, d := range Table() {
		s := settingSchema(d)
		s["description"] = fmt.Sprintf("%s Default: %s.", d.Doc, FormatDefault(d))
		s["default"] = jsonValue(d.Kind, d.Default)
		props[d.Name] = s
		for _, a := range d.Aliases {
			as := settingSchema(d)
			as["description"] = fmt.Sprintf("Alias of %s. %s", d.Name, d.Doc)
			props[a] = as
		}
	}
	// Custom settings: any other UPPER_CASE name, any value (specs/settings.md).
	return map[string]any{"type": "object", "properties": props,
		"patternProperties": map[string]any{`^[A-Z][A-Z0-9_]*$`: map[string]any{}}, "additionalProperties": false}
}

func settingSchema(d SettingDef) map[string]any {
	switch d.Kind {
	case KindInt, KindFloat:
		typ := "integer"
		if d.Kind == KindFloat {
			typ = "number"
		}
		s := map[string]any{"type": typ}
		if d.Min != nil {
			s["minimum"] = *d.Min
		}
		return s
	case KindBool:
		return map[string]any{"type": "boolean"}
	case KindDuration:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "number", "minimum": 0},
			map[string]any{"type": "string", "pattern": durationPattern},
		}}
	case KindSize:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "integer", "minimum": 0},
			map[string]any{"type": "string", "pattern": sizePattern},
		}}
	case KindString:
		return map[string]any{"type": "string"}
	case KindEnum:
		return map[string]any{"enum": stringsToAny(d.Enum)}
	case KindStrings:
		return map[string]any{"$ref": "#/$defs/stringList"}
	case KindInts:
		return map[string]any{"oneOf": []any{
			map[string]any{"type": "integer"},
			map[string]any{"type": "array", "items": map[string]any{"type": "integer"}},
		}}
	case KindMap:
		return map[string]any{"type": "object"}
	case KindFields:
		return map[string]any{"$ref": "#/$defs/feedFields"}
	}
	return map[string]any{}
}

// FormatDefault renders a setting's default for documentation.
func FormatDefault(d SettingDef) string {
	switch v := d.Default.(type) {
	case time.Duration:
		if v == 0 {
			return "0"
		}
		return v.String()
	case string:
		if v == "" {
			return `""`
		}
		return fmt.Sprintf("%q", v)
	case int64:
		if d.Kind == KindSize {
			return formatSize(v)
		}
	case []KV:
		if len(v) == 0 && d.Kind == KindFields {
			return "[]"
		}
		if len(v) == 0 {
			return "{}"
		}
		parts := make([]string, len(v))
		for i, kv := range v {
			parts[i] = fmt.Sprintf("%s: %v", kv.Key, kv.Value)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case []string:
		return "[" + strings.Join(v, ", ") + "]"
	case []int:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprint(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(d.Default)
}

func formatSize(b int64) string {
	switch {
	case b == 0:
		return "0"
	case b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return fmt.Sprint(b)
}
