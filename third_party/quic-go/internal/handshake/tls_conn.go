package handshake

import (
	"context"
	"crypto/tls"
)

// TLSConn is what the crypto setup needs from a TLS 1.3 handshake run over
// QUIC. *tls.QUICConn implements it.
//
// spiderrun patch (see PATCHES.md): a client may bring its own
// implementation through quic.Config.NewClientTLSConn, so that its Initial
// carries a ClientHello built by another TLS stack (uTLS).
type TLSConn interface {
	Start(ctx context.Context) error
	NextEvent() tls.QUICEvent
	HandleData(level tls.QUICEncryptionLevel, data []byte) error
	SendSessionTicket(opts tls.QUICSessionTicketOptions) error
	StoreSession(session *tls.SessionState) error
	ConnectionState() tls.ConnectionState
	SetTransportParameters(params []byte)
	Close() error
}

var _ TLSConn = &tls.QUICConn{}
