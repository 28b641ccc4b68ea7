package fingerprint

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
)

// QUIC versions whose Initial packets the server can open.
const (
	QUICv1 uint32 = 0x00000001 // RFC 9000
	QUICv2 uint32 = 0x6b3343cf // RFC 9369
)

// Initial salts: RFC 9001 §5.2 and RFC 9369 §3.3.1.
var (
	saltV1 = []byte{0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17, 0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}
	saltV2 = []byte{0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93, 0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}
)

// InitialKeys are the packet protection keys of one direction of a QUIC
// connection's Initial packets.
type InitialKeys struct {
	Secret []byte // the direction's initial secret ("client in" / "server in")
	Key    []byte // AEAD_AES_128_GCM key
	IV     []byte
	HP     []byte // header protection key (AES-128-ECB)
}

// hkdfExpandLabel is TLS 1.3's HKDF-Expand-Label (RFC 8446 §7.1) with an
// empty context, which is all QUIC's Initial keys use.
func hkdfExpandLabel(secret []byte, label string, n int) []byte {
	full := "tls13 " + label
	info := make([]byte, 0, 4+len(full))
	info = binary.BigEndian.AppendUint16(info, uint16(n))
	info = append(info, byte(len(full)))
	info = append(info, full...)
	info = append(info, 0)
	out, err := hkdf.Expand(sha256.New, secret, string(info), n)
	if err != nil {
		// Only reachable with n beyond 255*32, which no caller asks for.
		panic(err)
	}
	return out
}

// DeriveInitialKeys derives the Initial keys of the client (client true)
// or the server from the client's first destination connection ID, for
// QUIC v1 or v2.
func DeriveInitialKeys(version uint32, dcid []byte, client bool) (*InitialKeys, error) {
	salt, prefix := saltV1, "quic "
	switch version {
	case QUICv1:
	case QUICv2:
		salt, prefix = saltV2, "quicv2 "
	default:
		return nil, fmt.Errorf("quic: no Initial keys for version %#08x", version)
	}
	initial, err := hkdf.Extract(sha256.New, dcid, salt)
	if err != nil {
		return nil, fmt.Errorf("quic: initial secret: %w", err)
	}
	label := "server in"
	if client {
		label = "client in"
	}
	sec := hkdfExpandLabel(initial, label, 32)
	return &InitialKeys{
		Secret: sec,
		Key:    hkdfExpandLabel(sec, prefix+"key", 16),
		IV:     hkdfExpandLabel(sec, prefix+"iv", 12),
		HP:     hkdfExpandLabel(sec, prefix+"hp", 16),
	}, nil
}

// readVarint reads a QUIC variable-length integer (RFC 9000 §16).
func readVarint(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	n = 1 << (b[0] >> 6)
	if len(b) < n {
		return 0, 0, false
	}
	v = uint64(b[0] & 0x3f)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
	}
	return v, n, true
}

// initialType is the long-header packet type of Initial in a version:
// v2 renumbered them so that middleboxes cannot ossify on v1's values.
func initialType(version uint32) byte {
	if version == QUICv2 {
		return 1
	}
	return 0
}

// LongHeader is the cleartext part of a long-header packet.
type LongHeader struct {
	Version uint32
	Type    byte // the two type bits as sent (version-specific meaning)
	DCID    []byte
	SCID    []byte
	Token   []byte // Initial only
	// PNOffset is where the (protected) packet number starts; Length is
	// the Length field (packet number plus payload); End is the packet's
	// end within the datagram (coalesced packets follow it).
	PNOffset int
	Length   int
	End      int
}

// IsInitial reports whether the header is an Initial of a known version.
func (h *LongHeader) IsInitial() bool {
	return (h.Version == QUICv1 || h.Version == QUICv2) && h.Type == initialType(h.Version)
}

var errShortHeader = errors.New("quic: not a long-header packet")

// ParseLongHeader parses the long header at the start of pkt (RFC 9000
// §17.2). It bounds every length by the datagram, so hostile lengths end
// in an error, not a panic or a large allocation.
func ParseLongHeader(pkt []byte) (*LongHeader, error) {
	if len(pkt) < 7 || pkt[0]&0x80 == 0 {
		return nil, errShortHeader
	}
	h := &LongHeader{Version: binary.BigEndian.Uint32(pkt[1:5]), Type: pkt[0] >> 4 & 0x03}
	if h.Version == 0 {
		return nil, errors.New("quic: version negotiation packet")
	}
	p := 5
	readCID := func(what string) ([]byte, error) {
		if p >= len(pkt) {
			return nil, fmt.Errorf("quic: truncated before the %s length", what)
		}
		l := int(pkt[p])
		p++
		// RFC 9000 limits v1 connection IDs to 20 bytes; other versions
		// may use up to 255, which the datagram bound still covers.
		if (h.Version == QUICv1 || h.Version == QUICv2) && l > 20 {
			return nil, fmt.Errorf("quic: %s length %d exceeds 20", what, l)
		}
		if p+l > len(pkt) {
			return nil, fmt.Errorf("quic: %s of %d bytes overruns the packet", what, l)
		}
		cid := pkt[p : p+l]
		p += l
		return cid, nil
	}
	var err error
	if h.DCID, err = readCID("DCID"); err != nil {
		return nil, err
	}
	if h.SCID, err = readCID("SCID"); err != nil {
		return nil, err
	}
	if h.Version != QUICv1 && h.Version != QUICv2 {
		h.End = len(pkt)
		return h, nil
	}
	if h.Type == initialType(h.Version) {
		tl, n, ok := readVarint(pkt[p:])
		if !ok {
			return nil, errors.New("quic: truncated token length")
		}
		p += n
		if tl > uint64(len(pkt)-p) {
			return nil, fmt.Errorf("quic: token of %d bytes overruns the packet", tl)
		}
		h.Token = pkt[p : p+int(tl)]
		p += int(tl)
	}
	if h.Type == retryType(h.Version) {
		h.End = len(pkt)
		return h, nil
	}
	l, n, ok := readVarint(pkt[p:])
	if !ok {
		return nil, errors.New("quic: truncated length field")
	}
	p += n
	if l > uint64(len(pkt)-p) {
		return nil, fmt.Errorf("quic: length %d overruns the %d-byte datagram", l, len(pkt))
	}
	h.PNOffset, h.Length, h.End = p, int(l), p+int(l)
	return h, nil
}

func retryType(version uint32) byte {
	if version == QUICv2 {
		return 0
	}
	return 3
}

// OpenInitial removes header protection from an Initial packet and
// decrypts it with keys (RFC 9001 §5.3, §5.4). pkt is left untouched; it
// returns the packet number and the plaintext payload (the frames).
func OpenInitial(pkt []byte, h *LongHeader, keys *InitialKeys) (pn uint64, payload []byte, err error) {
	// The sample starts 4 bytes past the packet number's offset whatever
	// its length, and the packet must hold it (§5.4.2).
	if h.Length < 4+16 || h.PNOffset+4+16 > h.End {
		return 0, nil, fmt.Errorf("quic: Initial of %d bytes too short to sample", h.Length)
	}
	block, err := aes.NewCipher(keys.HP)
	if err != nil {
		return 0, nil, fmt.Errorf("quic: header protection: %w", err)
	}
	var mask [16]byte
	block.Encrypt(mask[:], pkt[h.PNOffset+4:h.PNOffset+20])
	hdr := make([]byte, h.PNOffset+4)
	copy(hdr, pkt[:h.PNOffset+4])
	hdr[0] ^= mask[0] & 0x0f
	pnLen := int(hdr[0]&0x03) + 1
	for i := 0; i < pnLen; i++ {
		hdr[h.PNOffset+i] ^= mask[1+i]
		pn = pn<<8 | uint64(hdr[h.PNOffset+i])
	}
	hdr = hdr[:h.PNOffset+pnLen]
	aesBlock, err := aes.NewCipher(keys.Key)
	if err != nil {
		return 0, nil, fmt.Errorf("quic: packet protection: %w", err)
	}
	aead, err := cipher.NewGCM(aesBlock)
	if err != nil {
		return 0, nil, fmt.Errorf("quic: packet protection: %w", err)
	}
	nonce := make([]byte, 12)
	copy(nonce, keys.IV)
	// The client's first Initials carry their full packet number (nothing
	// acknowledged yet), so the truncated value is the packet number.
	for i := 0; i < 8; i++ {
		nonce[11-i] ^= byte(pn >> (8 * i))
	}
	ct := pkt[h.PNOffset+pnLen : h.End]
	payload, err = aead.Open(nil, nonce, ct, hdr)
	if err != nil {
		return pn, nil, fmt.Errorf("quic: Initial packet %d does not decrypt: %w", pn, err)
	}
	return pn, payload, nil
}

// CryptoFragment is the data of one CRYPTO frame.
type CryptoFragment struct {
	Offset uint64
	Data   []byte
}

// Frame kinds as recorded (RFC 9000 §19 names).
const (
	FramePadding         = "PADDING"
	FramePing            = "PING"
	FrameAck             = "ACK"
	FrameCrypto          = "CRYPTO"
	FrameConnectionClose = "CONNECTION_CLOSE"
)

// ParseInitialFrames parses the frames an Initial packet may carry
// (RFC 9000 §12.4: PADDING, PING, ACK, CRYPTO, CONNECTION_CLOSE) and
// returns their kinds in order (a run of PADDING bytes counts once) and
// the CRYPTO fragments.
func ParseInitialFrames(p []byte) (kinds []string, crypto []CryptoFragment, err error) {
	i := 0
	next := func(what string) uint64 {
		if err != nil {
			return 0
		}
		v, n, ok := readVarint(p[i:])
		if !ok {
			err = fmt.Errorf("quic: truncated %s", what)
			return 0
		}
		i += n
		return v
	}
	for i < len(p) {
		typ := p[i]
		i++
		switch {
		case typ == 0x00:
			for i < len(p) && p[i] == 0 {
				i++
			}
			kinds = append(kinds, FramePadding)
		case typ == 0x01:
			kinds = append(kinds, FramePing)
		case typ == 0x02 || typ == 0x03:
			next("ACK largest")
			next("ACK delay")
			ranges := next("ACK range count")
			next("ACK first range")
			if err == nil && ranges > uint64(len(p)) {
				return kinds, crypto, fmt.Errorf("quic: ACK with %d ranges overruns the packet", ranges)
			}
			for r := uint64(0); r < ranges && err == nil; r++ {
				next("ACK gap")
				next("ACK range")
			}
			if typ == 0x03 {
				next("ECN count")
				next("ECN count")
				next("ECN count")
			}
			kinds = append(kinds, FrameAck)
		case typ == 0x06:
			off := next("CRYPTO offset")
			l := next("CRYPTO length")
			if err != nil {
				return kinds, crypto, err
			}
			if l > uint64(len(p)-i) {
				return kinds, crypto, fmt.Errorf("quic: CRYPTO frame of %d bytes overruns the packet", l)
			}
			if off+l > 1<<62-1 || off+l < off {
				return kinds, crypto, fmt.Errorf("quic: CRYPTO offset %d out of range", off)
			}
			crypto = append(crypto, CryptoFragment{Offset: off, Data: p[i : i+int(l)]})
			i += int(l)
			kinds = append(kinds, FrameCrypto)
		case typ == 0x1c:
			next("CONNECTION_CLOSE code")
			next("CONNECTION_CLOSE frame type")
			l := next("CONNECTION_CLOSE reason length")
			if err == nil && l > uint64(len(p)-i) {
				return kinds, crypto, errors.New("quic: CONNECTION_CLOSE reason overruns the packet")
			}
			i += int(l)
			kinds = append(kinds, FrameConnectionClose)
		default:
			return kinds, crypto, fmt.Errorf("quic: frame type %#x is not allowed in an Initial packet", typ)
		}
		if err != nil {
			return kinds, crypto, err
		}
	}
	return kinds, crypto, nil
}
