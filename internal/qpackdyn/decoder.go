package qpackdyn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
)

// Decoder decodes field sections with the dynamic table the peer's
// encoder builds on its encoder stream, within the capacity we announced
// (our SETTINGS_QPACK_MAX_TABLE_CAPACITY): whoever announces a table must
// be able to follow it.
type Decoder struct {
	maxCapacity uint64 // what we announced
	maxBlocked  uint64 // SETTINGS_QPACK_BLOCKED_STREAMS we announced

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced on every insert
	capacity uint64        // set by the encoder, <= maxCapacity
	size     uint64
	entries  []Field // entries[0] has absolute index dropped
	dropped  uint64  // evicted entries (absolute index of entries[0])
	inserts  uint64  // total number of insertions
	acked    uint64  // insert count we told the encoder
	blocked  uint64  // sections waiting for entries now
	err      error
}

// ErrTooManyBlocked is a section that would block while as many streams
// as we allowed already wait for entries: a connection error of type
// QPACK_DECOMPRESSION_FAILED (RFC 9204 2.1.2).
var ErrTooManyBlocked = errors.New("qpack: more blocked streams than announced")

// NewDecoder returns a decoder for a table of at most maxCapacity bytes
// and at most maxBlocked sections waiting for entries at once (what we
// announced in SETTINGS).
func NewDecoder(maxCapacity, maxBlocked uint64) *Decoder {
	return &Decoder{maxCapacity: maxCapacity, maxBlocked: maxBlocked, changed: make(chan struct{})}
}

// Table returns the dynamic table's entries, oldest first, with the
// absolute index of the first.
func (d *Decoder) Table() (first uint64, entries []Field) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dropped, append([]Field(nil), d.entries...)
}

// InsertCount is the number of insertions so far.
func (d *Decoder) InsertCount() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inserts
}

func (d *Decoder) staticAt(i uint64) (Field, error) {
	st := Static()
	if i >= uint64(len(st)) {
		return Field{}, fmt.Errorf("qpack: static index %d out of range", i)
	}
	return st[i], nil
}

// absAt returns the dynamic entry of absolute index abs (caller holds mu).
func (d *Decoder) absAt(abs uint64) (Field, error) {
	if abs < d.dropped || abs >= d.inserts {
		return Field{}, fmt.Errorf("qpack: dynamic index %d not in the table (%d..%d)", abs, d.dropped, d.inserts)
	}
	return d.entries[abs-d.dropped], nil
}

// insert adds an entry, evicting the oldest ones (caller holds mu).
func (d *Decoder) insert(f Field) error {
	s := EntrySize(f)
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

func (d *Decoder) evict(to uint64) {
	for d.size > to && len(d.entries) > 0 {
		d.size -= EntrySize(d.entries[0])
		d.entries[0] = Field{}
		d.entries = d.entries[1:]
		d.dropped++
	}
}

// ReadEncoderStream applies the peer's encoder instructions until the
// stream ends; after each batch it reports the new insert count on our
// decoder stream through ack (Insert Count Increment). A broken
// instruction is returned (a QPACK_ENCODER_STREAM_ERROR) and fails every
// waiting Decode; the end of the stream is not an error.
func (d *Decoder) ReadEncoderStream(r io.Reader, ack func([]byte)) error {
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

func (d *Decoder) fail(err error) {
	d.mu.Lock()
	if d.err == nil {
		d.err = err
		close(d.changed)
		d.changed = make(chan struct{})
	}
	d.mu.Unlock()
}

// instruction applies one encoder instruction at the start of p.
func (d *Decoder) instruction(p []byte) ([]byte, error) {
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
		val, rest, err := readString(7, rest, limit)
		if err != nil {
			return p, err
		}
		var f Field
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
		return rest, d.insert(Field{Name: f.Name, Value: val})
	case b&0xc0 == 0x40: // Insert With Literal Name
		name, rest, err := readString(5, p, limit)
		if err != nil {
			return p, err
		}
		val, rest, err := readString(7, rest, limit)
		if err != nil {
			return p, err
		}
		return rest, d.insert(Field{Name: name, Value: val})
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

// Decode decodes one field section; a section that references entries
// not yet received waits for them (a blocked stream) until ctx ends. It
// reports whether the section referenced the dynamic table (then the
// caller acknowledges it: SectionAck).
func (d *Decoder) Decode(ctx context.Context, p []byte) ([]Field, bool, error) {
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
	// Wait until the encoder stream delivered what the section needs,
	// counted as a blocked stream meanwhile.
	d.mu.Lock()
	if ric > d.inserts {
		if d.blocked >= d.maxBlocked {
			d.mu.Unlock()
			return nil, false, fmt.Errorf("%w (%d): the section needs %d entries, %d received", ErrTooManyBlocked, d.maxBlocked, ric, d.inserts)
		}
		d.blocked++
		defer func() {
			d.mu.Lock()
			d.blocked--
			d.mu.Unlock()
		}()
	}
	d.mu.Unlock()
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
	dyn := func(abs uint64) (Field, error) {
		if abs >= ric {
			return Field{}, fmt.Errorf("qpack: index %d beyond the Required Insert Count %d", abs, ric)
		}
		return d.absAt(abs)
	}
	var out []Field
	for len(p) > 0 {
		var f Field
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
			f.Value, p, err = readString(7, rest, 1<<20)
			if err != nil {
				return nil, false, err
			}
		case b&0xe0 == 0x20: // Literal With Literal Name
			name, rest, err := readString(3, p, 1<<20)
			if err != nil {
				return nil, false, err
			}
			val, rest, err := readString(7, rest, 1<<20)
			if err != nil {
				return nil, false, err
			}
			f, p = Field{Name: name, Value: val}, rest
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
			f.Value, p, err = readString(7, rest, 1<<20)
			if err != nil {
				return nil, false, err
			}
		}
		out = append(out, f)
	}
	return out, ric > 0, nil
}

// SectionAck is the decoder instruction acknowledging a field section
// that referenced the dynamic table on stream id.
func SectionAck(stream uint64) []byte { return appendPrefixInt(nil, 7, 0x80, stream) }

// StreamCancellation is the decoder instruction telling the encoder a
// stream was reset before its field sections were read.
func StreamCancellation(stream uint64) []byte { return appendPrefixInt(nil, 6, 0x40, stream) }
