package fingerprint

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/qpack"
	"github.com/spiderrun/spiderrun/internal/qpackdyn"
	"github.com/spiderrun/spiderrun/third_party/quic-go"
	"github.com/spiderrun/spiderrun/third_party/quic-go/quicvarint"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// H3Setting is one HTTP/3 SETTINGS entry (RFC 9114 §7.2.4), in the order
// the client sent it.
type H3Setting struct {
	ID    uint64 `json:"id"`
	Value uint64 `json:"value"`
	// Name is the registered name; "" for unknown and GREASE ids.
	Name string `json:"name,omitempty"`
	// GREASE marks a reserved id of the form 0x1f*N+0x21 (RFC 9114 §7.2.8).
	GREASE bool `json:"grease,omitempty"`
}

// H3 is what a client sends at the HTTP/3 layer of a connection.
type H3 struct {
	// Settings is the client's SETTINGS frame, nil when it had not
	// arrived by the time the request was answered.
	Settings []H3Setting `json:"settings"`
	// UniStreams are the types of the unidirectional streams the client
	// opened, in the order the server accepted them (0 control, 2 QPACK
	// encoder, 3 QPACK decoder, GREASE types).
	UniStreams []uint64 `json:"uni_streams"`
	// ControlFrames are the frame types on the client's control stream
	// after SETTINGS (PRIORITY_UPDATE, GREASE frames...).
	ControlFrames []uint64 `json:"control_frames,omitempty"`
	// RequestFrames are the frame types of the request stream, in order.
	RequestFrames []uint64 `json:"request_frames"`
	PseudoOrder   []string `json:"pseudo_header_order"`
	// StreamID is the request stream's id (the order the client opened
	// them in, which is the order its QPACK encoder encoded them).
	StreamID uint64 `json:"stream_id,omitempty"`
	// FieldSection is the request's encoded field section (the HEADERS
	// frame payload) in hex, as sent: with a QPACK dynamic table allowed
	// (QUICConfig.QPACKMaxTableCapacity) it references the table.
	FieldSection string `json:"field_section,omitempty"`
	// EncoderStream is everything the client sent on its QPACK encoder
	// stream (type byte excluded) by the time this request was answered,
	// in hex: Set Dynamic Table Capacity, inserts, duplicates.
	EncoderStream string `json:"encoder_stream,omitempty"`
	// DecoderStream is the same for the client's QPACK decoder stream.
	DecoderStream string `json:"decoder_stream,omitempty"`
}

var h3SettingNames = map[uint64]string{
	0x01:       "SETTINGS_QPACK_MAX_TABLE_CAPACITY",
	0x06:       "SETTINGS_MAX_FIELD_SECTION_SIZE",
	0x07:       "SETTINGS_QPACK_BLOCKED_STREAMS",
	0x08:       "SETTINGS_ENABLE_CONNECT_PROTOCOL",
	0x33:       "SETTINGS_H3_DATAGRAM",
	0x2b603742: "SETTINGS_ENABLE_WEBTRANSPORT",
}

// IsGREASEH3 reports whether an HTTP/3 setting id, frame type or stream
// type is reserved for GREASE.
func IsGREASEH3(v uint64) bool { return v >= 0x21 && (v-0x21)%0x1f == 0 }

// QUICConfig configures a QUICServer. The zero value serves HTTP/3 on a
// free loopback UDP port with a fresh self-signed certificate.
type QUICConfig struct {
	// Addr is the UDP listen address; "" means 127.0.0.1:0.
	Addr string
	// Certificate replaces the generated self-signed one.
	Certificate *tls.Certificate
	// OnCapture, when set, is called for every request.
	OnCapture func(Capture)
	// Respond chooses the answer to a request; the default is the capture
	// as JSON.
	Respond func(Capture) (contentType string, body []byte)
	// Limits bound the Initial recorder (zero: DefaultRecorderLimits).
	Limits RecorderLimits
	// QPACKMaxTableCapacity and QPACKBlockedStreams, when set, are
	// announced in the server's SETTINGS (ids 0x01 and 0x07), as Google's
	// and Cloudflare's servers do, so that a client's encoder may use the
	// dynamic table: the server follows the client's encoder stream,
	// acknowledges sections and insertions on its decoder stream, and
	// records both streams and each field section as sent (H3). Zero:
	// empty SETTINGS, no table.
	QPACKMaxTableCapacity uint64
	QPACKBlockedStreams   uint64
}

// QUICServer is a running HTTP/3 fingerprinting server. Every datagram
// passes through a QUICRecorder before quic-go sees it (quic-go exposes no
// raw ClientHello), and the HTTP/3 layer is read here rather than by
// quic-go's http3 package, whose server reports SETTINGS as a map and
// request headers as an http.Header, both without their order.
type QUICServer struct {
	cfg   QUICConfig
	udp   net.PacketConn
	tr    *quic.Transport
	ln    *quic.Listener
	rec   *QUICRecorder
	pool  *x509.CertPool
	wg    sync.WaitGroup
	mu    sync.Mutex
	errs  []error
	next  int
	conns map[int]*h3Conn // by connection number, for QPACKStreams
	captures
	stop context.CancelFunc
	ctx  context.Context
}

// recordingConn hands every datagram to the recorder before quic-go.
type recordingConn struct {
	net.PacketConn
	s *QUICServer
}

func (c *recordingConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.PacketConn.ReadFrom(p)
	if err == nil && n > 0 {
		if _, rerr := c.s.rec.Datagram(addr.String(), p[:n]); rerr != nil {
			c.s.mu.Lock()
			if len(c.s.errs) < 100 {
				c.s.errs = append(c.s.errs, rerr)
			}
			c.s.mu.Unlock()
		}
	}
	return n, addr, err
}

// SetReadBuffer and SetWriteBuffer let quic-go size the socket's buffers
// as it does for a bare *net.UDPConn.
func (c *recordingConn) SetReadBuffer(n int) error {
	return c.PacketConn.(*net.UDPConn).SetReadBuffer(n)
}

func (c *recordingConn) SetWriteBuffer(n int) error {
	return c.PacketConn.(*net.UDPConn).SetWriteBuffer(n)
}

// StartQUIC listens on UDP and serves HTTP/3 until Close.
func StartQUIC(cfg QUICConfig) (*QUICServer, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cert, pool, err := serverCert(cfg.Certificate)
	if err != nil {
		return nil, err
	}
	udp, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("quic fingerprint server: listen %s: %w", addr, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	s := &QUICServer{cfg: cfg, udp: udp, rec: NewQUICRecorder(cfg.Limits), pool: pool,
		captures: newCaptures("quic fingerprint server", cfg.OnCapture), ctx: ctx, stop: stop}
	s.tr = &quic.Transport{Conn: &recordingConn{PacketConn: udp, s: s}}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: []string{"h3"}, MinVersion: tls.VersionTLS13}
	s.ln, err = s.tr.Listen(tlsConf, &quic.Config{MaxIdleTimeout: 30 * time.Second, KeepAlivePeriod: 0})
	if err != nil {
		stop()
		udp.Close()
		return nil, fmt.Errorf("quic fingerprint server: %w", err)
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening UDP address (host:port).
func (s *QUICServer) Addr() string { return s.udp.LocalAddr().String() }

// Port is the listening UDP port.
func (s *QUICServer) Port() int { return s.udp.LocalAddr().(*net.UDPAddr).Port }

// URL returns https://host:port/path.
func (s *QUICServer) URL(host, path string) string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(s.Port())) + path
}

// CertPool trusts the server's certificate.
func (s *QUICServer) CertPool() *x509.CertPool { return s.pool }

// Recorder is the server's Initial recorder.
func (s *QUICServer) Recorder() *QUICRecorder { return s.rec }

// Errors returns the recorder's errors so far (datagrams that were not a
// readable client Initial), at most 100.
func (s *QUICServer) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// QPACKStreams returns what the client of connection conn (Capture.Conn)
// has sent on its QPACK encoder and decoder streams so far: a capture
// holds them as of its answer, and instructions no section waits for
// (a lone Set Dynamic Table Capacity) may come later.
func (s *QUICServer) QPACKStreams(conn int) (encoder, decoder []byte) {
	s.mu.Lock()
	h := s.conns[conn]
	s.mu.Unlock()
	if h == nil {
		return nil, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.encStream), slices.Clone(h.decStream)
}

// Close stops the server and waits for its goroutines.
func (s *QUICServer) Close() error {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return nil
	default:
		close(s.done)
	}
	s.mu.Unlock()
	s.stop()
	err := s.ln.Close()
	s.tr.Close()
	s.udp.Close()
	s.wg.Wait()
	return err
}

func (s *QUICServer) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept(s.ctx)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.next++
		id := s.next
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveConn(id, conn)
		}()
	}
}

// h3Conn is the HTTP/3 state of one connection that requests share.
type h3Conn struct {
	mu            sync.Mutex
	settings      []H3Setting
	uni           []uint64
	controlFrames []uint64
	gotSettings   chan struct{}

	qdec       *qpackdyn.Decoder
	encStream  []byte // the client's encoder stream, as received
	decStream  []byte // the client's decoder stream, as received
	decMu      sync.Mutex
	ourDecoder *quic.SendStream // our decoder stream, opened on first use
}

// maxQPACKRecord bounds what is kept of a client's QPACK streams.
const maxQPACKRecord = 64 << 10

func (h *h3Conn) snapshot() H3 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return H3{Settings: append([]H3Setting(nil), h.settings...), UniStreams: append([]uint64(nil), h.uni...),
		ControlFrames: append([]uint64(nil), h.controlFrames...),
		EncoderStream: hex.EncodeToString(h.encStream), DecoderStream: hex.EncodeToString(h.decStream)}
}

// recordingReader keeps what a QPACK stream carried (bounded).
type recordingReader struct {
	r   io.Reader
	h   *h3Conn
	dst *[]byte
}

func (r recordingReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.mu.Lock()
	if len(*r.dst)+n <= maxQPACKRecord {
		*r.dst = append(*r.dst, p[:n]...)
	}
	r.h.mu.Unlock()
	return n, err
}

// decoderInstruction writes to our QPACK decoder stream (Section
// Acknowledgment, Insert Count Increment), opening it on first use.
func (h *h3Conn) decoderInstruction(conn *quic.Conn, b []byte) {
	h.decMu.Lock()
	defer h.decMu.Unlock()
	if h.ourDecoder == nil {
		s, err := conn.OpenUniStream()
		if err != nil {
			return
		}
		h.ourDecoder = s
		b = append([]byte{0x03}, b...)
	}
	h.ourDecoder.Write(b)
}

// HTTP/3 error codes (RFC 9114 §8.1).
const (
	h3NoError          = 0x100
	h3FrameError       = 0x106
	h3MessageError     = 0x10e
	h3SettingsError    = 0x109
	maxH3FramePayload  = 64 << 10
	maxH3RequestFrames = 1024
)

func (s *QUICServer) serveConn(id int, conn *quic.Conn) {
	ctx := conn.Context()
	base := Capture{Conn: id, Remote: conn.RemoteAddr().String(), HTTPVersion: "3", ALPN: conn.ConnectionState().TLS.NegotiatedProtocol}
	if hello, ok := s.rec.Take(base.Remote); ok {
		base.QUIC = hello
		base.TLS = hello.TLS
		base.ClientHello = hello.ClientHello
		base.JA3 = hello.TLS.JA3()
		base.JA3Hash = MD5Hex(base.JA3)
		base.JA3N = hello.TLS.JA3N()
		base.JA3NHash = MD5Hex(base.JA3N)
		base.JA4, base.JA4R = hello.JA4, hello.JA4R
	}
	// Our SETTINGS are empty unless a QPACK dynamic table is configured:
	// then the client's encoder may insert into it.
	ctrl, err := conn.OpenUniStream()
	if err != nil {
		return
	}
	var settings []byte
	if c := s.cfg.QPACKMaxTableCapacity; c > 0 {
		settings = quicvarint.Append(quicvarint.Append(settings, 0x01), c)
	}
	if b := s.cfg.QPACKBlockedStreams; b > 0 {
		settings = quicvarint.Append(quicvarint.Append(settings, 0x07), b)
	}
	ctrl.Write(appendH3Frame([]byte{0x00}, 0x04, settings))
	h := &h3Conn{gotSettings: make(chan struct{}), qdec: qpackdyn.NewDecoder(s.cfg.QPACKMaxTableCapacity, s.cfg.QPACKBlockedStreams)}
	s.mu.Lock()
	if s.conns == nil {
		s.conns = map[int]*h3Conn{}
	}
	s.conns[id] = h
	s.mu.Unlock()
	// Every goroutine counts in s.wg (serveConn holds a count while it
	// adds), so Close waits for them all.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			str, err := conn.AcceptUniStream(ctx)
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				h.readUni(conn, str)
			}()
		}
	}()
	for {
		str, err := conn.AcceptStream(ctx)
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serveRequest(conn, h, str, base)
		}()
	}
}

func (h *h3Conn) readUni(conn *quic.Conn, str *quic.ReceiveStream) {
	br := bufio.NewReader(str)
	typ, err := quicvarint.Read(br)
	if err != nil {
		return
	}
	h.mu.Lock()
	if len(h.uni) < 64 {
		h.uni = append(h.uni, typ)
	}
	h.mu.Unlock()
	switch typ {
	case 0x00:
	case 0x02: // the client's QPACK encoder stream
		err := h.qdec.ReadEncoderStream(recordingReader{br, h, &h.encStream}, func(b []byte) { h.decoderInstruction(conn, b) })
		if err != nil {
			conn.CloseWithError(0x201, "qpack encoder stream: "+err.Error()) // QPACK_ENCODER_STREAM_ERROR
		}
		return
	case 0x03: // its decoder stream: this server never inserts, kept as sent
		io.Copy(io.Discard, io.LimitReader(recordingReader{br, h, &h.decStream}, 1<<20))
		return
	default:
		// GREASE streams carry nothing this server uses.
		io.Copy(io.Discard, io.LimitReader(br, 1<<20))
		str.CancelRead(h3NoError)
		return
	}
	// Requests wait for SETTINGS (gotSettings) before their capture is
	// taken. Frames that arrived in the same bytes as SETTINGS (Chromium's
	// GREASE frame) are read first, so the capture has them whatever the
	// goroutines' order.
	signalled := false
	signal := func() {
		if !signalled {
			signalled = true
			close(h.gotSettings)
		}
	}
	for i := 0; ; i++ {
		ftype, payload, err := readH3Frame(br)
		if err != nil {
			if i > 0 {
				signal()
			}
			if i == 0 {
				conn.CloseWithError(h3FrameError, "control stream: "+err.Error())
			}
			return
		}
		if i == 0 {
			if ftype != 0x04 {
				conn.CloseWithError(0x10a, fmt.Sprintf("control stream starts with frame %#x, not SETTINGS", ftype)) // H3_MISSING_SETTINGS
				return
			}
			settings, err := parseH3Settings(payload)
			if err != nil {
				conn.CloseWithError(h3SettingsError, err.Error())
				return
			}
			h.mu.Lock()
			h.settings = settings
			h.mu.Unlock()
			if br.Buffered() == 0 {
				signal()
			}
			continue
		}
		h.mu.Lock()
		if len(h.controlFrames) < 64 {
			h.controlFrames = append(h.controlFrames, ftype)
		}
		h.mu.Unlock()
		if br.Buffered() == 0 {
			signal()
		}
	}
}

// readH3Frame reads one HTTP/3 frame, refusing payloads over
// maxH3FramePayload so a hostile length cannot make the server allocate.
func readH3Frame(br *bufio.Reader) (uint64, []byte, error) {
	typ, err := quicvarint.Read(br)
	if err != nil {
		return 0, nil, err
	}
	l, err := quicvarint.Read(br)
	if err != nil {
		return 0, nil, fmt.Errorf("frame %#x: %w", typ, err)
	}
	if l > maxH3FramePayload {
		return typ, nil, fmt.Errorf("frame %#x of %d bytes exceeds %d", typ, l, maxH3FramePayload)
	}
	p := make([]byte, l)
	if _, err := io.ReadFull(br, p); err != nil {
		return typ, nil, fmt.Errorf("frame %#x: %w", typ, err)
	}
	return typ, p, nil
}

func parseH3Settings(p []byte) ([]H3Setting, error) {
	var out []H3Setting
	seen := map[uint64]bool{}
	for i := 0; i < len(p); {
		id, n, ok := readVarint(p[i:])
		if !ok {
			return out, errors.New("SETTINGS: truncated id")
		}
		i += n
		v, n, ok := readVarint(p[i:])
		if !ok {
			return out, fmt.Errorf("SETTINGS: truncated value of %#x", id)
		}
		i += n
		if seen[id] {
			return out, fmt.Errorf("SETTINGS: duplicate %#x", id)
		}
		seen[id] = true
		out = append(out, H3Setting{ID: id, Value: v, Name: h3SettingNames[id], GREASE: IsGREASEH3(id)})
	}
	return out, nil
}

func (s *QUICServer) serveRequest(conn *quic.Conn, h *h3Conn, str *quic.Stream, base Capture) {
	br := bufio.NewReader(str)
	c := base
	var frames []uint64
	var pseudo []string
	var section []byte
	gotHeaders := false
	for i := 0; ; i++ {
		ftype, payload, err := readH3Frame(br)
		if errors.Is(err, io.EOF) && gotHeaders {
			break
		}
		if err != nil || i > maxH3RequestFrames {
			str.CancelRead(h3FrameError)
			str.CancelWrite(h3FrameError)
			return
		}
		frames = append(frames, ftype)
		switch ftype {
		case 0x01: // HEADERS
			if gotHeaders {
				continue // trailers
			}
			gotHeaders = true
			section = payload
			// A section may wait for table entries still on their way
			// on the encoder stream (a blocked stream).
			ctx, cancel := context.WithTimeout(conn.Context(), 10*time.Second)
			hfs, dynamic, err := h.qdec.Decode(ctx, payload)
			cancel()
			if errors.Is(err, qpackdyn.ErrTooManyBlocked) {
				conn.CloseWithError(0x200, err.Error()) // QPACK_DECOMPRESSION_FAILED
				return
			}
			if err != nil {
				str.CancelRead(h3MessageError)
				str.CancelWrite(h3MessageError)
				return
			}
			if dynamic {
				h.decoderInstruction(conn, qpackdyn.SectionAck(uint64(str.StreamID())))
			}
			for _, hf := range hfs {
				if strings.HasPrefix(hf.Name, ":") {
					pseudo = append(pseudo, hf.Name)
					switch hf.Name {
					case ":method":
						c.Method = hf.Value
					case ":path":
						c.Path = hf.Value
					case ":authority":
						c.Authority = hf.Value
					}
					continue
				}
				c.Headers = append(c.Headers, crawl.Header{Name: hf.Name, Value: hf.Value})
			}
		case 0x00: // DATA
			c.BodyLen += len(payload)
		}
	}
	// Clients send SETTINGS first thing; a request that overtook them
	// waits a moment so that its capture carries them.
	select {
	case <-h.gotSettings:
	case <-time.After(2 * time.Second):
	case <-conn.Context().Done():
	}
	h3 := h.snapshot()
	h3.RequestFrames = frames
	h3.PseudoOrder = pseudo
	h3.FieldSection = hex.EncodeToString(section)
	h3.StreamID = uint64(str.StreamID())
	c.H3 = &h3
	ctype, body := s.respond(c)
	var block bytes.Buffer
	enc := qpack.NewEncoder(&block)
	enc.WriteField(qpack.HeaderField{Name: ":status", Value: "200"})
	enc.WriteField(qpack.HeaderField{Name: "content-type", Value: ctype})
	enc.WriteField(qpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
	out := appendH3Frame(nil, 0x01, block.Bytes())
	out = appendH3Frame(out, 0x00, body)
	// Recorded even when the write fails: a client that reads the whole
	// answer and closes the connection at once can make Write report the
	// close although every byte went out (TestSummarizeQUIC lost a
	// capture in about one run of four), and what it sent is the record.
	str.Write(out)
	str.Close()
	s.record(c)
}

func appendH3Frame(b []byte, typ uint64, payload []byte) []byte {
	b = quicvarint.Append(b, typ)
	b = quicvarint.Append(b, uint64(len(payload)))
	return append(b, payload...)
}

func (s *QUICServer) respond(c Capture) (string, []byte) {
	if s.cfg.Respond != nil {
		return s.cfg.Respond(c)
	}
	return (&Server{}).respond(c)
}
