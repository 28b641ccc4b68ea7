package fingerprint

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/crypto/cryptobyte"
)

// TransportParameter is one QUIC transport parameter (RFC 9000 §18) as the
// client sent it, in its position in the list.
type TransportParameter struct {
	ID uint64 `json:"id"`
	// Name is the registered name; "" for unknown and GREASE ids.
	Name string `json:"name,omitempty"`
	// GREASE marks a reserved id of the form 31*N+27 (RFC 9000 §18.1),
	// which a client sends with a random id and value.
	GREASE bool `json:"grease,omitempty"`
	// Value is the integer value for integer parameters.
	Value *uint64 `json:"value,omitempty"`
	// Hex is the raw value.
	Hex string `json:"hex"`
}

// InitialPacket is one client Initial packet as received.
type InitialPacket struct {
	// Datagram is the index (in QUICHello.Datagrams) of the datagram that
	// carried it.
	Datagram     int    `json:"datagram"`
	PacketNumber uint64 `json:"packet_number"`
	// Length is the packet's Length field (packet number and payload).
	Length int `json:"length"`
	// Frames are the frame kinds in order; a run of PADDING counts once.
	Frames []string `json:"frames"`
	// Crypto are the CRYPTO frames' [offset, length] in order, which shows
	// how a client splits and reorders its ClientHello.
	Crypto [][2]uint64 `json:"crypto,omitempty"`
}

// QUICHello is what a QUIC client sends before the server answers: its
// Initial packets and the TLS ClientHello they carry. It is the QUIC
// counterpart of Capture's TLS fields, for `spiderrun fingerprint` and for
// tests that compare a client with a browser's golden capture.
type QUICHello struct {
	Version  uint32 `json:"version"`
	DCIDLen  int    `json:"dcid_len"`
	SCIDLen  int    `json:"scid_len"`
	TokenLen int    `json:"token_len"`
	// Datagrams are the sizes of the UDP datagrams that carried the
	// client's Initials, up to the one completing the ClientHello.
	Datagrams []int           `json:"datagrams"`
	Packets   []InitialPacket `json:"packets"`
	TLS       *ClientHello    `json:"tls"`
	// ExtensionLengths are the data lengths of TLS.Extensions, in the same
	// order (GREASE ECH, for one, varies its length).
	ExtensionLengths    []int                `json:"extension_lengths"`
	ClientHello         string               `json:"client_hello_hex"`
	TransportParameters []TransportParameter `json:"transport_parameters"`
	JA4                 string               `json:"ja4"`
	JA4R                string               `json:"ja4_r"`
}

// FirstPacketNumber is the packet number of the first Initial recorded.
func (q *QUICHello) FirstPacketNumber() uint64 {
	if len(q.Packets) == 0 {
		return 0
	}
	return q.Packets[0].PacketNumber
}

// TransportParameterIDs lists the transport parameter ids in order.
func (q *QUICHello) TransportParameterIDs() []uint64 {
	out := make([]uint64, len(q.TransportParameters))
	for i, p := range q.TransportParameters {
		out[i] = p.ID
	}
	return out
}

// transportParamNames are RFC 9000 §18.2's parameters, RFC 9221's datagram
// size, and the Google ones Chromium sends.
var transportParamNames = map[uint64]string{
	0x00:   "original_destination_connection_id",
	0x01:   "max_idle_timeout",
	0x02:   "stateless_reset_token",
	0x03:   "max_udp_payload_size",
	0x04:   "initial_max_data",
	0x05:   "initial_max_stream_data_bidi_local",
	0x06:   "initial_max_stream_data_bidi_remote",
	0x07:   "initial_max_stream_data_uni",
	0x08:   "initial_max_streams_bidi",
	0x09:   "initial_max_streams_uni",
	0x0a:   "ack_delay_exponent",
	0x0b:   "max_ack_delay",
	0x0c:   "disable_active_migration",
	0x0d:   "preferred_address",
	0x0e:   "active_connection_id_limit",
	0x0f:   "initial_source_connection_id",
	0x10:   "retry_source_connection_id",
	0x11:   "version_information",
	0x20:   "max_datagram_frame_size",
	0x2ab2: "grease_quic_bit",
	0x3127: "google_initial_rtt",
	0x3128: "google_connection_options",
	0x4752: "google_quic_version",
}

// bytesParams hold bytes or are empty flags, never a varint.
var bytesParams = map[uint64]bool{0x00: true, 0x02: true, 0x0c: true, 0x0d: true, 0x0f: true, 0x10: true, 0x11: true, 0x2ab2: true, 0x3128: true, 0x4752: true}

// IsGREASETransportParameter reports whether id is reserved for GREASE.
func IsGREASETransportParameter(id uint64) bool { return id >= 27 && (id-27)%31 == 0 }

// ParseTransportParameters parses the quic_transport_parameters extension
// data.
func ParseTransportParameters(b []byte) ([]TransportParameter, error) {
	var out []TransportParameter
	for i := 0; i < len(b); {
		id, n, ok := readVarint(b[i:])
		if !ok {
			return out, errors.New("quic transport parameters: truncated id")
		}
		i += n
		l, n, ok := readVarint(b[i:])
		if !ok {
			return out, fmt.Errorf("quic transport parameters: truncated length of %#x", id)
		}
		i += n
		if l > uint64(len(b)-i) {
			return out, fmt.Errorf("quic transport parameters: %#x of %d bytes overruns the extension", id, l)
		}
		val := b[i : i+int(l)]
		i += int(l)
		p := TransportParameter{ID: id, Name: transportParamNames[id], GREASE: IsGREASETransportParameter(id), Hex: hex.EncodeToString(val)}
		if !bytesParams[id] && !p.GREASE {
			if v, n, ok := readVarint(val); ok && n == len(val) {
				p.Value = &v
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// extensionData returns each extension's type and data of a ClientHello
// record that ParseClientHello accepted.
func extensionData(record []byte) (types []uint16, data [][]byte) {
	s := cryptobyte.String(record)
	var body, msg, skip, exts cryptobyte.String
	if !s.Skip(3) || !s.ReadUint16LengthPrefixed(&body) || !body.Skip(1) || !body.ReadUint24LengthPrefixed(&msg) ||
		!msg.Skip(2+32) || !msg.ReadUint8LengthPrefixed(&skip) || !msg.ReadUint16LengthPrefixed(&skip) ||
		!msg.ReadUint8LengthPrefixed(&skip) || !msg.ReadUint16LengthPrefixed(&exts) {
		return nil, nil
	}
	for !exts.Empty() {
		var t uint16
		var d cryptobyte.String
		if !exts.ReadUint16(&t) || !exts.ReadUint16LengthPrefixed(&d) {
			return types, data
		}
		types = append(types, t)
		data = append(data, d)
	}
	return types, data
}

// extQUICTransportParameters is RFC 9001 §8.2's extension.
const extQUICTransportParameters = 0x0039

// newQUICHello fills the TLS half of a hello from the reassembled
// ClientHello handshake message.
func newQUICHello(msg []byte) (*QUICHello, error) {
	record := make([]byte, 0, 5+len(msg))
	record = append(record, 22, 3, 1, byte(len(msg)>>8), byte(len(msg)))
	record = append(record, msg...)
	ch, err := ParseClientHello(record)
	if err != nil {
		return nil, err
	}
	q := &QUICHello{TLS: ch, ClientHello: hex.EncodeToString(record)}
	a, ciphers, exts := ch.ja4Parts()
	// JA4 marks QUIC with "q" where TCP has "t" (FoxIO JA4 spec).
	a = "q" + a[1:]
	q.JA4 = a + "_" + sha12(ciphers) + "_" + sha12(exts)
	q.JA4R = a + "_" + ciphers + "_" + exts
	types, data := extensionData(record)
	for i, t := range types {
		q.ExtensionLengths = append(q.ExtensionLengths, len(data[i]))
		if t == extQUICTransportParameters {
			tps, err := ParseTransportParameters(data[i])
			if err != nil {
				return nil, err
			}
			q.TransportParameters = tps
		}
	}
	if q.TransportParameters == nil {
		return nil, errors.New("clienthello: no quic_transport_parameters extension")
	}
	return q, nil
}

// RecorderLimits bound what a QUICRecorder keeps, so that a flood of
// clients or of bogus packets costs bounded memory.
type RecorderLimits struct {
	// MaxPending is how many clients may have an unfinished ClientHello
	// at once; datagrams from further clients are refused until some
	// finish or expire.
	MaxPending int
	// MaxBytes bounds one client's buffered CRYPTO data (and so the
	// ClientHello size); MaxTotalBytes bounds all clients' together.
	MaxBytes      int
	MaxTotalBytes int
	// MaxDone is how many finished hellos wait for Take.
	MaxDone int
	// TTL is how long an unfinished or untaken hello is kept.
	TTL time.Duration
}

// DefaultRecorderLimits fit a test server: real ClientHellos are under
// 2 KiB in at most a few Initial packets.
var DefaultRecorderLimits = RecorderLimits{MaxPending: 256, MaxBytes: maxHello, MaxTotalBytes: 4 << 20, MaxDone: 256, TTL: 30 * time.Second}

// maxInitialPackets bounds the Initials of one ClientHello (browsers need
// two or three), so PING-only packets cannot grow a client's state.
const maxInitialPackets = 64

// ErrTooManyPending refuses a new client while the recorder is full.
var ErrTooManyPending = errors.New("quic recorder: too many clients with an unfinished ClientHello")

type pendingHello struct {
	dcid    []byte
	version uint32
	keys    *InitialKeys
	hello   QUICHello
	frags   []CryptoFragment
	bytes   int
	started time.Time
}

type doneHello struct {
	hello *QUICHello
	dcid  []byte
	at    time.Time
	// taken is set by Take; the entry stays so that retransmissions of
	// the finished connection's Initials are not taken for a new one.
	taken bool
}

// QUICRecorder reads the client Initial packets of QUIC connections,
// keyed by the client's address, and reassembles each ClientHello. Feed it
// every datagram the server receives (Datagram); collect a finished hello
// with Take. It is safe for concurrent use.
type QUICRecorder struct {
	limits  RecorderLimits
	now     func() time.Time
	mu      sync.Mutex
	pending map[string]*pendingHello
	done    map[string]doneHello
	total   int
}

// NewQUICRecorder returns a recorder with the given limits (zero fields
// take DefaultRecorderLimits' values).
func NewQUICRecorder(l RecorderLimits) *QUICRecorder {
	d := DefaultRecorderLimits
	if l.MaxPending <= 0 {
		l.MaxPending = d.MaxPending
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxTotalBytes <= 0 {
		l.MaxTotalBytes = d.MaxTotalBytes
	}
	if l.MaxDone <= 0 {
		l.MaxDone = d.MaxDone
	}
	if l.TTL <= 0 {
		l.TTL = d.TTL
	}
	return &QUICRecorder{limits: l, now: time.Now, pending: map[string]*pendingHello{}, done: map[string]doneHello{}}
}

// Pending reports how many clients have an unfinished ClientHello and how
// many CRYPTO bytes they hold.
func (r *QUICRecorder) Pending() (clients, bytes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending), r.total
}

// Take returns and forgets the finished hello of the client at addr.
func (r *QUICRecorder) Take(addr string) (*QUICHello, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.done[addr]
	if !ok || d.taken {
		return nil, false
	}
	d.taken = true
	r.done[addr] = d
	return d.hello, true
}

func (r *QUICRecorder) expire(now time.Time) {
	for a, p := range r.pending {
		if now.Sub(p.started) > r.limits.TTL {
			r.drop(a)
		}
	}
	for a, d := range r.done {
		if now.Sub(d.at) > r.limits.TTL {
			delete(r.done, a)
		}
	}
}

func (r *QUICRecorder) drop(addr string) {
	if p := r.pending[addr]; p != nil {
		r.total -= p.bytes
		delete(r.pending, addr)
	}
}

// Datagram reads one UDP datagram from the client at addr. It returns the
// hello when this datagram completed it (it is also kept for Take), nil
// when the datagram held no Initial or the hello is still incomplete, and
// an error when the datagram is not a readable client Initial (the
// client's state is then dropped when the error concerns its hello).
// Short-header and non-Initial packets are ignored.
func (r *QUICRecorder) Datagram(addr string, dgram []byte) (*QUICHello, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	r.expire(now)
	var result *QUICHello
	sawInitial := false
	for off := 0; off < len(dgram); {
		pkt := dgram[off:]
		h, err := ParseLongHeader(pkt)
		if err != nil {
			if errors.Is(err, errShortHeader) && off > 0 {
				break // a coalesced short-header packet
			}
			if errors.Is(err, errShortHeader) {
				return nil, nil
			}
			return nil, fmt.Errorf("datagram from %s: %w", addr, err)
		}
		off += h.End
		if !h.IsInitial() {
			continue
		}
		p := r.pending[addr]
		d, finished := r.done[addr]
		var known []byte // the DCID of the address's current connection
		switch {
		case p != nil:
			known = p.dcid
		case finished:
			known = d.dcid
		}
		var pn uint64
		var payload []byte
		if known != nil && string(known) != string(h.DCID) {
			// Either the address opened a new connection, or the client
			// switched to the server's connection ID after the server's
			// first Initial while keeping the keys of its first DCID
			// (RFC 9001 §5.2): only decryption tells them apart.
			keys, err := DeriveInitialKeys(h.Version, h.DCID, true)
			if err != nil {
				return nil, fmt.Errorf("datagram from %s: %w", addr, err)
			}
			if pn, payload, err = OpenInitial(pkt, h, keys); err == nil {
				r.drop(addr)
				delete(r.done, addr)
				p, finished = nil, false
			} else if finished && p == nil {
				old, _ := DeriveInitialKeys(h.Version, d.dcid, true)
				if _, _, err := OpenInitial(pkt, h, old); err == nil {
					continue // an ACK of the finished connection
				}
				return nil, fmt.Errorf("datagram from %s: %w", addr, err)
			}
		} else if finished && p == nil {
			continue // a retransmission or ACK after the hello completed
		}
		if p == nil {
			if len(r.pending) >= r.limits.MaxPending {
				return nil, fmt.Errorf("datagram from %s: %w (%d)", addr, ErrTooManyPending, r.limits.MaxPending)
			}
			keys, err := DeriveInitialKeys(h.Version, h.DCID, true)
			if err != nil {
				return nil, fmt.Errorf("datagram from %s: %w", addr, err)
			}
			p = &pendingHello{dcid: slices.Clone(h.DCID), version: h.Version, keys: keys, started: now}
			p.hello = QUICHello{Version: h.Version, DCIDLen: len(h.DCID), SCIDLen: len(h.SCID), TokenLen: len(h.Token)}
			r.pending[addr] = p
		}
		if payload == nil {
			if p.version != h.Version {
				r.drop(addr)
				return nil, fmt.Errorf("datagram from %s: version changed from %#x to %#x mid-handshake", addr, p.version, h.Version)
			}
			pn, payload, err = OpenInitial(pkt, h, p.keys)
			if err != nil {
				r.drop(addr)
				return nil, fmt.Errorf("datagram from %s: %w", addr, err)
			}
		}
		kinds, frags, err := ParseInitialFrames(payload)
		if err != nil {
			r.drop(addr)
			return nil, fmt.Errorf("datagram from %s: Initial packet %d: %w", addr, pn, err)
		}
		if !sawInitial {
			sawInitial = true
			p.hello.Datagrams = append(p.hello.Datagrams, len(dgram))
		}
		ip := InitialPacket{Datagram: len(p.hello.Datagrams) - 1, PacketNumber: pn, Length: h.Length, Frames: kinds}
		for _, f := range frags {
			ip.Crypto = append(ip.Crypto, [2]uint64{f.Offset, uint64(len(f.Data))})
			end := f.Offset + uint64(len(f.Data))
			if end > uint64(r.limits.MaxBytes) {
				r.drop(addr)
				return nil, fmt.Errorf("datagram from %s: CRYPTO data up to offset %d exceeds the %d-byte limit", addr, end, r.limits.MaxBytes)
			}
			if p.bytes+len(f.Data) > r.limits.MaxBytes || r.total+len(f.Data) > r.limits.MaxTotalBytes {
				r.drop(addr)
				return nil, fmt.Errorf("datagram from %s: CRYPTO data over the recorder's byte limit", addr)
			}
			p.frags = append(p.frags, CryptoFragment{Offset: f.Offset, Data: slices.Clone(f.Data)})
			p.bytes += len(f.Data)
			r.total += len(f.Data)
		}
		if len(p.hello.Packets) >= maxInitialPackets {
			r.drop(addr)
			return nil, fmt.Errorf("datagram from %s: %d Initial packets without a complete ClientHello", addr, maxInitialPackets)
		}
		p.hello.Packets = append(p.hello.Packets, ip)
		msg, err := assemble(p.frags, r.limits.MaxBytes)
		if err != nil {
			r.drop(addr)
			return nil, fmt.Errorf("datagram from %s: %w", addr, err)
		}
		if msg == nil {
			continue
		}
		hello, err := newQUICHello(msg)
		if err != nil {
			r.drop(addr)
			return nil, fmt.Errorf("datagram from %s: %w", addr, err)
		}
		tlsPart := *hello
		*hello = p.hello
		hello.TLS, hello.ClientHello, hello.JA4, hello.JA4R = tlsPart.TLS, tlsPart.ClientHello, tlsPart.JA4, tlsPart.JA4R
		hello.ExtensionLengths, hello.TransportParameters = tlsPart.ExtensionLengths, tlsPart.TransportParameters
		r.drop(addr)
		if len(r.done) >= r.limits.MaxDone {
			r.evictOldestDone()
		}
		r.done[addr] = doneHello{hello: hello, dcid: p.dcid, at: now}
		result = hello
	}
	return result, nil
}

func (r *QUICRecorder) evictOldestDone() {
	var oldest string
	var at time.Time
	for a, d := range r.done {
		if oldest == "" || d.at.Before(at) {
			oldest, at = a, d.at
		}
	}
	delete(r.done, oldest)
}

// assemble joins CRYPTO fragments (in any order, overlapping when
// retransmitted) into the first handshake message, or returns nil while
// bytes are missing.
func assemble(frags []CryptoFragment, limit int) ([]byte, error) {
	sorted := slices.Clone(frags)
	slices.SortFunc(sorted, func(a, b CryptoFragment) int {
		switch {
		case a.Offset < b.Offset:
			return -1
		case a.Offset > b.Offset:
			return 1
		}
		return 0
	})
	var buf []byte
	for _, f := range sorted {
		if f.Offset > uint64(len(buf)) {
			break
		}
		if end := f.Offset + uint64(len(f.Data)); end > uint64(len(buf)) {
			buf = append(buf, f.Data[uint64(len(buf))-f.Offset:]...)
		}
	}
	if len(buf) < 4 {
		return nil, nil
	}
	if buf[0] != 1 {
		return nil, fmt.Errorf("quic: first handshake message is type %d, not a ClientHello", buf[0])
	}
	want := int(buf[1])<<16 | int(buf[2])<<8 | int(buf[3])
	if want+4 > limit || want+4 > 0xffff {
		return nil, fmt.Errorf("quic: ClientHello of %d bytes exceeds %d", want, limit)
	}
	if len(buf) < want+4 {
		return nil, nil
	}
	return buf[:want+4], nil
}
