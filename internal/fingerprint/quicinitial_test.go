package fingerprint

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(strings.TrimSpace(s), " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rfcDCID is the client's destination connection ID of RFC 9001 Appendix A
// (and RFC 9369 Appendix A).
const rfcDCID = "8394c8f03e515708"

// The key vectors of RFC 9001 A.1 and RFC 9369 A.1.
func TestInitialKeysRFCVectors(t *testing.T) {
	for _, tc := range []struct {
		name                string
		version             uint32
		client              bool
		secret, key, iv, hp string
	}{
		{"v1 client", QUICv1, true, "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea", "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2"},
		{"v1 server", QUICv1, false, "3c199828fd139efd216c155ad844cc81fb82fa8d7446fa7d78be803acdda951b", "cf3a5331653c364c88f0f379b6067e37", "0ac1493ca1905853b0bba03e", "c206b8d9b9f0f37644430b490eeaa314"},
		{"v2 client", QUICv2, true, "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b", "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9"},
		{"v2 server", QUICv2, false, "0263db1782731bf4588e7e4d93b7463907cb8cd8200b5da55a8bd488eafc37c1", "82db637861d55e1d011f19ea71d5d2a7", "dd13c276499c0249d3310652", "edf6d05c83121201b436e16877593c3a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := DeriveInitialKeys(tc.version, unhex(t, rfcDCID), tc.client)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what      string
				got, want []byte
			}{{"secret", k.Secret, unhex(t, tc.secret)}, {"key", k.Key, unhex(t, tc.key)}, {"iv", k.IV, unhex(t, tc.iv)}, {"hp", k.HP, unhex(t, tc.hp)}} {
				if !bytes.Equal(c.got, c.want) {
					t.Errorf("%s = %x, want %x", c.what, c.got, c.want)
				}
			}
		})
	}
	if _, err := DeriveInitialKeys(0xff00001d, unhex(t, rfcDCID), true); err == nil {
		t.Error("a draft version derived keys")
	}
}

// rfcCryptoFrame is the CRYPTO frame of RFC 9001 A.2 (the same in RFC 9369
// A.2): a ClientHello for example.com with QUIC transport parameters.
const rfcCryptoFrame = "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e86804fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578616d706c652e636f6dff01000100000a00080006001d0017001800100007000504616c706e000500050100000000003300260024001d00209370b2c9caa47fbabaf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b0003020304000d0010000e0403050306030203080408050806002d00020101001c00024001003900320408ffffffffffffffff05048000ffff07048000ffff0801100104800075300901100f088394c8f03e51570806048000ffff"

func readHexFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return unhex(t, string(b))
}

// The protected client Initials of RFC 9001 A.2 and RFC 9369 A.2 open to
// the RFC's plaintext, and the recorder turns them into the ClientHello.
func TestOpenRFCSampleInitial(t *testing.T) {
	for _, tc := range []struct {
		file    string
		version uint32
	}{{"rfc9001-a2-client-initial.hex", QUICv1}, {"rfc9369-a2-client-initial.hex", QUICv2}} {
		t.Run(tc.file, func(t *testing.T) {
			pkt := readHexFile(t, tc.file)
			h, err := ParseLongHeader(pkt)
			if err != nil {
				t.Fatal(err)
			}
			if !h.IsInitial() || h.Version != tc.version || hex.EncodeToString(h.DCID) != rfcDCID || len(h.SCID) != 0 || len(h.Token) != 0 || h.End != 1200 {
				t.Fatalf("header %+v", h)
			}
			keys, _ := DeriveInitialKeys(h.Version, h.DCID, true)
			pn, payload, err := OpenInitial(pkt, h, keys)
			if err != nil {
				t.Fatal(err)
			}
			want := append(unhex(t, rfcCryptoFrame), make([]byte, 1162-len(rfcCryptoFrame)/2)...)
			if pn != 2 || !bytes.Equal(payload, want) {
				t.Fatalf("pn %d, payload %x", pn, payload)
			}
			kinds, frags, err := ParseInitialFrames(payload)
			if err != nil || !slices.Equal(kinds, []string{FrameCrypto, FramePadding}) || len(frags) != 1 || frags[0].Offset != 0 || len(frags[0].Data) != 241 {
				t.Fatalf("frames %v %v %v", kinds, frags, err)
			}

			r := NewQUICRecorder(RecorderLimits{})
			hello, err := r.Datagram("127.0.0.1:4433", pkt)
			if err != nil || hello == nil {
				t.Fatalf("recorder: %v %v", hello, err)
			}
			if hello.Version != tc.version || hello.DCIDLen != 8 || hello.SCIDLen != 0 || hello.TokenLen != 0 ||
				!slices.Equal(hello.Datagrams, []int{1200}) || len(hello.Packets) != 1 || hello.Packets[0].PacketNumber != 2 {
				t.Errorf("hello %+v", hello)
			}
			if hello.TLS.ServerName != "example.com" || !slices.Equal(hello.TLS.ALPN, []string{"alpn"}) {
				t.Errorf("TLS %+v", hello.TLS)
			}
			// The RFC's transport parameters, in its order.
			if got, want := hello.TransportParameterIDs(), []uint64{4, 5, 7, 8, 1, 9, 0x0f, 6}; !slices.Equal(got, want) {
				t.Errorf("transport parameter ids %v, want %v", got, want)
			}
			tp := hello.TransportParameters
			if tp[4].Name != "max_idle_timeout" || tp[4].Value == nil || *tp[4].Value != 30000 || tp[6].Value != nil || tp[6].Hex != rfcDCID {
				t.Errorf("transport parameters %+v %+v", tp[4], tp[6])
			}
			// Two ciphers, eleven extensions, ALPN "alpn".
			if hello.JA4 != "q13d0211an_62ed6f6ca7ad_4d634acda6c0" ||
				hello.JA4R != "q13d0211an_1301,1302_0005,000a,000d,001c,002b,002d,0033,0039,ff01_0403,0503,0603,0203,0804,0805,0806" {
				t.Errorf("JA4 %s (raw %s)", hello.JA4, hello.JA4R)
			}
			if got, ok := r.Take("127.0.0.1:4433"); !ok || got != hello {
				t.Error("Take lost the hello")
			}
			// A retransmission after completion does not start a new hello.
			if h2, err := r.Datagram("127.0.0.1:4433", pkt); h2 != nil || err != nil {
				t.Errorf("retransmission: %v %v", h2, err)
			}
		})
	}
}

// sealInitial builds a protected client Initial (the inverse of
// OpenInitial), checked against RFC 9001 A.2 below, so that tests can make
// the multi-packet flights a browser sends.
func sealInitial(t testing.TB, version uint32, dcid, scid []byte, pn uint32, frames []byte, size int) []byte {
	t.Helper()
	return sealInitialKeys(t, version, dcid, dcid, scid, pn, frames, size)
}

// sealInitialKeys seals with the keys of keyDCID, as a client does once it
// has switched to the server's connection ID.
func sealInitialKeys(t testing.TB, version uint32, keyDCID, dcid, scid []byte, pn uint32, frames []byte, size int) []byte {
	t.Helper()
	first := byte(0xc3) | initialType(version)<<4 // long header, fixed bit, 4-byte packet number
	hdr := []byte{first}
	hdr = binary.BigEndian.AppendUint32(hdr, version)
	hdr = append(hdr, byte(len(dcid)))
	hdr = append(hdr, dcid...)
	hdr = append(hdr, byte(len(scid)))
	hdr = append(hdr, scid...)
	hdr = append(hdr, 0) // no token
	// Pad the payload so the packet is size bytes (a 2-byte length field).
	plen := size - len(hdr) - 2 - 4 - 16
	if plen < len(frames) {
		plen = len(frames)
	}
	payload := append(slices.Clone(frames), make([]byte, plen-len(frames))...)
	hdr = binary.BigEndian.AppendUint16(hdr, uint16(0x4000|(4+len(payload)+16)))
	pnOff := len(hdr)
	hdr = binary.BigEndian.AppendUint32(hdr, pn)
	keys, err := DeriveInitialKeys(version, keyDCID, true)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := aes.NewCipher(keys.Key)
	aead, _ := cipher.NewGCM(blk)
	nonce := slices.Clone(keys.IV)
	for i := 0; i < 4; i++ {
		nonce[11-i] ^= byte(pn >> (8 * i))
	}
	pkt := aead.Seal(slices.Clone(hdr), nonce, payload, hdr)
	hp, _ := aes.NewCipher(keys.HP)
	var mask [16]byte
	hp.Encrypt(mask[:], pkt[pnOff+4:pnOff+20])
	pkt[0] ^= mask[0] & 0x0f
	for i := 0; i < 4; i++ {
		pkt[pnOff+i] ^= mask[1+i]
	}
	return pkt
}

func cryptoFrame(off int, data []byte) []byte {
	b := []byte{0x06}
	b = binary.BigEndian.AppendUint32(b, 0x80000000|uint32(off))
	b = binary.BigEndian.AppendUint16(b, 0x4000|uint16(len(data)))
	return append(b, data...)
}

func TestSealInitialMatchesRFC(t *testing.T) {
	for _, tc := range []struct {
		file    string
		version uint32
	}{{"rfc9001-a2-client-initial.hex", QUICv1}, {"rfc9369-a2-client-initial.hex", QUICv2}} {
		got := sealInitial(t, tc.version, unhex(t, rfcDCID), nil, 2, unhex(t, rfcCryptoFrame), 1200)
		if want := readHexFile(t, tc.file); !bytes.Equal(got, want) {
			t.Errorf("%s: sealed packet differs\n got %x\nwant %x", tc.file, got[:64], want[:64])
		}
	}
}

// The ClientHello split over three Initial packets in two datagrams, its
// CRYPTO fragments out of order and mixed with PING and PADDING (as
// Chromium sends a post-quantum ClientHello), with one fragment resent.
func TestRecorderReassemblesAcrossPackets(t *testing.T) {
	msg := unhex(t, rfcCryptoFrame)[4:] // the ClientHello handshake message
	dcid := unhex(t, "0102030405060708")
	scid := []byte{}
	a, b, c := msg[:100], msg[100:180], msg[180:]
	p0 := sealInitial(t, QUICv1, dcid, scid, 0, slices.Concat([]byte{0x01}, cryptoFrame(180, c), []byte{0, 0, 0}, cryptoFrame(0, a)), 1250)
	p1 := sealInitial(t, QUICv1, dcid, scid, 1, slices.Concat(cryptoFrame(0, a[:10]), []byte{0x01}), 600)
	p2 := sealInitial(t, QUICv1, dcid, scid, 2, cryptoFrame(100, b), 600)
	r := NewQUICRecorder(RecorderLimits{})
	const addr = "127.0.0.1:5000"
	if h, err := r.Datagram(addr, p0); h != nil || err != nil {
		t.Fatalf("first datagram: %v %v", h, err)
	}
	// Two packets coalesced in the second datagram.
	h, err := r.Datagram(addr, slices.Concat(p1, p2))
	if err != nil || h == nil {
		t.Fatalf("second datagram: %v %v", h, err)
	}
	if !slices.Equal(h.Datagrams, []int{1250, 1200}) || len(h.Packets) != 3 {
		t.Fatalf("datagrams %v packets %d", h.Datagrams, len(h.Packets))
	}
	if got := h.Packets[0].Frames; !slices.Equal(got, []string{FramePing, FrameCrypto, FramePadding, FrameCrypto, FramePadding}) {
		t.Errorf("packet 0 frames %v", got)
	}
	if got := h.Packets[0].Crypto; !slices.Equal(got, [][2]uint64{{180, uint64(len(c))}, {0, 100}}) {
		t.Errorf("packet 0 crypto %v", got)
	}
	if h.Packets[2].Datagram != 1 || h.Packets[2].PacketNumber != 2 {
		t.Errorf("packet 2 %+v", h.Packets[2])
	}
	if h.TLS.ServerName != "example.com" || h.DCIDLen != 8 {
		t.Errorf("hello %+v", h)
	}
	if n, bytes := r.Pending(); n != 0 || bytes != 0 {
		t.Errorf("pending state left: %d clients, %d bytes", n, bytes)
	}
	// The client's ACK once it switched to the server's connection ID
	// (still under the first DCID's keys) belongs to the same connection.
	ack := sealInitialKeys(t, QUICv1, dcid, unhex(t, "a1a2a3a4"), scid, 3, []byte{0x02, 0x00, 0x00, 0x00, 0x00}, 1200)
	if h2, err := r.Datagram(addr, ack); h2 != nil || err != nil {
		t.Errorf("ACK after the switch: %v %v", h2, err)
	}
	if got, ok := r.Take(addr); !ok || got != h {
		t.Error("the ACK after the switch lost the hello")
	}
	// A new connection from the same address is a new hello.
	again := sealInitial(t, QUICv1, unhex(t, "0909090909090909"), scid, 0, cryptoFrame(0, msg), 1200)
	if h3, err := r.Datagram(addr, again); h3 == nil || err != nil {
		t.Errorf("second connection: %v %v", h3, err)
	}
}

// Hostile input ends in errors, never a panic, and the recorder's state
// stays within its limits.
func TestRecorderHostileInput(t *testing.T) {
	good := readHexFile(t, "rfc9001-a2-client-initial.hex")
	r := NewQUICRecorder(RecorderLimits{MaxPending: 8, MaxBytes: 4096, MaxTotalBytes: 16 << 10, TTL: time.Minute})
	// Every truncation of a real Initial, and every single-byte change of
	// its header.
	for i := 0; i < len(good); i++ {
		r.Datagram("127.0.0.1:1", good[:i])
	}
	for i := 0; i < 60; i++ {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := slices.Clone(good)
			bad[i] ^= x
			r.Datagram("127.0.0.1:2", bad)
		}
	}
	for _, tc := range []struct {
		name string
		dg   []byte
		want string
	}{
		{"huge length field", unhex(t, "c000000001088394c8f03e5157080000bfffffffffffffff00"), "overruns"},
		{"huge token", unhex(t, "c000000001088394c8f03e51570800bfffffffffffffff"), "token"},
		{"long connection ID", append(unhex(t, "c0000000011f"), make([]byte, 40)...), "exceeds 20"},
		{"garbage payload", append(slices.Clone(good[:30]), bytes.Repeat([]byte{0x5a}, 1170)...), "does not decrypt"},
		{"version negotiation", unhex(t, "80000000000800000000000000000000000001"), "version negotiation"},
	} {
		_, err := r.Datagram("127.0.0.1:3", tc.dg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "127.0.0.1:3") {
			t.Errorf("%s: error %v, want one naming the client and %q", tc.name, err, tc.want)
		}
	}
	// Frames that do not belong in an Initial, and CRYPTO past the limit.
	dcid := unhex(t, rfcDCID)
	for _, tc := range []struct {
		name   string
		frames []byte
		want   string
	}{
		{"stream frame", []byte{0x08, 0x00, 0x01, 0xaa}, "not allowed"},
		{"crypto overrun", unhex(t, "06 00 4fff aabb"), "overruns"},
		{"crypto beyond limit", cryptoFrame(5000, []byte("x")), "limit"},
		{"ack with many ranges", unhex(t, "02 00 00 bfffffffffffffff 00"), "ranges"},
		{"not a ClientHello", cryptoFrame(0, []byte{2, 0, 0, 1, 0}), "not a ClientHello"},
		{"hello too large", cryptoFrame(0, []byte{1, 0xff, 0xff, 0xff}), "exceeds"},
	} {
		_, err := r.Datagram("127.0.0.1:4", sealInitial(t, QUICv1, dcid, nil, 0, tc.frames, 1200))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
	if n, _ := r.Pending(); n > 2 {
		t.Errorf("%d clients pending after errors", n)
	}
	// Endless PING-only Initials from one client end its state.
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		_, err = r.Datagram("127.0.0.1:5", sealInitial(t, QUICv1, dcid, nil, uint32(i), []byte{0x01}, 1200))
	}
	if err == nil || !strings.Contains(err.Error(), "without a complete ClientHello") {
		t.Errorf("PING flood: %v", err)
	}

	// A flood of clients that each send half a ClientHello: the recorder
	// refuses clients beyond MaxPending and its bytes stay bounded.
	half := sealInitial(t, QUICv1, dcid, nil, 0, cryptoFrame(0, unhex(t, rfcCryptoFrame)[4:120]), 1200)
	refused := 0
	for i := 0; i < 1000; i++ {
		_, err := r.Datagram(fmt.Sprintf("127.0.0.1:%d", 10000+i), half)
		if errors.Is(err, ErrTooManyPending) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
	}
	n, b := r.Pending()
	if n > 8 || b > 16<<10 || refused < 990 {
		t.Errorf("after the flood: %d pending clients, %d bytes, %d refused", n, b, refused)
	}
	// Pending clients expire, and then new ones are accepted again.
	r.now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if h, err := r.Datagram("127.0.0.1:9", good); err != nil || h == nil {
		t.Errorf("after expiry: %v %v", h, err)
	}
	if n, _ := r.Pending(); n != 0 {
		t.Errorf("%d clients pending after expiry", n)
	}
}

// Finished hellos that nobody takes are bounded too.
func TestRecorderDoneBounded(t *testing.T) {
	good := readHexFile(t, "rfc9001-a2-client-initial.hex")
	r := NewQUICRecorder(RecorderLimits{MaxDone: 16})
	for i := 0; i < 500; i++ {
		if h, err := r.Datagram(fmt.Sprintf("127.0.0.1:%d", 20000+i), good); h == nil || err != nil {
			t.Fatalf("client %d: %v %v", i, h, err)
		}
	}
	if len(r.done) > 16 {
		t.Errorf("%d finished hellos kept, limit 16", len(r.done))
	}
	if _, ok := r.Take("127.0.0.1:20499"); !ok {
		t.Error("the newest hello was evicted")
	}
}

func FuzzQUICRecorder(f *testing.F) {
	f.Add(readHexFile(f, "rfc9001-a2-client-initial.hex"))
	f.Add(readHexFile(f, "rfc9369-a2-client-initial.hex"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewQUICRecorder(RecorderLimits{MaxPending: 4})
		r.Datagram("127.0.0.1:1", b)
	})
}
