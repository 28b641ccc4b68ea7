package feed

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// xmlNames are the XML feed's root and item element names
// (item_export_kwargs root_element and item_element).
type xmlNames struct{ root, item string }

func xmlNamesOf(o ExportOptions) xmlNames {
	return xmlNames{root: cmp.Or(o.RootElement, "items"), item: cmp.Or(o.ItemElement, "item")}
}

// exporter serializes items of one format to a writer.
type exporter interface {
	export(it *crawl.Item) error
	finish() error
}

// finalizer is an exporter that may rewrite the finished file (CSV whose
// header grew).
type finalizer interface {
	finalize(f *os.File) error
}

// resumeState describes an existing feed being appended to.
type resumeState struct {
	existing  bool     // a document is already there (JSON array, XML, CSV)
	hasItems  bool     // it already holds at least one item
	csvHeader []string // the existing CSV header
	csvLF     bool     // the existing CSV's rows end with "\n", not "\r\n"
	// cutBytes is the length of a torn last record (a killed run's) that
	// is cut off before appending.
	cutBytes int64
}

func newExporter(cfg Config, w io.Writer, rs resumeState, enc encoding.Encoding) exporter {
	sel := selector{fields: cfg.Fields, rename: cfg.Rename, empty: cfg.Export.ExportEmpty, sortKeys: cfg.Export.SortKeys}
	esc := newRuneEscaper(enc)
	if cfg.Export.EnsureASCII {
		esc = asciiEscaper()
	}
	seps := [2]string{",", ":"}
	if cfg.Export.Separators != nil {
		seps = *cfg.Export.Separators
	}
	switch cfg.Format {
	case JSON:
		return &jsonExporter{w: w, sel: sel, started: rs.existing, n: boolInt(rs.hasItems), indent: strings.Repeat(" ", cfg.Indent), esc: esc, seps: seps}
	case CSV:
		cw := newCSVWriter(w, rs.csvLF)
		cw.setDialect(cfg.Export)
		e := &csvExporter{w: cw, sel: sel, enc: enc, lf: rs.csvLF, noHeader: cfg.Export.NoHeader, join: ",",
			fixed: cw.dialect.custom() || len(cfg.Postprocessing) > 0}
		if cfg.Export.Join != nil {
			e.join = *cfg.Export.Join
		}
		if len(cfg.Fields) > 0 {
			e.columns = slices.Clone(cfg.Fields)
		} else if rs.csvHeader != nil {
			e.columns = slices.Clone(rs.csvHeader)
		}
		if rs.csvHeader != nil || cfg.Export.NoHeader {
			e.headerLen = len(rs.csvHeader)
			e.headerDone = true
		}
		return e
	case XML:
		name := "utf-8"
		if enc != nil {
			if n, err := htmlindex.Name(enc); err == nil {
				name = n
			}
		}
		x := &xmlExporter{w: w, sel: sel, started: rs.existing, encName: name, indent: cfg.Indent,
			item: cmp.Or(cfg.Export.ItemElement, "item"), root: cmp.Or(cfg.Export.RootElement, "items")}
		if enc != nil && enc != unicode.UTF8 {
			x.encoder = enc.NewEncoder()
		}
		return x
	default:
		return &jsonlExporter{w: w, sel: sel, esc: esc, seps: seps}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// selector applies a feed's fields (FEED_EXPORT_FIELDS): the listed
// fields in that order under their output names (fields given as a
// mapping), missing ones skipped unless empty (export_empty_fields: then
// they are null), keys sorted with sortKeys (sort_keys).
type selector struct {
	fields   []string
	rename   map[string]string
	empty    bool
	sortKeys bool
}

// output is the name field k is written under.
func (s selector) output(k string) string {
	if o, ok := s.rename[k]; ok {
		return o
	}
	return k
}

func (s selector) apply(it *crawl.Item) *crawl.Item {
	out := it
	if len(s.fields) > 0 {
		out = &crawl.Item{}
		for _, k := range s.fields {
			v, ok := it.Get(k)
			if ok || s.empty {
				out.Fields = append(out.Fields, crawl.Field{Key: s.output(k), Value: v})
			}
		}
	}
	if s.sortKeys {
		out = sortedItem(out)
	}
	return out
}

// sortedItem is it with the keys of it and of the items nested in it in
// sorted order (json.dumps' sort_keys; maps are always written sorted).
func sortedItem(it *crawl.Item) *crawl.Item {
	out := &crawl.Item{Fields: slices.Clone(it.Fields)}
	slices.SortStableFunc(out.Fields, func(a, b crawl.Field) int { return strings.Compare(a.Key, b.Key) })
	for i, f := range out.Fields {
		out.Fields[i].Value = sortedValue(f.Value)
	}
	return out
}

func sortedValue(v any) any {
	switch x := v.(type) {
	case *crawl.Item:
		return sortedItem(x)
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = sortedValue(e)
		}
		return l
	}
	return v
}

func write(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return writeErr{err}
	}
	return nil
}

// jsonlExporter writes one JSON object per line.
type jsonlExporter struct {
	w    io.Writer
	sel  selector
	buf  []byte // reused between items
	esc  *runeEscaper
	seps [2]string
}

func (e *jsonlExporter) export(it *crawl.Item) error {
	b, err := appendItemJSON(e.buf[:0], e.sel.apply(it))
	if err != nil {
		return fmt.Errorf("serialize item: %w", err)
	}
	b = e.esc.escape(b)
	if e.seps != [2]string{",", ":"} {
		b = respace(nil, b, "", e.seps)
	}
	e.buf = append(b, '\n')
	return write(e.w, e.buf)
}

func (e *jsonlExporter) finish() error { return nil }

// jsonExporter writes a JSON array: "[" before the first item, ",\n"
// between items, "\n]" on finish (or "[]" for no items), so the file is a
// valid array whenever finish ran. With an indent each item is
// pretty-printed as Python's json.dumps(indent=N) does, inside the same
// framing (Scrapy's JsonItemExporter): the item's braces stay at column 0,
// so appending to an indented array works the same way.
type jsonExporter struct {
	w       io.Writer
	sel     selector
	seps    [2]string
	started bool   // "[" written (or present in the appended file)
	n       int    // items in the array
	indent  string // one level of indentation; "" for compact items
	pretty  bytes.Buffer
	esc     *runeEscaper
}

func (e *jsonExporter) export(it *crawl.Item) error {
	b, err := appendItemJSON(nil, e.sel.apply(it))
	if err != nil {
		return fmt.Errorf("serialize item: %w", err)
	}
	b = e.esc.escape(b)
	if e.indent != "" {
		e.pretty.Reset()
		// json.Indent keeps string escapes as they are and writes "key": value,
		// one element a line and [] {} for empty containers, like Python.
		seps := e.seps
		if seps == [2]string{",", ":"} {
			seps[1] = ": " // Python's default with an indent
		}
		e.pretty.Write(respace(nil, b, e.indent, seps))
		b = e.pretty.Bytes()
	} else if e.seps != [2]string{",", ":"} {
		b = respace(nil, b, "", e.seps)
	}
	var pre []byte
	switch {
	case !e.started:
		pre = []byte("[\n")
	case e.n > 0:
		pre = []byte(",\n")
	default:
		pre = []byte("\n")
	}
	if err := write(e.w, append(pre, b...)); err != nil {
		return err
	}
	e.started = true
	e.n++
	return nil
}

func (e *jsonExporter) finish() error {
	switch {
	case !e.started:
		return write(e.w, []byte("[]\n"))
	case e.n == 0:
		return write(e.w, []byte("]\n"))
	default:
		return write(e.w, []byte("\n]\n"))
	}
}

// csvExporter writes a header row and one row per item. Columns come from
// FEED_EXPORT_FIELDS, or else from the first item; a field first seen in a
// later item is appended as a new column at the end (rows written before
// it have no value there). When the output is a file, Close rewrites the
// header to list every column and pads the earlier rows, so the result is a
// rectangular table; on stdout the header cannot be rewritten and later
// rows are simply longer.
type csvExporter struct {
	w          *csvWriter
	sel        selector // fixed selection (fields): new fields are ignored
	noHeader   bool     // include_headers_line false: no header, each row its item's own fields
	fixed      bool     // columns from the first item (a compressed file or a dialect of its own)
	join       string   // join_multivalued
	columns    []string
	headerLen  int
	headerDone bool
	enc        encoding.Encoding // the file's encoding, for the rewritten header
	lf         bool              // rows end with "\n" (an appended file's choice)
}

func (e *csvExporter) export(it *crawl.Item) error {
	columns := e.columns
	switch {
	case e.noHeader && len(e.sel.fields) == 0:
		// Scrapy without a header line and without fields writes each
		// item's own fields, in its order.
		columns = columns[:0]
		for _, f := range it.Fields {
			columns = append(columns, f.Key)
		}
	case len(e.sel.fields) == 0 && e.fixed && e.headerDone:
		// The header cannot be rewritten (a compressed file; finalize
		// scans the default dialect only): the first item's fields, as
		// Scrapy does.
	case len(e.sel.fields) == 0:
		for _, f := range it.Fields {
			if !slices.Contains(e.columns, f.Key) {
				e.columns = append(e.columns, f.Key)
			}
		}
		columns = e.columns
	}
	row := make([]string, len(columns))
	for i, c := range columns {
		if v, ok := it.Get(c); ok {
			s, err := csvValue(v, e.join)
			if err != nil {
				return fmt.Errorf("serialize item.%s: %w", c, err)
			}
			row[i] = s
		}
	}
	// The header goes out only with a row that serialized: a feed whose
	// items all failed has written nothing and can still be left out.
	if !e.headerDone {
		if err := e.w.Write(e.header()); err != nil {
			return writeErr{err}
		}
		e.headerDone = true
		e.headerLen = len(e.columns)
	}
	if err := e.w.Write(row); err != nil {
		return writeErr{err}
	}
	e.w.Flush()
	if err := e.w.Error(); err != nil {
		return writeErr{err}
	}
	return nil
}

// header is the header row: the columns under their output names.
func (e *csvExporter) header() []string {
	h := make([]string, len(e.columns))
	for i, c := range e.columns {
		h[i] = e.sel.output(c)
	}
	return h
}

func (e *csvExporter) finish() error {
	if !e.headerDone && len(e.columns) > 0 {
		if err := e.w.Write(e.header()); err != nil {
			return writeErr{err}
		}
		e.headerDone = true
		e.headerLen = len(e.columns)
	}
	e.w.Flush()
	return e.w.Error()
}

// finalize rewrites the file when columns were added after the header was
// written: a temporary file with the full header and padded rows replaces
// the feed atomically. Rows are copied byte for byte (never parsed and
// written again: encoding/csv would turn a quoted "\r\n" into "\n"), only
// extended with empty fields; the new file keeps the feed's mode.
func (e *csvExporter) finalize(f *os.File) error {
	if len(e.columns) <= e.headerLen || e.noHeader || e.fixed {
		return nil
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("rewrite csv header: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewrite csv header: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(f.Name()), ".feed-*.csv")
	if err != nil {
		return fmt.Errorf("rewrite csv header: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600; the feed was created 0644 less the
	// umask (or had its own mode before an append): keep that.
	if err := tmp.Chmod(st.Mode().Perm()); err != nil {
		tmp.Close()
		return fmt.Errorf("rewrite csv header: %w", err)
	}
	bw := bufio.NewWriter(tmp)
	header := e.header()
	var src io.Reader = f
	var dst io.Writer = bw
	if e.enc != nil && !asciiCompatible(e.enc) {
		// UTF-16 and the like: the rows are scanned as UTF-8 text and
		// encoded again (the round trip is exact for these encodings).
		src = e.enc.NewDecoder().Reader(f)
		dst = encoding.ReplaceUnsupported(e.enc.NewEncoder()).Writer(bw)
	} else if e.enc != nil {
		// The file holds encoded bytes; so must the new header.
		for i, c := range header {
			if s, err := encoding.ReplaceUnsupported(e.enc.NewEncoder()).String(c); err == nil {
				header[i] = s
			}
		}
	}
	out := bufio.NewWriter(dst)
	hw := newCSVWriter(out, e.lf)
	hw.dialect = e.w.dialect
	err = copyCSVRows(bufio.NewReader(src), out, hw, header)
	if err == nil {
		err = out.Flush()
	}
	if w, ok := dst.(io.Closer); ok && err == nil {
		err = w.Close()
	}
	if err != nil {
		tmp.Close()
		return fmt.Errorf("rewrite csv header: %w", err)
	}
	if err := errors.Join(bw.Flush(), tmp.Close()); err != nil {
		return fmt.Errorf("rewrite csv header: %w", err)
	}
	if err := os.Rename(tmp.Name(), f.Name()); err != nil {
		return fmt.Errorf("rewrite csv header: %w", err)
	}
	return nil
}

// asciiCompatible reports whether enc writes the CSV syntax characters as
// their ASCII bytes, so rows can be scanned and copied as bytes.
func asciiCompatible(enc encoding.Encoding) bool {
	b, err := enc.NewEncoder().Bytes([]byte(",\"\r\n"))
	return err == nil && string(b) == ",\"\r\n"
}

// copyCSVRows copies the CSV rows of r to w, replacing the first row (the
// old header) by header written with hw, and padding each later row with
// empty fields up to len(header). A row ends at a line feed outside quotes
// ("\r\n" or "\n", kept as it was); its fields are counted by the commas
// outside quotes. The file's encoding must keep ',', '"', '\r' and '\n' as
// their ASCII bytes (every FEED_EXPORT_ENCODING accepted does).
func copyCSVRows(r *bufio.Reader, w *bufio.Writer, hw *csvWriter, header []string) error {
	first := true
	for {
		row, err := readCSVRow(r)
		if len(row) > 0 {
			if first {
				if err := hw.Write(header); err != nil {
					return err
				}
				first = false
			} else if err := padCSVRow(w, row, len(header)); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readCSVRow returns the bytes of the next row, its line ending included
// (none at the end of a file without a final newline).
func readCSVRow(r *bufio.Reader) ([]byte, error) {
	var row []byte
	quoted := false
	for {
		chunk, err := r.ReadSlice('\n')
		row = append(row, chunk...)
		quoted = quoted != (bytes.Count(chunk, []byte{'"'})%2 == 1)
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil || !quoted {
			return row, err
		}
	}
}

// padCSVRow writes row with empty fields added before its line ending so
// that it has n fields.
func padCSVRow(w *bufio.Writer, row []byte, n int) error {
	body, end := row, []byte(nil)
	if bytes.HasSuffix(body, []byte("\r\n")) {
		body, end = body[:len(body)-2], body[len(body)-2:]
	} else if bytes.HasSuffix(body, []byte("\n")) {
		body, end = body[:len(body)-1], body[len(body)-1:]
	}
	fields, quoted := 1, false
	for _, c := range body {
		switch {
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			fields++
		}
	}
	w.Write(body)
	for ; fields < n; fields++ {
		w.WriteByte(',')
	}
	_, err := w.Write(end)
	return err
}

// csvWriter writes rows as Python's csv.writer does (Scrapy's
// CsvItemExporter): with the default dialect "\r\n" after each row (or
// "\n", to append to a file written that way); a field is quoted only
// when it holds the delimiter, the quote character or a character of the
// line terminator (not, as encoding/csv does, for a leading space or a
// lone "\."), quotes doubled; a row made of one empty field is written
// "". The dialect (delimiter, quotechar, lineterminator, quoting) comes
// from item_export_kwargs.
type csvWriter struct {
	w       io.Writer
	lf      bool
	dialect csvDialect
	buf     []byte
	err     error
}

// csvDialect is csv.writer's delimiter, quotechar, lineterminator and
// quoting (QUOTE_ALL or QUOTE_MINIMAL); zero values are the defaults.
type csvDialect struct {
	delim, quote rune
	term         string
	quoteAll     bool
}

// custom reports a dialect other than the default one.
func (d csvDialect) custom() bool { return d != csvDialect{} }

func newCSVWriter(w io.Writer, lf bool) *csvWriter { return &csvWriter{w: w, lf: lf} }

func (c *csvWriter) setDialect(o ExportOptions) {
	c.dialect = csvDialect{delim: o.Delimiter, quote: o.QuoteChar, term: o.LineTerminator, quoteAll: o.QuoteAll}
}

// Write writes one row.
func (c *csvWriter) Write(rec []string) error {
	if c.err != nil {
		return c.err
	}
	delim, quote, term := cmp.Or(c.dialect.delim, ','), cmp.Or(c.dialect.quote, '"'), c.dialect.term
	if term == "" {
		term = "\r\n"
		if c.lf {
			term = "\n"
		}
	}
	special := string(delim) + string(quote) + term
	if c.dialect.term == "" {
		special = string(delim) + string(quote) + "\r\n"
	}
	q, qq := string(quote), string(quote)+string(quote)
	b := c.buf[:0]
	if len(rec) == 1 && rec[0] == "" && !c.dialect.quoteAll {
		b = append(b, qq...)
	}
	for i, f := range rec {
		if i > 0 {
			b = utf8.AppendRune(b, delim)
		}
		if !c.dialect.quoteAll && !strings.ContainsAny(f, special) {
			b = append(b, f...)
			continue
		}
		b = append(b, q...)
		b = append(b, strings.ReplaceAll(f, q, qq)...)
		b = append(b, q...)
	}
	b = append(b, term...)
	c.buf = b
	if _, err := c.w.Write(b); err != nil {
		c.err = err
	}
	return c.err
}

// Flush exists for csv.Writer's API: rows are written at once.
func (c *csvWriter) Flush() {}

// Error is the first write error.
func (c *csvWriter) Error() error { return c.err }

// csvValue renders a field: strings as they are, null as empty, a list of
// strings joined with join (Scrapy's join_multivalued, ","), anything else
// as JSON.
func csvValue(v any, join string) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case []any:
		ss := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return jsonText(v)
			}
			ss = append(ss, s)
		}
		return strings.Join(ss, join), nil
	case []string:
		return strings.Join(x, join), nil
	}
	return jsonText(v)
}

// jsonText is v as compact JSON, written as the JSON feeds write it.
func jsonText(v any) (string, error) {
	b, err := appendJSONValue(nil, v)
	return string(b), err
}

// xmlExporter writes Scrapy's XmlItemExporter layout:
//
//	<?xml version="1.0" encoding="utf-8"?>
//	<items>
//	<item><name>Color TV</name><price>1200</price></item>
//	</items>
//
// Lists become repeated <value> elements, nested objects nested elements.
// Field names that are not valid XML names have the offending characters
// replaced by "_". With an indent (Scrapy's XmlItemExporter indent) every
// element starts on its own line, indented by that many spaces per level
// below <items>; an element without children stays on one line
// (<tags></tags>), where Scrapy would put a line break and spaces inside it.
type xmlExporter struct {
	w       io.Writer
	sel     selector
	item    string // item_element
	root    string // root_element
	started bool
	encName string
	indent  int
	buf     bytes.Buffer
	// encoder is the feed's encoding when it is not UTF-8: a character it
	// cannot represent is written as a character reference (&#19996;),
	// as Python's XMLGenerator does.
	encoder *encoding.Encoder
}

func (e *xmlExporter) header() []byte {
	return []byte(`<?xml version="1.0" encoding="` + e.encName + `"?>` + "\n<" + e.root + ">")
}

func (e *xmlExporter) export(it *crawl.Item) error {
	e.buf.Reset()
	if !e.started {
		e.buf.Write(e.header())
	}
	e.buf.WriteByte('\n')
	x := xmlWriter{b: &e.buf, indent: e.indent, enc: e.encoder}
	x.pad(1)
	e.buf.WriteString("<" + e.item + ">")
	fields := e.sel.apply(it).Fields
	for _, f := range fields {
		if err := x.child(f.Key, f.Value, 2); err != nil {
			return fmt.Errorf("serialize item.%s: %w", f.Key, err)
		}
	}
	x.closeLine(1, len(fields))
	e.buf.WriteString("</" + e.item + ">")
	if err := write(e.w, e.buf.Bytes()); err != nil {
		return err
	}
	e.started = true
	return nil
}

func (e *xmlExporter) finish() error {
	var b []byte
	if !e.started {
		b = e.header()
	}
	return write(e.w, append(b, "\n</"+e.root+">\n"...))
}

// xmlWriter writes item fields as elements, indented when indent > 0.
type xmlWriter struct {
	b      *bytes.Buffer
	indent int
	enc    *encoding.Encoder // nil for UTF-8
}

// pad indents a line for an element at depth (<items> is 0, <item> 1).
func (x xmlWriter) pad(depth int) {
	for range x.indent * depth {
		x.b.WriteByte(' ')
	}
}

// child writes an element at depth on a line of its own when indenting.
func (x xmlWriter) child(name string, v any, depth int) error {
	if x.indent > 0 {
		x.b.WriteByte('\n')
		x.pad(depth)
	}
	return x.field(name, v, depth)
}

// closeLine puts the closing tag of an element at depth that had n
// children on a line of its own when indenting.
func (x xmlWriter) closeLine(depth, n int) {
	if x.indent > 0 && n > 0 {
		x.b.WriteByte('\n')
		x.pad(depth)
	}
}

func (x xmlWriter) field(name string, v any, depth int) error {
	name = xmlName(name)
	b := x.b
	b.WriteString("<" + name + ">")
	n := 0
	switch v := v.(type) {
	case nil:
	case string:
		escapeXMLText(b, v, x.enc)
	case *crawl.Item:
		for _, f := range v.Fields {
			if err := x.child(f.Key, f.Value, depth+1); err != nil {
				return err
			}
		}
		n = len(v.Fields)
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			if err := x.child(k, v[k], depth+1); err != nil {
				return err
			}
		}
		n = len(v)
	case []any:
		for _, e := range v {
			if err := x.child("value", e, depth+1); err != nil {
				return err
			}
		}
		n = len(v)
	case []string:
		for _, e := range v {
			if err := x.child("value", e, depth+1); err != nil {
				return err
			}
		}
		n = len(v)
	default:
		s, err := jsonText(v)
		if err != nil {
			return err
		}
		escapeXMLText(b, s, x.enc)
	}
	x.closeLine(depth, n)
	b.WriteString("</" + name + ">")
	return nil
}

// escapeXMLText writes s as character data the way Python's XMLGenerator
// (Scrapy's XmlItemExporter) does: only "&", "<" and ">" escaped, quotes,
// tabs and line breaks as they are; a character enc (nil: UTF-8) cannot
// encode as a character reference. A character XML 1.0 does not allow
// (most C0 controls, U+FFFE, U+FFFF) or invalid UTF-8 becomes U+FFFD so
// that the document stays well-formed; Scrapy writes them raw.
func escapeXMLText(b *bytes.Buffer, s string, enc *encoding.Encoder) {
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '\t' || r == '\n' || r == '\r' || r >= 0x20 && r <= 0xd7ff || r >= 0xe000 && r <= 0xfffd || r >= 0x10000 && r <= 0x10ffff:
			if enc != nil && r >= utf8.RuneSelf {
				if _, err := enc.String(string(r)); err != nil {
					fmt.Fprintf(b, "&#%d;", r)
					continue
				}
			}
			b.WriteRune(r) // invalid UTF-8 arrives here as U+FFFD
		default:
			b.WriteRune(utf8.RuneError)
		}
	}
}

func xmlName(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r > 0x7f && r != utf8.RuneError
		if i > 0 {
			ok = ok || r == '-' || r == '.' || r >= '0' && r <= '9'
		}
		if !ok {
			if i == 0 && (r == '-' || r == '.' || r >= '0' && r <= '9') {
				b.WriteByte('_')
				b.WriteRune(r)
				continue
			}
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// prepareAppend reports what an existing file holds and returns the change
// that positions it for appending, to run before the first write (so a feed
// that exports nothing leaves the file as it was). A JSON array or XML
// document is reopened: the file is cut just after its last item and the
// closing "]" or "</items>" is written again on Close, so appending keeps
// one valid document (Scrapy would write a second array after the first).
func prepareAppend(f *os.File, format Format, o ExportOptions) (resumeState, func() error, error) {
	x := xmlNamesOf(o)
	st, err := f.Stat()
	if err != nil {
		return resumeState{}, nil, err
	}
	size := st.Size()
	if size == 0 || !st.Mode().IsRegular() {
		// Seeking changes nothing in the file: do it now so an unseekable
		// output fails at Open as before.
		if _, err := f.Seek(0, io.SeekEnd); err != nil {
			return resumeState{}, nil, err
		}
		return resumeState{}, func() error { return nil }, nil
	}
	tailLen := min(size, 64<<10)
	tail := make([]byte, tailLen)
	if _, err := f.ReadAt(tail, size-tailLen); err != nil {
		return resumeState{}, nil, err
	}
	base := size - tailLen
	trimmed := bytes.TrimRight(tail, " \t\r\n")
	cutAt := func(cut int64) func() error {
		return func() error {
			if err := f.Truncate(cut); err != nil {
				return err
			}
			_, err := f.Seek(cut, io.SeekStart)
			return err
		}
	}
	switch format {
	case JSON, XML:
		closer := []byte("]")
		opener := byte('[')
		if format == XML {
			closer, opener = []byte("</"+x.root+">"), '>'
		}
		if !bytes.HasSuffix(trimmed, closer) {
			// No closing bracket: a run that was killed (or a disk that
			// filled up) before writing it. Continue after the last
			// complete item.
			rec, err := recoverDocument(f, format, size, x)
			if err != nil {
				return resumeState{}, nil, err
			}
			return resumeState{existing: true, hasItems: rec.items > 0, cutBytes: size - rec.end}, cutAt(rec.end), nil
		}
		body := bytes.TrimRight(trimmed[:len(trimmed)-len(closer)], " \t\r\n")
		cut := base + int64(len(body))
		hasItems := len(body) > 0 && body[len(body)-1] != opener
		if format == XML {
			hasItems = bytes.HasSuffix(body, []byte("</"+x.item+">"))
		}
		return resumeState{existing: true, hasItems: hasItems}, cutAt(cut), nil
	case CSV:
		if o.QuoteChar != 0 && o.QuoteChar != '"' || o.LineTerminator != "" && !strings.HasSuffix(o.LineTerminator, "\n") {
			return resumeState{}, nil, errors.New("cannot append to a csv feed with a quotechar or lineterminator of its own (its rows cannot be read back to find the last complete one): set overwrite (-O)")
		}
		header, end, err := recoverCSV(f, o.Delimiter)
		if err != nil {
			return resumeState{}, nil, err
		}
		rs := resumeState{existing: true, hasItems: true, csvHeader: header, csvLF: !headerEndsCRLF(f), cutBytes: size - end}
		if o.NoHeader {
			rs.csvHeader = nil // the first row is an item's
		}
		return rs, cutAt(end), nil
	default:
		end, err := recoverLines(f, size, tail)
		if err != nil {
			return resumeState{}, nil, err
		}
		if end == size {
			return resumeState{}, func() error { return endWithNewline(f, tail) }, nil
		}
		return resumeState{cutBytes: size - end}, cutAt(end), nil
	}
}

// headerEndsCRLF reports whether the first line of f ends with "\r\n"
// (as this exporter and Python's csv module write rows), so that rows
// appended to a file written with "\n" line ends keep to "\n".
func headerEndsCRLF(f *os.File) bool {
	head := make([]byte, 64<<10)
	n, _ := f.ReadAt(head, 0)
	i := bytes.IndexByte(head[:n], '\n')
	return i > 0 && head[i-1] == '\r'
}

// endWithNewline seeks to the end and terminates a torn last line, so the
// first appended record starts on a line of its own.
func endWithNewline(f *os.File, tail []byte) error {
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return err
	}
	if len(tail) > 0 && tail[len(tail)-1] != '\n' {
		_, err := f.Write([]byte("\n"))
		return err
	}
	return nil
}
