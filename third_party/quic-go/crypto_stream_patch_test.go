package quic

import (
	"bytes"
	"testing"

	"github.com/spiderrun/spiderrun/third_party/quic-go/internal/protocol"
)

// TestPatchScrambleECHWithoutSNI: a ClientHello with an ECH extension and
// no SNI (spiderrun patch 3 in PATCHES.md) is sent, scrambled, in full.
// Upstream v0.65.0 never reported data for it.
func TestPatchScrambleECHWithoutSNI(t *testing.T) {
	body := []byte{0x03, 0x03}
	body = append(body, make([]byte, 32)...)                    // random
	body = append(body, 0x00)                                   // session id
	body = append(body, 0x00, 0x02, 0x13, 0x01)                 // cipher suites
	body = append(body, 0x01, 0x00)                             // compression
	ext := []byte{0xfe, 0x0d, 0x00, 0x20}                       // ECH, 32 bytes
	ext = append(ext, bytes.Repeat([]byte{0xee}, 32)...)        //
	ext = append(ext, 0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04) // supported_versions
	body = append(body, byte(len(ext)>>8), byte(len(ext)))
	body = append(body, ext...)
	hello := append([]byte{0x01, 0x00, byte(len(body) >> 8), byte(len(body))}, body...)

	s := newInitialCryptoStream(true)
	if _, err := s.Write(hello); err != nil {
		t.Fatal(err)
	}
	if !s.HasData() {
		t.Fatal("HasData false: the ClientHello would never be sent")
	}
	got := make([]byte, len(hello))
	seen := 0
	var offsets []protocol.ByteCount
	for s.HasData() {
		f := s.PopCryptoFrame(1000)
		if f == nil {
			t.Fatal("PopCryptoFrame returned nil while HasData")
		}
		copy(got[f.Offset:], f.Data)
		seen += len(f.Data)
		offsets = append(offsets, f.Offset)
	}
	if seen != len(hello) || !bytes.Equal(got, hello) {
		t.Fatalf("reassembled %d of %d bytes, equal=%v", seen, len(hello), bytes.Equal(got, hello))
	}
	if len(offsets) < 2 {
		t.Errorf("frames at offsets %v: want the hello scrambled around ECH", offsets)
	}
}
