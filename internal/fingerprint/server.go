package fingerprint

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Setting is one HTTP/2 SETTINGS entry, in the order the client sent it.
type Setting struct {
	ID    uint16 `json:"id"`
	Value uint32 `json:"value"`
}

// Priority is HTTP/2 stream priority as sent (Weight is 1..256, not the
// zero-based wire value).
type Priority struct {
	StreamID  uint32 `json:"stream_id,omitempty"`
	Exclusive bool   `json:"exclusive"`
	DependsOn uint32 `json:"depends_on"`
	Weight    int    `json:"weight"`
}

// H2 is what a client sends at the start of an HTTP/2 connection.
type H2 struct {
	Settings     []Setting  `json:"settings"`
	WindowUpdate uint32     `json:"window_update"`
	Priorities   []Priority `json:"priority_frames,omitempty"`
	// HeadersPriority is the priority carried by the first HEADERS frame,
	// nil when its PRIORITY flag was clear.
	HeadersPriority *Priority `json:"headers_priority,omitempty"`
	PseudoOrder     []string  `json:"pseudo_header_order"`
}

// Akamai renders the Akamai HTTP/2 fingerprint:
// SETTINGS|WINDOW_UPDATE|PRIORITY|pseudo-header order.
func (h *H2) Akamai() string {
	var set []string
	for _, s := range h.Settings {
		set = append(set, fmt.Sprintf("%d:%d", s.ID, s.Value))
	}
	prio := "0"
	if len(h.Priorities) > 0 {
		var ps []string
		for _, p := range h.Priorities {
			ex := 0
			if p.Exclusive {
				ex = 1
			}
			ps = append(ps, fmt.Sprintf("%d:%d:%d:%d", p.StreamID, ex, p.DependsOn, p.Weight))
		}
		prio = strings.Join(ps, ",")
	}
	var pseudo []string
	for _, p := range h.PseudoOrder {
		pseudo = append(pseudo, p[1:2])
	}
	return fmt.Sprintf("%s|%d|%s|%s", strings.Join(set, ";"), h.WindowUpdate, prio, strings.Join(pseudo, ","))
}

// Capture is one request as the server saw it, with the fingerprints of the
// connection that carried it.
type Capture struct {
	Conn        int          `json:"conn"`
	Remote      string       `json:"remote"`
	TLS         *ClientHello `json:"tls,omitempty"`
	ClientHello string       `json:"client_hello_hex,omitempty"`
	JA3         string       `json:"ja3,omitempty"`
	JA3Hash     string       `json:"ja3_hash,omitempty"`
	JA3N        string       `json:"ja3n,omitempty"`
	JA3NHash    string       `json:"ja3n_hash,omitempty"`
	JA4         string       `json:"ja4,omitempty"`
	JA4R        string       `json:"ja4_r,omitempty"`
	ALPN        string       `json:"negotiated_alpn,omitempty"`
	HTTPVersion string       `json:"http_version"`
	H2          *H2          `json:"http2,omitempty"`
	// QUIC and H3 are set for HTTP/3 requests (QUICServer): the client's
	// Initial packets with their ClientHello, and its HTTP/3 frames.
	QUIC      *QUICHello `json:"quic,omitempty"`
	H3        *H3        `json:"http3,omitempty"`
	Akamai    string     `json:"akamai,omitempty"`
	Method    string     `json:"method"`
	Path      string     `json:"path"`
	Authority string     `json:"authority"`
	// Headers are the request headers in wire order, names as sent
	// (HTTP/2 pseudo-headers excluded; HTTP/1.1 Host included).
	Headers crawl.Headers `json:"headers"`
	BodyLen int           `json:"body_len"`
}

// HeaderNames lists the header names in order.
func (c *Capture) HeaderNames() []string {
	out := make([]string, len(c.Headers))
	for i, h := range c.Headers {
		out[i] = h.Name
	}
	return out
}

// Config configures a Server. The zero value serves TLS with HTTP/2 and
// HTTP/1.1 on a free loopback port with a fresh self-signed certificate.
type Config struct {
	// Addr is the listen address; "" means 127.0.0.1:0.
	Addr string
	// NoHTTP2 offers only http/1.1 in ALPN (an h1-only server).
	NoHTTP2 bool
	// Certificate replaces the generated self-signed one.
	Certificate *tls.Certificate
	// OnCapture, when set, is called for every request (from the
	// connection's goroutine).
	OnCapture func(Capture)
	// Respond, when set, chooses the answer to a request (say, an HTML
	// page that makes a browser fetch more); the default is the capture
	// as JSON.
	Respond func(Capture) (contentType string, body []byte)
	// Answer, when set, chooses the whole answer, status and headers too
	// (a CORS preflight's Access-Control-*, a redirect's Location and
	// Referrer-Policy, a Set-Cookie); it wins over Respond.
	Answer func(Capture) Answer
	// CloseAfterResponse ends the connection after each answer (GOAWAY on
	// HTTP/2, Connection: close on HTTP/1.1), so a browser's next request
	// needs a new connection: that is how its TLS session resumption is
	// observed.
	CloseAfterResponse bool
}

// Server is a running fingerprinting server.
type Server struct {
	ln    net.Listener
	cfg   Config
	tls   *tls.Config
	pool  *x509.CertPool
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	next  int
	captures
}

// Start listens and serves until Close.
func Start(cfg Config) (*Server, error) {
	addr := cfg.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	cert, pool, err := serverCert(cfg.Certificate)
	if err != nil {
		return nil, err
	}
	protos := []string{"h2", "http/1.1"}
	if cfg.NoHTTP2 {
		protos = []string{"http/1.1"}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("fingerprint server: listen %s: %w", addr, err)
	}
	s := &Server{
		ln:       ln,
		cfg:      cfg,
		tls:      &tls.Config{Certificates: []tls.Certificate{*cert}, NextProtos: protos},
		pool:     pool,
		conns:    map[net.Conn]struct{}{},
		captures: newCaptures("fingerprint server", cfg.OnCapture),
	}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Addr is the listening address (host:port).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Port is the listening port.
func (s *Server) Port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// URL returns https://host:port/path for the given host name; use a name
// (such as localhost) rather than an IP so that clients send SNI, as
// browsers do.
func (s *Server) URL(host, path string) string {
	return "https://" + net.JoinHostPort(host, strconv.Itoa(s.Port())) + path
}

// CertPool trusts the server's certificate.
func (s *Server) CertPool() *x509.CertPool { return s.pool }

// Close stops the server and waits for its goroutines.
func (s *Server) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	select {
	case <-s.done:
	default:
		close(s.done)
	}
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.next++
		id := s.next
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(id, c)
		}()
	}
}

// serve reads the ClientHello record before crypto/tls sees it (the
// handshake API does not expose raw bytes), then replays it into the TLS
// server and routes by the negotiated protocol.
func (s *Server) serve(id int, raw net.Conn) {
	raw.SetDeadline(time.Now().Add(30 * time.Second))
	record, err := readHelloRecord(raw)
	if err != nil {
		return
	}
	base := Capture{Conn: id, Remote: raw.RemoteAddr().String()}
	if ch, err := ParseClientHello(record); err == nil {
		base.TLS = ch
		base.ClientHello = hex.EncodeToString(record)
		base.JA3 = ch.JA3()
		base.JA3Hash = MD5Hex(base.JA3)
		base.JA3N = ch.JA3N()
		base.JA3NHash = MD5Hex(base.JA3N)
		base.JA4 = ch.JA4()
		base.JA4R = ch.JA4R()
	}
	conn := tls.Server(&prefixConn{Conn: raw, prefix: record}, s.tls)
	if err := conn.Handshake(); err != nil {
		return
	}
	base.ALPN = conn.ConnectionState().NegotiatedProtocol
	raw.SetDeadline(time.Time{})
	if base.ALPN == "h2" {
		s.serveH2(conn, base)
		return
	}
	s.serveH1(conn, base)
}

var errCloseAfterResponse = errors.New("closing after response")

// maxHello bounds the ClientHello the server buffers (real ones are under
// 2 KiB even with post-quantum key shares).
const maxHello = 64 << 10

// readHelloRecord reads the first handshake message, joining records when a
// large ClientHello (post-quantum key shares) spans several, and returns it
// as one record.
func readHelloRecord(r io.Reader) ([]byte, error) {
	var msg []byte
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return nil, err
		}
		if hdr[0] != 22 {
			return nil, fmt.Errorf("record type %d is not a handshake", hdr[0])
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		msg = append(msg, buf...)
		if len(msg) >= 4 {
			want := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
			if want > maxHello {
				return nil, fmt.Errorf("client hello of %d bytes exceeds %d", want, maxHello)
			}
			if len(msg) >= want+4 {
				break
			}
		}
	}
	out := make([]byte, 5, 5+len(msg))
	copy(out, hdr[:3])
	out[3], out[4] = byte(len(msg)>>8), byte(len(msg))
	return append(out, msg...), nil
}

type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Answer is a response of Config.Answer.
type Answer struct {
	// Status is the status code (0 = 200).
	Status int
	// Headers are sent after Content-Type and Content-Length, in order.
	Headers     crawl.Headers
	ContentType string
	Body        []byte
}

func (s *Server) answer(c Capture) Answer {
	if s.cfg.Answer != nil {
		a := s.cfg.Answer(c)
		if a.Status == 0 {
			a.Status = 200
		}
		if a.ContentType == "" {
			a.ContentType = "text/plain"
		}
		return a
	}
	ctype, body := s.respond(c)
	return Answer{Status: 200, ContentType: ctype, Body: body}
}

func (s *Server) respond(c Capture) (string, []byte) {
	if s.cfg.Respond != nil {
		return s.cfg.Respond(c)
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return "application/json", []byte(`{"error":"marshal"}`)
	}
	return "application/json", append(b, '\n')
}

func (s *Server) serveH2(conn net.Conn, base Capture) {
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(conn, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	bw := bufio.NewWriter(conn)
	fr := http2.NewFramer(bw, bufio.NewReader(conn))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var enc bytes.Buffer
	henc := hpack.NewEncoder(&enc)
	if err := fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100}); err != nil {
		return
	}
	bw.Flush()
	h2 := &H2{}
	first := true
	type pending struct {
		cap  Capture
		body int
	}
	streams := map[uint32]*pending{}
	reply := func(id uint32, p *pending) error {
		c := p.cap
		c.BodyLen = p.body
		a := s.answer(c)
		body := a.Body
		// Recorded only once the answer is out: a capture that ends the
		// server (spiderrun fingerprint capture) must not cut it off.
		defer s.record(c)
		enc.Reset()
		henc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(a.Status)})
		henc.WriteField(hpack.HeaderField{Name: "content-type", Value: a.ContentType})
		henc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
		for _, h := range a.Headers {
			henc.WriteField(hpack.HeaderField{Name: strings.ToLower(h.Name), Value: h.Value})
		}
		// An empty answer (a preflight's) ends the stream with its HEADERS.
		if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: enc.Bytes(), EndHeaders: true, EndStream: len(body) == 0}); err != nil {
			return err
		}
		// Stay within the default 16 KiB frame size and the client's
		// initial window (at least 64 KiB for any client we test).
		for len(body) > 0 {
			n := min(len(body), 16384)
			if err := fr.WriteData(id, n == len(body), body[:n]); err != nil {
				return err
			}
			body = body[n:]
		}
		delete(streams, id)
		if s.cfg.CloseAfterResponse {
			fr.WriteGoAway(id, http2.ErrCodeNo, nil)
			bw.Flush()
			return errCloseAfterResponse
		}
		return bw.Flush()
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			if first {
				f.ForeachSetting(func(st http2.Setting) error {
					h2.Settings = append(h2.Settings, Setting{ID: uint16(st.ID), Value: st.Val})
					return nil
				})
			}
			fr.WriteSettingsAck()
			bw.Flush()
		case *http2.WindowUpdateFrame:
			if first && f.StreamID == 0 && h2.WindowUpdate == 0 {
				h2.WindowUpdate = f.Increment
			}
		case *http2.PriorityFrame:
			if first {
				h2.Priorities = append(h2.Priorities, Priority{StreamID: f.StreamID, Exclusive: f.Exclusive, DependsOn: f.StreamDep, Weight: int(f.Weight) + 1})
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
				bw.Flush()
			}
		case *http2.MetaHeadersFrame:
			c := base
			c.HTTPVersion = "2"
			var hp *Priority
			if f.HasPriority() {
				hp = &Priority{Exclusive: f.Priority.Exclusive, DependsOn: f.Priority.StreamDep, Weight: int(f.Priority.Weight) + 1}
			}
			var pseudo []string
			for _, hf := range f.Fields {
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
			cp := *h2
			cp.HeadersPriority = hp
			cp.PseudoOrder = pseudo
			c.H2 = &cp
			c.Akamai = cp.Akamai()
			first = false
			p := &pending{cap: c}
			streams[f.StreamID] = p
			if f.StreamEnded() {
				if reply(f.StreamID, p) != nil {
					return
				}
			}
		case *http2.DataFrame:
			p := streams[f.StreamID]
			if p == nil {
				continue
			}
			p.body += len(f.Data())
			// Give the flow-control credit back so large uploads finish.
			if n := uint32(len(f.Data())); n > 0 {
				fr.WriteWindowUpdate(0, n)
				fr.WriteWindowUpdate(f.StreamID, n)
				bw.Flush()
			}
			if f.StreamEnded() {
				if reply(f.StreamID, p) != nil {
					return
				}
			}
		case *http2.RSTStreamFrame:
			delete(streams, f.StreamID)
		case *http2.GoAwayFrame:
			return
		}
	}
}

func (s *Server) serveH1(w net.Conn, base Capture) {
	br := bufio.NewReader(w)
	tp := textproto.NewReader(br)
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		parts := strings.SplitN(line, " ", 3)
		if len(parts) != 3 {
			return
		}
		c := base
		c.HTTPVersion = "1.1"
		c.Method, c.Path = parts[0], parts[1]
		var clen int
		closeAfter := false
		for {
			l, err := tp.ReadLine()
			if err != nil {
				return
			}
			if l == "" {
				break
			}
			name, value, ok := strings.Cut(l, ":")
			if !ok {
				return
			}
			value = strings.TrimSpace(value)
			c.Headers = append(c.Headers, crawl.Header{Name: name, Value: value})
			switch strings.ToLower(name) {
			case "host":
				c.Authority = value
			case "content-length":
				clen, _ = strconv.Atoi(value)
			case "connection":
				closeAfter = strings.EqualFold(value, "close")
			}
		}
		if clen > 0 {
			n, err := io.CopyN(io.Discard, br, int64(clen))
			c.BodyLen = int(n)
			if err != nil {
				return
			}
		}
		a := s.answer(c)
		var head strings.Builder
		fmt.Fprintf(&head, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n", a.Status, statusText(a.Status), a.ContentType, len(a.Body))
		for _, h := range a.Headers {
			fmt.Fprintf(&head, "%s: %s\r\n", h.Name, h.Value)
		}
		if s.cfg.CloseAfterResponse {
			head.WriteString("Connection: close\r\n")
			closeAfter = true
		}
		head.WriteString("\r\n")
		_, err = io.WriteString(w, head.String())
		if err == nil {
			_, err = w.Write(a.Body)
		}
		s.record(c)
		if err != nil || closeAfter {
			return
		}
	}
}

// SelfSigned makes an ECDSA certificate for localhost, 127.0.0.1, ::1 and
// *.test, valid for a day; Leaf is set so callers can build a CertPool.
func SelfSigned() (tls.Certificate, error) { return SelfSignedFor() }

// SelfSignedFor is SelfSigned, valid for the host names given too (a
// check replaying a capture made on another name).
func SelfSignedFor(names ...string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "spiderrun fingerprint"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              append([]string{"localhost", "*.test"}, names...),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-signed certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// serverCert is the certificate a fingerprint server presents (a fresh
// self-signed one when none is given) and the pool that trusts it.
func serverCert(cert *tls.Certificate) (*tls.Certificate, *x509.CertPool, error) {
	if cert == nil {
		c, err := SelfSigned()
		if err != nil {
			return nil, nil, err
		}
		cert = &c
	}
	pool := x509.NewCertPool()
	if cert.Leaf != nil {
		pool.AddCert(cert.Leaf)
	}
	return cert, pool, nil
}

// statusText is the reason phrase of an HTTP/1.1 status line.
func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return t
	}
	return "Status"
}
