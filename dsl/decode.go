package dsl

import (
	"fmt"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// maxErrors bounds how many problems one spec reports: a hostile document
// (for example an alias that expands to thousands of wrongly typed values)
// must not make the error list itself the memory problem.
const maxErrors = 100

// decoder turns a yaml.Node tree into Go values. It is the only code that
// walks the tree, and every step of the walk spends from a node budget:
// the YAML library (yaml.v4, as v3 before it) guards alias expansion only
// when it decodes into Go values itself, not when a program follows
// Node.Alias pointers (a 271-byte "billion laughs" document made a naive
// walker visit 6 million nodes). The budget is a small multiple of the
// number of nodes the parser actually produced, so ordinary reuse of anchors
// works while exponential expansion fails fast.
type decoder struct {
	file   string // as given by the caller, used in messages
	dir    string // absolute directory of the spec, for relative paths
	src    []byte
	budget int
	over   bool
	overAt Position // where the alias budget ran out
	errs   ErrorList
	pos    map[string]Position
}

// nodeDecoder is implemented by types that decode themselves from YAML
// (ScriptRef, Settings, Feeds, SitemapRule).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

func newDecoder(file, dir string, src []byte, root *yaml.Node) *decoder {
	n := countNodes(root, 0)
	return &decoder{file: file, dir: dir, src: src, budget: aliasBudget(n), pos: map[string]Position{}}
}

// aliasBudget is how many nodes a document of n parsed nodes may expand to
// through aliases: generous for reuse of a block of rules, tiny compared with
// the exponential growth of a "billion laughs" document.
func aliasBudget(n int) int { return 4*n + 10000 }

// expansion computes how many nodes the document would have with every
// alias replaced by its target, stopping as soon as limit is passed (so the
// cost is linear in the parsed size). cycle is true when an alias refers to
// a node that contains it.
type expansion struct {
	memo    map[*yaml.Node]int
	active  map[*yaml.Node]bool
	limit   int
	over    bool
	overAt  *yaml.Node // the node whose expansion passed limit
	cycleAt *yaml.Node
}

func (e *expansion) size(n *yaml.Node) int {
	if n == nil || e.over || e.cycleAt != nil {
		return 0
	}
	if n.Kind == yaml.AliasNode {
		if e.active[n.Alias] {
			e.cycleAt = n
			return 0
		}
		return 1 + e.size(n.Alias)
	}
	if v, ok := e.memo[n]; ok {
		return v
	}
	e.active[n] = true
	total := 1
	for _, c := range n.Content {
		total += e.size(c)
		if total > e.limit {
			if !e.over {
				e.over, e.overAt = true, c
			}
			break
		}
	}
	delete(e.active, n)
	e.memo[n] = total
	return total
}

// countNodes counts the nodes the parser produced without following aliases.
// Recursion depth is bounded by the parser's own nesting limit (10000).
func countNodes(n *yaml.Node, depth int) int {
	if n == nil || n.Kind == yaml.AliasNode {
		return 1
	}
	c := 1
	for _, ch := range n.Content {
		c += countNodes(ch, depth+1)
	}
	return c
}

// normalizeTags settles the two places where yaml.v4 tags a node in a way
// the decoder does not expect:
//
//   - a plain "-0" is an integer, as it was with yaml.v3 (v4 resolves it to
//     the float negative zero), so CONCURRENT_REQUESTS: -0 still gets the
//     integer range message and cb_kwargs keep an integer 0;
//   - the non-specific tag "!" (v4 leaves it on the node) becomes the tag it
//     stands for in YAML 1.2, !!str, !!seq or !!map, so no field sees a bare
//     "!" ("! 12" is the string "12"; specs/spec.md lists this change).
//
// It visits each parsed node once (aliases are not followed: their targets
// are in the tree too).
func normalizeTags(root *yaml.Node) {
	stack := []*yaml.Node{root}
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch {
		case n.Kind == yaml.AliasNode:
			continue
		case n.Tag == "!":
			n.Tag = n.ShortTag()
		case n.Kind == yaml.ScalarNode && n.Tag == "!!float" && n.Style == 0 && n.Value == "-0":
			n.Tag = "!!int"
		}
		stack = append(stack, n.Content...)
	}
}

// errorf records a problem at n's position.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	line, col := 0, 0
	if n != nil {
		line, col = n.Line, n.Column
	}
	d.errAt(Position{line, col}, path, fmt.Sprintf(format, args...))
}

func (d *decoder) errAt(p Position, path, msg string) {
	if len(d.errs) >= maxErrors {
		return
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: p.Line, Col: p.Col, Path: path, Msg: msg})
}

// sorted returns the errors by position, with a closing notice when the
// cap was reached.
func (d *decoder) sorted() ErrorList {
	d.errs.Sort()
	if len(d.errs) >= maxErrors {
		return append(d.errs, &Error{File: d.file, Msg: "too many errors, stopping"})
	}
	return d.errs
}

// spend takes one unit of the node budget; false means the document aliases
// too much and decoding must stop.
func (d *decoder) spend(n *yaml.Node) bool {
	if d.over {
		return false
	}
	d.budget--
	if d.budget < 0 {
		d.over = true
		d.overAt = Position{max(n.Line, 1), max(n.Column, 1)}
		return false
	}
	return true
}

// resolve follows aliases (spending budget) and returns the target node, or
// nil when the budget is exhausted.
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		if !d.spend(n) {
			return nil
		}
		if n.Kind != yaml.AliasNode {
			return n
		}
		n = n.Alias
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

// pair is one key/value of a mapping after merge keys ("<<") are applied.
type pair struct {
	key string
	kn  *yaml.Node // the key node (positions of key errors)
	val *yaml.Node
}

// pairs lists the entries of mapping n in document order. Duplicate keys are
// errors naming both lines; "<<: *anchor" merges another mapping's entries
// (explicit keys win), as YAML 1.1 tooling does.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out []pair
	index := map[string]int{}
	explicit := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := d.resolve(n.Content[i])
		if kn == nil {
			return out
		}
		val := n.Content[i+1]
		if kn.Kind != yaml.ScalarNode {
			d.errorf(kn, path, "mapping keys must be plain strings")
			continue
		}
		if kn.Tag == "!!merge" {
			for _, m := range d.mergeSources(val, path) {
				for _, p := range d.pairs(m, path) {
					if _, ok := index[p.key]; !ok {
						index[p.key] = len(out)
						out = append(out, p)
					}
				}
			}
			continue
		}
		if first, ok := explicit[kn.Value]; ok {
			d.errorf(kn, joinPath(path, kn.Value), "duplicate key %q (first defined at line %d)", kn.Value, first.Line)
			continue
		}
		explicit[kn.Value] = kn
		p := pair{key: kn.Value, kn: kn, val: val}
		if j, ok := index[kn.Value]; ok {
			out[j] = p
			continue
		}
		index[kn.Value] = len(out)
		out = append(out, p)
	}
	return out
}

func (d *decoder) mergeSources(val *yaml.Node, path string) []*yaml.Node {
	v := d.resolve(val)
	if v == nil {
		return nil
	}
	switch v.Kind {
	case yaml.MappingNode:
		return []*yaml.Node{v}
	case yaml.SequenceNode:
		var out []*yaml.Node
		for _, c := range v.Content {
			m := d.resolve(c)
			if m == nil {
				return out
			}
			if m.Kind != yaml.MappingNode {
				d.errorf(m, path, "a merge key (<<) takes a mapping or a list of mappings")
				continue
			}
			out = append(out, m)
		}
		return out
	}
	d.errorf(v, path, "a merge key (<<) takes a mapping or a list of mappings")
	return nil
}

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// joinPath appends a mapping key to a path: rules[1].callback, or
// feeds["items.jsonl"] when the key is not an identifier.
func joinPath(path, key string) string {
	if !identRe.MatchString(key) {
		return fmt.Sprintf("%s[%q]", path, key)
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func indexPath(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// kindName describes a node for "expected X, got Y" messages.
func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!str":
			return fmt.Sprintf("string %q", truncate(n.Value))
		case "!!int":
			return "integer " + n.Value
		case "!!float":
			return "number " + n.Value
		case "!!bool":
			return "boolean " + n.Value
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%s %q", strings.TrimPrefix(n.Tag, "!!"), truncate(n.Value))
	}
	return "an unknown node"
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// decode fills v (addressable) from n, recording the value's position under
// path. Unsupported shapes are reported, never panicked on.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = d.resolve(n)
	if n == nil {
		return
	}
	d.pos[path] = Position{n.Line, n.Column}
	if v.CanAddr() {
		if u, ok := v.Addr().Interface().(nodeDecoder); ok {
			u.decodeNode(d, n, path)
			return
		}
	}
	if isNull(n) {
		return // null means "not set": the default applies
	}
	switch v.Kind() {
	case reflect.String:
		if s, ok := d.scalarString(n, path); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if b, ok := d.boolValue(n, path); ok {
			v.SetBool(b)
		}
	case reflect.Int, reflect.Int64:
		if i, ok := d.intValue(n, path); ok {
			v.SetInt(i)
		}
	case reflect.Pointer:
		nv := reflect.New(v.Type().Elem())
		d.decode(n, path, nv.Elem())
		v.Set(nv)
	case reflect.Slice:
		d.decodeSlice(n, path, v)
	case reflect.Map:
		d.decodeMap(n, path, v)
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.Interface:
		if g, ok := d.generic(n, path); ok && g != nil {
			v.Set(reflect.ValueOf(g))
		}
	default:
		d.errorf(n, path, "internal: cannot decode into %s", v.Type())
	}
}

// scalarString accepts any scalar and keeps its text exactly as written, so
// `session_id: 0123` stays "0123" and `country: NO` stays "NO".
func (d *decoder) scalarString(n *yaml.Node, path string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

var yaml11Bools = map[string]bool{"yes": true, "no": false, "on": true, "off": false, "y": true, "n": false}

// boolValue accepts only YAML 1.2 booleans (true/false). YAML 1.1's yes/no/on/
// off are rejected with a hint instead of silently meaning something.
func (d *decoder) boolValue(n *yaml.Node, path string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		return strings.EqualFold(n.Value, "true"), true
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" {
		if b, ok := yaml11Bools[strings.ToLower(n.Value)]; ok {
			d.errorf(n, path, "expected true or false, got %q (YAML 1.1 booleans are not accepted; write %t)", n.Value, b)
			return false, false
		}
	}
	d.errorf(n, path, "expected true or false, got %s", kindName(n))
	return false, false
}

var octalish = regexp.MustCompile(`^[-+]?0[0-9_]+$`)

// intValue accepts YAML integers. A leading zero (0777) is rejected: YAML 1.1
// reads it as octal (511), YAML 1.2 as decimal, and users mean either.
func (d *decoder) intValue(n *yaml.Node, path string) (int64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		d.errorf(n, path, "expected an integer, got %s", kindName(n))
		return 0, false
	}
	if octalish.MatchString(n.Value) {
		d.errorf(n, path, "ambiguous number %s: a leading zero means octal in YAML 1.1; drop the zero, write 0o%s for octal, or quote it", n.Value, strings.TrimLeft(n.Value, "+-0"))
		return 0, false
	}
	i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
	if err != nil {
		d.errorf(n, path, "integer %s out of range", n.Value)
		return 0, false
	}
	return i, true
}

func (d *decoder) floatValue(n *yaml.Node, path string) (float64, bool) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!float") {
		d.errorf(n, path, "expected a number, got %s", kindName(n))
		return 0, false
	}
	if n.Tag == "!!int" {
		i, ok := d.intValue(n, path)
		return float64(i), ok
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		d.errorf(n, path, "expected a finite number, got %s", n.Value)
		return 0, false
	}
	return f, true
}

// decodeSlice decodes a list. A list of strings also accepts a single string
// (allow: 'page/\d+' is as common in ported spiders as allow: [...]).
func (d *decoder) decodeSlice(n *yaml.Node, path string, v reflect.Value) {
	et := v.Type().Elem()
	if n.Kind == yaml.ScalarNode && et.Kind() == reflect.String {
		out := reflect.MakeSlice(v.Type(), 1, 1)
		out.Index(0).SetString(n.Value)
		v.Set(out)
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "expected a list, got %s", kindName(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, c := range n.Content {
		if d.over {
			return
		}
		d.decode(c, indexPath(path, i), out.Index(i))
	}
	v.Set(out)
}

func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	if v.Type().Key().Kind() != reflect.String {
		d.errorf(n, path, "internal: map key type %s", v.Type().Key())
		return
	}
	m := reflect.MakeMap(v.Type())
	for _, p := range d.pairs(n, path) {
		if d.over {
			return
		}
		ev := reflect.New(v.Type().Elem()).Elem()
		d.decode(p.val, joinPath(path, p.key), ev)
		m.SetMapIndex(reflect.ValueOf(p.key).Convert(v.Type().Key()), ev)
	}
	v.Set(m)
}

// yamlFields lists the yaml-tagged fields of struct type t by key.
func yamlFields(t reflect.Type) (map[string]int, []string) {
	idx := map[string]int{}
	var names []string
	for i := 0; i < t.NumField(); i++ {
		tag := t.Field(i).Tag.Get("yaml")
		name, _, _ := strings.Cut(tag, ",")
		if name == "" || name == "-" {
			continue
		}
		idx[name] = i
		names = append(names, name)
	}
	return idx, names
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	idx, names := yamlFields(v.Type())
	for _, p := range d.pairs(n, path) {
		if d.over {
			return
		}
		fp := joinPath(path, p.key)
		i, ok := idx[p.key]
		if !ok {
			d.errorf(p.kn, fp, "unknown key %q%s", p.key, misplacedHint(v.Type(), p.key, names))
			continue
		}
		d.decode(p.val, fp, v.Field(i))
	}
}

// generic decodes free-form data (cb_kwargs, map settings) into JSON-like Go
// values: nil, bool, int64, float64, string, []any, map[string]any.
func (d *decoder) generic(n *yaml.Node, path string) (any, bool) {
	n = d.resolve(n)
	if n == nil {
		return nil, false
	}
	switch n.Kind {
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return nil, true
		case "!!bool":
			return d.boolValue(n, path)
		case "!!int":
			return d.intValue(n, path)
		case "!!float":
			return d.floatValue(n, path)
		case "!!str", "!!timestamp", "!!binary":
			return n.Value, true
		}
		d.errorf(n, path, "unsupported YAML tag %s", n.Tag)
		return nil, false
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for i, c := range n.Content {
			if d.over {
				return nil, false
			}
			v, ok := d.generic(c, indexPath(path, i))
			if ok {
				out = append(out, v)
			}
		}
		return out, true
	case yaml.MappingNode:
		out := map[string]any{}
		for _, p := range d.pairs(n, path) {
			if d.over {
				return nil, false
			}
			v, ok := d.generic(p.val, joinPath(path, p.key))
			if ok {
				out[p.key] = v
			}
		}
		return out, true
	}
	d.errorf(n, path, "unsupported YAML node")
	return nil, false
}

func reflectValueOf(ptr any) reflect.Value { return reflect.ValueOf(ptr).Elem() }

// misplacedHint explains an unknown key that is valid one level up or down
// (a setting at the top level, callback inside link_extractor, allow
// directly on a rule), else suggests the closest key.
func misplacedHint(t reflect.Type, key string, names []string) string {
	has := func(t reflect.Type) bool { idx, _ := yamlFields(t); _, ok := idx[key]; return ok }
	switch t {
	case reflect.TypeOf(Spec{}):
		if _, ok := defByName[key]; ok {
			return " (settings go under settings:)"
		}
	case reflect.TypeOf(Rule{}):
		if has(reflect.TypeOf(LinkExtractorSpec{})) {
			return fmt.Sprintf(" (%s goes under link_extractor:)", key)
		}
	case reflect.TypeOf(LinkExtractorSpec{}):
		if has(reflect.TypeOf(Rule{})) {
			return fmt.Sprintf(" (%s belongs to the rule, next to link_extractor:)", key)
		}
	}
	return didYouMean(key, names)
}
