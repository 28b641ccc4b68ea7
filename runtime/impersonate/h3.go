package impersonate

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/qpack"
	utls "github.com/refraction-networking/utls"
	"github.com/spiderrun/spiderrun/internal/qpackdyn"
	"github.com/spiderrun/spiderrun/third_party/quic-go"
	"github.com/spiderrun/spiderrun/third_party/quic-go/quicvarint"
)

// HTTP/3 frame and stream types (RFC 9114 7.2, 6.2; RFC 9204 4.2).
const (
	h3FrameData     = 0x00
	h3FrameHeaders  = 0x01
	h3FrameSettings = 0x04
	h3FrameGoaway   = 0x07

	h3StreamControl    = 0x00
	h3StreamPush       = 0x01
	h3StreamQPACKEnc   = 0x02
	h3StreamQPACKDec   = 0x03
	h3NoError          = 0x100
	h3GeneralProtocol  = 0x101
	h3ExcessiveLoad    = 0x107
	h3RequestCancelled = 0x10c
	h3FrameUnexpected  = 0x105
	h3MissingSettings  = 0x10a
	h3StreamCreation   = 0x103
	h3ClosedCritical   = 0x104

	// maxSettingsSize bounds the peer's SETTINGS frame: real servers send a
	// few dozen bytes, and a huge one must not make us buffer it.
	maxSettingsSize = 16 << 10
)

// ErrH3Proxy is returned for an HTTP/3 request through an HTTP(S) proxy:
// QUIC needs UDP, which only SOCKS5 proxies relay (UDP ASSOCIATE);
// CONNECT-UDP (RFC 9298, MASQUE) is not implemented.
var ErrH3Proxy = errors.New("http/3 through an http(s) proxy is not supported (QUIC needs UDP: use a socks5 proxy; CONNECT-UDP is not implemented)")

// h3Conn is one HTTP/3 connection: the QUIC connection, our control and
// QPACK streams, and the peer's control stream read in the background.
type h3Conn struct {
	qc        *quic.Conn
	udp       net.PacketConn
	p         *Profile
	maxHeader int

	qdec    *qpackdyn.Decoder
	decMu   sync.Mutex
	decoder *quic.SendStream // our QPACK decoder stream

	// qenc encodes requests as Chromium's quiche does, with the dynamic
	// table once the server's SETTINGS allow it; nil for a profile that
	// announces no table of its own (quic-go/qpack's static encoding).
	qenc    *qpackdyn.Encoder
	encMu   sync.Mutex       // encoding and the encoder stream write, in order
	encoder *quic.SendStream // our QPACK encoder stream

	mu       sync.Mutex
	inflight int
	lastUsed time.Time
	err      error // why the connection is unusable (peer's control stream)
}

// quicConfig derives quic-go's limits from the profile's transport
// parameters, so what the hello announces is what quic-go enforces.
func (p *Profile) quicConfig(handshakeTimeout time.Duration, onHello func(*utls.ClientHelloSpec)) *quic.Config {
	c := p.h3
	qc := &quic.Config{
		HandshakeIdleTimeout: handshakeTimeout,
		// Chromium speaks QUIC v1 only (its version_information says so).
		Versions:                []quic.Version{quic.Version1},
		InitialDestConnIDLength: p.HTTP3.DCIDLength,
		InitialPacketSize:       uint16(p.HTTP3.InitialPacketSize),
		ChaosProtection:         p.HTTP3.ChaosProtection,
		FirstPacketNumber:       p.HTTP3.FirstPacketNumber,
		EnableDatagrams:         c.hasParam(0x20),
	}
	if c.browserHello() {
		qc.NewClientTLSConn = func(tc *tls.Config) quic.TLSConn {
			return newUQUICConn(p, tc, onHello)
		}
	}
	if v, ok := c.paramUint(0x01); ok {
		qc.MaxIdleTimeout = time.Duration(v) * time.Millisecond
	}
	if v, ok := c.paramUint(0x04); ok {
		qc.InitialConnectionReceiveWindow = v
		qc.MaxConnectionReceiveWindow = max(v, 15<<20)
	}
	if v, ok := c.paramUint(0x05); ok {
		qc.InitialStreamReceiveWindow = v
		qc.MaxStreamReceiveWindow = max(v, 6<<20)
	}
	if v, ok := c.paramUint(0x08); ok {
		qc.MaxIncomingStreams = int64(v)
	}
	if v, ok := c.paramUint(0x09); ok {
		qc.MaxIncomingUniStreams = int64(v)
	}
	return qc
}

// listenUDPFor opens the QUIC client's socket for a direct connection to
// addr.
func listenUDPFor(addr netip.AddrPort) (*net.UDPConn, error) {
	network := "udp4"
	if addr.Addr().Is6() && !addr.Addr().Is4In6() {
		network = "udp6"
	}
	udp, err := net.ListenUDP(network, nil)
	if err != nil {
		return nil, fmt.Errorf("quic: listen udp: %w", err)
	}
	return udp, nil
}

// dialQUIC connects over udp (a plain socket, or a SOCKS5 association) to
// addr with the profile's QUIC Initial and returns an HTTP/3 connection
// whose control streams are open. It owns udp: closed on failure, and when
// the QUIC connection ends (for a proxy, that ends the association).
func dialQUIC(ctx context.Context, p *Profile, udp net.PacketConn, addr net.Addr, tc *tls.Config, handshakeTimeout time.Duration, maxHeader int, onHello func(*utls.ClientHelloSpec)) (*h3Conn, error) {
	if p.HTTP3 == nil || p.h3 == nil {
		udp.Close()
		return nil, fmt.Errorf("profile %s has no http3 section", p.Name)
	}
	tc = tc.Clone()
	tc.NextProtos = p.HTTP3.ALPN
	qc, err := quic.Dial(ctx, udp, addr, tc, p.quicConfig(handshakeTimeout, onHello))
	if err != nil {
		udp.Close()
		return nil, fmt.Errorf("quic handshake with %s: %w", addr, err)
	}
	context.AfterFunc(qc.Context(), func() { udp.Close() })
	if proto := qc.ConnectionState().TLS.NegotiatedProtocol; proto != "h3" {
		qc.CloseWithError(h3GeneralProtocol, "")
		udp.Close()
		return nil, fmt.Errorf("quic handshake with %s: server chose ALPN %q, not h3", addr, proto)
	}
	c := &h3Conn{qc: qc, udp: udp, p: p, maxHeader: maxHeader, lastUsed: time.Now(), qdec: qpackdyn.NewDecoder(p.h3.settingValue(0x01), p.h3.settingValue(0x07))}
	// quiche uses one capacity for both directions: the table it
	// announces and the most it sets for its encoder (min with the
	// server's). A profile announcing none gets the static encoding.
	if p.h3.settingValue(0x01) > 0 {
		c.qenc = qpackdyn.NewEncoder()
	}
	if err := c.openStreams(); err != nil {
		c.close()
		return nil, err
	}
	go c.acceptStreams()
	return c, nil
}

// openStreams opens our control stream with the profile's SETTINGS (and
// its GREASE frame). The QPACK streams are opened when first written to,
// as Chromium does: the decoder stream with the first acknowledgment of a
// section that used the server's dynamic table; the encoder stream with
// the first instructions, once the server's SETTINGS allow a table
// (Chromium against a server announcing no table opens neither).
func (c *h3Conn) openStreams() error {
	ctrl, err := c.qc.OpenUniStream()
	if err != nil {
		return fmt.Errorf("http3 control stream: %w", err)
	}
	b := append([]byte{h3StreamControl}, c.p.h3.settingsFrame()...)
	if c.p.HTTP3.GreaseFrame {
		b = append(b, greaseFrame()...)
	}
	if _, err := ctrl.Write(b); err != nil {
		return fmt.Errorf("http3 control stream: %w", err)
	}
	return nil
}

// decoderInstruction writes to our QPACK decoder stream (acknowledgments
// the server's encoder needs before it may evict entries), opening it
// with its type on first use.
func (c *h3Conn) decoderInstruction(b []byte) {
	c.decMu.Lock()
	defer c.decMu.Unlock()
	if c.decoder == nil {
		s, err := c.qc.OpenUniStream()
		if err != nil {
			c.fail(fmt.Errorf("qpack decoder stream: %w", err), h3ClosedCritical)
			return
		}
		c.decoder = s
		b = append([]byte{h3StreamQPACKDec}, b...)
	}
	if _, err := c.decoder.Write(b); err != nil {
		c.fail(fmt.Errorf("qpack decoder stream: %w", err), h3ClosedCritical)
	}
}

// encoderInstruction writes to our QPACK encoder stream, opening it with
// its type on first use (caller holds encMu, so instructions go out in
// the order they were made).
func (c *h3Conn) encoderInstruction(b []byte) error {
	if c.encoder == nil {
		s, err := c.qc.OpenUniStream()
		if err != nil {
			return fmt.Errorf("qpack encoder stream: %w", err)
		}
		c.encoder = s
		b = append([]byte{h3StreamQPACKEnc}, b...)
	}
	if _, err := c.encoder.Write(b); err != nil {
		return fmt.Errorf("qpack encoder stream: %w", err)
	}
	return nil
}

// acceptStreams reads the server's unidirectional streams: its control
// stream must start with a bounded SETTINGS frame; its QPACK encoder
// stream feeds our decoder, its decoder stream (acknowledgments of what
// we inserted) our encoder; push and unknown streams are refused.
func (c *h3Conn) acceptStreams() {
	ctx := c.qc.Context()
	for {
		s, err := c.qc.AcceptUniStream(ctx)
		if err != nil {
			return
		}
		go func() {
			r := bufio.NewReader(s)
			typ, err := quicvarint.Read(r)
			if err != nil {
				s.CancelRead(h3StreamCreation)
				return
			}
			switch typ {
			case h3StreamControl:
				c.fail(c.readControl(r), h3FrameUnexpected)
			case h3StreamQPACKEnc:
				if err := c.qdec.ReadEncoderStream(r, c.decoderInstruction); err != nil {
					c.fail(err, 0x201) // QPACK_ENCODER_STREAM_ERROR
				}
			case h3StreamQPACKDec:
				if c.qenc == nil {
					// We never insert into the server's table, so its
					// decoder has nothing to tell us.
					_, _ = io.Copy(io.Discard, r)
					return
				}
				if err := c.qenc.ReadDecoderStream(r); err != nil {
					c.fail(err, 0x202) // QPACK_DECODER_STREAM_ERROR
				}
			case h3StreamPush:
				c.fail(errors.New("server opened a push stream without MAX_PUSH_ID"), 0x103)
			default:
				s.CancelRead(h3StreamCreation)
			}
		}()
	}
}

func (c *h3Conn) readControl(r *bufio.Reader) error {
	first := true
	for {
		typ, err := quicvarint.Read(r)
		if err != nil {
			return fmt.Errorf("server control stream closed: %w", err)
		}
		l, err := quicvarint.Read(r)
		if err != nil {
			return fmt.Errorf("server control stream closed: %w", err)
		}
		if first && typ != h3FrameSettings {
			return fmt.Errorf("server control stream starts with frame type %#x, not SETTINGS", typ)
		}
		if typ == h3FrameSettings {
			if !first {
				return errors.New("server sent a second SETTINGS frame")
			}
			if l > maxSettingsSize {
				return fmt.Errorf("server SETTINGS frame of %d bytes exceeds the %d-byte limit", l, maxSettingsSize)
			}
			p := make([]byte, l)
			if _, err := io.ReadFull(r, p); err != nil {
				return fmt.Errorf("server control stream closed: %w", err)
			}
			if err := c.applySettings(p); err != nil {
				return err
			}
			first = false
			continue
		}
		first = false
		if l > 1<<20 {
			return fmt.Errorf("server control frame type %#x of %d bytes exceeds the 1 MiB limit", typ, l)
		}
		if _, err := io.CopyN(io.Discard, r, int64(l)); err != nil {
			return fmt.Errorf("server control stream closed: %w", err)
		}
		if typ == h3FrameGoaway {
			c.mu.Lock()
			if c.err == nil {
				c.err = errConnUnusable
			}
			c.mu.Unlock()
		}
	}
}

// applySettings hands the server's QPACK settings to our encoder, as
// quiche's QuicSpdySession::OnSetting does: its table capacity (our
// capacity is min(its, ours)) and how many streams may block.
func (c *h3Conn) applySettings(p []byte) error {
	for len(p) > 0 {
		id, n, err := quicvarint.Parse(p)
		if err != nil {
			return errors.New("server SETTINGS frame: truncated identifier")
		}
		p = p[n:]
		v, n, err := quicvarint.Parse(p)
		if err != nil {
			return fmt.Errorf("server SETTINGS frame: truncated value of %#x", id)
		}
		p = p[n:]
		if c.qenc == nil {
			continue
		}
		switch id {
		case 0x01: // SETTINGS_QPACK_MAX_TABLE_CAPACITY
			c.qenc.SetMaxTableCapacity(v, c.p.h3.settingValue(0x01))
		case 0x07: // SETTINGS_QPACK_BLOCKED_STREAMS
			c.qenc.SetMaxBlockedStreams(v)
		}
	}
	return nil
}

// fail closes the connection because the peer broke HTTP/3; requests in
// flight see the reason.
func (c *h3Conn) fail(err error, code quic.ApplicationErrorCode) {
	c.mu.Lock()
	if c.err == nil || c.err == errConnUnusable {
		c.err = err
	}
	c.mu.Unlock()
	if code == 0 {
		code = h3GeneralProtocol
	}
	if strings.Contains(err.Error(), "SETTINGS frame of") {
		code = h3ExcessiveLoad
	}
	c.qc.CloseWithError(code, err.Error())
}

func (c *h3Conn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *h3Conn) dead() bool {
	return c.qc.Context().Err() != nil || c.failure() != nil
}

func (c *h3Conn) idle(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight == 0 && time.Since(c.lastUsed) >= d
}

func (c *h3Conn) close() {
	c.qc.CloseWithError(h3NoError, "")
	c.udp.Close()
}

// connErr explains why a request failed: the connection-level reason
// (the peer's broken control stream) beats the stream error it caused.
func (c *h3Conn) connErr(err error) error {
	if f := c.failure(); f != nil && f != errConnUnusable {
		return fmt.Errorf("http3: %w", f)
	}
	return fmt.Errorf("http3: %w", err)
}

// roundTrip sends one request on a new stream and returns the response
// with its body streaming.
func (c *h3Conn) roundTrip(ctx context.Context, wr *wireRequest) (*http.Response, error) {
	if err := c.failure(); err != nil {
		return nil, c.connErr(err)
	}
	str, err := c.qc.OpenStreamSync(ctx)
	if err != nil {
		return nil, c.connErr(err)
	}
	c.mu.Lock()
	c.inflight++
	c.mu.Unlock()
	done := func() {
		c.mu.Lock()
		c.inflight--
		c.lastUsed = time.Now()
		c.mu.Unlock()
	}
	stop := context.AfterFunc(ctx, func() {
		str.CancelRead(h3RequestCancelled)
		str.CancelWrite(h3RequestCancelled)
	})
	fail := func(err error) (*http.Response, error) {
		if connLevel(err) {
			// The whole connection is gone (its context may not say so
			// yet): keep it out of the pool from now on.
			c.mu.Lock()
			if c.err == nil || c.err == errConnUnusable {
				c.err = err
			}
			c.mu.Unlock()
		}
		stop()
		str.CancelRead(h3RequestCancelled)
		str.CancelWrite(h3RequestCancelled)
		done()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("http3: %w", context.Cause(ctx))
		}
		return nil, c.connErr(err)
	}
	block, err := c.encodeHeaders(uint64(str.StreamID()), wr)
	if err != nil {
		return fail(err)
	}
	frame := appendFrameHeader(nil, h3FrameHeaders, len(block))
	frame = append(frame, block...)
	if len(wr.body) > 0 {
		frame = appendFrameHeader(frame, h3FrameData, len(wr.body))
		frame = append(frame, wr.body...)
	}
	// A server may stop reading the request (STOP_SENDING) once it has
	// answered, or to answer early (RFC 9114 4.1): then its response is
	// still there to read.
	if _, err := str.Write(frame); err != nil && !peerStopped(str) {
		return fail(err)
	}
	if err := str.Close(); err != nil && !peerStopped(str) {
		return fail(err)
	}
	r := &h3FrameReader{r: str}
	decode := func(block []byte) ([]qpack.HeaderField, error) {
		fields, dynamic, err := c.qdec.Decode(ctx, block)
		if errors.Is(err, qpackdyn.ErrTooManyBlocked) {
			c.fail(err, 0x200) // QPACK_DECOMPRESSION_FAILED
		}
		if err == nil && dynamic {
			c.decoderInstruction(qpackdyn.SectionAck(uint64(str.StreamID())))
		}
		return fields, err
	}
	for {
		fields, err := r.readHeaders(c.maxHeader, decode)
		if err != nil {
			return fail(err)
		}
		resp, err := responseFrom(fields)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 100 && resp.StatusCode < 200 {
			continue // informational: the final response follows
		}
		resp.Body = &h3Body{r: r, str: str, release: func() { stop(); done() }, maxHeader: c.maxHeader}
		if wr.method == http.MethodHead {
			resp.Body.Close()
			resp.Body = http.NoBody
		}
		return resp, nil
	}
}

// peerStopped reports whether the server sent STOP_SENDING for our
// request stream.
func peerStopped(str *quic.Stream) bool {
	var se *quic.StreamError
	return errors.As(context.Cause(str.Context()), &se) && se.Remote
}

// connLevel reports whether err ended the whole QUIC connection rather
// than one stream.
func connLevel(err error) bool {
	var (
		sr *quic.StatelessResetError
		it *quic.IdleTimeoutError
		ae *quic.ApplicationError
		te *quic.TransportError
	)
	return errors.As(err, &sr) || errors.As(err, &it) || errors.As(err, &ae) || errors.As(err, &te)
}

func appendFrameHeader(b []byte, typ uint64, n int) []byte {
	b = quicvarint.Append(b, typ)
	return quicvarint.Append(b, uint64(n))
}

// connectionHeaders are not allowed in HTTP/3 (RFC 9114 4.2).
var connectionHeaders = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true, "host": true, "te": true,
}

// encodeHeaders encodes the request's field section for stream; with our
// quiche encoder, the table instructions it makes go out on the encoder
// stream first.
func (c *h3Conn) encodeHeaders(stream uint64, wr *wireRequest) ([]byte, error) {
	fields := c.requestFields(wr)
	if c.qenc != nil {
		c.encMu.Lock()
		defer c.encMu.Unlock()
		section, instructions := c.qenc.Encode(stream, fields)
		if len(instructions) > 0 {
			if err := c.encoderInstruction(instructions); err != nil {
				return nil, err
			}
		}
		return section, nil
	}
	var b strings.Builder
	enc := qpack.NewEncoder(&b)
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			return nil, err
		}
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}

// requestFields are the pseudo-headers in the profile's order, then the
// headers, lower-case, without the connection-specific ones.
func (c *h3Conn) requestFields(wr *wireRequest) []qpack.HeaderField {
	var fields []qpack.HeaderField
	for _, ph := range c.p.HTTP3.PseudoHeaderOrder {
		var v string
		switch ph {
		case ":method":
			v = wr.method
		case ":authority":
			v = wr.authority
		case ":scheme":
			v = wr.scheme
		case ":path":
			v = wr.path
		}
		fields = append(fields, qpack.HeaderField{Name: ph, Value: v})
	}
	for _, h := range wr.headers {
		n := strings.ToLower(h.Name)
		if connectionHeaders[n] || strings.HasPrefix(n, ":") {
			continue
		}
		fields = append(fields, qpack.HeaderField{Name: n, Value: h.Value})
	}
	return fields
}

func responseFrom(fields []qpack.HeaderField) (*http.Response, error) {
	resp := &http.Response{Proto: "HTTP/3.0", ProtoMajor: 3, Header: http.Header{}, ContentLength: -1}
	for _, f := range fields {
		if f.Name == ":status" {
			code, err := strconv.Atoi(f.Value)
			if err != nil || code < 100 || code > 999 {
				return nil, fmt.Errorf("bad :status %q", f.Value)
			}
			resp.StatusCode = code
			resp.Status = f.Value + " " + http.StatusText(code)
			continue
		}
		if strings.HasPrefix(f.Name, ":") {
			return nil, fmt.Errorf("unexpected response pseudo-header %q", f.Name)
		}
		resp.Header.Add(f.Name, f.Value)
	}
	if resp.StatusCode == 0 {
		return nil, errors.New("response without :status")
	}
	if cl := resp.Header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	return resp, nil
}

// h3FrameReader reads a request stream's frames.
type h3FrameReader struct {
	r         io.Reader
	br        *bufio.Reader
	remaining int64 // bytes left in the current DATA frame
}

func (f *h3FrameReader) reader() *bufio.Reader {
	if f.br == nil {
		f.br = bufio.NewReader(f.r)
	}
	return f.br
}

// readHeaders reads frames up to the next HEADERS frame and decodes it;
// unknown frame types are skipped (RFC 9114 9), within a bound.
func (f *h3FrameReader) readHeaders(maxHeader int, decode func([]byte) ([]qpack.HeaderField, error)) ([]qpack.HeaderField, error) {
	br := f.reader()
	skipped := int64(0)
	for {
		typ, err := quicvarint.Read(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, errors.New("stream ended before the response headers")
			}
			return nil, err
		}
		l, err := quicvarint.Read(br)
		if err != nil {
			return nil, unexpectedEOF(err)
		}
		switch typ {
		case h3FrameHeaders:
			if l > uint64(maxHeader) {
				return nil, fmt.Errorf("response header block of %d bytes exceeds the %d-byte limit", l, maxHeader)
			}
			buf := make([]byte, l)
			if _, err := io.ReadFull(br, buf); err != nil {
				return nil, unexpectedEOF(err)
			}
			return decode(buf)
		case h3FrameData:
			return nil, errors.New("DATA frame before the response headers")
		case h3FrameSettings, h3FrameGoaway, 0x03, 0x0d:
			return nil, fmt.Errorf("frame type %#x on a request stream", typ)
		default:
			skipped += int64(l)
			if skipped > 1<<20 {
				return nil, errors.New("more than 1 MiB of unknown frames before the response headers")
			}
			if _, err := io.CopyN(io.Discard, br, int64(l)); err != nil {
				return nil, unexpectedEOF(err)
			}
		}
	}
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// h3Body streams the DATA frames of a response; trailers (a second
// HEADERS frame) end it and are dropped.
type h3Body struct {
	r         *h3FrameReader
	str       *quic.Stream
	release   func()
	once      sync.Once
	maxHeader int
	eof       bool
}

func (b *h3Body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	br := b.r.reader()
	for b.r.remaining == 0 {
		typ, err := quicvarint.Read(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				b.eof = true
				return 0, io.EOF
			}
			return 0, fmt.Errorf("http3 body: %w", err)
		}
		l, err := quicvarint.Read(br)
		if err != nil {
			return 0, fmt.Errorf("http3 body: %w", unexpectedEOF(err))
		}
		switch typ {
		case h3FrameData:
			b.r.remaining = int64(l)
		case h3FrameHeaders:
			if l > uint64(b.maxHeader) {
				return 0, fmt.Errorf("http3 body: trailer block of %d bytes exceeds the limit", l)
			}
			if _, err := io.CopyN(io.Discard, br, int64(l)); err != nil {
				return 0, fmt.Errorf("http3 body: %w", unexpectedEOF(err))
			}
		default:
			if _, err := io.CopyN(io.Discard, br, int64(l)); err != nil {
				return 0, fmt.Errorf("http3 body: %w", unexpectedEOF(err))
			}
		}
	}
	if int64(len(p)) > b.r.remaining {
		p = p[:b.r.remaining]
	}
	n, err := br.Read(p)
	b.r.remaining -= int64(n)
	if errors.Is(err, io.EOF) {
		if b.r.remaining > 0 {
			return n, fmt.Errorf("http3 body: %w", io.ErrUnexpectedEOF)
		}
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("http3 body: %w", err)
	}
	return n, err
}

func (b *h3Body) Close() error {
	b.once.Do(func() {
		if !b.eof {
			b.str.CancelRead(h3RequestCancelled)
		}
		b.release()
	})
	return nil
}
