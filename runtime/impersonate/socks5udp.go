package impersonate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// SOCKS5 UDP ASSOCIATE (RFC 1928 §4, §7) with username/password
// authentication (RFC 1929): how HTTP/3 goes through a socks5:// or
// socks5h:// proxy. QUIC needs UDP; the association gives a relay that
// forwards our datagrams, each prefixed with a small header naming the
// target, and returns the target's datagrams the same way.

const (
	socks5Version   = 0x05
	socks5CmdUDP    = 0x03
	socks5AuthNone  = 0x00
	socks5AuthUser  = 0x02
	socks5AuthNoAcc = 0xff
	socks5ATYPv4    = 0x01
	socks5ATYPName  = 0x03
	socks5ATYPv6    = 0x04

	// socks5MaxHeader is the longest UDP request header: RSV(2) FRAG(1)
	// ATYP(1), a 255-byte name with its length byte, and the port.
	socks5MaxHeader = 4 + 1 + 255 + 2
)

// socks5Reply names RFC 1928's reply codes (§6).
var socks5Reply = map[byte]string{
	0x01: "general SOCKS server failure",
	0x02: "connection not allowed by ruleset",
	0x03: "network unreachable",
	0x04: "host unreachable",
	0x05: "connection refused",
	0x06: "TTL expired",
	0x07: "command not supported",
	0x08: "address type not supported",
}

// errSOCKS5Frag is why a fragmented relay datagram is dropped: RFC 1928
// makes reassembly optional and no relay we know sends fragments; a
// fragment passed on as a whole datagram would corrupt QUIC's packets.
var errSOCKS5Frag = errors.New("socks5: fragmented UDP datagram (FRAG != 0) is not supported")

// socks5Addr is a target as a SOCKS5 header names it: an IP address, or
// a host name the proxy resolves (socks5h).
type socks5Addr struct {
	ip   netip.Addr // valid for an address
	name string     // otherwise the host name
	port uint16
}

func (a socks5Addr) Network() string { return "udp" }

func (a socks5Addr) String() string {
	if a.ip.IsValid() {
		return netip.AddrPortFrom(a.ip, a.port).String()
	}
	return net.JoinHostPort(a.name, strconv.Itoa(int(a.port)))
}

// appendSOCKS5Addr appends ATYP, DST.ADDR and DST.PORT.
func appendSOCKS5Addr(b []byte, a socks5Addr) ([]byte, error) {
	switch {
	case a.ip.Is4() || a.ip.Is4In6():
		ip := a.ip.Unmap().As4()
		b = append(append(b, socks5ATYPv4), ip[:]...)
	case a.ip.Is6():
		ip := a.ip.As16()
		b = append(append(b, socks5ATYPv6), ip[:]...)
	case a.name != "":
		if len(a.name) > 255 {
			return nil, fmt.Errorf("socks5: host name of %d bytes is longer than 255", len(a.name))
		}
		b = append(append(b, socks5ATYPName, byte(len(a.name))), a.name...)
	default:
		return nil, errors.New("socks5: empty address")
	}
	return binary.BigEndian.AppendUint16(b, a.port), nil
}

// readSOCKS5Addr reads ATYP, the address and the port from b and returns
// how many bytes they took.
func readSOCKS5Addr(b []byte) (socks5Addr, int, error) {
	if len(b) < 1 {
		return socks5Addr{}, 0, errors.New("socks5: short address")
	}
	var a socks5Addr
	n := 1
	switch b[0] {
	case socks5ATYPv4:
		if len(b) < 1+4+2 {
			return a, 0, errors.New("socks5: short IPv4 address")
		}
		a.ip = netip.AddrFrom4([4]byte(b[1:5]))
		n += 4
	case socks5ATYPv6:
		if len(b) < 1+16+2 {
			return a, 0, errors.New("socks5: short IPv6 address")
		}
		a.ip = netip.AddrFrom16([16]byte(b[1:17]))
		n += 16
	case socks5ATYPName:
		if len(b) < 2 || b[1] == 0 || len(b) < 2+int(b[1])+2 {
			return a, 0, errors.New("socks5: short or empty host name")
		}
		a.name = string(b[2 : 2+int(b[1])])
		n += 1 + int(b[1])
	default:
		return a, 0, fmt.Errorf("socks5: unknown address type %#x", b[0])
	}
	a.port = binary.BigEndian.Uint16(b[n:])
	return a, n + 2, nil
}

// encodeSOCKS5UDP prefixes payload with the UDP request header for dst
// (RSV 0, FRAG 0).
func encodeSOCKS5UDP(dst socks5Addr, payload []byte) ([]byte, error) {
	b, err := appendSOCKS5Addr(make([]byte, 3, socks5MaxHeader+len(payload)), dst)
	if err != nil {
		return nil, err
	}
	return append(b, payload...), nil
}

// decodeSOCKS5UDP splits a relayed datagram into its source and payload;
// a fragment or a malformed header is an error (the datagram is dropped).
func decodeSOCKS5UDP(b []byte) (socks5Addr, []byte, error) {
	if len(b) < 4 {
		return socks5Addr{}, nil, fmt.Errorf("socks5: UDP datagram of %d bytes is shorter than its header", len(b))
	}
	if b[0] != 0 || b[1] != 0 {
		return socks5Addr{}, nil, fmt.Errorf("socks5: UDP header reserved bytes %#x %#x, want 0", b[0], b[1])
	}
	if b[2] != 0 {
		return socks5Addr{}, nil, errSOCKS5Frag
	}
	a, n, err := readSOCKS5Addr(b[3:])
	if err != nil {
		return socks5Addr{}, nil, err
	}
	return a, b[3+n:], nil
}

// socks5UDPConn is the QUIC client's socket through a SOCKS5 relay: it
// writes every datagram to the relay with dst's header and returns only
// datagrams that come from the relay with a well-formed, unfragmented
// header. The TCP control connection lives as long as it: closing one
// closes the other (RFC 1928: the association ends with the TCP
// connection).
type socks5UDPConn struct {
	udp    *net.UDPConn
	relay  *net.UDPAddr
	ctrl   net.Conn
	dst    socks5Addr
	remote net.Addr // what ReadFrom reports: the address QUIC dialled
	header []byte

	// quic-go reads from one goroutine and writes from another; each side
	// reuses its buffer rather than allocating per datagram.
	rmu, wmu   sync.Mutex
	rbuf, wbuf []byte

	dropped   atomic.Int64
	closeOnce sync.Once
	closeErr  error
}

func (c *socks5UDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if len(c.rbuf) < len(p)+socks5MaxHeader {
		c.rbuf = make([]byte, len(p)+socks5MaxHeader)
	}
	buf := c.rbuf
	for {
		n, from, err := c.udp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return 0, nil, err
		}
		// Only the relay may speak for the target: anyone else on the
		// network could otherwise inject packets into the connection.
		if from.Addr().Unmap() != c.relay.AddrPort().Addr().Unmap() || from.Port() != c.relay.AddrPort().Port() {
			c.dropped.Add(1)
			continue
		}
		src, payload, err := decodeSOCKS5UDP(buf[:n])
		if err != nil {
			c.dropped.Add(1)
			continue
		}
		// socks5h: the relay reports the address it resolved the name to,
		// which we cannot compare; otherwise the source must be the target.
		if c.dst.ip.IsValid() && (src.ip.Unmap() != c.dst.ip.Unmap() || src.port != c.dst.port) {
			c.dropped.Add(1)
			continue
		}
		return copy(p, payload), c.remote, nil
	}
}

func (c *socks5UDPConn) WriteTo(p []byte, _ net.Addr) (int, error) {
	// One QUIC connection per association: the header is always dst's.
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = append(append(c.wbuf[:0], c.header...), p...)
	if _, err := c.udp.WriteTo(c.wbuf, c.relay); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Close ends the association: the UDP socket and the control connection.
func (c *socks5UDPConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = errors.Join(c.udp.Close(), c.ctrl.Close())
	})
	return c.closeErr
}

func (c *socks5UDPConn) LocalAddr() net.Addr                { return c.udp.LocalAddr() }
func (c *socks5UDPConn) SetDeadline(t time.Time) error      { return c.udp.SetDeadline(t) }
func (c *socks5UDPConn) SetReadDeadline(t time.Time) error  { return c.udp.SetReadDeadline(t) }
func (c *socks5UDPConn) SetWriteDeadline(t time.Time) error { return c.udp.SetWriteDeadline(t) }
func (c *socks5UDPConn) SetReadBuffer(n int) error          { return c.udp.SetReadBuffer(n) }
func (c *socks5UDPConn) SetWriteBuffer(n int) error         { return c.udp.SetWriteBuffer(n) }

// watchControl closes the association when the proxy closes the control
// connection (or sends anything on it: the protocol has nothing to say
// there after the reply).
func (c *socks5UDPConn) watchControl() {
	var b [1]byte
	_, _ = c.ctrl.Read(b[:])
	c.Close()
}

// socks5Associate opens a UDP association with the SOCKS5 proxy pu for
// datagrams to dst and returns the socket QUIC runs on. remote is what
// the socket reports as the datagrams' source.
func (t *Transport) socks5Associate(ctx context.Context, pu *url.URL, dst socks5Addr, remote net.Addr) (*socks5UDPConn, error) {
	name := weburl.RedactURL(pu)
	fail := func(err error) error { return fmt.Errorf("socks5 proxy %s: UDP ASSOCIATE: %w", name, err) }
	header, err := appendSOCKS5Addr(make([]byte, 3, socks5MaxHeader), dst)
	if err != nil {
		return nil, fail(err)
	}
	ctrl, err := t.dialContext(ctx, "tcp", proxyAddr(pu))
	if err != nil {
		return nil, fail(err)
	}
	stop := context.AfterFunc(ctx, func() { ctrl.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	hctx, cancel := context.WithTimeout(ctx, t.handshakeTimeout())
	defer cancel()
	if d, ok := hctx.Deadline(); ok {
		ctrl.SetDeadline(d)
	}
	relay, err := socks5Handshake(ctrl, pu)
	if err != nil {
		ctrl.Close()
		return nil, fail(ctxErr(ctx, err))
	}
	ctrl.SetDeadline(time.Time{})
	// A relay at the unspecified address means "where you reached me"
	// (common practice: Dante, and most servers behind NAT).
	if relay.Addr().IsUnspecified() {
		if ta, ok := ctrl.RemoteAddr().(*net.TCPAddr); ok {
			relay = netip.AddrPortFrom(ta.AddrPort().Addr().Unmap(), relay.Port())
		}
	}
	network := "udp4"
	if relay.Addr().Is6() && !relay.Addr().Is4In6() {
		network = "udp6"
	}
	udp, err := net.ListenUDP(network, nil)
	if err != nil {
		ctrl.Close()
		return nil, fail(fmt.Errorf("listen udp: %w", err))
	}
	c := &socks5UDPConn{udp: udp, relay: net.UDPAddrFromAddrPort(relay), ctrl: ctrl, dst: dst, remote: remote, header: header}
	go c.watchControl()
	return c, nil
}

// socks5Handshake negotiates authentication and sends UDP ASSOCIATE on
// the control connection; it returns the relay's address.
func socks5Handshake(rw io.ReadWriter, pu *url.URL) (netip.AddrPort, error) {
	methods := []byte{socks5AuthNone}
	if pu.User != nil {
		methods = []byte{socks5AuthNone, socks5AuthUser}
	}
	if _, err := rw.Write(append([]byte{socks5Version, byte(len(methods))}, methods...)); err != nil {
		return netip.AddrPort{}, err
	}
	var sel [2]byte
	if _, err := io.ReadFull(rw, sel[:]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("reading the method selection: %w", err)
	}
	if sel[0] != socks5Version {
		return netip.AddrPort{}, fmt.Errorf("not a SOCKS5 server (version byte %#x)", sel[0])
	}
	switch sel[1] {
	case socks5AuthNone:
	case socks5AuthUser:
		if pu.User == nil {
			return netip.AddrPort{}, errors.New("the proxy asks for username/password authentication and the proxy URL has none")
		}
		user := pu.User.Username()
		pw, _ := pu.User.Password()
		if len(user) == 0 || len(user) > 255 || len(pw) > 255 {
			return netip.AddrPort{}, errors.New("username/password authentication: username must be 1-255 bytes and password at most 255")
		}
		req := append([]byte{0x01, byte(len(user))}, user...)
		req = append(append(req, byte(len(pw))), pw...)
		if _, err := rw.Write(req); err != nil {
			return netip.AddrPort{}, err
		}
		var st [2]byte
		if _, err := io.ReadFull(rw, st[:]); err != nil {
			return netip.AddrPort{}, fmt.Errorf("reading the authentication status: %w", err)
		}
		if st[1] != 0x00 {
			return netip.AddrPort{}, fmt.Errorf("username/password authentication failed (status %#x)", st[1])
		}
	case socks5AuthNoAcc:
		return netip.AddrPort{}, errors.New("the proxy accepts none of our authentication methods (no authentication, username/password)")
	default:
		return netip.AddrPort{}, fmt.Errorf("the proxy chose authentication method %#x, which we did not offer", sel[1])
	}
	// DST.ADDR/DST.PORT: where we will send from, all zeros as RFC 1928
	// allows when the client does not know it yet.
	if _, err := rw.Write([]byte{socks5Version, socks5CmdUDP, 0, socks5ATYPv4, 0, 0, 0, 0, 0, 0}); err != nil {
		return netip.AddrPort{}, err
	}
	var head [3]byte
	if _, err := io.ReadFull(rw, head[:]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("reading the reply: %w", err)
	}
	if head[0] != socks5Version {
		return netip.AddrPort{}, fmt.Errorf("reply version %#x, want 5", head[0])
	}
	if head[1] != 0 {
		reason := socks5Reply[head[1]]
		if reason == "" {
			reason = "unknown reply code"
		}
		return netip.AddrPort{}, fmt.Errorf("refused: %s (reply %#x)", reason, head[1])
	}
	var atyp [1]byte
	if _, err := io.ReadFull(rw, atyp[:]); err != nil {
		return netip.AddrPort{}, fmt.Errorf("reading the reply: %w", err)
	}
	var rest []byte
	switch atyp[0] {
	case socks5ATYPv4:
		rest = make([]byte, 4+2)
	case socks5ATYPv6:
		rest = make([]byte, 16+2)
	case socks5ATYPName:
		var l [1]byte
		if _, err := io.ReadFull(rw, l[:]); err != nil {
			return netip.AddrPort{}, fmt.Errorf("reading the reply: %w", err)
		}
		// A relay named by host name would need resolving outside the
		// crawl's resolver and guard; no server we know does it.
		return netip.AddrPort{}, errors.New("the proxy names its UDP relay by host name, which is not supported")
	default:
		return netip.AddrPort{}, fmt.Errorf("reply address type %#x is unknown", atyp[0])
	}
	if _, err := io.ReadFull(rw, rest); err != nil {
		return netip.AddrPort{}, fmt.Errorf("reading the reply: %w", err)
	}
	a, _, err := readSOCKS5Addr(append(atyp[:], rest...))
	if err != nil {
		return netip.AddrPort{}, err
	}
	if a.port == 0 {
		return netip.AddrPort{}, errors.New("the proxy's UDP relay port is 0")
	}
	return netip.AddrPortFrom(a.ip.Unmap(), a.port), nil
}
