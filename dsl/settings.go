package dsl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Kind is the type of a setting's value.
type Kind int

// Setting kinds. Each kind has one Go type for its values (see SettingDef).
const (
	KindInt      Kind = iota + 1 // int
	KindFloat                    // float64
	KindBool                     // bool
	KindDuration                 // time.Duration; a number means seconds
	KindString                   // string
	KindEnum                     // string, one of SettingDef.Enum
	KindStrings                  // []string; a single string means a list of one
	KindInts                     // []int
	KindMap                      // []KV, ordered (headers keep their order)
	KindSize                     // int64 bytes; "32MiB", "1GB", or a number
	KindFields                   // []KV of field name → output name (a string); a list of names is a mapping of each to itself
)

var kindNames = map[Kind]string{
	KindInt: "integer", KindFloat: "number", KindBool: "boolean", KindDuration: "duration",
	KindString: "string", KindEnum: "enum", KindStrings: "list of strings", KindInts: "list of integers",
	KindMap: "mapping", KindSize: "size", KindFields: "list of fields or mapping of field to output name",
}

func (k Kind) String() string { return kindNames[k] }

// KV is one entry of a mapping setting; Value is a JSON-like Go value
// (string, int64, float64, bool, nil, []any, map[string]any).
type KV struct {
	Key   string
	Value any
}

// SettingDef describes one setting: the settings table (Table) is the single
// source of names, types, defaults and documentation.
type SettingDef struct {
	Name    string
	Kind    Kind
	Default any      // Go value of the kind's type
	Doc     string   // one or two sentences for users
	Min     *float64 // lowest allowed value of an int or float setting
	Enum    []string // allowed values of an enum setting
	Aliases []string // other accepted names (TIMEOUT → DOWNLOAD_TIMEOUT)
	// Check validates a decoded value beyond its kind; the error message is
	// lowercase and says what is allowed.
	Check func(v any) error
}

// Table returns the definitions of every setting, sorted by name.
func Table() []SettingDef {
	out := append([]SettingDef(nil), table...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

var (
	defByName   = map[string]*SettingDef{}
	allNames    []string // canonical names and aliases, for suggestions
	errNotFound = errors.New("unknown setting")
)

func init() {
	for i := range table {
		d := &table[i]
		defByName[d.Name] = d
		allNames = append(allNames, d.Name)
		for _, a := range d.Aliases {
			defByName[a] = d
			allNames = append(allNames, a)
		}
	}
}

// Lookup returns the definition of a setting by name or alias.
func Lookup(name string) (SettingDef, bool) {
	d, ok := defByName[name]
	if !ok {
		return SettingDef{}, false
	}
	return *d, true
}

// Settings are a spider's effective settings: the table's defaults, then the
// spec's `settings:`, then `-s KEY=VALUE` from the command line. Accessors take
// canonical names or aliases; an unknown name or a name of another kind gives
// the zero value (tests of each consumer catch the typo; a user never sees a
// panic).
//
// Besides the table's settings, a spec or `-s` may carry custom settings,
// as a Scrapy project carries its own in settings.py: any UPPER_CASE name
// the table does not know (MY_API_LIMIT), kept with its YAML value and
// readable by scripts as spider.settings.MY_API_LIMIT. A custom name close
// to a known one ("DOWNLOAD_DELAI") is kept too, with a warning (see
// Warnings). Scrapy's own settings that spiderrun does not implement are
// classified in ScrapySettings: ignored ones are kept as custom settings,
// refused ones are errors that say what to use instead.
type Settings struct {
	values map[string]any
	source map[string]string // "spec" or "cli"
	warns  []string          // see Warnings
}

// DefaultSettings returns settings holding only the defaults.
func DefaultSettings() *Settings {
	return &Settings{values: map[string]any{}, source: map[string]string{}}
}

// Get returns the effective value of a setting (see Kind for the Go types),
// the JSON-like value of a custom setting, or nil for an unknown name.
func (s *Settings) Get(name string) any {
	d, ok := defByName[name]
	if !ok {
		if s != nil {
			return s.values[name]
		}
		return nil
	}
	if s != nil {
		if v, ok := s.values[d.Name]; ok {
			return v
		}
	}
	return d.Default
}

// Source tells where a setting's value comes from: "default", "spec" or "cli".
func (s *Settings) Source(name string) string {
	if s == nil {
		return "default"
	}
	if d, ok := defByName[name]; ok {
		name = d.Name
	}
	if src, ok := s.source[name]; ok {
		return src
	}
	return "default"
}

// Custom returns the names of the custom settings set (names the table
// does not know; see Settings), sorted.
func (s *Settings) Custom() []string {
	var out []string
	if s == nil {
		return out
	}
	for name := range s.values {
		if _, ok := defByName[name]; !ok {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Warnings are the notices about custom settings whose name is close to a
// known setting's, one line each, in the order they were set: for the
// spec "spider.yaml:5:3: settings.DOWNLOAD_DELAI: unknown setting
// \"DOWNLOAD_DELAI\" kept as a custom setting (did you mean
// \"DOWNLOAD_DELAY\"?)", for -s the same after "-s DOWNLOAD_DELAI: ".
// validate prints them and run logs them at WARNING; neither fails.
func (s *Settings) Warnings() []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s.warns...)
}

// Int returns an int setting.
func (s *Settings) Int(name string) int { v, _ := s.Get(name).(int); return v }

// Float returns a float setting.
func (s *Settings) Float(name string) float64 { v, _ := s.Get(name).(float64); return v }

// Bool returns a bool setting.
func (s *Settings) Bool(name string) bool { v, _ := s.Get(name).(bool); return v }

// Duration returns a duration setting.
func (s *Settings) Duration(name string) time.Duration {
	v, _ := s.Get(name).(time.Duration)
	return v
}

// String returns a string or enum setting.
func (s *Settings) String(name string) string { v, _ := s.Get(name).(string); return v }

// Strings returns a copy of a list-of-strings setting.
func (s *Settings) Strings(name string) []string {
	v, _ := s.Get(name).([]string)
	return append([]string{}, v...)
}

// Ints returns a copy of a list-of-integers setting.
func (s *Settings) Ints(name string) []int {
	v, _ := s.Get(name).([]int)
	return append([]int{}, v...)
}

// Pairs returns a mapping setting's entries in order.
func (s *Settings) Pairs(name string) []KV {
	v, _ := s.Get(name).([]KV)
	return append([]KV{}, v...)
}

// StringPairs returns a mapping setting of text values (headers, cookies)
// in order, numbers and booleans rendered as written in JSON.
func (s *Settings) StringPairs(name string) [][2]string {
	var out [][2]string
	for _, kv := range s.Pairs(name) {
		v, ok := kv.Value.(string)
		if !ok {
			b, _ := json.Marshal(kv.Value)
			v = string(b)
		}
		out = append(out, [2]string{kv.Key, v})
	}
	return out
}

// Map returns a mapping setting as a Go map (order lost; see Pairs).
func (s *Settings) Map(name string) map[string]any {
	m := map[string]any{}
	for _, kv := range s.Pairs(name) {
		m[kv.Key] = kv.Value
	}
	return m
}

// Bytes returns a size setting in bytes.
func (s *Settings) Bytes(name string) int64 { v, _ := s.Get(name).(int64); return v }

// All returns every setting's effective value by canonical name, with JSON-
// friendly values (durations in seconds, mappings as objects) — the view
// scripts get as spider.settings.
func (s *Settings) All() map[string]any {
	out := make(map[string]any, len(table))
	for _, d := range table {
		out[d.Name] = jsonValue(d.Kind, s.Get(d.Name))
	}
	for _, name := range s.Custom() {
		out[name] = s.values[name]
	}
	return out
}

// Explicit returns the settings set by the spec or the command line (not the
// defaults), JSON-friendly as in All.
func (s *Settings) Explicit() map[string]any {
	out := map[string]any{}
	if s == nil {
		return out
	}
	for name, v := range s.values {
		if d, ok := defByName[name]; ok {
			v = jsonValue(d.Kind, v)
		}
		out[name] = v
	}
	return out
}

// MarshalJSON writes the explicitly set settings (see Explicit).
func (s *Settings) MarshalJSON() ([]byte, error) { return json.Marshal(s.Explicit()) }

func jsonValue(k Kind, v any) any {
	switch k {
	case KindDuration:
		return v.(time.Duration).Seconds()
	case KindFields:
		// A list unless a field is renamed (as the spec wrote it).
		ff := FeedFields(v.([]KV))
		if b, err := ff.MarshalJSON(); err == nil && len(b) > 0 && b[0] == '[' {
			return ff.Names()
		}
		m := map[string]any{}
		for _, kv := range ff {
			m[kv.Key] = kv.Value
		}
		return m
	case KindMap:
		m := map[string]any{}
		for _, kv := range v.([]KV) {
			m[kv.Key] = kv.Value
		}
		return m
	}
	return v
}

// Set sets a setting from a Go value of its kind's type (for programs and
// tests); it is validated like any other value.
func (s *Settings) Set(name string, v any, source string) error {
	d, ok := defByName[name]
	if !ok {
		if err := checkCustomName(name); err != nil {
			return err
		}
		if err := refused(name, v); err != nil {
			return err
		}
		s.ensure()
		s.values[name] = v
		s.source[name] = source
		return nil
	}
	if err := d.validate(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s.ensure()
	s.values[d.Name] = v
	s.source[d.Name] = source
	return nil
}

// ensure makes the zero Settings usable.
func (s *Settings) ensure() {
	if s.values == nil {
		s.values = map[string]any{}
		s.source = map[string]string{}
	}
}

// Clone returns an independent copy (for example one per spider when
// several run in one process).
func (s *Settings) Clone() *Settings {
	c := DefaultSettings()
	if s == nil {
		return c
	}
	for k, v := range s.values {
		c.values[k] = v
	}
	for k, v := range s.source {
		c.source[k] = v
	}
	c.warns = append(c.warns, s.warns...)
	return c
}

// SetFromCLI applies one `-s KEY=VALUE`, parsing VALUE by the setting's kind:
// integers and numbers as usual, booleans true/false/1/0, durations "2s",
// "500ms" or seconds, sizes "32MiB" or bytes, lists as JSON arrays or comma
// separated, mappings as JSON objects.
func (s *Settings) SetFromCLI(kv string) error {
	name, val, ok := strings.Cut(kv, "=")
	name = strings.TrimSpace(name)
	if !ok || name == "" {
		return fmt.Errorf("-s %q: expected KEY=VALUE", kv)
	}
	d, found := defByName[name]
	if !found {
		if err := checkCustomName(name); err != nil {
			return fmt.Errorf("-s %s: %w", name, err)
		}
		v := customText(val)
		if err := refused(name, v); err != nil {
			return fmt.Errorf("-s %s: %w", name, err)
		}
		s.ensure()
		s.values[name] = v
		s.source[name] = "cli"
		if w := customWarning(name); w != "" {
			s.warns = append(s.warns, fmt.Sprintf("-s %s: %s", name, w))
		}
		return nil
	}
	v, err := d.parseText(val)
	if err == nil {
		err = d.validate(v)
	}
	if err != nil {
		return fmt.Errorf("-s %s: %w", name, err)
	}
	s.ensure()
	s.values[d.Name] = v
	s.source[d.Name] = "cli"
	return nil
}

// customNameRe is the form of a custom setting's name: UPPER_CASE, as
// Scrapy's settings and every settings.py's are.
var customNameRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// checkCustomName accepts name as a custom setting (an UPPER_CASE name the
// table does not know) or says why not: a name that is not UPPER_CASE is
// an unknown setting (with the known one it may stand for).
func checkCustomName(name string) error {
	if !customNameRe.MatchString(name) {
		if hint := didYouMean(name, allNames); hint != "" {
			return fmt.Errorf("%w %q%s", errNotFound, name, hint)
		}
		return fmt.Errorf("%w %q: a custom setting's name is UPPER_CASE (letters, digits and _, starting with a letter), such as %s",
			errNotFound, name, customExample(name))
	}
	return nil
}

// refused says why a custom setting is one of Scrapy's that spiderrun
// refuses (ScrapyRefused), unless v is the value it accepts anyway.
func refused(name string, v any) error {
	sc, ok := scrapyByName[name]
	if !ok || sc.Status != ScrapyRefused || reflect.DeepEqual(v, sc.Unless) {
		return nil
	}
	return fmt.Errorf("Scrapy's %s is not supported: %s", name, sc.Why)
}

// customExample turns a malformed name into an UPPER_CASE one for the
// error message (my-limit → MY_LIMIT).
func customExample(name string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(name) {
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0:
			b.WriteByte('_')
		}
	}
	ex := strings.Trim(b.String(), "_")
	if ex == "" || ex[0] < 'A' || ex[0] > 'Z' {
		ex = "MY_" + ex
	}
	return strings.TrimSuffix(ex, "_")
}

// customWarning is the warning for a custom setting whose name is within a
// small edit distance of a known setting's (one edit for names shorter
// than 8 characters, two otherwise), or "". Scrapy's settings that are
// accepted and ignored are known names: they get no warning.
func customWarning(name string) string {
	if _, ok := scrapyByName[name]; ok {
		return ""
	}
	limit := 2
	if len(name) < 8 {
		limit = 1
	}
	best, bestD := "", limit+1
	for _, c := range allNames {
		if d := levenshtein(name, c); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("unknown setting %q kept as a custom setting (did you mean %q?)", name, best)
}

// customText is the value of a custom setting given with -s: the text read
// as a YAML value (5 is a number, true a boolean, [a, b] a list, {k: v} a
// mapping), else the text itself; an empty value is the empty string.
func customText(val string) any {
	t := strings.TrimSpace(val)
	if t == "" {
		return ""
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(t), &n); err != nil || len(n.Content) != 1 {
		return val
	}
	d := newDecoder("-s", "", []byte(t), &n)
	v, ok := d.generic(n.Content[0], "")
	if !ok || len(d.errs) > 0 {
		return val
	}
	return v
}

// validate checks range, enum and the setting's own Check.
func (d *SettingDef) validate(v any) error {
	switch d.Kind {
	case KindInt:
		i, ok := v.(int)
		if !ok {
			return fmt.Errorf("expected an integer")
		}
		if d.Min != nil && float64(i) < *d.Min {
			return fmt.Errorf("must be at least %v, got %d", *d.Min, i)
		}
	case KindFloat:
		f, ok := v.(float64)
		if !ok {
			return fmt.Errorf("expected a number")
		}
		if d.Min != nil && f < *d.Min {
			return fmt.Errorf("must be at least %v, got %v", *d.Min, f)
		}
	case KindDuration:
		t, ok := v.(time.Duration)
		if !ok {
			return fmt.Errorf("expected a duration")
		}
		if t < 0 {
			return fmt.Errorf("must not be negative, got %s", t)
		}
	case KindSize:
		b, ok := v.(int64)
		if !ok {
			return fmt.Errorf("expected a size")
		}
		if b < 0 {
			return fmt.Errorf("must not be negative")
		}
	case KindEnum:
		e, _ := v.(string)
		if !contains(d.Enum, e) {
			return fmt.Errorf("must be one of %s, got %q%s", strings.Join(d.Enum, ", "), e, didYouMean(e, d.Enum))
		}
	}
	if d.Check != nil {
		return d.Check(v)
	}
	return nil
}

var sizeRe = regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$`)

var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1000, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1000 * 1000, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1000 * 1000 * 1000, "gib": 1 << 30,
}

// ParseSize parses a byte size: a number of bytes, or a number with a unit
// (B, KB, KiB, MB, MiB, GB, GiB; K, M, G are binary).
func ParseSize(s string) (int64, error) {
	m := sizeRe.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid size %q (write bytes, or e.g. \"32MiB\")", s)
	}
	mult, ok := sizeUnits[strings.ToLower(m[2])]
	if !ok {
		return 0, fmt.Errorf("invalid size unit %q in %q (use B, KB, KiB, MB, MiB, GB, GiB)", m[2], s)
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	if f*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q too large", s)
	}
	return int64(f * mult), nil
}

// ParseDuration parses a duration: a number of seconds ("0.5", "2") or a Go
// duration ("500ms", "2s", "1m30s").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return secondsToDuration(f)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (write seconds such as 0.5, or \"500ms\", \"2s\", \"1m\")", s)
	}
	return d, nil
}

func secondsToDuration(f float64) (time.Duration, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > float64(math.MaxInt64)/float64(time.Second) {
		return 0, fmt.Errorf("duration %v out of range", f)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// parseText parses a command-line value.
func (d *SettingDef) parseText(s string) (any, error) {
	t := strings.TrimSpace(s)
	switch d.Kind {
	case KindInt:
		i, err := strconv.Atoi(t)
		if err != nil {
			return nil, fmt.Errorf("expected an integer, got %q", s)
		}
		return i, nil
	case KindFloat:
		f, err := strconv.ParseFloat(t, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("expected a number, got %q", s)
		}
		return f, nil
	case KindBool:
		switch strings.ToLower(t) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, fmt.Errorf("expected true or false, got %q", s)
	case KindDuration:
		return ParseDuration(t)
	case KindSize:
		return ParseSize(t)
	case KindString:
		return s, nil
	case KindEnum:
		return t, nil
	case KindStrings:
		if strings.HasPrefix(t, "[") {
			var l []string
			if err := json.Unmarshal([]byte(t), &l); err != nil {
				return nil, fmt.Errorf("expected a JSON array of strings: %w", err)
			}
			return l, nil
		}
		out := []string{}
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out, nil
	case KindInts:
		if strings.HasPrefix(t, "[") {
			var l []int
			if err := json.Unmarshal([]byte(t), &l); err != nil {
				return nil, fmt.Errorf("expected a JSON array of integers: %w", err)
			}
			return l, nil
		}
		out := []int{}
		for _, p := range strings.Split(t, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			i, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("expected comma-separated integers, got %q", s)
			}
			out = append(out, i)
		}
		return out, nil
	case KindMap:
		return parseJSONObject(t)
	case KindFields:
		var g any
		switch {
		case strings.HasPrefix(t, "{"):
			kvs, err := parseJSONObject(t)
			if err != nil {
				return nil, err
			}
			out := []KV{}
			for _, kv := range kvs {
				o, ok := kv.Value.(string)
				if !ok {
					return nil, fmt.Errorf("%s: expected an output name, got %s", kv.Key, gotValue(kv.Value))
				}
				out = append(out, KV{Key: kv.Key, Value: o})
			}
			return out, nil
		case strings.HasPrefix(t, "["):
			if err := json.Unmarshal([]byte(t), &g); err != nil {
				return nil, fmt.Errorf("expected a JSON array of field names: %w", err)
			}
		default:
			l := []any{}
			for _, p := range strings.Split(t, ",") {
				if p = strings.TrimSpace(p); p != "" {
					l = append(l, p)
				}
			}
			g = l
		}
		ff, err := feedFieldsValue(g)
		if err != nil {
			return nil, err
		}
		return []KV(ff), nil
	}
	return nil, fmt.Errorf("internal: unknown kind %d", d.Kind)
}

// parseJSONObject parses a JSON object keeping the order of its keys.
func parseJSONObject(s string) ([]KV, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(s)))
	dec.UseNumber()
	bad := func(err error) ([]KV, error) {
		return nil, fmt.Errorf("expected a JSON object such as {\"Accept\": \"text/html\"}: %v", err)
	}
	tok, err := dec.Token()
	if err != nil {
		return bad(err)
	}
	if tok != json.Delim('{') {
		return bad(fmt.Errorf("got %v", tok))
	}
	out := []KV{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return bad(err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return bad(err)
		}
		out = append(out, KV{Key: kt.(string), Value: normalizeJSON(v)})
	}
	if _, err := dec.Token(); err != nil {
		return bad(err)
	}
	return out, nil
}

// normalizeJSON turns json.Number into int64 or float64, like YAML values.
func normalizeJSON(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case []any:
		for i := range x {
			x[i] = normalizeJSON(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalizeJSON(x[k])
		}
	}
	return v
}

// decodeNode reads the spec's `settings:` mapping.
func (s *Settings) decodeNode(d *decoder, n *yaml.Node, path string) {
	s.ensure()
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of SETTING_NAME: value, got %s", kindName(n))
		return
	}
	seen := map[string]string{}
	for _, p := range d.pairs(n, path) {
		if d.over {
			return
		}
		fp := joinPath(path, p.key)
		def, ok := defByName[p.key]
		if !ok {
			s.decodeCustom(d, p.kn, p.val, p.key, fp)
			continue
		}
		if other, dup := seen[def.Name]; dup {
			d.errorf(p.kn, fp, "duplicate setting: %s and %s are the same setting", other, p.key)
			continue
		}
		seen[def.Name] = p.key
		vn := d.resolve(p.val)
		if vn == nil {
			return
		}
		d.pos[fp] = Position{vn.Line, vn.Column}
		if isNull(vn) {
			continue
		}
		v, ok := d.settingValue(def, vn, fp)
		if !ok {
			continue
		}
		if err := def.validate(v); err != nil {
			d.errorf(vn, fp, "%v", err)
			continue
		}
		s.values[def.Name] = v
		s.source[def.Name] = "spec"
	}
}

// decodeCustom reads one custom setting of the spec's `settings:` (a name
// the table does not know; see Settings): its JSON-like value as the YAML
// gives it, a warning when its name is close to a known setting's.
func (s *Settings) decodeCustom(d *decoder, kn, vn *yaml.Node, name, path string) {
	if err := checkCustomName(name); err != nil {
		d.errorf(kn, path, "%v", err)
		return
	}
	r := d.resolve(vn)
	if r == nil {
		return
	}
	v, ok := d.generic(r, path)
	if !ok {
		return
	}
	d.pos[path] = Position{r.Line, r.Column}
	if err := refused(name, v); err != nil {
		d.errorf(r, path, "%v", err)
		return
	}
	s.values[name] = v
	s.source[name] = "spec"
	if w := customWarning(name); w != "" {
		e := &Error{File: d.file, Line: kn.Line, Col: kn.Column, Path: path, Msg: w}
		s.warns = append(s.warns, e.Error())
	}
}

// settingValue decodes a YAML value by the setting's kind. Types are strict:
// CONCURRENT_REQUESTS: "16" (a string) is an error, as is yes for a boolean.
func (d *decoder) settingValue(def *SettingDef, n *yaml.Node, path string) (any, bool) {
	switch def.Kind {
	case KindInt:
		i, ok := d.intValue(n, path)
		if ok && (i > math.MaxInt32 || i < math.MinInt32) {
			d.errorf(n, path, "integer %d out of range", i)
			return nil, false
		}
		return int(i), ok
	case KindFloat:
		return d.floatValue(n, path)
	case KindBool:
		return d.boolValue(n, path)
	case KindDuration:
		if n.Kind == yaml.ScalarNode {
			switch n.Tag {
			case "!!int", "!!float":
				f, ok := d.floatValue(n, path)
				if !ok {
					return nil, false
				}
				t, err := secondsToDuration(f)
				if err != nil {
					d.errorf(n, path, "%v", err)
					return nil, false
				}
				return t, true
			case "!!str":
				t, err := ParseDuration(n.Value)
				if err != nil {
					d.errorf(n, path, "%v", err)
					return nil, false
				}
				return t, true
			}
		}
		d.errorf(n, path, "expected a duration (seconds such as 0.5, or \"500ms\", \"2s\"), got %s", kindName(n))
		return nil, false
	case KindSize:
		if n.Kind == yaml.ScalarNode && (n.Tag == "!!int" || n.Tag == "!!str") {
			if n.Tag == "!!int" {
				i, ok := d.intValue(n, path)
				return i, ok
			}
			b, err := ParseSize(n.Value)
			if err != nil {
				d.errorf(n, path, "%v", err)
				return nil, false
			}
			return b, true
		}
		d.errorf(n, path, "expected a size (bytes, or e.g. \"32MiB\"), got %s", kindName(n))
		return nil, false
	case KindString, KindEnum:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, path, "expected a string, got %s", kindName(n))
			return nil, false
		}
		return n.Value, true
	case KindStrings:
		var l []string
		before := len(d.errs)
		d.decodeSlice(n, path, reflectValueOf(&l))
		if l == nil {
			l = []string{}
		}
		return l, len(d.errs) == before
	case KindInts:
		if n.Kind == yaml.ScalarNode {
			i, ok := d.intValue(n, path)
			return []int{int(i)}, ok
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list of integers, got %s", kindName(n))
			return nil, false
		}
		out := []int{}
		good := true
		for i, c := range n.Content {
			c = d.resolve(c)
			if c == nil {
				return nil, false
			}
			v, ok := d.intValue(c, indexPath(path, i))
			good = good && ok
			out = append(out, int(v))
		}
		return out, good
	case KindFields:
		var ff FeedFields
		before := len(d.errs)
		ff.decodeNode(d, n, path)
		if ff == nil {
			ff = FeedFields{}
		}
		return []KV(ff), len(d.errs) == before
	case KindMap:
		if n.Kind != yaml.MappingNode {
			d.errorf(n, path, "expected a mapping, got %s", kindName(n))
			return nil, false
		}
		out := []KV{}
		for _, p := range d.pairs(n, path) {
			v, ok := d.generic(p.val, joinPath(path, p.key))
			if !ok {
				return nil, false
			}
			out = append(out, KV{Key: p.key, Value: v})
		}
		return out, true
	}
	d.errorf(n, path, "internal: unknown setting kind")
	return nil, false
}
