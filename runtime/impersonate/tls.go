package impersonate

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"slices"
	"strconv"
	"time"

	utls "github.com/refraction-networking/utls"
)

// utlsIDs are the utls built-in parrots a profile may name.
var utlsIDs = map[string]utls.ClientHelloID{
	"HelloGolang":             utls.HelloGolang,
	"HelloChrome_58":          utls.HelloChrome_58,
	"HelloChrome_62":          utls.HelloChrome_62,
	"HelloChrome_70":          utls.HelloChrome_70,
	"HelloChrome_72":          utls.HelloChrome_72,
	"HelloChrome_83":          utls.HelloChrome_83,
	"HelloChrome_87":          utls.HelloChrome_87,
	"HelloChrome_96":          utls.HelloChrome_96,
	"HelloChrome_100":         utls.HelloChrome_100,
	"HelloChrome_102":         utls.HelloChrome_102,
	"HelloChrome_106_Shuffle": utls.HelloChrome_106_Shuffle,
	"HelloChrome_120":         utls.HelloChrome_120,
	"HelloChrome_131":         utls.HelloChrome_131,
	"HelloChrome_133":         utls.HelloChrome_133,
	"HelloFirefox_55":         utls.HelloFirefox_55,
	"HelloFirefox_56":         utls.HelloFirefox_56,
	"HelloFirefox_63":         utls.HelloFirefox_63,
	"HelloFirefox_65":         utls.HelloFirefox_65,
	"HelloFirefox_99":         utls.HelloFirefox_99,
	"HelloFirefox_102":        utls.HelloFirefox_102,
	"HelloFirefox_105":        utls.HelloFirefox_105,
	"HelloFirefox_120":        utls.HelloFirefox_120,
	"HelloEdge_85":            utls.HelloEdge_85,
	"HelloEdge_106":           utls.HelloEdge_106,
	"HelloSafari_16_0":        utls.HelloSafari_16_0,
	"HelloIOS_12_1":           utls.HelloIOS_12_1,
	"HelloIOS_13":             utls.HelloIOS_13,
	"HelloIOS_14":             utls.HelloIOS_14,
}

// helloSpec builds a fresh ClientHelloSpec: utls extensions carry
// per-connection state, so a spec is never shared between connections.
// forceH1 offers only http/1.1 in ALPN and drops ALPS, as Chromium does
// with --disable-http2. A nil spec means "Go's own ClientHello".
func (p *Profile) helloSpec(forceH1 bool) (*utls.ClientHelloSpec, error) {
	var spec utls.ClientHelloSpec
	switch {
	case p.raw != nil:
		// Blunt mimicry keeps extensions utls has no type for (Chromium's
		// trust_anchors 0xca34) as opaque bytes, exactly as captured.
		f := utls.Fingerprinter{AllowBluntMimicry: true}
		s, err := f.FingerprintClientHello(p.raw)
		if err != nil {
			return nil, fmt.Errorf("utls fingerprinter: %w", err)
		}
		spec = *s
		spec.Extensions = firstConnection(spec.Extensions)
		if p.boringSSL() {
			boringECHGrease(spec.Extensions)
			sigAlgGrease(spec.Extensions)
		}
		if p.TLS.ShuffleExtensions {
			spec.Extensions = utls.ShuffleChromeTLSExtensions(spec.Extensions)
		}
	case p.TLS.UTLS == "HelloGolang":
		return nil, nil
	default:
		id, ok := utlsIDs[p.TLS.UTLS]
		if !ok {
			return nil, fmt.Errorf("unknown utls ClientHelloID %q", p.TLS.UTLS)
		}
		s, err := utls.UTLSIdToSpec(id)
		if err != nil {
			return nil, fmt.Errorf("utls %s: %w", p.TLS.UTLS, err)
		}
		spec = s
	}
	if forceH1 {
		exts := spec.Extensions[:0:0]
		for _, e := range spec.Extensions {
			switch e := e.(type) {
			case *utls.ApplicationSettingsExtension, *utls.ApplicationSettingsExtensionNew:
				continue
			case *utls.ALPNExtension:
				e.AlpnProtocols = []string{"http/1.1"}
			}
			exts = append(exts, e)
		}
		spec.Extensions = exts
	}
	return &spec, nil
}

// alpn reports the protocols the profile's hello offers.
func (p *Profile) alpn(forceH1 bool) []string {
	if forceH1 {
		return []string{"http/1.1"}
	}
	spec, err := p.helloSpec(false)
	if err != nil || spec == nil {
		return []string{"h2", "http/1.1"}
	}
	for _, e := range spec.Extensions {
		if a, ok := e.(*utls.ALPNExtension); ok {
			return a.AlpnProtocols
		}
	}
	return nil
}

// tlsParams are the per-connection TLS choices.
type tlsParams struct {
	serverName string
	verify     bool
	roots      *x509.CertPool
	forceH1    bool
	// alpn, when set, replaces the profile's ALPN list (WebSocket dials
	// ask for http/1.1 only).
	alpn    []string
	timeout time.Duration
	// sessions, when set, enables TLS session resumption: tickets are kept
	// per identity and offered in a pre_shared_key extension, which is
	// left out while there is no ticket (a browser's first visit).
	sessions utls.ClientSessionCache
	// retry: the connection carries a request sent again after the
	// kept-alive connection it went out on closed under it.
	retry bool
}

// ErrHandshakeTimeout is wrapped by handshake errors caused by the deadline.
var ErrHandshakeTimeout = errors.New("tls handshake timeout")

// handshake runs the impersonated TLS handshake on conn. uTLS ignores
// http.Transport's TLSHandshakeTimeout, so the deadline is ours: both the
// context and a conn deadline bound it.
func handshake(ctx context.Context, conn net.Conn, p *Profile, tp tlsParams) (*utls.UConn, error) {
	cfg := &utls.Config{
		ServerName:         tp.serverName,
		RootCAs:            tp.roots,
		InsecureSkipVerify: !tp.verify,
		ClientSessionCache: tp.sessions,
		OmitEmptyPsk:       true,
	}
	spec, err := p.helloSpec(tp.forceH1)
	if err != nil {
		return nil, err
	}
	var uc *utls.UConn
	if spec == nil {
		cfg.NextProtos = []string{"h2", "http/1.1"}
		if tp.forceH1 {
			cfg.NextProtos = []string{"http/1.1"}
		}
		if tp.alpn != nil {
			cfg.NextProtos = tp.alpn
		}
		uc = utls.UClient(conn, cfg, utls.HelloGolang)
	} else {
		if tp.alpn != nil {
			for _, e := range spec.Extensions {
				if a, ok := e.(*utls.ALPNExtension); ok {
					a.AlpnProtocols = tp.alpn
				}
			}
		}
		if tp.retry && p.Browser == "firefox" {
			firefoxRetry(spec)
		}
		if tp.sessions != nil {
			withPSK(spec)
			if ticket := cachedTicket(tp); ticket != nil && p.Browser == "firefox" {
				nssResumed(spec, len(ticket))
			}
		}
		uc = utls.UClient(conn, cfg, utls.HelloCustom)
		if err := uc.ApplyPreset(spec); err != nil {
			return nil, fmt.Errorf("apply profile %s: %w", p.Name, err)
		}
	}
	timeout := tp.timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := uc.HandshakeContext(hctx); err != nil {
		if hctx.Err() == context.DeadlineExceeded && ctx.Err() == nil {
			return nil, fmt.Errorf("%w after %s: %w", ErrHandshakeTimeout, timeout, err)
		}
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	return uc, nil
}

// withPSK appends a pre_shared_key extension when the spec has none. RFC
// 8446 puts it last; browsers send it only when resuming, and utls omits
// it (OmitEmptyPsk) when no ticket is cached, so a first connection's
// ClientHello stays exactly the captured one.
func withPSK(spec *utls.ClientHelloSpec) {
	for _, e := range spec.Extensions {
		if _, ok := e.(utls.PreSharedKeyExtension); ok {
			return
		}
	}
	spec.Extensions = append(spec.Extensions, &utls.UtlsPreSharedKeyExtension{})
}

// firstConnection drops what a captured ClientHello carries only because
// the browser was resuming a session: pre_shared_key holds the browser's
// ticket and a binder made with the browser's resumption secret, and
// early_data announces 0-RTT data we never send. Replayed to the server
// that issued the ticket, the stale binder makes it refuse the handshake
// with decrypt_error (issue 16's open bug: a browser's "first" navigation
// is sometimes a resumed connection). Our own resumption appends a fresh
// pre_shared_key (withPSK) when it holds a ticket of its own.
func firstConnection(exts []utls.TLSExtension) []utls.TLSExtension {
	out := exts[:0:0]
	for _, e := range exts {
		if _, ok := e.(utls.PreSharedKeyExtension); ok {
			continue
		}
		if g, ok := e.(*utls.GenericExtension); ok && g.Id == extEarlyData {
			continue
		}
		out = append(out, e)
	}
	return out
}

// extEarlyData is the early_data extension (RFC 8446 4.2.10).
const extEarlyData = 0x002a

// boringECHPayloadLens are the ECH GREASE payload lengths BoringSSL draws
// from per connection (before the 16-byte AEAD tag): 32 × 4..7. The
// extension is then 186, 218, 250 or 282 bytes long, the four lengths
// measured from Chromium 148 over 40 connections (TestRandomFields). The
// Fingerprinter freezes the captured one; Chromium never repeats it on
// purpose.
var boringECHPayloadLens = []uint16{128, 160, 192, 224}

// boringECHGrease makes a BoringSSL hello's ECH GREASE draw its length per
// connection as BoringSSL does.
func boringECHGrease(exts []utls.TLSExtension) {
	for _, e := range exts {
		if g, ok := e.(*utls.GREASEEncryptedClientHelloExtension); ok {
			g.CandidatePayloadLens = boringECHPayloadLens
		}
	}
}

// boringSSL reports a Chromium-based profile (chrome, edge): its TLS
// stack is BoringSSL, whose per-connection randomness the hello follows.
func (p *Profile) boringSSL() bool { return p.Browser == "chrome" || p.Browser == "edge" }

// sigAlgGrease draws the GREASE entry of signature_algorithms afresh, as
// Chromium 156 does (issue 16, measured there; Chromium 148 sends none).
// utls regenerates the GREASE of ciphers, groups, key shares, versions
// and extensions from its per-connection seed, but copies signature
// algorithms as captured: without this, a profile captured from a
// Chromium that GREASEs them sends the same value on every connection.
func sigAlgGrease(exts []utls.TLSExtension) {
	for _, e := range exts {
		if s, ok := e.(*utls.SignatureAlgorithmsExtension); ok {
			for i, a := range s.SupportedSignatureAlgorithms {
				if isGREASE(uint16(a)) {
					s.SupportedSignatureAlgorithms[i] = utls.SignatureScheme(randomGREASE())
				}
			}
		}
	}
}

// randomGREASE is one of the 16 GREASE values (0x0a0a ... 0xfafa).
func randomGREASE() uint16 {
	b := uint16(mrand.IntN(16))<<4 | 0x0a
	return b<<8 | b
}

// cachedTicket is the session ticket utls will offer on this connection
// (nil: a full handshake). utls looks sessions up by server name.
func cachedTicket(tp tlsParams) []byte {
	key := tp.serverName
	if key == "" {
		return nil
	}
	cs, ok := tp.sessions.Get(key)
	if !ok || cs == nil {
		return nil
	}
	ticket, _, err := cs.ResumptionState()
	if err != nil {
		return nil
	}
	return ticket
}

// nssResumed turns a Firefox first-connection hello into Firefox's
// resumed one (measured from Firefox ESR 140, TestFirefox): NSS leaves out
// the session_ticket extension when it offers a TLS 1.3 ticket, and its
// ECH GREASE payload, sized like the inner ClientHello it would encrypt,
// grows by the pre_shared_key extension rounded up to 32 bytes (a 105-byte
// ticket: a 152-byte extension, an ECH extension 281 -> 441 bytes long).
func nssResumed(spec *utls.ClientHelloSpec, ticketLen int) {
	// pre_shared_key: type, length, identities (length, identity length,
	// ticket, obfuscated age), binders (length, one SHA-256 binder).
	psk := 4 + 2 + 2 + ticketLen + 4 + 2 + 1 + 32
	grow := uint16((psk + 31) / 32 * 32)
	exts := spec.Extensions[:0]
	for _, e := range spec.Extensions {
		switch e := e.(type) {
		case *utls.SessionTicketExtension:
			continue
		case *utls.GREASEEncryptedClientHelloExtension:
			lens := make([]uint16, len(e.CandidatePayloadLens))
			for i, l := range e.CandidatePayloadLens {
				lens[i] = l + grow
			}
			e.CandidatePayloadLens = lens
		}
		exts = append(exts, e)
	}
	spec.Extensions = exts
}

// firefoxRetry turns a Firefox hello into the one of a connection that
// carries a request sent again (nsHttpTransaction::Restart marks it
// NS_HTTP_IS_RETRY, its socket IS_RETRY): Firefox's nsNSSIOLayer registers
// no certificate compression algorithm on such a socket, so NSS sends no
// compress_certificate extension (internal/livebrowser
// TestFirefoxRetryHello).
func firefoxRetry(spec *utls.ClientHelloSpec) {
	spec.Extensions = slices.DeleteFunc(spec.Extensions, func(e utls.TLSExtension) bool {
		_, ok := e.(*utls.UtlsCompressCertExtension)
		return ok
	})
}

// firefoxFrom reports a Firefox profile of major version min or later.
func (p *Profile) firefoxFrom(min int) bool {
	v, err := strconv.Atoi(p.Version)
	return p.Browser == "firefox" && err == nil && v >= min
}
