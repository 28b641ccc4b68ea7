package compile

import (
	"fmt"
	"strings"
)

// segment is one decoded source map mapping with absolute values (the wire
// format stores deltas).
type segment struct {
	genCol    int
	hasSource bool
	src       int
	srcLine   int
	srcCol    int
	hasName   bool
	name      int
}

const b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

var b64index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(b64chars); i++ {
		t[b64chars[i]] = int8(i)
	}
	return t
}()

// decodeMappings decodes a source map v3 "mappings" string into absolute
// segments, one slice per generated line.
func decodeMappings(s string) ([][]segment, error) {
	var lines [][]segment
	var cur []segment
	var src, srcLine, srcCol, name int
	i := 0
	readVLQ := func() (int, error) {
		var v, shift int
		for {
			if i >= len(s) {
				return 0, fmt.Errorf("truncated VLQ at %d", i)
			}
			d := b64index[s[i]]
			if d < 0 {
				return 0, fmt.Errorf("invalid mapping character %q at %d", s[i], i)
			}
			i++
			v |= int(d&31) << shift
			if d&32 == 0 {
				break
			}
			shift += 5
		}
		if v&1 != 0 {
			return -(v >> 1), nil
		}
		return v >> 1, nil
	}
	genCol := 0
	for i < len(s) {
		switch s[i] {
		case ';':
			lines = append(lines, cur)
			cur = nil
			genCol = 0
			i++
			continue
		case ',':
			i++
			continue
		}
		var seg segment
		n, err := readVLQ()
		if err != nil {
			return nil, err
		}
		genCol += n
		seg.genCol = genCol
		if i < len(s) && s[i] != ',' && s[i] != ';' {
			var d [3]int
			for k := range d {
				if d[k], err = readVLQ(); err != nil {
					return nil, err
				}
			}
			src += d[0]
			srcLine += d[1]
			srcCol += d[2]
			seg.hasSource, seg.src, seg.srcLine, seg.srcCol = true, src, srcLine, srcCol
			if i < len(s) && s[i] != ',' && s[i] != ';' {
				if n, err = readVLQ(); err != nil {
					return nil, err
				}
				name += n
				seg.hasName, seg.name = true, name
			}
		}
		cur = append(cur, seg)
	}
	lines = append(lines, cur)
	return lines, nil
}

// encodeMappings is the inverse of decodeMappings.
func encodeMappings(lines [][]segment) string {
	var b strings.Builder
	var src, srcLine, srcCol, name int
	writeVLQ := func(v int) {
		u := v << 1
		if v < 0 {
			u = (-v << 1) | 1
		}
		for {
			d := u & 31
			u >>= 5
			if u > 0 {
				d |= 32
			}
			b.WriteByte(b64chars[d])
			if u == 0 {
				break
			}
		}
	}
	for li, line := range lines {
		if li > 0 {
			b.WriteByte(';')
		}
		genCol := 0
		for si, seg := range line {
			if si > 0 {
				b.WriteByte(',')
			}
			writeVLQ(seg.genCol - genCol)
			genCol = seg.genCol
			if !seg.hasSource {
				continue
			}
			writeVLQ(seg.src - src)
			writeVLQ(seg.srcLine - srcLine)
			writeVLQ(seg.srcCol - srcCol)
			src, srcLine, srcCol = seg.src, seg.srcLine, seg.srcCol
			if seg.hasName {
				writeVLQ(seg.name - name)
				name = seg.name
			}
		}
	}
	return b.String()
}
