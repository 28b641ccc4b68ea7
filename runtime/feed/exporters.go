package feed

import (
	"bufio"
	"bytes"
	"encoding/json"
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
	switch cfg.Format {
	case JSON:
		return &jsonExporter{w: w, fields: cfg.Fields, started: rs.existing, n: boolInt(rs.hasItems), indent: strings.Repeat(" ", cfg.Indent), esc: newRuneEscaper(enc)}
	case CSV:
		e := &csvExporter{w: newCSVWriter(w, rs.csvLF), fields: cfg.Fields, enc: enc, lf: rs.csvLF}
		if len(cfg.Fields) > 0 {
			e.columns = slices.Clone(cfg.Fields)
		} else if rs.csvHeader != nil {
			e.columns = slices.Clone(rs.csvHeader)
		}
		if rs.csvHeader != nil {
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
		x := &xmlExporter{w: w, fields: cfg.Fields, started: rs.existing, encName: name, indent: cfg.Indent}
		if enc != nil && enc != unicode.UTF8 {
			x.encoder = enc.NewEncoder()
		}
		return x
	default:
		return &jsonlExporter{w: w, fields: cfg.Fields, esc: newRuneEscaper(enc)}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// selectFields applies FEED_EXPORT_FIELDS: the listed fields in that order,
// missing ones skipped.
func selectFields(it *crawl.Item, fields []string) *crawl.Item {
	if len(fields) == 0 {
		return it
	}
	out := &crawl.Item{}
	for _, k := range fields {
		if v, ok := it.Get(k); ok {
			out.Fields = append(out.Fields, crawl.Field{Key: k, Value: v})
		}
	}
	return out
}

func write(w io.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return writeErr{err}
	}
	return nil
}

// jsonlExporter writes one JSON object per line.
type jsonlExporter struct {
	w      io.Writer
	fields []string
	buf    []byte // reused between items
	esc    *runeEscaper
}

func (e *jsonlExporter) export(it *crawl.Item) error {
	b, err := appendItemJSON(e.buf[:0], selectFields(it, e.fields))
	if err != nil {
		return fmt.Errorf("serialize item: %w", err)
	}
	e.buf = append(e.esc.escape(b), '\n')
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
	fields  []string
	started bool   // "[" written (or present in the appended file)
	n       int    // items in the array
	indent  string // one level of indentation; "" for compact items
	pretty  bytes.Buffer
	esc     *runeEscaper
}

func (e *jsonExporter) export(it *crawl.Item) error {
	b, err := appendItemJSON(nil, selectFields(it, e.fields))
	if err != nil {
		return fmt.Errorf("serialize item: %w", err)
	}
	b = e.esc.escape(b)
	if e.indent != "" {
		e.pretty.Reset()
		// json.Indent keeps string escapes as they are and writes "key": value,
		// one element a line and [] {} for empty containers, like Python.
		if err := json.Indent(&e.pretty, b, "", e.indent); err != nil {
			return fmt.Errorf("serialize item: %w", err)
		}
		b = e.pretty.Bytes()
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
	fields     []string // fixed selection: new fields are ignored
	columns    []string
	headerLen  int
	headerDone bool
	enc        encoding.Encoding // the file's encoding, for the rewritten header
	lf         bool              // rows end with "\n" (an appended file's choice)
}

func (e *csvExporter) export(it *crawl.Item) error {
	if len(e.fields) == 0 {
		for _, f := range it.Fields {
			if !slices.Contains(e.columns, f.Key) {
				e.columns = append(e.columns, f.Key)
			}
		}
	}
	row := make([]string, len(e.columns))
	for i, c := range e.columns {
		if v, ok := it.Get(c); ok {
			s, err := csvValue(v)
			if err != nil {
				return fmt.Errorf("serialize item.%s: %w", c, err)
			}
			row[i] = s
		}
	}
	// The header goes out only with a row that serialized: a feed whose
	// items all failed has written nothing and can still be left out.
	if !e.headerDone {
		if err := e.w.Write(e.columns); err != nil {
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

func (e *csvExporter) finish() error {
	if !e.headerDone && len(e.columns) > 0 {
		if err := e.w.Write(e.columns); err != nil {
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
	if len(e.columns) <= e.headerLen {
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
	header := slices.Clone(e.columns)
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
	err = copyCSVRows(bufio.NewReader(src), out, newCSVWriter(out, e.lf), header)
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

// csvWriter writes rows as Python's csv.writer does with its default
// dialect (Scrapy's CsvItemExporter): "\r\n" after each row (or "\n", to
// append to a file written that way); a field is
// quoted only when it holds a comma, a double quote, "\r" or "\n" (not,
// as encoding/csv does, for a leading space or a lone "\."), quotes
// doubled; a row made of one empty field is written "".
type csvWriter struct {
	w   io.Writer
	lf  bool
	buf []byte
	err error
}

func newCSVWriter(w io.Writer, lf bool) *csvWriter { return &csvWriter{w: w, lf: lf} }

// Write writes one row.
func (c *csvWriter) Write(rec []string) error {
	if c.err != nil {
		return c.err
	}
	b := c.buf[:0]
	if len(rec) == 1 && rec[0] == "" {
		b = append(b, `""`...)
	}
	for i, f := range rec {
		if i > 0 {
			b = append(b, ',')
		}
		if !strings.ContainsAny(f, ",\"\r\n") {
			b = append(b, f...)
			continue
		}
		b = append(b, '"')
		b = append(b, strings.ReplaceAll(f, `"`, `""`)...)
		b = append(b, '"')
	}
	if !c.lf {
		b = append(b, '\r')
	}
	b = append(b, '\n')
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
// strings joined with "," (Scrapy's join_multivalued), anything else as
// JSON.
func csvValue(v any) (string, error) {
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
		return strings.Join(ss, ","), nil
	case []string:
		return strings.Join(x, ","), nil
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
	fields  []string
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
	return []byte(`<?xml version="1.0" encoding="` + e.encName + `"?>` + "\n<items>")
}

func (e *xmlExporter) export(it *crawl.Item) error {
	e.buf.Reset()
	if !e.started {
		e.buf.Write(e.header())
	}
	e.buf.WriteByte('\n')
	x := xmlWriter{b: &e.buf, indent: e.indent, enc: e.encoder}
	x.pad(1)
	e.buf.WriteString("<item>")
	fields := selectFields(it, e.fields).Fields
	for _, f := range fields {
		if err := x.child(f.Key, f.Value, 2); err != nil {
			return fmt.Errorf("serialize item.%s: %w", f.Key, err)
		}
	}
	x.closeLine(1, len(fields))
	e.buf.WriteString("</item>")
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
	return write(e.w, append(b, "\n</items>\n"...))
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
func prepareAppend(f *os.File, format Format) (resumeState, func() error, error) {
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
			closer, opener = []byte("</items>"), '>'
		}
		if !bytes.HasSuffix(trimmed, closer) {
			// No closing bracket: a run that was killed (or a disk that
			// filled up) before writing it. Continue after the last
			// complete item.
			rec, err := recoverDocument(f, format, size)
			if err != nil {
				return resumeState{}, nil, err
			}
			return resumeState{existing: true, hasItems: rec.items > 0, cutBytes: size - rec.end}, cutAt(rec.end), nil
		}
		body := bytes.TrimRight(trimmed[:len(trimmed)-len(closer)], " \t\r\n")
		cut := base + int64(len(body))
		hasItems := len(body) > 0 && body[len(body)-1] != opener
		if format == XML {
			hasItems = bytes.HasSuffix(body, []byte("</item>"))
		}
		return resumeState{existing: true, hasItems: hasItems}, cutAt(cut), nil
	case CSV:
		header, end, err := recoverCSV(f)
		if err != nil {
			return resumeState{}, nil, err
		}
		return resumeState{existing: true, hasItems: true, csvHeader: header, csvLF: !headerEndsCRLF(f), cutBytes: size - end}, cutAt(end), nil
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
