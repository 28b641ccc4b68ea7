package quic

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/third_party/quic-go/internal/handshake"
	"github.com/spiderrun/spiderrun/third_party/quic-go/internal/protocol"
	"github.com/spiderrun/spiderrun/third_party/quic-go/internal/wire"
	"github.com/spiderrun/spiderrun/third_party/quic-go/quicvarint"
)

// sentRecorder keeps a copy of every datagram the client writes, and
// loses the first drop ones.
type sentRecorder struct {
	net.PacketConn
	mu   sync.Mutex
	sent [][]byte
	drop int
}

func (c *sentRecorder) WriteTo(b []byte, addr net.Addr) (int, error) {
	c.mu.Lock()
	c.sent = append(c.sent, slices.Clone(b))
	lost := len(c.sent) <= c.drop
	c.mu.Unlock()
	if lost {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, addr)
}

// chaosInitial is one client Initial packet as decrypted: its frames in
// order (a run of PADDING bytes once) and CRYPTO fragments [offset, end).
type chaosInitial struct {
	pn       protocol.PacketNumber
	datagram int
	frames   []string
	crypto   [][2]int
}

func (p chaosInitial) count(kind string) int {
	n := 0
	for _, f := range p.frames {
		if f == kind {
			n++
		}
	}
	return n
}

// decryptInitials opens the client's Initial packets of its first flight
// (the ones carrying the ClientHello) with the keys RFC 9001 §5.2 derives
// from the first destination connection ID.
func decryptInitials(datagrams [][]byte) ([]chaosInitial, error) {
	var out []chaosInitial
	var opener handshake.LongHeaderOpener
	for i, d := range datagrams {
		if len(d) == 0 || d[0]&0x80 == 0 {
			continue
		}
		hdr, data, _, err := wire.ParsePacket(slices.Clone(d))
		if err != nil {
			return nil, fmt.Errorf("datagram %d: %w", i, err)
		}
		if hdr.Type != protocol.PacketTypeInitial {
			continue
		}
		if opener == nil {
			_, opener = handshake.NewInitialAEAD(hdr.DestConnectionID, protocol.PerspectiveServer, hdr.Version)
		}
		ext, payload, err := (&packetUnpacker{}).unpackLongHeaderPacket(opener, hdr, data)
		if err != nil {
			return nil, fmt.Errorf("datagram %d: %w", i, err)
		}
		p := chaosInitial{pn: ext.PacketNumber, datagram: len(d)}
		for b := payload; len(b) > 0; {
			switch b[0] {
			case 0x00:
				for len(b) > 0 && b[0] == 0 {
					b = b[1:]
				}
				p.frames = append(p.frames, "PADDING")
			case 0x01:
				b = b[1:]
				p.frames = append(p.frames, "PING")
			case 0x06:
				off, n, err := quicvarint.Parse(b[1:])
				if err != nil {
					return nil, err
				}
				l, m, err := quicvarint.Parse(b[1+n:])
				if err != nil {
					return nil, err
				}
				b = b[1+n+m+int(l):]
				p.frames = append(p.frames, "CRYPTO")
				p.crypto = append(p.crypto, [2]int{int(off), int(off + l)})
			case 0x02, 0x03:
				// An ACK: this Initial answers the server, the first
				// flight is over.
				return out, nil
			default:
				return nil, fmt.Errorf("datagram %d: frame type %#x in an Initial", i, b[0])
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func chaosTestCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// chaosDial makes one connection to quic-go's own server on loopback,
// checks the handshake completes and a stream echoes (so the server
// reassembled the ClientHello), and returns the client's first-flight
// Initials.
func chaosDial(t *testing.T, ln *Listener, chaos bool, drop int) []chaosInitial {
	t.Helper()
	return patchDial(t, ln, &Config{ChaosProtection: chaos, InitialPacketSize: 1250, InitialDestConnIDLength: 8}, drop)
}

// patchDial makes one connection to ln's echo server with conf, losing
// the first drop datagrams, and returns the client's first-flight
// Initials, decrypted.
func patchDial(t *testing.T, ln *Listener, conf *Config, drop int) []chaosInitial {
	t.Helper()
	udp, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	rec := &sentRecorder{PacketConn: udp, drop: drop}
	tr := &Transport{Conn: rec}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := tr.Dial(ctx, ln.Addr(), &tls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"chaos"}}, conf)
	if err != nil {
		t.Fatalf("handshake with %+v: %v", conf, err)
	}
	defer conn.CloseWithError(0, "")
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := str.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	str.Close()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(str, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	ps, err := decryptInitials(rec.sent)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestPatchChaosProtection (spiderrun patch 4 in PATCHES.md): with
// Config.ChaosProtection the client's ClientHello (crypto/tls's, about
// 1.5 KB with its X25519MLKEM768 share, so two Initials) goes out as
// Chromium's quiche lays it out, and quic-go's own server still completes
// the handshake: the first packet carries the hello's first 55..86 bytes
// and its end, the second the middle; each packet has its CRYPTO data cut
// into fragments, 2..10 PING frames and PADDING runs between frames, in
// an order that changes per connection; both datagrams stay 1250 bytes.
// Without the option nothing changes (no PING). With the first flight
// lost, the retransmissions are laid out the same way and the handshake
// completes. Upstream quic-go has no
// such option and lays out `CRYPTO CRYPTO|PADDING CRYPTO...`.
func TestPatchChaosProtection(t *testing.T) {
	ln := patchEchoServer(t)

	layouts := map[string]bool{}
	const dials = 12
	for range dials {
		ps := chaosDial(t, ln, true, 0)
		if err := checkChaosLayout(ps); err != nil {
			t.Fatalf("%v\nlayout: %+v", err, ps)
		}
		var l []string
		for _, p := range ps {
			l = append(l, strings.Join(p.frames, " "))
		}
		layouts[strings.Join(l, "|")] = true
	}
	if len(layouts) < dials/2 {
		t.Errorf("%d layouts over %d connections: the chaos frames are not random per connection", len(layouts), dials)
	}

	for _, p := range chaosDial(t, ln, false, 0) {
		if p.count("PING") != 0 {
			t.Errorf("without ChaosProtection an Initial carries PING frames: %v", p.frames)
		}
	}

	// The first flight lost: its CRYPTO fragments are retransmitted (in
	// chaos-protected Initials too) and the handshake completes.
	ps := chaosDial(t, ln, true, 2)
	if len(ps) < 4 {
		t.Fatalf("%d Initials with the first two lost, want the retransmissions too", len(ps))
	}
	retransmitted := 0
	for _, p := range ps[2:] {
		if p.count("CRYPTO") == 0 {
			continue // a PTO probe with nothing left to resend
		}
		retransmitted++
		if n := p.count("PING"); p.datagram != 1250 || n < 2 || n > 10 {
			t.Errorf("retransmitted Initial: %d bytes, frames %v", p.datagram, p.frames)
		}
	}
	if retransmitted == 0 {
		t.Error("no Initial retransmitted the lost CRYPTO data")
	}
}

// checkChaosLayout checks a first flight against quiche's rules: its
// first two Initials (a slow run may add retransmissions after them).
func checkChaosLayout(ps []chaosInitial) error {
	if len(ps) < 2 {
		return fmt.Errorf("%d Initial packets carry the ClientHello, want 2", len(ps))
	}
	ps = ps[:2]
	covered := func(p chaosInitial) [][2]int {
		cs := slices.Clone(p.crypto)
		slices.SortFunc(cs, func(a, b [2]int) int { return a[0] - b[0] })
		var out [][2]int
		for _, c := range cs {
			if n := len(out); n > 0 && out[n-1][1] == c[0] {
				out[n-1][1] = c[1]
				continue
			}
			out = append(out, c)
		}
		return out
	}
	first, second := covered(ps[0]), covered(ps[1])
	if len(first) != 2 || first[0][0] != 0 || len(second) != 1 || second[0] != [2]int{first[0][1], first[1][0]} {
		return fmt.Errorf("hello split %v | %v: want [0,F) and the end in the first packet, the middle in the second", first, second)
	}
	w := first[1][1]
	f := first[0][1]
	if f < chaosMinFirstFrameLength || f >= chaosMinFirstFrameLength+chaosFirstFrameLengthRandom {
		return fmt.Errorf("first fragment of %d bytes, want 55..86", f)
	}
	m := int(minCryptoFrameSize(protocol.ByteCount(w-1), protocol.ByteCount(w)))
	if got, want := f+first[1][1]-first[1][0], (w+m+1)/2-m; got != want {
		return fmt.Errorf("first packet carries %d bytes of the %d-byte hello, want %d", got, w, want)
	}
	for i, p := range ps {
		if p.datagram != 1250 {
			return fmt.Errorf("packet %d in a datagram of %d bytes, want 1250", i+1, p.datagram)
		}
		if n := p.count("PING"); n < 2 || n > 10 {
			return fmt.Errorf("packet %d has %d PING frames, want 2..10", i+1, n)
		}
		if p.count("PADDING") < 1 {
			return errors.New("no PADDING")
		}
		// Two fragments in the first packet, one in the second, then up
		// to 10 splits.
		if p.count("CRYPTO") > 2-i+chaosMaxAdded {
			return fmt.Errorf("packet %d has %d CRYPTO frames", i+1, p.count("CRYPTO"))
		}
	}
	return nil
}

// patchEchoServer is quic-go's own server on loopback, echoing one
// stream's first bytes per connection.
func patchEchoServer(t *testing.T) *Listener {
	t.Helper()
	t.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true") // the recorder wraps the UDP socket
	ln, err := ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{chaosTestCert(t)}, NextProtos: []string{"chaos"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				s, err := c.AcceptStream(context.Background())
				if err != nil {
					return
				}
				buf := make([]byte, 4)
				n, _ := s.Read(buf)
				s.Write(buf[:n])
				s.Close()
			}()
		}
	}()
	return ln
}

// TestPatchFirstPacketNumber (spiderrun patch 5 in PATCHES.md): with
// Config.FirstPacketNumber 1 the client's Initials are numbered from 1,
// as Chromium's; unset, from 0, as upstream's; the handshake completes
// either way, also with the first flight lost (its retransmissions count
// on). A value out of range is refused.
func TestPatchFirstPacketNumber(t *testing.T) {
	ln := patchEchoServer(t)
	for _, c := range []struct {
		first, drop int
		want        []protocol.PacketNumber
	}{
		{0, 0, []protocol.PacketNumber{0, 1}},
		{1, 0, []protocol.PacketNumber{1, 2}},
		{1, 2, []protocol.PacketNumber{1, 2}}, // the lost flight, then its retransmission
	} {
		ps := patchDial(t, ln, &Config{InitialPacketSize: 1250, InitialDestConnIDLength: 8, ChaosProtection: true, FirstPacketNumber: c.first}, c.drop)
		var got []protocol.PacketNumber
		for _, p := range ps {
			got = append(got, p.pn)
		}
		if len(got) < 2 || !slices.Equal(got[:2], c.want) {
			t.Errorf("FirstPacketNumber %d: Initial packet numbers %v, want %v first", c.first, got, c.want)
		}
		if c.drop > 0 && (len(got) < 4 || got[2] <= got[1]) {
			t.Errorf("FirstPacketNumber %d, first flight lost: packet numbers %v, want the retransmission counting on", c.first, got)
		}
	}
	if err := validateConfig(&Config{FirstPacketNumber: -1}); err == nil {
		t.Error("FirstPacketNumber -1 accepted")
	}
}
