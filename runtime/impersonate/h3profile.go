package impersonate

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"strings"

	utls "github.com/refraction-networking/utls"
	"github.com/spiderrun/spiderrun/third_party/quic-go/quicvarint"
)

// HTTP3Spec is what the browser sends over QUIC: the ClientHello inside the
// Initial (derived from the profile's TCP ClientHello by the rules below,
// since Chromium builds both from one BoringSSL configuration), the QUIC
// transport parameters, the connection-ID lengths and Initial size, and the
// HTTP/3 SETTINGS and pseudo-header order.
type HTTP3Spec struct {
	// CipherSuites keeps these suites of the TCP hello, in its order (QUIC
	// is TLS 1.3 only: Chromium offers 1301 1302 1303). Hex ids.
	CipherSuites []string `yaml:"cipher_suites"`
	// Extensions keeps these extensions of the TCP hello (hex ids), in its
	// order; GREASE is dropped unless listed as "grease". ALPN becomes the
	// h3 list, ALPS names h3, supported_versions offers TLS 1.3 only and a
	// quic_transport_parameters (0039) extension is added where listed.
	Extensions []string `yaml:"extensions"`
	// ShuffleExtensions permutes the extensions per connection (Chromium).
	ShuffleExtensions bool `yaml:"shuffle_extensions,omitempty"`
	// Groups are supported_groups and key_share is made of the first
	// KeyShares of them (hex ids, no GREASE: 11ec 001d 0017 0018).
	Groups    []string `yaml:"groups"`
	KeyShares int      `yaml:"key_shares"`
	// SignatureAlgorithms, when set, replaces the TCP hello's list (hex
	// ids, wire order): Chromium's QUIC hello has its own (no ML-DSA, and
	// rsa_pkcs1_sha1 last).
	SignatureAlgorithms []string `yaml:"signature_algorithms,omitempty"`
	// ALPN is the protocol list (h3).
	ALPN []string `yaml:"alpn"`
	// TransportParameters in wire order: "name=value" or "0xID=value",
	// value a decimal varint, "hex:..." raw bytes, or no value at all for
	// an empty parameter; initial_source_connection_id takes the
	// connection's own source ID; "grease" is a GREASE parameter (random
	// reserved id 31*N+27, GreaseLength random bytes).
	TransportParameters []string `yaml:"transport_parameters"`
	// ShuffleTransportParameters sends them in a random order per
	// connection, as Chromium does.
	ShuffleTransportParameters bool `yaml:"shuffle_transport_parameters,omitempty"`
	// GreaseLength is the GREASE parameter's value length; with
	// GreaseLengthMax set the length is random in 0..GreaseLengthMax-1
	// per connection instead (Chromium: quiche's kMaxGreaseLength, 16).
	GreaseLength    int `yaml:"grease_length,omitempty"`
	GreaseLengthMax int `yaml:"grease_length_max,omitempty"`
	// DCIDLength and SCIDLength are the connection-ID lengths of the first
	// Initial (Chromium: 8 and 0).
	DCIDLength int `yaml:"dcid_length"`
	SCIDLength int `yaml:"scid_length"`
	// InitialPacketSize is the UDP payload of the client's Initial
	// datagrams (Chromium: 1250).
	InitialPacketSize int `yaml:"initial_packet_size"`
	// ChaosProtection lays out the Initial packets as Chromium's quiche
	// does ("chaos protection"): the ClientHello's head and tail in the
	// first packet, its middle in the second, the CRYPTO data of each cut
	// into random fragments mixed with 2 to 10 PING frames and runs of
	// PADDING in a random order. Off: quic-go's layout.
	ChaosProtection bool `yaml:"chaos_protection,omitempty"`
	// FirstPacketNumber numbers the client's packets from this value
	// (Chromium: 1; 0, quic-go's, when unset).
	FirstPacketNumber int `yaml:"first_packet_number,omitempty"`
	// Settings is the SETTINGS frame in wire order, "id:value;..." with
	// decimal ids; "grease" adds a reserved setting (0x1f*N+0x21) with a
	// random value at that place.
	Settings string `yaml:"settings"`
	// GreaseFrame sends a reserved frame (type 0x1f*N+0x21, 0 to 3 random
	// bytes) on the control stream right after SETTINGS, as Chromium does.
	GreaseFrame bool `yaml:"grease_frame,omitempty"`
	// PseudoHeaderOrder is the order of :method :authority :scheme :path.
	PseudoHeaderOrder []string `yaml:"pseudo_header_order"`
}

// browserHello reports whether the profile brings its own QUIC ClientHello
// (else Go's crypto/tls one, with quic-go's transport parameters).
func (c *h3compiled) browserHello() bool { return len(c.ciphers) > 0 }

// h3compiled is an HTTP3Spec checked and turned into numbers once.
type h3compiled struct {
	ciphers  []uint16
	exts     []uint16 // 0x0a0a stands for "grease"
	sigalgs  []uint16
	groups   []utls.CurveID
	params   []h3param
	settings []h3setting
}

type h3param struct {
	id       uint64
	value    []byte
	grease   bool
	fromConn bool // take quic-go's value (initial_source_connection_id)
	// greaseVersion: version_information whose value is the chosen
	// version then the available ones, with a fresh GREASE version
	// inserted at a random place among the available ones per
	// connection (Chromium's quiche does so).
	greaseVersion bool
}

type h3setting struct {
	id, val uint64
	grease  bool
}

// Transport parameter names (RFC 9000 18.2, RFC 9221, RFC 9368, and the
// Google ones Chromium sends).
var h3ParamIDs = map[string]uint64{
	"original_destination_connection_id":  0x00,
	"max_idle_timeout":                    0x01,
	"stateless_reset_token":               0x02,
	"max_udp_payload_size":                0x03,
	"initial_max_data":                    0x04,
	"initial_max_stream_data_bidi_local":  0x05,
	"initial_max_stream_data_bidi_remote": 0x06,
	"initial_max_stream_data_uni":         0x07,
	"initial_max_streams_bidi":            0x08,
	"initial_max_streams_uni":             0x09,
	"ack_delay_exponent":                  0x0a,
	"max_ack_delay":                       0x0b,
	"disable_active_migration":            0x0c,
	"active_connection_id_limit":          0x0e,
	"initial_source_connection_id":        0x0f,
	"version_information":                 0x11,
	"max_datagram_frame_size":             0x20,
	"grease_quic_bit":                     0x2ab2,
	"google_connection_options":           0x3128,
	"google_version":                      0x4752,
}

const greaseExt = 0x0a0a

func parseHex16(field string, list []string) ([]uint16, error) {
	out := make([]uint16, 0, len(list))
	for _, s := range list {
		if strings.EqualFold(s, "grease") {
			out = append(out, greaseExt)
			continue
		}
		v, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(s), "0x"), 16, 16)
		if err != nil {
			return nil, fmt.Errorf("%s: bad hex id %q", field, s)
		}
		out = append(out, uint16(v))
	}
	return out, nil
}

func (s *HTTP3Spec) compile() (*h3compiled, error) {
	c := &h3compiled{}
	var err error
	if c.ciphers, err = parseHex16("http3.cipher_suites", s.CipherSuites); err != nil {
		return nil, err
	}
	if c.exts, err = parseHex16("http3.extensions", s.Extensions); err != nil {
		return nil, err
	}
	if c.sigalgs, err = parseHex16("http3.signature_algorithms", s.SignatureAlgorithms); err != nil {
		return nil, err
	}
	g, err := parseHex16("http3.groups", s.Groups)
	if err != nil {
		return nil, err
	}
	for _, v := range g {
		c.groups = append(c.groups, utls.CurveID(v))
	}
	if len(c.ciphers)+len(c.exts)+len(c.groups) > 0 {
		if len(c.ciphers) == 0 || len(c.exts) == 0 || len(c.groups) == 0 {
			return nil, errors.New("http3: cipher_suites, extensions and groups go together (none of them: Go's own crypto/tls hello and quic-go's transport parameters)")
		}
		if s.KeyShares < 1 || s.KeyShares > len(c.groups) {
			return nil, fmt.Errorf("http3.key_shares: %d not in 1..%d", s.KeyShares, len(c.groups))
		}
	} else if len(s.TransportParameters) > 0 {
		return nil, errors.New("http3.transport_parameters: need the ClientHello fields (cipher_suites, extensions, groups) too")
	}
	if len(s.ALPN) == 0 {
		s.ALPN = []string{"h3"}
	}
	for _, tp := range s.TransportParameters {
		p, err := parseH3Param(tp)
		if err != nil {
			return nil, fmt.Errorf("http3.transport_parameters: %w", err)
		}
		c.params = append(c.params, p)
	}
	if s.GreaseLengthMax < 0 || s.GreaseLengthMax > 256 || s.GreaseLength < 0 || s.GreaseLength > 256 {
		return nil, fmt.Errorf("http3.grease_length, grease_length_max: %d, %d not in 0..256", s.GreaseLength, s.GreaseLengthMax)
	}
	if s.DCIDLength != 0 && (s.DCIDLength < 8 || s.DCIDLength > 20) {
		return nil, fmt.Errorf("http3.dcid_length: %d not in 8..20", s.DCIDLength)
	}
	if s.SCIDLength != 0 {
		// quic-go's single-use client transport uses a zero-length source
		// ID; other lengths would need a connection-ID generator.
		return nil, fmt.Errorf("http3.scid_length: %d unsupported (only 0)", s.SCIDLength)
	}
	if s.InitialPacketSize != 0 && (s.InitialPacketSize < 1200 || s.InitialPacketSize > 1452) {
		return nil, fmt.Errorf("http3.initial_packet_size: %d not in 1200..1452", s.InitialPacketSize)
	}
	if s.Settings != "" {
		for _, kv := range strings.Split(s.Settings, ";") {
			if strings.EqualFold(strings.TrimSpace(kv), "grease") {
				c.settings = append(c.settings, h3setting{grease: true})
				continue
			}
			k, v, ok := strings.Cut(kv, ":")
			id, err1 := strconv.ParseUint(strings.TrimSpace(k), 10, 62)
			val, err2 := strconv.ParseUint(strings.TrimSpace(v), 10, 62)
			if !ok || err1 != nil || err2 != nil {
				return nil, fmt.Errorf("http3.settings: bad entry %q (want id:value or grease)", kv)
			}
			c.settings = append(c.settings, h3setting{id: id, val: val})
		}
	}
	if len(s.PseudoHeaderOrder) == 0 {
		s.PseudoHeaderOrder = []string{":method", ":authority", ":scheme", ":path"}
	}
	if err := checkPseudoOrder("http3.pseudo_header_order", s.PseudoHeaderOrder); err != nil {
		return nil, err
	}
	return c, nil
}

func checkPseudoOrder(field string, order []string) error {
	seen := map[string]bool{}
	for _, h := range order {
		switch h {
		case ":method", ":authority", ":scheme", ":path":
		default:
			return fmt.Errorf("%s: unknown pseudo-header %q", field, h)
		}
		if seen[h] {
			return fmt.Errorf("%s: %q twice", field, h)
		}
		seen[h] = true
	}
	if len(seen) != 4 {
		return fmt.Errorf("%s: needs all of :method :authority :scheme :path", field)
	}
	return nil
}

func parseH3Param(s string) (h3param, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "grease") {
		return h3param{grease: true}, nil
	}
	name, val, hasVal := strings.Cut(s, "=")
	var p h3param
	if id, ok := h3ParamIDs[name]; ok {
		p.id = id
	} else if strings.HasPrefix(name, "0x") {
		id, err := strconv.ParseUint(name[2:], 16, 62)
		if err != nil {
			return p, fmt.Errorf("bad id in %q", s)
		}
		p.id = id
	} else {
		return p, fmt.Errorf("unknown parameter %q (use a name or 0xID)", name)
	}
	switch {
	case p.id == 0x0f && !hasVal:
		p.fromConn = true
	case !hasVal:
		p.value = []byte{}
	case strings.HasPrefix(val, "hex:"):
		fields := strings.Fields(val[4:])
		if p.id == 0x11 {
			// version_information may name a GREASE version among the
			// available ones: "hex:00000001 00000001 grease".
			n := len(fields)
			fields = slices.DeleteFunc(fields, func(f string) bool { return strings.EqualFold(f, "grease") })
			p.greaseVersion = len(fields) < n
		}
		b, err := hex.DecodeString(strings.Join(fields, ""))
		if err != nil {
			return p, fmt.Errorf("bad hex value in %q", s)
		}
		p.value = b
		if p.greaseVersion && (len(b) < 4 || len(b)%4 != 0) {
			return p, fmt.Errorf("version_information in %q: want 4-byte versions, the chosen one first", s)
		}
	default:
		n, err := strconv.ParseUint(val, 10, 62)
		if err != nil {
			return p, fmt.Errorf("bad varint value in %q", s)
		}
		p.value = quicvarint.Append(nil, n)
	}
	return p, nil
}

// greaseParamID is a reserved transport parameter id (RFC 9000 18.1)
// drawn as quiche does: a random 62-bit number rounded down to the form
// 31*N+27, so nearly always an 8-byte varint, as Chromium's are.
func greaseParamID() uint64 { return mrand.Uint64N((1<<62)-31)/31*31 + 27 }

// greaseVersion is a QUIC version reserved for negotiation GREASE
// (RFC 9000 15: 0x?a?a?a?a).
func greaseVersion() []byte {
	return binary.BigEndian.AppendUint32(nil, mrand.Uint32()&0xf0f0f0f0|0x0a0a0a0a)
}

// greaseSettingID is a reserved HTTP/3 setting id (RFC 9114 7.2.4.1).
func greaseSettingID() uint64 { return 0x1f*mrand.Uint64N(1<<20) + 0x21 }

// parseParams splits quic-go's marshalled transport parameters by id.
func parseParams(b []byte) map[uint64][]byte {
	out := map[uint64][]byte{}
	for len(b) > 0 {
		id, n, err := quicvarint.Parse(b)
		if err != nil {
			return out
		}
		b = b[n:]
		l, n, err := quicvarint.Parse(b)
		if err != nil || uint64(len(b)-n) < l {
			return out
		}
		out[id] = b[n : n+int(l)]
		b = b[n+int(l):]
	}
	return out
}

// rawParam is a transport parameter as bytes for utls's extension.
type rawParam struct {
	id  uint64
	val []byte
}

func (r rawParam) ID() uint64    { return r.id }
func (r rawParam) Value() []byte { return r.val }

// transportParams returns the parameters one connection sends, in wire
// order: the profile's values, the connection's own source ID, a fresh
// GREASE parameter, shuffled when the profile says so.
func (s *HTTP3Spec) transportParams(c *h3compiled, fromQuicGo []byte) utls.TransportParameters {
	own := parseParams(fromQuicGo)
	out := make(utls.TransportParameters, 0, len(c.params))
	for _, p := range c.params {
		switch {
		case p.grease:
			n := s.GreaseLength
			if s.GreaseLengthMax > 0 {
				n = mrand.IntN(s.GreaseLengthMax)
			}
			v := make([]byte, n)
			_, _ = rand.Read(v)
			out = append(out, rawParam{id: greaseParamID(), val: v})
		case p.fromConn:
			out = append(out, rawParam{id: p.id, val: own[p.id]})
		case p.greaseVersion:
			at := 4 + 4*mrand.IntN(len(p.value)/4)
			v := slices.Concat(p.value[:at], greaseVersion(), p.value[at:])
			out = append(out, rawParam{id: p.id, val: v})
		default:
			out = append(out, rawParam{id: p.id, val: p.value})
		}
	}
	if s.ShuffleTransportParameters {
		mrand.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	}
	return out
}

// paramUint reads a varint parameter of the profile (ok=false if absent).
func (c *h3compiled) paramUint(id uint64) (uint64, bool) {
	for _, p := range c.params {
		if p.id == id && !p.grease && !p.fromConn && len(p.value) > 0 {
			v, _, err := quicvarint.Parse(p.value)
			return v, err == nil
		}
	}
	return 0, false
}

func (c *h3compiled) hasParam(id uint64) bool {
	for _, p := range c.params {
		if p.id == id && !p.grease {
			return true
		}
	}
	return false
}

// settingValue is a fixed setting of the profile (0 when absent).
func (c *h3compiled) settingValue(id uint64) uint64 {
	for _, s := range c.settings {
		if !s.grease && s.id == id {
			return s.val
		}
	}
	return 0
}

// settingsFrame is the HTTP/3 SETTINGS frame (type 0x04) of one
// connection.
func (c *h3compiled) settingsFrame() []byte {
	var payload []byte
	for _, s := range c.settings {
		id, val := s.id, s.val
		if s.grease {
			id = greaseSettingID()
			var b [4]byte
			_, _ = rand.Read(b[:])
			val = uint64(binary.BigEndian.Uint32(b[:]))
		}
		payload = quicvarint.Append(payload, id)
		payload = quicvarint.Append(payload, val)
	}
	f := quicvarint.Append(nil, 0x04)
	f = quicvarint.Append(f, uint64(len(payload)))
	return append(f, payload...)
}

// greaseFrame is a reserved HTTP/3 frame (RFC 9114 7.2.8) as quiche
// writes it after SETTINGS: one random 32-bit number r gives the type
// 0x1f*r+0x21 and a payload of r%4 random bytes.
func greaseFrame() []byte {
	r := uint64(mrand.Uint32())
	payload := make([]byte, r%4)
	_, _ = rand.Read(payload)
	f := quicvarint.Append(nil, 0x1f*r+0x21)
	f = quicvarint.Append(f, uint64(len(payload)))
	return append(f, payload...)
}
