package fingerprint

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// QUICSummary is the part of several HTTP/3 connections of one client that
// must not change between its connections: what a golden file holds and
// what a client impersonating a browser over HTTP/3 must reproduce. Fields
// that a browser randomises per connection are not kept as values; the
// summary says instead that they vary (Random lists them) and checks what
// is fixed about them (GREASE ids of the reserved form, one GREASE
// transport parameter, ECH GREASE lengths from BoringSSL's set).
type QUICSummary struct {
	Connections int `json:"connections"`
	// Random names the fields that differed between connections, as the
	// browser randomises them; a client that repeats one value there is
	// told apart from the browser.
	Random []string `json:"random"`

	Version string `json:"quic_version"`
	// DCIDLen is 0 when it varies (then "quic.dcid_len" is in Random).
	DCIDLen  int `json:"dcid_len"`
	SCIDLen  int `json:"scid_len"`
	TokenLen int `json:"token_len"`
	// Datagrams are the sizes of the datagrams that carried the client's
	// Initial packets, and InitialPackets how many Initial packets carried
	// the ClientHello.
	Datagrams      []int `json:"initial_datagram_sizes"`
	InitialPackets int   `json:"initial_packets"`
	// FirstPacketNumber is the packet number of the first Initial
	// (Chromium: 1; quic-go: 0).
	FirstPacketNumber uint64 `json:"first_packet_number"`
	// FrameKinds are the frame kinds seen in the Initial packets (their
	// order and the CRYPTO fragments' split are listed in Random when they
	// vary).
	FrameKinds []string `json:"initial_frame_kinds"`
	// InitialLayout is how the Initials carry the ClientHello (its split
	// over the packets, the PING, CRYPTO and PADDING counts per packet)
	// as ranges all connections lie in: Chromium's are random per
	// connection (quiche's chaos protection), so only their bounds can be
	// compared.
	InitialLayout *QUICInitialLayout `json:"initial_layout"`

	JA4  string `json:"ja4"`
	JA4R string `json:"ja4_r"`
	// Extensions are the TLS extension ids sorted (the wire order is in
	// Random for a browser that shuffles), ExtensionLengths their data
	// lengths by id except GREASE ECH's and the transport parameters'
	// (which follows the GREASE parameter's random length).
	CipherSuites      []string       `json:"cipher_suites"`
	Extensions        []string       `json:"extensions_sorted"`
	ExtensionLengths  map[string]int `json:"extension_lengths"`
	SupportedGroups   []string       `json:"supported_groups"`
	SignatureAlgs     []string       `json:"signature_algorithms"`
	SupportedVersions []string       `json:"supported_versions"`
	ALPN              []string       `json:"alpn"`
	// ECHGREASE describes the GREASE ECH extension (fe0d): its lengths
	// are random; the summary checks they follow BoringSSL's rule.
	ECHGREASE string `json:"ech_grease,omitempty"`

	// TransportParameters are the parameters sorted by id, GREASE ones
	// summarised as "GREASE" with their count; a value is the integer or
	// the hex bytes (GREASE versions in version_information as "GREASE").
	TransportParameters []string `json:"transport_parameters"`

	// H3Settings are the SETTINGS in order, a GREASE setting as "GREASE".
	H3Settings []string `json:"h3_settings"`
	// UniStreams are the unidirectional stream types in order and
	// ControlFrames the first frame after SETTINGS on the control stream,
	// GREASE ones as "GREASE".
	UniStreams    []string `json:"h3_uni_streams"`
	ControlFrames []string `json:"h3_control_frames"`
	// Requests are the request kinds (by path) with their pseudo-header
	// order and header list.
	Requests map[string]QUICRequestSummary `json:"requests"`
}

// QUICRequestSummary is one request's HTTP/3 header fields.
type QUICRequestSummary struct {
	Frames      []string `json:"frames"`
	PseudoOrder []string `json:"pseudo_header_order"`
	// Headers are "name: value", with the server's port as PORT.
	Headers []string `json:"headers"`
}

func hex4(vs []uint16) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = fmt.Sprintf("%04x", v)
	}
	return out
}

func h3Type(v uint64) string {
	if IsGREASEH3(v) {
		return "GREASE"
	}
	return fmt.Sprintf("%#x", v)
}

// isGREASEVersion reports a QUIC version reserved for negotiation GREASE
// (RFC 9000 §15: 0x?a?a?a?a).
func isGREASEVersion(v uint32) bool { return v&0x0f0f0f0f == 0x0a0a0a0a }

func tpValue(p TransportParameter) string {
	if p.Value != nil {
		return strconv.FormatUint(*p.Value, 10)
	}
	switch p.ID {
	case 0x00, 0x0f, 0x10:
		// Connection IDs are random: their length is the fingerprint.
		return fmt.Sprintf("(connection ID of %d bytes)", len(p.Hex)/2)
	}
	if p.ID == 0x11 && len(p.Hex)%8 == 0 {
		// version_information: chosen version then available versions,
		// among which a client may put a GREASE version.
		var vs []string
		for i := 0; i+8 <= len(p.Hex); i += 8 {
			v, _ := strconv.ParseUint(p.Hex[i:i+8], 16, 32)
			if isGREASEVersion(uint32(v)) {
				vs = append(vs, "GREASE")
			} else {
				vs = append(vs, fmt.Sprintf("%08x", v))
			}
		}
		if len(vs) > 1 {
			// Chromium puts its GREASE version at a random place among
			// the available versions.
			slices.Sort(vs[1:])
			return "chosen " + vs[0] + ", available " + strings.Join(vs[1:], ",") + " (any order)"
		}
		return strings.Join(vs, ",")
	}
	return "0x" + p.Hex
}

// echGREASERule is BoringSSL's GREASE ECH: a 32-byte X25519 enc and a
// payload of 32*k bytes (k from 4 to 7) plus the 16-byte AEAD tag, after
// the 10 bytes of type, cipher suite, config id and lengths.
func echGREASERule(n int) bool {
	p := n - 10 - 32 - 16
	return p%32 == 0 && p/32 >= 4 && p/32 <= 7
}

var rePort = regexp.MustCompile(`:\d{2,5}\b`)

// SummarizeQUIC summarises the HTTP/3 captures of one client over several
// connections (at least two, so that per-connection randomness shows). It
// reports an error when the captures disagree on a field that should be
// fixed.
func SummarizeQUIC(caps []Capture) (*QUICSummary, error) {
	byConn := map[int][]Capture{}
	var conns []int
	for _, c := range caps {
		if c.QUIC == nil || c.H3 == nil {
			return nil, fmt.Errorf("capture of %s on connection %d has no QUIC record", c.Path, c.Conn)
		}
		if _, ok := byConn[c.Conn]; !ok {
			conns = append(conns, c.Conn)
		}
		byConn[c.Conn] = append(byConn[c.Conn], c)
	}
	if len(conns) < 2 {
		return nil, fmt.Errorf("%d connection(s): at least two are needed to tell fixed fields from random ones", len(conns))
	}
	var sums []*QUICSummary
	var hellos []*QUICHello
	var pingCounts []string
	var extOrders, tpOrders, greaseTPs, greaseSettings, frameOrders, cryptoSplits, versionInfos []string
	for _, id := range conns {
		cs := byConn[id]
		q, h := cs[0].QUIC, cs[0].H3
		s := &QUICSummary{Version: fmt.Sprintf("%#08x", q.Version), DCIDLen: q.DCIDLen, SCIDLen: q.SCIDLen, TokenLen: q.TokenLen,
			Datagrams: q.Datagrams, InitialPackets: len(q.Packets), JA4: q.JA4, JA4R: q.JA4R,
			FirstPacketNumber: q.FirstPacketNumber(),
			CipherSuites:      hex4(q.TLS.CipherSuites), SupportedGroups: hex4(q.TLS.SupportedGroups),
			SignatureAlgs: hex4(q.TLS.SignatureAlgs), SupportedVersions: hex4(q.TLS.SupportedVersions), ALPN: q.TLS.ALPN,
			ExtensionLengths: map[string]int{}, Requests: map[string]QUICRequestSummary{}}
		hellos = append(hellos, q)
		pingCounts = append(pingCounts, fmt.Sprint(q.LayoutCounts().Ping))
		var frames, crypto []string
		for _, p := range q.Packets {
			for _, f := range p.Frames {
				if !slices.Contains(s.FrameKinds, f) {
					s.FrameKinds = append(s.FrameKinds, f)
				}
			}
			frames = append(frames, strings.Join(p.Frames, " "))
			crypto = append(crypto, fmt.Sprint(p.Crypto))
		}
		slices.Sort(s.FrameKinds)
		frameOrders = append(frameOrders, strings.Join(frames, "|"))
		cryptoSplits = append(cryptoSplits, strings.Join(crypto, "|"))
		exts := slices.Clone(q.TLS.Extensions)
		extOrders = append(extOrders, fmt.Sprint(exts))
		for i, e := range exts {
			if e == 0xfe0d {
				if !echGREASERule(q.ExtensionLengths[i]) {
					return nil, fmt.Errorf("connection %d: ECH extension of %d bytes is not a GREASE ECH length", id, q.ExtensionLengths[i])
				}
				s.ECHGREASE = "random length, 58+32*k bytes for k in 4..7 (BoringSSL GREASE ECH)"
				continue
			}
			if e == extQUICTransportParameters {
				// Its length follows the GREASE transport parameter's
				// random value length.
				continue
			}
			s.ExtensionLengths[fmt.Sprintf("%04x", e)] = q.ExtensionLengths[i]
		}
		slices.Sort(exts)
		s.Extensions = hex4(exts)
		var tps, order []string
		grease := 0
		for _, p := range q.TransportParameters {
			if p.GREASE {
				grease++
				greaseTPs = append(greaseTPs, fmt.Sprintf("%d=%s", p.ID, p.Hex))
				order = append(order, "GREASE")
				continue
			}
			order = append(order, strconv.FormatUint(p.ID, 10))
			if p.ID == 0x11 {
				versionInfos = append(versionInfos, p.Hex)
			}
			tps = append(tps, fmt.Sprintf("%#x %s=%s", p.ID, p.Name, tpValue(p)))
		}
		slices.SortFunc(tps, func(a, b string) int {
			x, _ := strconv.ParseUint(strings.Fields(a)[0][2:], 16, 64)
			y, _ := strconv.ParseUint(strings.Fields(b)[0][2:], 16, 64)
			return int(x) - int(y)
		})
		if grease > 0 {
			tps = append(tps, fmt.Sprintf("GREASE x%d", grease))
		}
		s.TransportParameters = tps
		tpOrders = append(tpOrders, strings.Join(order, ","))
		for _, st := range h.Settings {
			if st.GREASE {
				s.H3Settings = append(s.H3Settings, "GREASE")
				greaseSettings = append(greaseSettings, fmt.Sprintf("%d=%d", st.ID, st.Value))
				continue
			}
			s.H3Settings = append(s.H3Settings, fmt.Sprintf("%#x %s=%d", st.ID, st.Name, st.Value))
		}
		// Streams and control frames arrive over the connection's life:
		// the last capture holds the most. Only the first control frame
		// (the one right after SETTINGS) is kept, as later ones
		// (PRIORITY_UPDATE) depend on the page and on timing.
		last := cs[len(cs)-1].H3
		for _, u := range last.UniStreams {
			s.UniStreams = append(s.UniStreams, h3Type(u))
		}
		if len(last.ControlFrames) > 0 {
			s.ControlFrames = []string{h3Type(last.ControlFrames[0])}
		}
		for _, c := range cs {
			r := QUICRequestSummary{PseudoOrder: c.H3.PseudoOrder}
			for _, f := range c.H3.RequestFrames {
				r.Frames = append(r.Frames, h3Type(f))
			}
			for _, hd := range c.Headers {
				r.Headers = append(r.Headers, hd.Name+": "+rePort.ReplaceAllString(hd.Value, ":PORT"))
			}
			s.Requests[c.Path] = r
		}
		sums = append(sums, s)
	}
	// Some clients (quic-go) pick a random DCID length per connection;
	// Chromium always sends 8 bytes.
	dcidVaries := slices.ContainsFunc(sums, func(s *QUICSummary) bool { return s.DCIDLen != sums[0].DCIDLen })
	if dcidVaries {
		for _, s := range sums {
			s.DCIDLen = 0
		}
	}
	out := sums[0]
	out.Connections = len(sums)
	for i, s := range sums[1:] {
		a, b := *out, *s
		a.Connections, b.Connections = 0, 0
		if fmt.Sprintf("%+v", a) != fmt.Sprintf("%+v", b) {
			return nil, fmt.Errorf("connections %d and %d differ in a field that is not random:\n%+v\n%+v", conns[0], conns[i+1], a, b)
		}
	}
	out.InitialLayout = summarizeLayout(hellos)
	for _, v := range []struct {
		name string
		seen []string
	}{
		{"tls.extension_order", extOrders},
		{"quic.transport_parameter_order", tpOrders},
		{"quic.grease_transport_parameter", greaseTPs},
		{"h3.grease_setting", greaseSettings},
		{"quic.initial_frame_order", frameOrders},
		{"quic.crypto_fragments", cryptoSplits},
		{"quic.initial_ping_count", pingCounts},
	} {
		if len(v.seen) > 0 && len(slices.Compact(slices.Sorted(slices.Values(v.seen)))) > 1 {
			out.Random = append(out.Random, v.name)
		}
	}
	if dcidVaries {
		out.Random = append(out.Random, "quic.dcid_len")
	}
	// Fields with few possible values may repeat by chance over a few
	// connections: they are listed when their random part is present.
	if len(greaseTPs) > 0 {
		out.Random = append(out.Random, "quic.transport_parameters_length")
	}
	for _, v := range versionInfos {
		if strings.Contains(tpValue(TransportParameter{ID: 0x11, Hex: v}), "GREASE") {
			out.Random = append(out.Random, "quic.version_information_order")
			break
		}
	}
	if out.ECHGREASE != "" {
		out.Random = append(out.Random, "tls.ech_grease_length")
	}
	return out, nil
}

// QUICGolden is the golden file of a browser's HTTP/3 fingerprint
// (internal/livebrowser/testdata/chromium_h3.json): the browser, how to
// regenerate the file, and the summary.
type QUICGolden struct {
	Browser string       `json:"browser"`
	Capture string       `json:"capture"`
	Summary *QUICSummary `json:"summary"`
}

// ReadQUICGolden reads a QUICGolden file.
func ReadQUICGolden(path string) (*QUICGolden, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("quic golden: %w", err)
	}
	var g QUICGolden
	if err := json.Unmarshal(b, &g); err != nil {
		return nil, fmt.Errorf("quic golden %s: %w", path, err)
	}
	if g.Summary == nil {
		return nil, fmt.Errorf("quic golden %s: no summary", path)
	}
	return &g, nil
}

// Diff lists the fields (by JSON name) in which got differs from s, with
// both values, ignoring the number of connections: what a client test
// prints when its HTTP/3 fingerprint is not the browser's.
func (s *QUICSummary) Diff(got *QUICSummary) []string {
	toMap := func(v *QUICSummary) map[string]any {
		c := *v
		c.Connections = 0
		b, _ := json.Marshal(c)
		var m map[string]any
		json.Unmarshal(b, &m)
		return m
	}
	want, have := toMap(s), toMap(got)
	keys := slices.Sorted(maps.Keys(want))
	for k := range have {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	var out []string
	for _, k := range keys {
		if k == "connections" {
			continue
		}
		w, _ := json.Marshal(want[k])
		h, _ := json.Marshal(have[k])
		if string(w) != string(h) {
			out = append(out, fmt.Sprintf("%s: want %s, got %s", k, w, h))
		}
	}
	return out
}
