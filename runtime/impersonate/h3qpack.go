package impersonate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/quic-go/qpack"
	"golang.org/x/net/http2/hpack"
)

// qpackDecoder decodes response header sections with the dynamic table
// the server's encoder builds on its encoder stream (RFC 9204), within
// the capacity we announce (the profile's QPACK_MAX_TABLE_CAPACITY,
// Chromium: 65536): a browser that announces a table must be able to use
// it. github.com/quic-go/qpack only handles the static table.
type qpackDecoder struct {
	maxCapacity uint64 // what we announced

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every insert
	capacity uint64        // set by the encoder, <= maxCapacity
	size     uint64
	entries  []qpack.HeaderField // entries[0] is absolute index dropped
	dropped  uint64              // evicted entries (absolute index of entries[0])
	inserts  uint64              // total number of insertions
	acked    uint64              // insert count we told the encoder
	err      error
}

func newQPACKDecoder(maxCapacity uint64) *qpackDecoder {
	return &qpackDecoder{maxCapacity: maxCapacity, changed: make(chan struct{})}
}

// qpackStatic is QPACK's static table (RFC 9204 Appendix A), read once
// through qpack's own decoder so that it is not copied here.
var qpackStatic = sync.OnceValue(func() []qpack.HeaderField {
	var out []qpack.HeaderField
	for i := uint64(0); ; i++ {
		block := appendPrefixInt([]byte{0, 0}, 6, 0xc0, i) // indexed, static
		hf, err := qpack.NewDecoder().Decode(block)()
		if err != nil {
			return out
		}
		out = append(out, hf)
	}
})

func appendPrefixInt(dst []byte, n uint8, flags byte, i uint64) []byte {
	k := uint64(1)<<n - 1
	if i < k {
		return append(dst, flags|byte(i))
	}
	dst = append(dst, flags|byte(k))
	i -= k
	for ; i >= 128; i >>= 7 {
		dst = append(dst, byte(0x80|(i&0x7f)))
	}
	return append(dst, byte(i))
}

// readPrefixInt reads an RFC 7541 5.1 integer with an n-bit prefix.
func readPrefixInt(n uint8, p []byte) (uint64, []byte, error) {
	if len(p) == 0 {
		return 0, p, io.ErrUnexpectedEOF
	}
	k := uint64(1)<<n - 1
	i := uint64(p[0]) & k
	p = p[1:]
	if i < k {
		return i, p, nil
	}
	for m := uint(0); ; m += 7 {
		if len(p) == 0 {
			return 0, p, io.ErrUnexpectedEOF
		}
		if m > 56 {
			return 0, p, errors.New("qpack: integer overflow")
		}
		b := p[0]
		p = p[1:]
		i += uint64(b&0x7f) << m
		if b&0x80 == 0 {
			return i, p, nil
		}
	}
}

func readQString(n uint8, p []byte, limit uint64) (string, []byte, error) {
	if len(p) == 0 {
		return "", p, io.ErrUnexpectedEOF
	}
	huff := p[0]&(1<<n) != 0
	l, p, err := readPrefixInt(n, p)
	if err != nil {
		return "", p, err
	}
	if l > limit {
		return "", p, fmt.Errorf("qpack: string of %d bytes over the %d-byte limit", l, limit)
	}
	if uint64(len(p)) < l {
		return "", p, io.ErrUnexpectedEOF
	}
	s := string(p[:l])
	if huff {
		if s, err = hpack.HuffmanDecodeToString(p[:l]); err != nil {
			return "", p, fmt.Errorf("qpack: %w", err)
		}
	}
	return s, p[l:], nil
}

func (d *qpackDecoder) staticAt(i uint64) (qpack.HeaderField, error) {
	st := qpackStatic()
	if i >= uint64(len(st)) {
		return qpack.HeaderField{}, fmt.Errorf("qpack: static index %d out of range", i)
	}
	return st[i], nil
}

// absAt returns the dynamic entry of absolute index abs (caller holds mu).
func (d *qpackDecoder) absAt(abs uint64) (qpack.HeaderField, error) {
	if abs < d.dropped || abs >= d.inserts {
		return qpack.HeaderField{}, fmt.Errorf("qpack: dynamic index %d not in the table (%d..%d)", abs, d.dropped, d.inserts)
	}
	return d.entries[abs-d.dropped], nil
}

func entrySize(f qpack.HeaderField) uint64 { return uint64(len(f.Name)+len(f.Value)) + 32 }

// insert adds an entry, evicting the oldest ones (caller holds mu).
func (d *qpackDecoder) insert(f qpack.HeaderField) error {
	s := entrySize(f)
	if s > d.capacity {
		return fmt.Errorf("qpack: entry of %d bytes over the table capacity %d", s, d.capacity)
	}
	d.evict(d.capacity - s)
	d.entries = append(d.entries, f)
	d.size += s
	d.inserts++
	close(d.changed)
	d.changed = make(chan struct{})
	return nil
}

func (d *qpackDecoder) evict(to uint64) {
	for d.size > to && len(d.entries) > 0 {
		d.size -= entrySize(d.entries[0])
		d.entries[0] = qpack.HeaderField{}
		d.entries = d.entries[1:]
		d.dropped++
	}
}

// readEncoderStream applies the server's encoder instructions until the
// stream ends; after each batch it reports the new insert count on our
// decoder stream (ack).
func (d *qpackDecoder) readEncoderStream(r *bufio.Reader, ack func([]byte)) error {
	buf := make([]byte, 0, 512)
	chunk := make([]byte, 4096)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		for len(buf) > 0 {
			rest, perr := d.instruction(buf)
			if errors.Is(perr, io.ErrUnexpectedEOF) {
				break
			}
			if perr != nil {
				d.fail(perr)
				return perr
			}
			buf = append(buf[:0], rest...)
		}
		if uint64(len(buf)) > 2*d.maxCapacity+64 {
			err := errors.New("qpack: encoder instruction larger than the table")
			d.fail(err)
			return err
		}
		d.mu.Lock()
		if inc := d.inserts - d.acked; inc > 0 {
			d.acked = d.inserts
			d.mu.Unlock()
			ack(appendPrefixInt(nil, 6, 0x00, inc)) // Insert Count Increment
		} else {
			d.mu.Unlock()
		}
		if err != nil {
			return nil // the stream ended (connection closing)
		}
	}
}

func (d *qpackDecoder) fail(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = err
		close(d.changed)
		d.changed = make(chan struct{})
	}
	d.mu.Unlock()
}

// instruction applies one encoder instruction at the start of p.
func (d *qpackDecoder) instruction(p []byte) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	limit := d.maxCapacity
	switch b := p[0]; {
	case b&0x80 != 0: // Insert With Name Reference
		static := b&0x40 != 0
		idx, rest, err := readPrefixInt(6, p)
		if err != nil {
			return p, err
		}
		val, rest, err := readQString(7, rest, limit)
		if err != nil {
			return p, err
		}
		var f qpack.HeaderField
		if static {
			f, err = d.staticAt(idx)
		} else {
			if idx >= d.inserts {
				return p, fmt.Errorf("qpack: relative index %d over insert count %d", idx, d.inserts)
			}
			f, err = d.absAt(d.inserts - 1 - idx)
		}
		if err != nil {
			return p, err
		}
		return rest, d.insert(qpack.HeaderField{Name: f.Name, Value: val})
	case b&0xc0 == 0x40: // Insert With Literal Name
		name, rest, err := readQString(5, p, limit)
		if err != nil {
			return p, err
		}
		val, rest, err := readQString(7, rest, limit)
		if err != nil {
			return p, err
		}
		return rest, d.insert(qpack.HeaderField{Name: name, Value: val})
	case b&0xe0 == 0x20: // Set Dynamic Table Capacity
		c, rest, err := readPrefixInt(5, p)
		if err != nil {
			return p, err
		}
		if c > d.maxCapacity {
			return p, fmt.Errorf("qpack: table capacity %d over the announced %d", c, d.maxCapacity)
		}
		d.capacity = c
		d.evict(c)
		return rest, nil
	default: // Duplicate
		idx, rest, err := readPrefixInt(5, p)
		if err != nil {
			return p, err
		}
		if idx >= d.inserts {
			return p, fmt.Errorf("qpack: relative index %d over insert count %d", idx, d.inserts)
		}
		f, err := d.absAt(d.inserts - 1 - idx)
		if err != nil {
			return p, err
		}
		return rest, d.insert(f)
	}
}

// decode decodes one field section; a section that references entries not
// yet received waits for them (a blocked stream) until ctx ends. It
// reports whether the section referenced the dynamic table (then the
// caller acknowledges it).
func (d *qpackDecoder) decode(ctx context.Context, p []byte) ([]qpack.HeaderField, bool, error) {
	encRIC, p, err := readPrefixInt(8, p)
	if err != nil {
		return nil, false, fmt.Errorf("qpack: %w", err)
	}
	if len(p) == 0 {
		return nil, false, fmt.Errorf("qpack: %w", io.ErrUnexpectedEOF)
	}
	sign := p[0]&0x80 != 0
	deltaBase, p, err := readPrefixInt(7, p)
	if err != nil {
		return nil, false, fmt.Errorf("qpack: %w", err)
	}
	var ric uint64
	if encRIC != 0 {
		maxEntries := d.maxCapacity / 32
		if maxEntries == 0 {
			return nil, false, errors.New("qpack: dynamic reference without a table")
		}
		full := 2 * maxEntries
		if encRIC > full {
			return nil, false, errors.New("qpack: bad Required Insert Count")
		}
		d.mu.Lock()
		maxValue := d.inserts + maxEntries
		d.mu.Unlock()
		ric = maxValue/full*full + encRIC - 1
		if ric > maxValue {
			if ric <= full {
				return nil, false, errors.New("qpack: bad Required Insert Count")
			}
			ric -= full
		}
		if ric == 0 {
			return nil, false, errors.New("qpack: bad Required Insert Count")
		}
	}
	var base uint64
	if sign {
		if deltaBase+1 > ric {
			return nil, false, errors.New("qpack: bad Base")
		}
		base = ric - deltaBase - 1
	} else {
		base = ric + deltaBase
	}
	// Wait until the encoder stream delivered what the section needs.
	for ric > 0 {
		d.mu.Lock()
		have, ch, derr := d.inserts, d.changed, d.err
		d.mu.Unlock()
		if derr != nil {
			return nil, false, derr
		}
		if have >= ric {
			break
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, fmt.Errorf("qpack: blocked waiting for table entries: %w", context.Cause(ctx))
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	dyn := func(abs uint64) (qpack.HeaderField, error) {
		if abs >= ric {
			return qpack.HeaderField{}, fmt.Errorf("qpack: index %d beyond the Required Insert Count %d", abs, ric)
		}
		return d.absAt(abs)
	}
	var out []qpack.HeaderField
	for len(p) > 0 {
		var f qpack.HeaderField
		switch b := p[0]; {
		case b&0x80 != 0: // Indexed Field Line
			idx, rest, err := readPrefixInt(6, p)
			if err != nil {
				return nil, false, fmt.Errorf("qpack: %w", err)
			}
			p = rest
			if b&0x40 != 0 {
				f, err = d.staticAt(idx)
			} else if idx >= base {
				err = errors.New("qpack: relative index beyond Base")
			} else {
				f, err = dyn(base - 1 - idx)
			}
			if err != nil {
				return nil, false, err
			}
		case b&0xc0 == 0x40: // Literal With Name Reference
			idx, rest, err := readPrefixInt(4, p)
			if err != nil {
				return nil, false, fmt.Errorf("qpack: %w", err)
			}
			if b&0x10 != 0 {
				f, err = d.staticAt(idx)
			} else if idx >= base {
				err = errors.New("qpack: relative index beyond Base")
			} else {
				f, err = dyn(base - 1 - idx)
			}
			if err != nil {
				return nil, false, err
			}
			f.Value, p, err = readQString(7, rest, 1<<20)
			if err != nil {
				return nil, false, err
			}
		case b&0xe0 == 0x20: // Literal With Literal Name
			name, rest, err := readQString(3, p, 1<<20)
			if err != nil {
				return nil, false, err
			}
			val, rest, err := readQString(7, rest, 1<<20)
			if err != nil {
				return nil, false, err
			}
			f, p = qpack.HeaderField{Name: name, Value: val}, rest
		case b&0xf0 == 0x10: // Indexed Field Line With Post-Base Index
			idx, rest, err := readPrefixInt(4, p)
			if err != nil {
				return nil, false, fmt.Errorf("qpack: %w", err)
			}
			p = rest
			if f, err = dyn(base + idx); err != nil {
				return nil, false, err
			}
		default: // 0000Nxxx Literal With Post-Base Name Reference
			idx, rest, err := readPrefixInt(3, p)
			if err != nil {
				return nil, false, fmt.Errorf("qpack: %w", err)
			}
			if f, err = dyn(base + idx); err != nil {
				return nil, false, err
			}
			f.Value, p, err = readQString(7, rest, 1<<20)
			if err != nil {
				return nil, false, err
			}
		}
		out = append(out, f)
	}
	return out, ric > 0, nil
}
