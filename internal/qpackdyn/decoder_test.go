package qpackdyn

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/proctest"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func feed(t *testing.T, d *Decoder, encoder string) []byte {
	t.Helper()
	var acks []byte
	if err := d.ReadEncoderStream(bufio.NewReader(bytes.NewReader(unhex(t, encoder))), func(b []byte) { acks = append(acks, b...) }); err != nil {
		t.Fatal(err)
	}
	return acks
}

func fields(hf []Field) []string {
	var out []string
	for _, f := range hf {
		out = append(out, f.Name+"="+f.Value)
	}
	return out
}

// TestDecoderDynamicTableRFC9204: the examples of RFC 9204 Appendix B.2 to
// B.5 (encoder stream bytes, field sections, the decoder's Insert Count
// Increments), decoded with the examples' table capacity 220.
func TestDecoderDynamicTableRFC9204(t *testing.T) {
	d := NewDecoder(220, 100)
	ctx := context.Background()
	// B.2: two inserts with static name references, then a section using
	// post-base indices.
	feed(t, d, "3fbd01 c00f7777772e6578616d706c652e636f6d c10c2f73616d706c652f70617468")
	got, dyn, err := d.Decode(ctx, unhex(t, "0381 10 11"))
	if err != nil || !dyn || !slices.Equal(fields(got), []string{":authority=www.example.com", ":path=/sample/path"}) {
		t.Fatalf("B.2: %v %v %v", fields(got), dyn, err)
	}
	// B.3: a speculative insert with a literal name; the decoder answers
	// with Insert Count Increment 1 (0x01).
	if acks := feed(t, d, "4a637573746f6d2d6b65790c637573746f6d2d76616c7565"); !bytes.Equal(acks, []byte{0x01}) {
		t.Errorf("B.3: decoder instructions %x, want 01", acks)
	}
	// B.4: Duplicate, then a section with relative dynamic indices.
	feed(t, d, "02")
	got, _, err = d.Decode(ctx, unhex(t, "0500 80 c1 81"))
	if err != nil || !slices.Equal(fields(got), []string{":authority=www.example.com", ":path=/", "custom-key=custom-value"}) {
		t.Fatalf("B.4: %v %v", fields(got), err)
	}
	// B.5: an insert with a dynamic name reference evicts entry 0.
	feed(t, d, "810d637573746f6d2d76616c756532")
	d.mu.Lock()
	dropped, inserts, last := d.dropped, d.inserts, d.entries[len(d.entries)-1]
	d.mu.Unlock()
	if dropped != 1 || inserts != 5 || last.Name != "custom-key" || last.Value != "custom-value2" {
		t.Errorf("B.5: dropped %d inserts %d last %v", dropped, inserts, last)
	}
	if _, _, err := d.Decode(ctx, unhex(t, "0381 10")); err == nil {
		t.Error("a reference to an evicted entry decoded")
	}
}

// TestDecoderBlockedStream: a section that needs entries the encoder stream
// has not delivered yet waits for them, and gives up with its context.
func TestDecoderBlockedStream(t *testing.T) {
	d := NewDecoder(220, 100)
	done := make(chan []string)
	go func() {
		got, _, err := d.Decode(context.Background(), unhex(t, "0381 10 11"))
		if err != nil {
			t.Error(err)
		}
		done <- fields(got)
	}()
	feed(t, d, "3fbd01 c00f7777772e6578616d706c652e636f6d c10c2f73616d706c652f70617468")
	if got := <-done; !slices.Equal(got, []string{":authority=www.example.com", ":path=/sample/path"}) {
		t.Fatalf("%v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := d.Decode(ctx, unhex(t, "0500 80")); err == nil || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("err %v, want blocked", err)
	}
}

// TestDecoderHostileEncoder: a capacity over the announced one and an entry
// larger than the table are errors, not allocations.
func TestDecoderHostileEncoder(t *testing.T) {
	for _, enc := range []string{"3fe1ff03" /* capacity 65536+... */, "3fbd01 4a637573746f6d2d6b65797f81ff03"} {
		d := NewDecoder(220, 100)
		err := d.ReadEncoderStream(bufio.NewReader(bytes.NewReader(unhex(t, enc))), func([]byte) {})
		if err == nil {
			t.Errorf("%s: no error", enc)
		}
	}
}

// TestDecoderBlockedStreamLimit: a section that would wait for entries
// while as many sections as announced already wait is refused
// (ErrTooManyBlocked, RFC 9204 2.1.2); one that needs nothing new is not.
func TestDecoderBlockedStreamLimit(t *testing.T) {
	d := NewDecoder(220, 1)
	waiting := make(chan error)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_, _, err := d.Decode(ctx, unhex(t, "0381 10 11"))
		waiting <- err
	}()
	proctest.WaitFor(t, "the first section to block", 10*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.blocked == 1
	})
	// Bounded, so that a decoder without the limit fails here instead
	// of waiting for entries that never come.
	second, cancelSecond := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelSecond()
	if _, _, err := d.Decode(second, unhex(t, "0381 10")); !errors.Is(err, ErrTooManyBlocked) {
		t.Fatalf("second blocked section: %v, want ErrTooManyBlocked", err)
	}
	if got, _, err := d.Decode(context.Background(), unhex(t, "0000 d1")); err != nil || fields(got)[0] != ":method=GET" {
		t.Fatalf("static section while one is blocked: %v %v", got, err)
	}
	cancel()
	if err := <-waiting; err == nil {
		t.Fatal("the blocked section did not give up with its context")
	}
	if _, _, err := d.Decode(ctx, unhex(t, "0381 10")); errors.Is(err, ErrTooManyBlocked) {
		t.Fatal("the slot was not freed")
	}
}
