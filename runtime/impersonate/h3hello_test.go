package impersonate

import (
	"slices"
	"testing"

	"github.com/spiderrun/spiderrun/third_party/quic-go/quicvarint"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
)

// chromium156QUICJA4 is Chromium 156's JA4 over QUIC as measured for
// issue 17 (with SNI).
const chromium156QUICJA4 = "q13d0312h3_55b375c5d22e_178839b6cec1"

// TestQUICHelloMatchesChromium156: the chrome profile's QUIC ClientHello
// has Chromium 156's measured JA4 (q prefix), and its transport
// parameters are the measured ones (13, one GREASE, values as measured)
// in an order that changes per connection.
func TestQUICHelloMatchesChromium156(t *testing.T) {
	p, err := LoadProfile("chrome_156")
	if err != nil {
		t.Fatal(err)
	}
	orders := map[string]bool{}
	for i := 0; i < 5; i++ {
		h, err := p.QUICHello("example.com")
		if err != nil {
			t.Fatal(err)
		}
		record := append([]byte{0x16, 0x03, 0x01, byte(len(h.ClientHello) >> 8), byte(len(h.ClientHello))}, h.ClientHello...)
		ch, err := fingerprint.ParseClientHello(record)
		if err != nil {
			t.Fatal(err)
		}
		if ja4 := "q" + ch.JA4()[1:]; ja4 != chromium156QUICJA4 {
			t.Errorf("JA4 %s, want %s (%s)", ja4, chromium156QUICJA4, ch.JA4R())
		}
		if len(h.ClientHello) <= 1250 {
			t.Errorf("ClientHello of %d bytes: Chromium's does not fit one Initial", len(h.ClientHello))
		}
		want := map[uint64]uint64{0x01: 30000, 0x03: 1472, 0x04: 15728640, 0x05: 6291456, 0x06: 6291456, 0x07: 6291456, 0x08: 100, 0x09: 103, 0x20: 65536}
		var ids []uint64
		grease := 0
		for _, tp := range h.TransportParameters {
			ids = append(ids, tp.ID)
			if tp.ID%31 == 27 {
				grease++
				continue
			}
			if w, ok := want[tp.ID]; ok {
				v, _, err := quicvarint.Parse(tp.Value)
				if err != nil || v != w {
					t.Errorf("transport parameter %#x = %x, want %d", tp.ID, tp.Value, w)
				}
				delete(want, tp.ID)
			}
		}
		if len(h.TransportParameters) != 13 || grease != 1 || len(want) != 0 {
			t.Errorf("transport parameters %x: want 13 with one GREASE; missing %v", ids, want)
		}
		orders[string(fmtIDs(ids))] = true
		if h.DCIDLength != 8 || h.SCIDLength != 0 {
			t.Errorf("DCID %d SCID %d, want 8 and 0", h.DCIDLength, h.SCIDLength)
		}
	}
	if len(orders) < 2 {
		t.Error("transport parameter order never changed over 5 connections")
	}
}

func fmtIDs(ids []uint64) []byte {
	var b []byte
	for _, id := range slices.Clone(ids) {
		if id%31 == 27 {
			id = 27 // GREASE ids differ anyway
		}
		b = quicvarint.Append(b, id)
	}
	return b
}
