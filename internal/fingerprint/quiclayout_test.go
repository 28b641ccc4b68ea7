package fingerprint

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
)

// chromeH3Evidence is real Chromium 148's HTTP/3 captures (three
// connections), kept by internal/livebrowser's TestChromiumHTTP3.
const chromeH3Evidence = "../../runtime/impersonate/testdata/evidence/chrome_148_h3.json"

// TestInitialLayoutOfChromium: every connection of real Chromium splits
// its two-packet ClientHello as quiche's chaos protection does (the first
// 55..86 bytes and the end in packet 1, the middle in packet 2, packet 1
// carrying ceil((W+5)/2)-5 bytes), with 2..10 PINGs per packet, and the
// summary states those ranges.
func TestInitialLayoutOfChromium(t *testing.T) {
	b, err := os.ReadFile(chromeH3Evidence)
	if err != nil {
		t.Fatal(err)
	}
	var caps []Capture
	if err := json.Unmarshal(b, &caps); err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		l := c.QUIC.LayoutCounts()
		if l.Split != SplitChaos || l.First < 55 || l.First > 86 {
			t.Errorf("connection %d: split %q, head %d bytes", c.Conn, l.Split, l.First)
		}
		for i, n := range l.Ping {
			if n < 2 || n > 10 {
				t.Errorf("connection %d packet %d: %d PINGs", c.Conn, i+1, n)
			}
		}
	}
	sum, err := SummarizeQUIC(caps)
	if err != nil {
		t.Fatal(err)
	}
	want := &QUICInitialLayout{HelloSplit: SplitChaos, PingFrames: "2-10", PaddingRuns: "1 or more",
		CryptoFrames: []string{"packet 1: 2-12", "packet 2: 1-11"}}
	if !reflect.DeepEqual(sum.InitialLayout, want) {
		t.Errorf("layout %+v, want %+v", sum.InitialLayout, want)
	}
	if !sum.ChaosProtected() {
		t.Error("ChaosProtected false for Chromium")
	}
}

// quicGoHello is an Initial flight as upstream quic-go sends a 1.5 KB
// ClientHello: scrambled around the SNI in the first packet, no PING,
// padding only in the second.
func quicGoHello() *QUICHello {
	return &QUICHello{Packets: []InitialPacket{
		{Frames: []string{FrameCrypto, FrameCrypto}, Crypto: [][2]uint64{{0, 120}, {127, 1080}}},
		{Frames: []string{FramePadding, FrameCrypto, FrameCrypto}, Crypto: [][2]uint64{{120, 7}, {1207, 300}}},
	}}
}

// TestInitialLayoutOfQuicGo: quic-go's layout is told apart by every
// rule (its split, no PING, a packet without PADDING), and a client
// whose random parts do not spread fails LayoutSpread.
func TestInitialLayoutOfQuicGo(t *testing.T) {
	l := summarizeLayout([]*QUICHello{quicGoHello(), quicGoHello()})
	if l.HelloSplit != SplitScramble || l.PingFrames != "seen 0-0" || l.PaddingRuns != "seen 0-1" {
		t.Errorf("quic-go layout summarised as %+v", l)
	}
	var caps []Capture
	for i := range 16 {
		caps = append(caps, Capture{Conn: i + 1, QUIC: quicGoHello()})
	}
	if err := LayoutSpread(caps); err == nil || !strings.Contains(err.Error(), "PING counts") {
		t.Errorf("LayoutSpread on a fixed layout: %v", err)
	}
	if d := LayoutDistribution(caps); !strings.Contains(d, "16 connections; split other×16; packet 1: PING 0×16, CRYPTO 2×16, PADDING runs 0×16") {
		t.Errorf("distribution %s", d)
	}
}
