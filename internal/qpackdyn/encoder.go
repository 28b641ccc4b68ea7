package qpackdyn

import (
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"sync"
)

// drainingFraction is quiche's kDrainingFraction: the oldest quarter of
// the table is not referenced any more, a field found there is duplicated
// instead, so that the old entry can be evicted sooner.
const drainingFraction = 0.25

// Encoder encodes field sections as quiche's QpackEncoder does
// (quiche/quic/core/qpack/qpack_encoder.cc, FirstPassEncode and
// SecondPassEncode): cookies are split into crumbs; a field found in the
// static table with its value is indexed there; otherwise, when the peer
// allows a blocked stream for this one, a field is inserted into the
// dynamic table (with a static or dynamic name reference, a Duplicate of
// a draining entry, or a literal name) and referenced, else it is sent as
// a literal with a name reference, or fully literal. Sections use Base =
// Required Insert Count (no post-base indices). Strings are
// Huffman-coded only when that is shorter.
//
// It is safe for concurrent use; instructions for the encoder stream are
// returned by Encode in the order they must be written.
type Encoder struct {
	mu sync.Mutex
	// maxCapacity is the peer's SETTINGS_QPACK_MAX_TABLE_CAPACITY (it
	// encodes the Required Insert Count); capacity is what we set.
	maxCapacity, capacity uint64
	maxBlocked            uint64
	size                  uint64
	entries               []Field // entries[0] has absolute index dropped
	dropped, inserted     uint64
	exact                 map[Field]uint64  // most recent entry per field
	names                 map[string]uint64 // most recent entry per name

	knownReceived uint64
	// blocks are the unacknowledged sections per stream, in order, each
	// the set of absolute indices it references (sorted).
	blocks map[uint64][][]uint64
	refs   map[uint64]int // references per entry from unacknowledged sections

	pending []byte // encoder stream bytes not written yet
	err     error
}

// NewEncoder returns an encoder whose table is off until the peer's
// SETTINGS arrive (SetMaxTableCapacity): sections are then static-table
// and literal only, as quiche's before SETTINGS.
func NewEncoder() *Encoder {
	return &Encoder{exact: map[Field]uint64{}, names: map[string]uint64{}, blocks: map[uint64][][]uint64{}, refs: map[uint64]int{}}
}

// SetMaxTableCapacity applies the peer's SETTINGS_QPACK_MAX_TABLE_CAPACITY
// as quiche's QuicSpdySession::OnSetting does: the peer's maximum is kept
// for encoding sections, and the table capacity is set to
// min(peer, limit), limit our own announced capacity, with a Set Dynamic
// Table Capacity instruction (even 0) that waits for the next Encode.
func (e *Encoder) SetMaxTableCapacity(peer, limit uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.maxCapacity = peer
	c := min(peer, limit)
	e.pending = appendPrefixInt(e.pending, 5, 0x20, c)
	e.capacity = c
	e.evict(c)
}

// SetMaxBlockedStreams applies the peer's SETTINGS_QPACK_BLOCKED_STREAMS.
func (e *Encoder) SetMaxBlockedStreams(n uint64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.maxBlocked = max(e.maxBlocked, n)
}

func (e *Encoder) evict(to uint64) {
	for e.size > to && len(e.entries) > 0 {
		f := e.entries[0]
		if i, ok := e.exact[f]; ok && i == e.dropped {
			delete(e.exact, f)
		}
		if i, ok := e.names[f.Name]; ok && i == e.dropped {
			delete(e.names, f.Name)
		}
		e.size -= EntrySize(f)
		e.entries[0] = Field{}
		e.entries = e.entries[1:]
		e.dropped++
	}
}

func (e *Encoder) insert(f Field) uint64 {
	s := EntrySize(f)
	e.evict(e.capacity - s)
	e.entries = append(e.entries, f)
	e.size += s
	i := e.inserted
	e.inserted++
	e.exact[f] = i
	e.names[f.Name] = i
	return i
}

// maxInsertSize is quiche's MaxInsertSizeWithoutEvictingGivenEntry: the
// room for a new entry if everything older than index may be evicted.
func (e *Encoder) maxInsertSize(index uint64) uint64 {
	if index > e.inserted {
		return e.capacity
	}
	room := e.capacity - e.size
	for i, f := range e.entries {
		if e.dropped+uint64(i) >= index {
			break
		}
		room += EntrySize(f)
	}
	return room
}

// drainingIndex is quiche's draining_index(kDrainingFraction).
func (e *Encoder) drainingIndex() uint64 {
	required := uint64(drainingFraction * float64(e.capacity))
	above := e.capacity - e.size
	if len(e.entries) == 0 || above >= required {
		return e.dropped
	}
	idx := e.dropped
	for i := 0; above < required; {
		above += EntrySize(e.entries[i])
		i++
		idx++
		if i == len(e.entries) {
			return e.inserted
		}
	}
	return idx
}

func ric(indices []uint64) uint64 { return indices[len(indices)-1] + 1 }

// blockingAllowed is quiche's blocking_allowed_on_stream.
func (e *Encoder) blockingAllowed(stream uint64) bool {
	if uint64(len(e.blocks))+1 <= e.maxBlocked {
		return true
	}
	if e.maxBlocked == 0 {
		return false
	}
	blocked := uint64(0)
	for s, sections := range e.blocks {
		for _, idx := range sections {
			if ric(idx) > e.knownReceived {
				if s == stream {
					return true
				}
				blocked++
				if blocked+1 > e.maxBlocked {
					return false
				}
				break
			}
		}
	}
	return true
}

func (e *Encoder) smallestBlocking() uint64 {
	m := uint64(math.MaxUint64)
	for i := range e.refs {
		m = min(m, i)
	}
	return m
}

// rep is one field line before the second pass (absolute indices).
type rep struct {
	kind   int // repIndexed, repNameRef, repLiteral
	static bool
	index  uint64
	f      Field
}

const (
	repIndexed = iota
	repNameRef
	repLiteral
)

// crumbs splits fields as quiche's ValueSplittingHeaderList: a cookie at
// each ';' (one following space dropped), any other value at each NUL.
func crumbs(fields []Field) []Field {
	var out []Field
	for _, f := range fields {
		sep := "\x00"
		if f.Name == "cookie" {
			sep = ";"
		}
		v := f.Value
		for {
			i := strings.Index(v, sep)
			if i < 0 {
				out = append(out, Field{Name: f.Name, Value: v})
				break
			}
			out = append(out, Field{Name: f.Name, Value: v[:i]})
			v = v[i+1:]
			if sep == ";" && strings.HasPrefix(v, " ") {
				v = v[1:]
			}
		}
	}
	return out
}

// Encode encodes the field section of a request on stream and returns it
// with the encoder stream bytes to write before it (nil when none). The
// section's references are remembered until the peer's decoder
// acknowledges or cancels the stream.
func (e *Encoder) Encode(stream uint64, fields []Field) (section, encoderStream []byte) {
	e.mu.Lock()
	defer e.mu.Unlock()
	staticExact, staticNames := staticIndex()
	var reps []rep
	var referred []uint64
	refer := func(i uint64) {
		if !slices.Contains(referred, i) {
			referred = append(referred, i)
		}
	}
	smallestNonEvictable := min(e.smallestBlocking(), e.knownReceived)
	draining := e.drainingIndex()
	blocking := e.blockingAllowed(stream)
	indexed := func(static bool, i uint64) {
		if !static {
			refer(i)
		}
		reps = append(reps, rep{kind: repIndexed, static: static, index: i})
	}
	nameRef := func(static bool, i uint64, f Field) {
		if !static {
			refer(i)
		}
		reps = append(reps, rep{kind: repNameRef, static: static, index: i, f: f})
	}
	literal := func(f Field) { reps = append(reps, rep{kind: repLiteral, f: f}) }
	// findName is FindHeaderName: static first, then the newest dynamic.
	findName := func(name string) (bool, uint64, bool) {
		if i, ok := staticNames[name]; ok {
			return true, i, true
		}
		if i, ok := e.names[name]; ok {
			return false, i, true
		}
		return false, 0, false
	}
	for _, f := range crumbs(fields) {
		size := EntrySize(f)
		if i, ok := staticExact[f]; ok {
			indexed(true, i)
			continue
		}
		static, idx, nameMatch := false, uint64(0), false
		if i, ok := e.exact[f]; ok {
			// Dynamic match on name and value.
			if i >= draining {
				if blocking || i < e.knownReceived {
					indexed(false, i)
					smallestNonEvictable = min(smallestNonEvictable, i)
					continue
				}
			} else if blocking && size <= e.maxInsertSize(min(smallestNonEvictable, i)) {
				e.pending = appendPrefixInt(e.pending, 5, 0x00, e.inserted-1-i) // Duplicate
				n := e.insert(f)
				indexed(false, n)
				smallestNonEvictable = min(smallestNonEvictable, i)
				continue
			}
			// The match cannot be used: a name match, unless it is the
			// same entry, else literals.
			s, ni, ok := findName(f.Name)
			if !ok || (!s && ni == i) {
				literal(f)
				continue
			}
			static, idx, nameMatch = s, ni, true
		} else {
			static, idx, nameMatch = findName(f.Name)
		}
		switch {
		case nameMatch && static:
			if blocking && size <= e.maxInsertSize(smallestNonEvictable) {
				e.pending = appendPrefixInt(e.pending, 6, 0xc0, idx) // Insert With Name Reference, static
				e.pending = appendString(e.pending, 7, 0x00, f.Value)
				n := e.insert(f)
				indexed(false, n)
				smallestNonEvictable = min(smallestNonEvictable, n)
				continue
			}
			nameRef(true, idx, f)
		case nameMatch:
			if blocking && size <= e.maxInsertSize(min(smallestNonEvictable, idx)) {
				e.pending = appendPrefixInt(e.pending, 6, 0x80, e.inserted-1-idx) // Insert With Name Reference, dynamic
				e.pending = appendString(e.pending, 7, 0x00, f.Value)
				n := e.insert(f)
				indexed(false, n)
				smallestNonEvictable = min(smallestNonEvictable, idx)
				continue
			}
			if (blocking || idx < e.knownReceived) && idx >= draining {
				nameRef(false, idx, f)
				smallestNonEvictable = min(smallestNonEvictable, idx)
				continue
			}
			literal(f)
		default:
			if blocking && size <= e.maxInsertSize(smallestNonEvictable) {
				e.pending = appendString(e.pending, 5, 0x40, f.Name) // Insert With Literal Name
				e.pending = appendString(e.pending, 7, 0x00, f.Value)
				n := e.insert(f)
				indexed(false, n)
				smallestNonEvictable = min(smallestNonEvictable, n)
				continue
			}
			literal(f)
		}
	}
	encoderStream, e.pending = e.pending, nil
	var required uint64
	if len(referred) > 0 {
		slices.Sort(referred)
		required = ric(referred)
		e.blocks[stream] = append(e.blocks[stream], referred)
		for _, i := range referred {
			e.refs[i]++
		}
	}
	// Second pass: the prefix (Delta Base 0, Base = Required Insert
	// Count) and relative indices.
	section = appendPrefixInt(nil, 8, 0, encodeRIC(required, e.maxCapacity))
	section = append(section, 0)
	for _, r := range reps {
		switch r.kind {
		case repIndexed:
			if r.static {
				section = appendPrefixInt(section, 6, 0xc0, r.index)
			} else {
				section = appendPrefixInt(section, 6, 0x80, required-1-r.index)
			}
		case repNameRef:
			if r.static {
				section = appendPrefixInt(section, 4, 0x50, r.index)
			} else {
				section = appendPrefixInt(section, 4, 0x40, required-1-r.index)
			}
			section = appendString(section, 7, 0x00, r.f.Value)
		default:
			section = appendString(section, 3, 0x20, r.f.Name)
			section = appendString(section, 7, 0x00, r.f.Value)
		}
	}
	return section, encoderStream
}

func (e *Encoder) release(indices []uint64) {
	for _, i := range indices {
		if e.refs[i]--; e.refs[i] <= 0 {
			delete(e.refs, i)
		}
	}
}

// DecoderInstructions applies the peer decoder's instructions at the
// start of p and returns what is left (an incomplete instruction). Section
// Acknowledgment for a stream with no unacknowledged section, a zero or
// impossible Insert Count Increment are QPACK_DECODER_STREAM_ERRORs
// (RFC 9204 4.4); the first error sticks.
func (e *Encoder) DecoderInstructions(p []byte) ([]byte, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.err != nil {
		return p, e.err
	}
	for len(p) > 0 {
		b := p[0]
		var n uint8 = 6
		if b&0x80 != 0 {
			n = 7
		}
		v, rest, err := readPrefixInt(n, p)
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return p, nil
		}
		if err != nil {
			e.err = fmt.Errorf("qpack decoder stream: %w", err)
			return p, e.err
		}
		switch {
		case b&0x80 != 0: // Section Acknowledgment
			sections := e.blocks[v]
			if len(sections) == 0 {
				e.err = fmt.Errorf("qpack decoder stream: Section Acknowledgment for stream %d, which has no unacknowledged field section", v)
				return p, e.err
			}
			e.knownReceived = max(e.knownReceived, ric(sections[0]))
			e.release(sections[0])
			if len(sections) == 1 {
				delete(e.blocks, v)
			} else {
				e.blocks[v] = sections[1:]
			}
		case b&0x40 != 0: // Stream Cancellation
			for _, s := range e.blocks[v] {
				e.release(s)
			}
			delete(e.blocks, v)
		default: // Insert Count Increment
			if v == 0 {
				e.err = errors.New("qpack decoder stream: Insert Count Increment of 0")
				return p, e.err
			}
			if v > e.inserted-e.knownReceived {
				e.err = fmt.Errorf("qpack decoder stream: Insert Count Increment of %d raises the known received count to %d, over the %d entries inserted", v, e.knownReceived+v, e.inserted)
				return p, e.err
			}
			e.knownReceived += v
		}
		p = rest
	}
	return p, nil
}

// ReadDecoderStream applies the peer decoder's instructions from r until
// it ends or sends something wrong (returned, with what it was).
func (e *Encoder) ReadDecoderStream(r io.Reader) error {
	var buf []byte
	chunk := make([]byte, 1024)
	for {
		n, err := r.Read(chunk)
		buf = append(buf, chunk[:n]...)
		rest, perr := e.DecoderInstructions(buf)
		if perr != nil {
			return perr
		}
		buf = append(buf[:0], rest...)
		if len(buf) > 16 {
			return errors.New("qpack decoder stream: instruction longer than 16 bytes")
		}
		if err != nil {
			return nil
		}
	}
}

// State reports the encoder's counters, for tests and records: entries
// inserted, the known received count, and the streams with
// unacknowledged sections.
func (e *Encoder) State() (inserted, knownReceived uint64, unacked int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inserted, e.knownReceived, len(e.blocks)
}

// Replay encodes a connection's field sections in stream order with a
// fresh Encoder, the peer's SETTINGS (table capacity peerCapacity, blocked
// streams) applied just before section settingsAt, limit our own table
// capacity, and returns the encoder stream and each section: what quiche
// sends for those header lists. No acknowledgment is replayed: with the
// blocked-stream limit not reached and the table not full, as on a short
// connection, they change nothing in quiche's choices.
func Replay(lists [][]Field, streams []uint64, settingsAt int, peerCapacity, limit, blocked uint64) (encoderStream []byte, sections [][]byte) {
	e := NewEncoder()
	for i, fields := range lists {
		if i == settingsAt {
			e.SetMaxTableCapacity(peerCapacity, limit)
			e.SetMaxBlockedStreams(blocked)
		}
		s, es := e.Encode(streams[i], fields)
		encoderStream = append(encoderStream, es...)
		sections = append(sections, s)
	}
	return encoderStream, sections
}
