package impersonate

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// firstHellos makes n first connections with profile (a fresh Transport
// each time, so no session is resumed) and returns their ClientHellos as
// the server saw them.
func firstHellos(t *testing.T, srv *fingerprint.Server, profile, version string, n int) []*HelloRandom {
	t.Helper()
	var out []*HelloRandom
	for i := range n {
		tr := newTestTransport(t, srv.CertPool(), "")
		c := fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: mustURL(t, srv.URL("localhost", fmt.Sprintf("/%d", i))),
			Impersonate: profile, HTTPVersion: version, Verify: true})
		tr.Close()
		out = append(out, mustHelloRandom(t, c.ClientHello))
	}
	return out
}

func mustHelloRandom(t *testing.T, hexHello string) *HelloRandom {
	t.Helper()
	raw, err := hex.DecodeString(hexHello)
	if err != nil {
		t.Fatal(err)
	}
	h, err := ParseHelloRandom(raw)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestBoringSSLRandomFields holds chrome_156's per-connection randomness
// to BoringSSL's rules, as measured from Chromium 148 over 40 connections
// (specs/impersonation.md, Per-connection randomness; the live comparison
// is internal/livebrowser's TestRandomFields): GREASE values drawn afresh
// in the cipher list, supported_groups (the same value as the key share's
// GREASE group), supported_versions and two extensions, first and last,
// that differ; in signature_algorithms when the capture has one (Chromium
// 156, not 148); the ECH GREASE extension 186,
// 218, 250 or 282 bytes long; the extension order shuffled.
func TestBoringSSLRandomFields(t *testing.T) {
	srv, err := fingerprint.Start(fingerprint.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ours := firstHellos(t, srv, "chrome_156", "", 40)
	ech, sig := map[int]int{}, map[uint16]int{}
	for _, h := range ours {
		ech[h.ECHLen]++
		sig[h.SigAlgGREASE]++
		if h.CipherGREASE == 0 || h.VersionGREASE == 0 || h.GroupGREASE != h.KeyShareGREASE {
			t.Errorf("GREASE placement: %+v", *h)
		}
		if len(h.ExtGREASE) != 2 || h.ExtGREASE[0] == h.ExtGREASE[1] || h.ExtGREASEAt[0] != 0 || h.ExtGREASEAt[1] != len(h.Order)+1 {
			t.Errorf("GREASE extensions %#04x at %v of %d", h.ExtGREASE, h.ExtGREASEAt, len(h.Order)+2)
		}
	}
	// Chromium 156 (the capture chrome_156 comes from) sends a GREASE
	// signature algorithm and draws it per connection.
	if len(sig) < 2 || sig[0] > 0 {
		t.Errorf("signature_algorithms GREASE over 40 connections: %v", sig)
	}
	for l := range ech {
		if l != 186 && l != 218 && l != 250 && l != 282 {
			t.Errorf("ECH GREASE length %d, not one of BoringSSL's 186/218/250/282", l)
		}
	}
	// 40 draws from 4 lengths: all four show up but with probability 4e-5.
	if len(ech) < 3 {
		t.Errorf("ECH GREASE lengths %v over 40 connections: BoringSSL draws one of four per connection", ech)
	}
	// Half of the sample against the whole: two disjoint halves of 20
	// miss one of the four ECH lengths by chance in 1 run of 80 (a length
	// absent from 20 draws: (3/4)^20), which RandomDiff reports.
	if d := RandomDiff(ours, ours[20:]); d != nil {
		t.Errorf("half of our own hellos differs from all of them as distributions: %v", d)
	}
}

// TestResumedCaptureIsReplayedAsFirstConnection is the decrypt_error bug of
// issue 16: a browser's captured "first" navigation can be a resumed
// connection, whose pre_shared_key holds the browser's ticket and a binder
// made with the browser's secret. Replayed as captured to the server that
// issued the ticket, the server accepts the ticket, checks the binder and
// refuses the handshake with decrypt_error. A captured hello is replayed
// as a first connection: no pre_shared_key until we hold a ticket of our
// own.
func TestResumedCaptureIsReplayedAsFirstConnection(t *testing.T) {
	srv, tr := fpServer(t, fingerprint.Config{CloseAfterResponse: true})
	// A client resumes its session on the second connection: its hello is
	// what a capture of a resumed browser connection holds.
	var resumed fingerprint.Capture
	for i := range 2 {
		resumed = fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: mustURL(t, srv.URL("localhost", fmt.Sprintf("/r%d", i))), Impersonate: "chrome_156", Verify: true})
	}
	if h := mustHelloRandom(t, resumed.ClientHello); !h.PSK {
		t.Fatalf("the second connection did not resume (extensions %v): nothing to test", h.Order)
	}
	p, err := LoadProfile("chrome_156")
	if err != nil {
		t.Fatal(err)
	}
	// The capture steps keep the hello and tell the user it was resumed.
	raw, _ := hex.DecodeString(resumed.ClientHello)
	var captured Profile
	notes, err := UpdateFromCapture(&captured, "", Captured{ClientHello: raw, HTTPVersion: "2", Headers: p.DefaultHeaders()})
	if err != nil || !strings.Contains(fmt.Sprint(notes), "resumed a TLS session") {
		t.Errorf("capture of a resumed connection: notes %v, %v", notes, err)
	}
	p.Name, p.Source, p.TLS.ClientHello = "resumed_capture", "a resumed connection", resumed.ClientHello
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "resumed.yaml")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		fresh := newTestTransport(t, srv.CertPool(), "")
		c := fetchCapture(t, fresh, &downloader.Outgoing{Method: "GET", URL: mustURL(t, srv.URL("localhost", fmt.Sprintf("/f%d", i))), Impersonate: file, Verify: true})
		if h := mustHelloRandom(t, c.ClientHello); h.PSK || strings.Contains(fmt.Sprint(h.Order), "42") {
			t.Errorf("a first connection sent the captured session's extensions: %v", h.Order)
		}
	}
}
