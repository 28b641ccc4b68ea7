package qpackdyn_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
)

// TestEncoderMatchesChromiumEvidence replays what real Chromium sent to a
// server allowing a QPACK dynamic table (internal/livebrowser's
// TestChromiumQPACK keeps it; no browser needed): for every connection,
// qpackdyn's encoder given the header lists the server decoded, with the
// server's SETTINGS applied where they reached the browser, makes
// Chromium's encoder stream and field sections byte for byte.
func TestEncoderMatchesChromiumEvidence(t *testing.T) {
	b, err := os.ReadFile("testdata/chromium_qpack.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev fingerprint.QPACKEvidence
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatal(err)
	}
	conns, err := fingerprint.QPACKConns(ev.Captures)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) < 2 {
		t.Fatalf("%d connections in the evidence, want the two pages", len(conns))
	}
	requests := 0
	for _, q := range conns {
		if q.SettingsAt >= len(q.Sections) || len(q.EncoderStream) == 0 {
			t.Errorf("connection %d: Chromium did not use the dynamic table", q.Conn)
		}
		for _, d := range q.Replay(nil, ev.ServerCapacity, ev.ServerBlockedStreams, ev.BrowserTableCapacity) {
			t.Errorf("connection %d: %s", q.Conn, d)
		}
		requests += len(q.Streams)
	}
	t.Logf("%s: %d connections, %d requests replayed byte for byte", ev.Browser, len(conns), requests)
}
