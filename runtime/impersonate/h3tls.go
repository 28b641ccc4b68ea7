package impersonate

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"slices"

	utls "github.com/refraction-networking/utls"
	"github.com/spiderrun/spiderrun/third_party/quic-go"
	"github.com/spiderrun/spiderrun/third_party/quic-go/quicvarint"
)

// quicHelloSpec builds the ClientHello a profile sends inside its QUIC
// Initial: the extensions of its TCP hello chosen and ordered by the
// http3 section, adapted to QUIC (TLS 1.3 only, h3 ALPN and ALPS, the
// transport parameters extension). A fresh spec per connection, because
// utls extensions carry per-connection state.
func (p *Profile) quicHelloSpec(tps utls.TransportParameters) (*utls.ClientHelloSpec, error) {
	s, c := p.HTTP3, p.h3
	if s == nil || c == nil {
		return nil, fmt.Errorf("profile %s has no http3 section", p.Name)
	}
	base, err := p.helloSpec(false)
	if err != nil {
		return nil, err
	}
	if base == nil {
		return nil, fmt.Errorf("profile %s: HTTP/3 needs a browser ClientHello", p.Name)
	}
	byID := map[uint16]utls.TLSExtension{}
	for _, e := range base.Extensions {
		if id, ok := extID(e); ok {
			if _, dup := byID[id]; !dup {
				byID[id] = e
			}
		}
	}
	var keyShares []utls.KeyShare
	for _, g := range c.groups[:s.KeyShares] {
		keyShares = append(keyShares, utls.KeyShare{Group: g})
	}
	exts := make([]utls.TLSExtension, 0, len(c.exts))
	for _, id := range c.exts {
		var e utls.TLSExtension
		switch id {
		case greaseExt:
			e = &utls.UtlsGREASEExtension{}
		case 0x0039:
			e = &utls.QUICTransportParametersExtension{TransportParameters: tps}
		case 0x0010:
			e = &utls.ALPNExtension{AlpnProtocols: slices.Clone(s.ALPN)}
		case 0x000a:
			e = &utls.SupportedCurvesExtension{Curves: slices.Clone(c.groups)}
		case 0x0033:
			e = &utls.KeyShareExtension{KeyShares: keyShares}
		case 0x002b:
			e = &utls.SupportedVersionsExtension{Versions: []uint16{utls.VersionTLS13}}
		case 0x000d:
			e = byID[id]
			if len(c.sigalgs) > 0 {
				algs := make([]utls.SignatureScheme, len(c.sigalgs))
				for i, a := range c.sigalgs {
					algs[i] = utls.SignatureScheme(a)
				}
				e = &utls.SignatureAlgorithmsExtension{SupportedSignatureAlgorithms: algs}
			}
			if e == nil {
				return nil, fmt.Errorf("profile %s: http3.extensions: 000d needs signature_algorithms or the TCP hello's", p.Name)
			}
		default:
			e = byID[id]
			if e == nil {
				return nil, fmt.Errorf("profile %s: http3.extensions: %04x is not in the TCP ClientHello", p.Name, id)
			}
			switch a := e.(type) {
			case *utls.ApplicationSettingsExtension:
				e = &utls.ApplicationSettingsExtension{SupportedProtocols: slices.Clone(s.ALPN)}
			case *utls.ApplicationSettingsExtensionNew:
				e = &utls.ApplicationSettingsExtensionNew{SupportedProtocols: slices.Clone(s.ALPN)}
			default:
				_ = a
			}
		}
		exts = append(exts, e)
	}
	if s.ShuffleExtensions {
		exts = utls.ShuffleChromeTLSExtensions(exts)
	}
	return &utls.ClientHelloSpec{
		CipherSuites:       slices.Clone(c.ciphers),
		CompressionMethods: []uint8{0},
		Extensions:         exts,
		TLSVersMin:         utls.VersionTLS13,
		TLSVersMax:         utls.VersionTLS13,
	}, nil
}

// extID reads an extension's type from its encoding (utls has no ID
// method). GREASE and padding have no fixed id and report false.
func extID(e utls.TLSExtension) (uint16, bool) {
	switch e.(type) {
	case *utls.UtlsGREASEExtension, *utls.UtlsPaddingExtension:
		return 0, false
	case *utls.SNIExtension:
		return 0x0000, true // empty until the server name is set
	}
	b := make([]byte, e.Len())
	if _, err := e.Read(b); err != nil && len(b) < 2 {
		return 0, false
	}
	if len(b) < 2 {
		return 0, false
	}
	return uint16(b[0])<<8 | uint16(b[1]), true
}

// uquicConn runs the client's TLS over QUIC with uTLS, so the Initial
// carries the profile's ClientHello; quic-go (third_party/quic-go, see
// PATCHES.md) drives it through quic.Config.NewClientTLSConn.
type uquicConn struct {
	p        *Profile
	cfg      *utls.Config
	uq       *utls.UQUICConn
	started  bool
	startErr error
	// sent records what the hello carried, for tests and the fingerprint
	// comparison (QUICHelloOf).
	onHello func(*utls.ClientHelloSpec)
}

var _ quic.TLSConn = (*uquicConn)(nil)

func newUQUICConn(p *Profile, tc *tls.Config, onHello func(*utls.ClientHelloSpec)) *uquicConn {
	cfg := &utls.Config{
		ServerName:         tc.ServerName,
		RootCAs:            tc.RootCAs,
		InsecureSkipVerify: tc.InsecureSkipVerify,
		NextProtos:         tc.NextProtos,
		MinVersion:         utls.VersionTLS13,
	}
	return &uquicConn{p: p, cfg: cfg, onHello: onHello}
}

// SetTransportParameters is called by quic-go before Start with its own
// parameters; the hello carries the profile's instead (same flow-control
// values, since the quic.Config is derived from the profile), built here.
func (c *uquicConn) SetTransportParameters(params []byte) {
	if c.uq != nil {
		c.uq.SetTransportParameters(params)
		return
	}
	c.uq = utls.UQUICClient(&utls.QUICConfig{TLSConfig: c.cfg}, utls.HelloCustom)
	spec, err := c.p.quicHelloSpec(c.p.HTTP3.transportParams(c.p.h3, params))
	if err == nil {
		err = c.uq.ApplyPreset(spec)
	}
	if err != nil {
		c.uq = nil
		c.startErr = err
		return
	}
	if c.onHello != nil {
		c.onHello(spec)
	}
	c.uq.SetTransportParameters(params)
}

func (c *uquicConn) Start(ctx context.Context) error {
	if c.startErr != nil {
		return fmt.Errorf("quic client hello: %w", c.startErr)
	}
	if c.uq == nil {
		return errors.New("quic client hello: no transport parameters")
	}
	c.started = true
	return convErr(c.uq.Start(ctx))
}

func (c *uquicConn) NextEvent() tls.QUICEvent {
	if c.uq == nil {
		return tls.QUICEvent{Kind: tls.QUICNoEvent}
	}
	e := c.uq.NextEvent()
	out := tls.QUICEvent{Level: tls.QUICEncryptionLevel(e.Level), Data: e.Data, Suite: e.Suite}
	switch e.Kind {
	case utls.QUICNoEvent:
		out.Kind = tls.QUICNoEvent
	case utls.QUICSetReadSecret:
		out.Kind = tls.QUICSetReadSecret
	case utls.QUICSetWriteSecret:
		out.Kind = tls.QUICSetWriteSecret
	case utls.QUICWriteData:
		out.Kind = tls.QUICWriteData
	case utls.QUICTransportParameters:
		out.Kind = tls.QUICTransportParameters
	case utls.QUICTransportParametersRequired:
		out.Kind = tls.QUICTransportParametersRequired
	case utls.QUICRejectedEarlyData:
		out.Kind = tls.QUICRejectedEarlyData
	case utls.QUICHandshakeDone:
		out.Kind = tls.QUICHandshakeDone
	default:
		// Session events: no session cache is configured over QUIC, so
		// utls does not emit them; anything else is skipped.
		return c.NextEvent()
	}
	return out
}

func (c *uquicConn) HandleData(level tls.QUICEncryptionLevel, data []byte) error {
	return convErr(c.uq.HandleData(utls.QUICEncryptionLevel(level), data))
}

func (c *uquicConn) SendSessionTicket(tls.QUICSessionTicketOptions) error {
	return errors.New("uquic: SendSessionTicket on a client")
}

func (c *uquicConn) StoreSession(*tls.SessionState) error { return nil }

func (c *uquicConn) ConnectionState() tls.ConnectionState {
	if c.uq == nil {
		return tls.ConnectionState{}
	}
	s := c.uq.ConnectionState()
	return tls.ConnectionState{
		Version:            s.Version,
		HandshakeComplete:  s.HandshakeComplete,
		DidResume:          s.DidResume,
		CipherSuite:        s.CipherSuite,
		NegotiatedProtocol: s.NegotiatedProtocol,
		ServerName:         s.ServerName,
		PeerCertificates:   s.PeerCertificates,
		VerifiedChains:     s.VerifiedChains,
	}
}

func (c *uquicConn) Close() error {
	if c.uq == nil || !c.started {
		return nil
	}
	return convErr(c.uq.Close())
}

// convErr turns a uTLS alert into crypto/tls's, which quic-go maps to a
// CRYPTO_ERROR with the alert code.
func convErr(err error) error {
	if err == nil {
		return nil
	}
	var a utls.AlertError
	if errors.As(err, &a) {
		return fmt.Errorf("%w: %w", tls.AlertError(a), err)
	}
	return err
}

// QUICHello is what a profile's HTTP/3 client sends first, for comparing
// with a capture of the real browser field by field.
type QUICHello struct {
	// ClientHello is the TLS handshake message (type 1, without a record
	// header) the Initial packets carry in CRYPTO frames.
	ClientHello []byte
	// TransportParameters in wire order (a fresh GREASE id and a fresh
	// order per call when the profile says so).
	TransportParameters []TransportParameter
	// DCIDLength and SCIDLength are the first Initial's connection-ID
	// lengths; InitialPacketSize its datagram size (0: quic-go's 1280).
	DCIDLength, SCIDLength, InitialPacketSize int
	// Settings is the payload of the SETTINGS frame on the control stream.
	Settings []byte
	// PseudoHeaderOrder is the order of a request's pseudo-headers.
	PseudoHeaderOrder []string
}

// TransportParameter is one QUIC transport parameter.
type TransportParameter struct {
	ID    uint64
	Value []byte
}

// QUICHello builds, without any network, the first flight the profile's
// HTTP/3 client would send to serverName ("" or an IP address: no SNI).
// Only profiles with a browser QUIC hello (an http3 section with
// cipher_suites) can say it; the plain client's is crypto/tls's.
func (p *Profile) QUICHello(serverName string) (*QUICHello, error) {
	if p.h3 == nil || !p.h3.browserHello() {
		return nil, fmt.Errorf("profile %s has no browser QUIC hello", p.Name)
	}
	var spec *utls.ClientHelloSpec
	c := newUQUICConn(p, &tls.Config{ServerName: serverName, NextProtos: p.HTTP3.ALPN}, func(s *utls.ClientHelloSpec) { spec = s })
	// quic-go would pass its own parameters; only the connection's source
	// ID (empty: SCID length 0) is taken from them.
	c.SetTransportParameters([]byte{0x0f, 0x00})
	if err := c.Start(context.Background()); err != nil {
		return nil, err
	}
	defer c.Close()
	out := &QUICHello{
		DCIDLength: p.HTTP3.DCIDLength, SCIDLength: p.HTTP3.SCIDLength, InitialPacketSize: p.HTTP3.InitialPacketSize,
		PseudoHeaderOrder: slices.Clone(p.HTTP3.PseudoHeaderOrder),
	}
	for {
		e := c.NextEvent()
		if e.Kind == tls.QUICNoEvent {
			break
		}
		if e.Kind == tls.QUICWriteData && e.Level == tls.QUICEncryptionLevelInitial {
			out.ClientHello = append(out.ClientHello, e.Data...)
		}
	}
	if len(out.ClientHello) == 0 {
		return nil, fmt.Errorf("profile %s: no ClientHello produced", p.Name)
	}
	for _, e := range spec.Extensions {
		if q, ok := e.(*utls.QUICTransportParametersExtension); ok {
			for _, tp := range q.TransportParameters {
				out.TransportParameters = append(out.TransportParameters, TransportParameter{ID: tp.ID(), Value: slices.Clone(tp.Value())})
			}
		}
	}
	f := p.h3.settingsFrame()
	_, n, _ := quicvarint.Parse(f) // type
	_, m, _ := quicvarint.Parse(f[n:])
	out.Settings = f[n+m:]
	return out, nil
}
