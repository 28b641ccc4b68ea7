package dsl

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// MaxSpecSize is the largest spec file accepted. Specs are small; the limit
// is checked before parsing so a huge or endless file costs nothing.
const MaxSpecSize = 1 << 20

// ScriptExtensions are the suffixes that make `script:` a file path.
var ScriptExtensions = []string{".js", ".mjs", ".cjs", ".ts"}

// Load reads and parses the spec at path. The error, when not nil, is an
// ErrorList with every problem found, sorted by position.
func Load(path string) (*Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fileErrMsg(err)}}
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, ErrorList{{File: path, Msg: "is a directory, not a spec file"}}
	}
	// Read one byte past the limit to tell "exactly at the limit" from "over".
	data, err := io.ReadAll(io.LimitReader(f, MaxSpecSize+1))
	if err != nil {
		return nil, ErrorList{{File: path, Msg: fmt.Sprintf("read: %v", err)}}
	}
	return Parse(path, data)
}

func fileErrMsg(err error) string {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return "no such file"
	case errors.Is(err, os.ErrPermission):
		return "permission denied"
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// yamlError converts a parse error from the YAML library into an Error at
// the position the parser reports (1-based line and column, the column
// counted in characters like every other position in a spec error). The
// message is the parser's own, without the position, which the
// file:line:col prefix already gives.
func yamlError(file string, data []byte, err error) *Error {
	var le *yaml.LoadError // a *yaml.LoadErrors yields its first entry
	if !errors.As(err, &le) {
		return &Error{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	at, msg, ctx := le.Mark, le.Message, le.ContextMark
	if at.Line == 0 && le.Stage == yaml.ReaderStage && at.Index <= len(data) {
		// The reader (control characters) knows only the byte offset.
		at.Line, at.Column = positionOf(data, at.Index)
	}
	if at.Line == 0 {
		return &Error{File: file, Msg: "invalid YAML: " + msg}
	}
	endLine, endCol := endOf(data)
	atEnd := at.Line > endLine || (at.Line == endLine && at.Column >= endCol)
	switch {
	case charAt(data, at.Line, at.Column) == '\t':
		// The context ("while scanning a plain scalar") only confuses
		// what is a plain layout mistake.
		if strings.Contains(msg, "tab") {
			msg += " (indent with spaces)"
		} else {
			msg += " (a tab: indent with spaces)"
		}
	case le.ContextMsg == "" || ctx.Line == 0 || (ctx.Line == at.Line && ctx.Column == at.Column):
		// The context says nothing the position does not.
		if atEnd {
			msg += " at end of file"
		}
	case atEnd:
		// The parser ran out of input inside a construct (a quote or a
		// bracket never closed): the end of the file is not where the
		// mistake is, the opening of the construct is.
		at, msg = ctx, msg+" "+le.ContextMsg
	default:
		msg = fmt.Sprintf("%s (%s started at line %d, column %d)", msg, le.ContextMsg, ctx.Line, ctx.Column)
	}
	return &Error{File: file, Line: at.Line, Col: at.Column, Msg: "invalid YAML: " + msg}
}

// endOf is the position just past the last character of data, as the
// parser counts it (line breaks are \n or \r\n).
func endOf(data []byte) (line, col int) {
	last := bytes.LastIndexByte(data, '\n')
	return 1 + bytes.Count(data, []byte("\n")), 1 + utf8.RuneCount(data[last+1:])
}

// positionOf converts a byte offset into a 1-based line and column
// (columns count characters).
func positionOf(data []byte, off int) (line, col int) {
	before := data[:off]
	last := bytes.LastIndexByte(before, '\n')
	return 1 + bytes.Count(before, []byte("\n")), 1 + utf8.RuneCount(before[last+1:])
}

// isBinary reports a file that is no YAML at all: it holds a NUL byte,
// starts like a compressed archive or an executable, or has several bytes
// that are not UTF-8 in its first kilobyte. (A single stray byte is
// reported at its position: firstInvalidByte.) jsbridge/compile has the
// same rule for scripts.
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

// firstInvalidByte finds the first byte that is not UTF-8: its 1-based
// line and column (in characters) and its value.
func firstInvalidByte(data []byte) (line, col int, b byte, ok bool) {
	if utf8.Valid(data) {
		return 0, 0, 0, false
	}
	line, col = 1, 1
	for len(data) > 0 {
		r, size := utf8.DecodeRune(data)
		if r == utf8.RuneError && size <= 1 {
			return line, col, data[0], true
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		data = data[size:]
	}
	return 0, 0, 0, false
}

// charAt returns the character at 1-based line and column (columns count
// characters, as the parser does), or 0 when there is none.
func charAt(data []byte, line, col int) rune {
	for l := 1; l < line; l++ {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return 0
		}
		data = data[i+1:]
	}
	for c := 1; len(data) > 0; c++ {
		r, size := utf8.DecodeRune(data)
		if r == '\n' {
			return 0
		}
		if c == col {
			return r
		}
		data = data[size:]
	}
	return 0
}

// Parse parses spec source. filename is used in messages and to resolve
// relative paths (script, js_path); it need not exist when the script is
// inline.
func Parse(filename string, data []byte) (spec *Spec, err error) {
	fail := func(line, col int, msg string) (*Spec, error) {
		return nil, ErrorList{{File: filename, Line: line, Col: col, Msg: msg}}
	}
	// The YAML library is not ours; whatever it does on hostile input must
	// not crash the CLI with a stack trace.
	defer func() {
		if r := recover(); r != nil {
			spec, err = fail(1, 1, fmt.Sprintf("internal error while parsing: %v", r))
		}
	}()
	if len(data) > MaxSpecSize {
		return fail(1, 1, fmt.Sprintf("spec too large (more than %d bytes; a spec is configuration, put data in files it references)", MaxSpecSize))
	}
	if isBinary(data) {
		// A file-level problem names the file's first character, so every
		// message carries file:line:col.
		return fail(1, 1, "binary file: a spec must be UTF-8 YAML text")
	}
	if line, col, b, ok := firstInvalidByte(data); ok {
		return fail(line, col, fmt.Sprintf("invalid UTF-8 byte 0x%02x: a spec must be UTF-8 text", b))
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fail(1, 1, "empty spec: expected a mapping with at least name and script")
		}
		return nil, ErrorList{yamlError(filename, data, err)}
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return fail(next.Line, next.Column, "more than one YAML document (---): put each spider in its own file")
	case !errors.Is(err, io.EOF):
		return nil, ErrorList{yamlError(filename, data, err)}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	normalizeTags(root)
	if isNull(root) && root.Kind == yaml.ScalarNode {
		return fail(1, 1, "empty spec: expected a mapping with at least name and script")
	}

	dir := "."
	if filename != "" {
		dir = filepath.Dir(filename)
	}
	absDir, aerr := filepath.Abs(dir)
	if aerr != nil {
		absDir = dir
	}
	// Measure alias expansion before anything walks the tree (the YAML
	// library guards it only when decoding into Go values).
	ex := &expansion{memo: map[*yaml.Node]int{}, active: map[*yaml.Node]bool{}, limit: aliasBudget(countNodes(root, 0))}
	ex.size(root)
	if ex.cycleAt != nil {
		return fail(ex.cycleAt.Line, ex.cycleAt.Column, "alias *"+ex.cycleAt.Value+" refers to a node that contains it (a cycle)")
	}
	if ex.over {
		return fail(ex.overAt.Line, ex.overAt.Column, "document contains excessive aliasing (anchors would expand to more than "+strconv.Itoa(ex.limit)+" nodes)")
	}
	d := newDecoder(filename, absDir, data, root)
	s := &Spec{File: filename, Dir: absDir}
	if r := d.resolve(root); r != nil && r.Kind != yaml.MappingNode {
		return fail(r.Line, r.Column, fmt.Sprintf("a spec must be a mapping of keys (name, script, ...), got %s", kindName(r)))
	}
	d.decode(root, "", reflect.ValueOf(s).Elem())
	if d.over {
		return fail(d.overAt.Line, d.overAt.Col, "document contains excessive aliasing (anchors expand to too many nodes)")
	}
	if s.Settings == nil {
		s.Settings = DefaultSettings()
	}
	d.finish(s, root)
	s.pos = d.pos
	if len(d.errs) > 0 {
		return nil, d.sorted()
	}
	return s, nil
}

// finish checks what the decoder cannot check field by field: required
// keys, enums and patterns, file references, hook names, sitemap rules.
func (d *decoder) finish(s *Spec, root *yaml.Node) {
	rootPos := Position{root.Line, root.Column}
	d.checkTags(reflect.ValueOf(s).Elem(), "", rootPos)
	if len(s.RedisKeys) > 0 {
		s.RedisKey = s.RedisKeys[0]
	}
	for i, k := range s.RedisKeys {
		if strings.TrimSpace(k) == "" {
			d.errAt(d.pos[indexPath("redis_key", i)], indexPath("redis_key", i), "redis key must not be empty")
		}
	}
	s.JSPath = d.resolveJSPath(s.JSPath)
	for _, sig := range sortedKeys(s.Hooks) {
		p := joinPath("hooks", sig)
		if !contains(Signals, sig) {
			pos := d.pos[p]
			d.errAt(pos, p, fmt.Sprintf("unknown signal %q%s", sig, didYouMean(sig, Signals)))
		}
	}
	for i, m := range s.DownloaderMiddlewares {
		if m == (DownloaderMW{}) {
			p := indexPath("downloader_middlewares", i)
			d.errAt(d.pos[p], p, "a downloader middleware needs at least one of process_request, process_response, process_exception")
		}
	}
	for i, m := range s.SpiderMiddlewares {
		if m == (SpiderMW{}) {
			p := indexPath("spider_middlewares", i)
			d.errAt(d.pos[p], p, "a spider middleware needs at least one of process_spider_input, process_spider_output, process_spider_exception, process_start")
		}
	}
	for i, f := range s.Feeds {
		p := joinPath("feeds", f.URI)
		if f.Indent != nil && *f.Indent < 0 {
			d.errAt(d.pos[p+".indent"], p+".indent", "must not be negative")
		}
		if f.Format == "" && feedFormatFromURI(f.URI) == "" {
			d.errAt(d.pos[p], p, "cannot tell the format from the file name; set format (jsonlines, json, csv, xml)")
		}
		if f.Format == "" {
			s.Feeds[i].Format = feedFormatFromURI(f.URI)
		}
	}
}

func feedFormatFromURI(uri string) string {
	switch strings.ToLower(filepath.Ext(uri)) {
	case ".jsonl", ".jsonlines":
		return "jsonlines"
	case ".json":
		return "json"
	case ".csv":
		return "csv"
	case ".xml":
		return "xml"
	}
	return ""
}

// checkTags enforces the required/enum/pattern struct tags (the same tags
// the JSON Schema is generated from).
func (d *decoder) checkTags(v reflect.Value, path string, at Position) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" {
			continue
		}
		fp := joinPath(path, name)
		fv := v.Field(i)
		if f.Tag.Get("required") == "true" && fv.IsZero() {
			d.errAt(at, path, fmt.Sprintf("missing required key %q", name))
			continue
		}
		if fv.Kind() == reflect.String && fv.String() != "" {
			if enum := f.Tag.Get("enum"); enum != "" {
				vals := strings.Split(enum, ",")
				if !contains(vals, fv.String()) {
					d.errAt(d.pos[fp], fp, fmt.Sprintf("must be one of %s, got %q%s", strings.Join(vals, ", "), fv.String(), didYouMean(fv.String(), vals)))
				}
			}
			if pat := f.Tag.Get("pattern"); pat != "" && !regexp.MustCompile(pat).MatchString(fv.String()) {
				d.errAt(d.pos[fp], fp, fmt.Sprintf("%q must match %s", fv.String(), pat))
			}
		}
		switch {
		case fv.Kind() == reflect.Struct && f.Type != reflect.TypeOf(ScriptRef{}):
			d.checkTags(fv, fp, d.pos[fp])
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(Feeds{}):
			for j := 0; j < fv.Len(); j++ {
				ep := indexPath(fp, j)
				d.checkTags(fv.Index(j), ep, d.pos[ep])
			}
		}
	}
}

// decodeNode reads `script:`: a path when it is one line ending in a script
// suffix, inline source otherwise.
func (r *ScriptRef) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return // reported as a missing required key
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected a script path or inline source, got %s", kindName(n))
		return
	}
	v := n.Value
	if strings.TrimSpace(v) == "" {
		d.errorf(n, path, "script is empty")
		return
	}
	if isScriptPath(v) {
		p := resolvePath(d.dir, v)
		st, err := os.Stat(p)
		switch {
		case err != nil:
			d.errorf(n, path, "script file %q: %s", v, fileErrMsg(err))
		case st.IsDir():
			d.errorf(n, path, "script %q is a directory, not a file", v)
		}
		r.Path = p
		r.Filename = filepath.Join(filepath.Dir(d.file), v)
		if filepath.IsAbs(v) {
			r.Filename = v
		}
		return
	}
	r.Inline = v
	r.Filename = d.file
	r.Line, r.Col = inlineStart(d.src, n)
}

func isScriptPath(v string) bool {
	if strings.ContainsAny(v, "\n\r") {
		return false
	}
	v = strings.TrimSpace(v)
	for _, ext := range ScriptExtensions {
		if strings.HasSuffix(strings.ToLower(v), ext) && !strings.ContainsAny(v, "(){};=") {
			return true
		}
	}
	return false
}

// inlineStart finds where the text of scalar n begins in src: for block
// scalars (| and >) the first content line after the indicator, for quoted
// scalars one column after the quote.
func inlineStart(src []byte, n *yaml.Node) (int, int) {
	switch n.Style {
	case yaml.LiteralStyle, yaml.FoldedStyle:
		// The text starts on the line after the indicator even when that
		// line is blank (leading blank lines are part of the text); the
		// indentation is that of the first non-blank line.
		lines := bytes.Split(src, []byte("\n"))
		for l := n.Line; l < len(lines); l++ { // lines[n.Line] is the line after the indicator
			t := bytes.TrimRight(lines[l], "\r")
			if len(bytes.TrimSpace(t)) == 0 {
				continue
			}
			return n.Line + 1, len(t) - len(bytes.TrimLeft(t, " ")) + 1
		}
		return n.Line + 1, 1
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		return n.Line, n.Column + 1
	}
	return n.Line, n.Column
}

// resolveJSPath expands js_path entries to absolute .js files.
func (d *decoder) resolveJSPath(entries []string) []string {
	var out []string
	for i, e := range entries {
		p := indexPath("js_path", i)
		at := d.pos[p]
		if at == (Position{}) {
			at = d.pos["js_path"]
		}
		abs := resolvePath(d.dir, e)
		st, err := os.Stat(abs)
		if err != nil {
			d.errAt(at, p, fmt.Sprintf("js_path %q: %s", e, fileErrMsg(err)))
			continue
		}
		if !st.IsDir() {
			out = append(out, abs)
			continue
		}
		matches, _ := filepath.Glob(filepath.Join(abs, "*.js"))
		sort.Strings(matches)
		if len(matches) == 0 {
			d.errAt(at, p, fmt.Sprintf("js_path %q: directory holds no .js files", e))
		}
		out = append(out, matches...)
	}
	return out
}

// decodeNode reads one sitemap rule: {regex: R, callback: F} or [R, F].
func (r *SitemapRule) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.SequenceNode:
		if len(n.Content) != 2 {
			d.errorf(n, path, "a sitemap rule is [regex, callback], got a list of %d", len(n.Content))
			return
		}
		d.decode(n.Content[0], path+".regex", reflect.ValueOf(&r.Regex).Elem())
		d.decode(n.Content[1], path+".callback", reflect.ValueOf(&r.Callback).Elem())
	case yaml.MappingNode:
		d.decodeStruct(n, path, reflect.ValueOf(r).Elem())
	default:
		d.errorf(n, path, "a sitemap rule is {regex: R, callback: F} or [R, F], got %s", kindName(n))
		return
	}
	if r.Regex == "" {
		d.errorf(n, path+".regex", "missing regex")
	}
	if r.Callback == "" {
		d.errorf(n, path+".callback", "missing callback")
	}
}

// decodeNode reads `feeds:`, keeping the order of the URIs.
func (fs *Feeds) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping of output URI to options, got %s", kindName(n))
		return
	}
	for _, p := range d.pairs(n, path) {
		if d.over {
			return
		}
		fp := joinPath(path, p.key)
		f := Feed{URI: p.key}
		val := d.dropRefusedFeedOptions(p.val, fp)
		d.decode(val, fp, reflect.ValueOf(&f.FeedOptions).Elem())
		d.pos[fp] = Position{p.kn.Line, p.kn.Column}
		d.checkTags(reflect.ValueOf(&f.FeedOptions).Elem(), fp, d.pos[fp])
		*fs = append(*fs, f)
	}
}

// dropRefusedFeedOptions reports Scrapy's feed options that need Python
// code (item_classes, item_filter, uri_params, lzma_filters) at their key
// and returns the options without them, so that the rest is still
// checked.
func (d *decoder) dropRefusedFeedOptions(n *yaml.Node, path string) *yaml.Node {
	r := d.resolve(n)
	if r == nil || r.Kind != yaml.MappingNode {
		return n
	}
	var keep []*yaml.Node
	for i := 0; i+1 < len(r.Content); i += 2 {
		k := r.Content[i]
		if why, ok := refusedFeedOptions[k.Value]; ok && k.Kind == yaml.ScalarNode {
			d.errorf(k, joinPath(path, k.Value), "not supported: %s", why)
			continue
		}
		keep = append(keep, r.Content[i], r.Content[i+1])
	}
	if len(keep) == len(r.Content) {
		return n
	}
	c := *r
	c.Content = keep
	return &c
}

// decodeNode reads a feed's fields: a list of field names (a single name
// is a list of one; an entry may be a one-entry mapping {field: Output
// name}), or a mapping of field name to output name, in order.
func (ff *FeedFields) decodeNode(d *decoder, n *yaml.Node, path string) {
	if isNull(n) {
		return
	}
	name := func(v *yaml.Node, p string) (string, bool) {
		v = d.resolve(v)
		if v == nil {
			return "", false
		}
		if v.Kind != yaml.ScalarNode || isNull(v) {
			d.errorf(v, p, "expected a field name, got %s", kindName(v))
			return "", false
		}
		return v.Value, true
	}
	out := FeedFields{}
	switch n.Kind {
	case yaml.ScalarNode:
		out = append(out, KV{Key: n.Value, Value: n.Value})
	case yaml.SequenceNode:
		for i, c := range n.Content {
			ip := indexPath(path, i)
			c = d.resolve(c)
			if c == nil {
				return
			}
			d.pos[ip] = Position{c.Line, c.Column}
			if c.Kind == yaml.MappingNode {
				pairs := d.pairs(c, ip)
				if len(pairs) != 1 {
					d.errorf(c, ip, "expected a field name or {field: output name}, got a mapping of %d entries", len(pairs))
					continue
				}
				if o, ok := name(pairs[0].val, joinPath(ip, pairs[0].key)); ok {
					out = append(out, KV{Key: pairs[0].key, Value: o})
				}
				continue
			}
			if s, ok := name(c, ip); ok {
				out = append(out, KV{Key: s, Value: s})
			}
		}
	case yaml.MappingNode:
		for _, p := range d.pairs(n, path) {
			fp := joinPath(path, p.key)
			if o, ok := name(p.val, fp); ok {
				out = append(out, KV{Key: p.key, Value: o})
			}
		}
	default:
		d.errorf(n, path, "expected a list of field names or a mapping of field name to output name, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for _, f := range out {
		if seen[f.Key] {
			d.errorf(n, path, "field %q is listed twice", f.Key)
		}
		seen[f.Key] = true
	}
	*ff = out
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
