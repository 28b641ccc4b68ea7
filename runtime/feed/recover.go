package feed

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
)

// A run that is killed, or whose disk fills up, can leave its feed with a
// torn last record and, for JSON and XML, without the closing bracket or
// tag (written on Close). Appending to such a file (-o, a resumed
// --jobdir crawl) first cuts it back to the end of its last complete
// record, so the file stays one valid document and no half record sits in
// the middle of it. The functions here find that end.

// recoverLines finds the end of the last complete line of a JSON lines
// file of the given size whose last tail bytes are tail. A last line
// without its line break is kept (a line break is added) when it is a whole
// JSON value, and cut otherwise.
func recoverLines(f *os.File, size int64, tail []byte) (int64, error) {
	if len(tail) == 0 || tail[len(tail)-1] == '\n' {
		return size, nil
	}
	start, err := lastLineStart(f, size)
	if err != nil {
		return 0, err
	}
	last := make([]byte, size-start)
	if _, err := f.ReadAt(last, start); err != nil {
		return 0, err
	}
	if json.Valid(bytes.TrimSpace(last)) {
		return size, nil
	}
	return start, nil
}

// lastLineStart is the offset just after the file's last '\n' (0 if none),
// read backwards in blocks so a long torn line costs only its own length.
func lastLineStart(f *os.File, size int64) (int64, error) {
	const block = 64 << 10
	buf := make([]byte, block)
	for end := size; end > 0; {
		start := max(end-block, 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// recoverCSV reads the whole file and returns its header and the end of
// its last complete record. A record is complete when it ends with its
// line break (the exporter always writes one) and parses; anything after
// the last such record is a torn tail.
func recoverCSV(f *os.File, comma rune) ([]string, int64, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, 0, err
	}
	br := bufio.NewReaderSize(f, 64<<10)
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	if comma != 0 {
		r.Comma = comma
	}
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return nil, 0, fmt.Errorf("cannot append: reading the csv header: %w", err)
	}
	header = append([]string(nil), header...)
	end := r.InputOffset()
	if !endsLine(f, end) {
		return nil, 0, errors.New("cannot append: the csv header line is cut short (use -O to overwrite)")
	}
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		off := r.InputOffset()
		if err != nil || !endsLine(f, off) {
			break // a torn record: keep what came before it
		}
		end = off
	}
	return header, end, nil
}

// endsLine reports whether the byte just before off is a line break.
func endsLine(f *os.File, off int64) bool {
	if off == 0 {
		return false
	}
	var b [1]byte
	_, err := f.ReadAt(b[:], off-1)
	return err == nil && b[0] == '\n'
}

// recovered is where a JSON array or XML document without its closing
// bracket or tag can be continued.
type recovered struct {
	end   int64 // just after the last complete item (or the opening bracket/tag)
	items int
}

// recoverDocument scans a JSON array or an <items> document that lacks its
// closing bracket or tag for its last complete item.
func recoverDocument(f *os.File, format Format, size int64, x xmlNames) (recovered, error) {
	what := "a JSON array"
	if format == XML {
		what = "an <" + x.root + "> document"
	}
	notDoc := fmt.Errorf("cannot append: the file is not %s (use -O to overwrite)", what)
	r := io.NewSectionReader(f, 0, size)
	if format == JSON {
		return recoverJSON(r, notDoc)
	}
	return recoverXML(r, notDoc, x)
}

func recoverJSON(r io.Reader, notDoc error) (recovered, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '[' {
		return recovered{}, notDoc
	}
	rec := recovered{end: dec.InputOffset()}
	for dec.More() {
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			break
		}
		rec.end, rec.items = dec.InputOffset(), rec.items+1
	}
	return rec, nil
}

func recoverXML(r io.Reader, notDoc error, x xmlNames) (recovered, error) {
	dec := xml.NewDecoder(bufio.NewReaderSize(r, 64<<10))
	depth := 0
	var rec recovered
	opened := false
	for {
		tok, err := dec.RawToken()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 1 {
				if t.Name.Local != x.root {
					return recovered{}, notDoc
				}
				opened, rec.end = true, dec.InputOffset()
			}
		case xml.EndElement:
			depth--
			if depth == 1 && t.Name.Local == x.item {
				rec.end, rec.items = dec.InputOffset(), rec.items+1
			}
			if depth <= 0 {
				return recovered{}, notDoc
			}
		}
	}
	if !opened {
		return recovered{}, notDoc
	}
	return rec, nil
}
