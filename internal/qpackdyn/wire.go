// Package qpackdyn is QPACK (RFC 9204) with the dynamic table, which
// github.com/quic-go/qpack leaves out: a decoder that follows a peer
// encoder's table (our HTTP/3 client reading responses, the fingerprint
// server reading a browser's requests) and an encoder with the insertion
// policy of Chromium's quiche (QpackEncoder), so that what a server sees
// on our encoder stream and request streams is what Chromium sends.
package qpackdyn

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/quic-go/qpack"
	"golang.org/x/net/http2/hpack"
)

// Field is a header field (name, value).
type Field = qpack.HeaderField

// Static is QPACK's static table (RFC 9204 Appendix A), read once through
// qpack's own decoder so that it is not copied here.
var Static = sync.OnceValue(func() []Field {
	var out []Field
	for i := uint64(0); ; i++ {
		block := appendPrefixInt([]byte{0, 0}, 6, 0xc0, i) // indexed, static
		hf, err := qpack.NewDecoder().Decode(block)()
		if err != nil {
			return out
		}
		out = append(out, hf)
	}
})

// staticIndex finds static entries by name and value and by name, the
// lowest index winning, as quiche's static index does.
var staticIndex = sync.OnceValues(func() (map[Field]uint64, map[string]uint64) {
	exact, names := map[Field]uint64{}, map[string]uint64{}
	for i, f := range Static() {
		if _, ok := exact[f]; !ok {
			exact[f] = uint64(i)
		}
		if _, ok := names[f.Name]; !ok {
			names[f.Name] = uint64(i)
		}
	}
	return exact, names
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

// AppendPrefixInt appends an RFC 7541 5.1 integer with an n-bit prefix,
// flags in the bits above it.
func AppendPrefixInt(dst []byte, n uint8, flags byte, i uint64) []byte {
	return appendPrefixInt(dst, n, flags, i)
}

// appendString appends a string literal whose H bit is bit n of the
// first byte (the length has an n-bit prefix), Huffman-coded only when
// that is strictly shorter, as quiche's QpackInstructionEncoder decides.
func appendString(dst []byte, n uint8, flags byte, s string) []byte {
	if hl := hpack.HuffmanEncodeLength(s); hl < uint64(len(s)) {
		dst = appendPrefixInt(dst, n, flags|1<<n, hl)
		return hpack.AppendHuffmanString(dst, s)
	}
	dst = appendPrefixInt(dst, n, flags, uint64(len(s)))
	return append(dst, s...)
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

func readString(n uint8, p []byte, limit uint64) (string, []byte, error) {
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

// EntrySize is an entry's size in the table (RFC 9204 3.2.1).
func EntrySize(f Field) uint64 { return uint64(len(f.Name)+len(f.Value)) + 32 }

// encodeRIC encodes a Required Insert Count (RFC 9204 4.5.1.1) for a
// peer that announced maxCapacity.
func encodeRIC(ric, maxCapacity uint64) uint64 {
	if ric == 0 {
		return 0
	}
	return ric%(2*(maxCapacity/32)) + 1
}
