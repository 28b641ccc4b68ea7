package qpackdyn

import (
	"bytes"
	"context"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

// roundTrip feeds what the encoder made to a decoder announcing capacity
// and returns the decoded fields.
func roundTrip(t *testing.T, d *Decoder, encoderStream, section []byte) []string {
	t.Helper()
	if len(encoderStream) > 0 {
		if err := d.ReadEncoderStream(bytes.NewReader(encoderStream), func([]byte) {}); err != nil {
			t.Fatalf("encoder stream %x: %v", encoderStream, err)
		}
	}
	got, _, err := d.Decode(context.Background(), section)
	if err != nil {
		t.Fatalf("section %x: %v", section, err)
	}
	return fields(got)
}

var navigation = []Field{
	{Name: ":method", Value: "GET"}, {Name: ":authority", Value: "example.com"}, {Name: ":scheme", Value: "https"},
	{Name: ":path", Value: "/"}, {Name: "sec-ch-ua-mobile", Value: "?0"}, {Name: "user-agent", Value: "Mozilla/5.0"},
	{Name: "accept-language", Value: "en-US,en;q=0.9"}, {Name: "cookie", Value: "a=1; b=2;c=3"},
}

var navigationCrumbs = []string{":method=GET", ":authority=example.com", ":scheme=https", ":path=/", "sec-ch-ua-mobile=?0",
	"user-agent=Mozilla/5.0", "accept-language=en-US,en;q=0.9", "cookie=a=1", "cookie=b=2", "cookie=c=3"}

// TestEncoderBeforeSettings: until the peer's SETTINGS arrive, sections
// are static and literal only, no encoder stream; a cookie goes out as
// crumbs; a string is Huffman-coded only when that is shorter ("?0" is
// not: 15 bits).
func TestEncoderBeforeSettings(t *testing.T) {
	e := NewEncoder()
	sec, es := e.Encode(0, navigation)
	if es != nil || sec[0] != 0 || sec[1] != 0 {
		t.Fatalf("encoder stream %x, section prefix %x", es, sec[:2])
	}
	if got := roundTrip(t, NewDecoder(0, 100), nil, sec); !slices.Equal(got, navigationCrumbs) {
		t.Fatalf("decoded %q", got)
	}
	// sec-ch-ua-mobile has no static entry: a literal name (001NH=1
	// len 11: Huffman) and the raw value 02 "?0".
	if !bytes.Contains(sec, []byte{0x02, '?', '0'}) {
		t.Errorf("section %x: the value ?0 is not sent raw", sec)
	}
	// RFC 9204 B.1's field (:path /index.html) is a literal with the
	// static name reference 1 (0x51), its value Huffman-coded here
	// (8 bytes, not 11).
	sec, _ = e.Encode(4, []Field{{Name: ":path", Value: "/index.html"}})
	if want := "0000518"; !strings.HasPrefix(hex.EncodeToString(sec), want) {
		t.Errorf("B.1 field: %x, want prefix %s (name ref 1, H bit, 8 bytes)", sec, want)
	}
	if got := roundTrip(t, NewDecoder(0, 100), nil, sec); !slices.Equal(got, []string{":path=/index.html"}) {
		t.Errorf("B.1 field decoded %q", got)
	}
}

// TestEncoderInsertsAndReferences: with a table and blocked streams
// allowed, quiche's encoder sets the capacity (min of the peer's and
// ours), inserts what is not a static exact match, and references it; the
// same list again is references only, without encoder stream bytes.
func TestEncoderInsertsAndReferences(t *testing.T) {
	e := NewEncoder()
	e.SetMaxTableCapacity(65536, 4096)
	e.SetMaxBlockedStreams(100)
	d := NewDecoder(65536, 100)
	sec, es := e.Encode(0, navigation)
	if !bytes.HasPrefix(es, []byte{0x3f, 0xe1, 0x1f}) { // Set Dynamic Table Capacity 4096
		t.Fatalf("encoder stream %x, want Set Dynamic Table Capacity 4096 first", es)
	}
	if got := roundTrip(t, d, es, sec); !slices.Equal(got, navigationCrumbs) {
		t.Fatalf("decoded %q", got)
	}
	// :authority, sec-ch-ua-mobile, user-agent, accept-language and 3
	// cookie crumbs inserted; GET, https and / are static matches.
	if n, _, unacked := e.State(); n != 7 || unacked != 1 {
		t.Errorf("%d inserts, %d streams unacknowledged; want 7, 1", n, unacked)
	}
	sec2, es2 := e.Encode(4, navigation)
	if es2 != nil {
		t.Errorf("second section made encoder instructions %x", es2)
	}
	for _, b := range sec2[2:] {
		if b&0x80 == 0 {
			t.Fatalf("second section %x has a line that is not indexed", sec2)
		}
	}
	if got := roundTrip(t, d, nil, sec2); !slices.Equal(got, navigationCrumbs) {
		t.Fatalf("decoded %q", got)
	}
}

// TestEncoderNoBlockedStreams: a peer that allows a table but no blocked
// stream gets the capacity instruction and nothing inserted (quiche only
// inserts what it may reference at once).
func TestEncoderNoBlockedStreams(t *testing.T) {
	e := NewEncoder()
	e.SetMaxTableCapacity(65536, 65536)
	sec, es := e.Encode(0, navigation)
	if !bytes.Equal(es, []byte{0x3f, 0xe1, 0xff, 0x03}) || sec[0] != 0 {
		t.Fatalf("encoder stream %x, section %x", es, sec)
	}
	if got := roundTrip(t, NewDecoder(65536, 100), es, sec); !slices.Equal(got, navigationCrumbs) {
		t.Fatalf("decoded %q", got)
	}
}

// TestEncoderBlockedStreamLimit: with one blocked stream allowed, a
// second stream while the first is unacknowledged neither references nor
// inserts; after the peer's Section Acknowledgment it references the
// acknowledged entries again. At no time are two streams blocked.
func TestEncoderBlockedStreamLimit(t *testing.T) {
	e := NewEncoder()
	e.SetMaxTableCapacity(4096, 4096)
	e.SetMaxBlockedStreams(1)
	d := NewDecoder(4096, 100)
	sec0, es0 := e.Encode(0, navigation)
	if sec0[0] == 0 {
		t.Fatalf("first section %x does not use the table", sec0)
	}
	sec4, es4 := e.Encode(4, navigation)
	if sec4[0] != 0 || es4 != nil {
		t.Fatalf("second stream while the first is blocked: section %x, encoder stream %x", sec4, es4)
	}
	roundTrip(t, d, es0, sec0)
	if got := roundTrip(t, d, nil, sec4); !slices.Equal(got, navigationCrumbs) {
		t.Fatalf("decoded %q", got)
	}
	if _, err := e.DecoderInstructions(SectionAck(0)); err != nil {
		t.Fatal(err)
	}
	if _, known, unacked := e.State(); known != 7 || unacked != 0 {
		t.Fatalf("known received %d, unacknowledged %d; want 7, 0", known, unacked)
	}
	sec8, es8 := e.Encode(8, navigation)
	if sec8[0] == 0 || es8 != nil {
		t.Fatalf("after the acknowledgment: section %x, encoder stream %x", sec8, es8)
	}
	if got := roundTrip(t, d, nil, sec8); !slices.Equal(got, navigationCrumbs) {
		t.Fatalf("decoded %q", got)
	}
	// Stream 8 references acknowledged entries only: it does not block,
	// so stream 12 may insert.
	sec12, es12 := e.Encode(12, []Field{{Name: "x-new", Value: "1"}})
	if sec12[0] == 0 || len(es12) == 0 {
		t.Fatalf("stream 12: section %x, encoder stream %x", sec12, es12)
	}
	// A cancelled stream releases its references and its blocked slot.
	if _, err := e.DecoderInstructions(StreamCancellation(12)); err != nil {
		t.Fatal(err)
	}
	if _, _, unacked := e.State(); unacked != 1 { // stream 8, not yet acknowledged
		t.Fatalf("%d streams unacknowledged after the cancellation, want 1", unacked)
	}
}

// TestEncoderDuplicatesDrainingEntry: a field whose entry is in the
// oldest quarter of the table (quiche's draining index) is not referenced
// there but duplicated (Duplicate instruction), and the copy referenced.
func TestEncoderDuplicatesDrainingEntry(t *testing.T) {
	e := NewEncoder()
	e.SetMaxTableCapacity(400, 400)
	e.SetMaxBlockedStreams(100)
	d := NewDecoder(400, 100)
	val := strings.Repeat("v", 29) // 32 + 3 + 29 = 64 bytes an entry
	var five []Field
	for _, n := range []string{"x-a", "x-b", "x-c", "x-d", "x-e"} {
		five = append(five, Field{Name: n, Value: val})
	}
	sec, es := e.Encode(0, five)
	roundTrip(t, d, es, sec)
	if _, err := e.DecoderInstructions(SectionAck(0)); err != nil {
		t.Fatal(err)
	}
	// 320 of 400 bytes used, 80 free < 100 (a quarter): x-a drains.
	sec, es = e.Encode(4, five[:1])
	if !bytes.Equal(es, []byte{0x04}) { // Duplicate, relative index 4 (x-a)
		t.Fatalf("encoder stream %x, want Duplicate 04", es)
	}
	// Required Insert Count 6 (encoded 6 % 24 + 1), Base 6, relative 0.
	if !bytes.Equal(sec, []byte{0x07, 0x00, 0x80}) {
		t.Fatalf("section %x, want 07 00 80", sec)
	}
	if got := roundTrip(t, d, es, sec); !slices.Equal(got, []string{"x-a=" + val}) {
		t.Fatalf("decoded %q", got)
	}
}

// TestEncoderHostileDecoderStream: what a peer decoder must not send is
// an error saying what it was, not a panic or a silent skip.
func TestEncoderHostileDecoderStream(t *testing.T) {
	for _, c := range []struct {
		name string
		in   []byte
		want string
	}{
		{"ack for an unknown stream", SectionAck(40), "Section Acknowledgment for stream 40"},
		{"zero increment", []byte{0x00}, "Insert Count Increment of 0"},
		{"increment over the inserts", []byte{0x05}, "over the 1 entries inserted"},
		{"overlong integer", bytes.Repeat([]byte{0xff}, 12), "integer overflow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := NewEncoder()
			e.SetMaxTableCapacity(4096, 4096)
			e.SetMaxBlockedStreams(10)
			e.Encode(0, []Field{{Name: "x", Value: "y"}})
			err := e.ReadDecoderStream(bytes.NewReader(c.in))
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "qpack decoder stream") {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			// The error sticks.
			if _, err2 := e.DecoderInstructions([]byte{0x01}); err2 == nil {
				t.Error("instructions accepted after an error")
			}
		})
	}
	// A partial instruction waits for its end.
	e := NewEncoder()
	if rest, err := e.DecoderInstructions([]byte{0x3f}); err != nil || len(rest) != 1 {
		t.Fatalf("partial: %x %v", rest, err)
	}
}

// TestEncoderTinyTable: a table smaller than any entry (capacity 16 <
// 32) is set but never used, and the Required Insert Count (whose
// encoding divides by capacity/32) is never needed.
func TestEncoderTinyTable(t *testing.T) {
	e := NewEncoder()
	e.SetMaxTableCapacity(16, 65536)
	e.SetMaxBlockedStreams(100)
	sec, es := e.Encode(0, navigation)
	if !bytes.Equal(es, []byte{0x30}) || sec[0] != 0 {
		t.Fatalf("encoder stream %x, section %x", es, sec)
	}
	if got := roundTrip(t, NewDecoder(16, 100), es, sec); !slices.Equal(got, navigationCrumbs) {
		t.Fatalf("decoded %q", got)
	}
}
