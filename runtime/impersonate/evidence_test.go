package impersonate

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// readEvidence loads one capture kept by internal/livebrowser's
// writeEvidence (a real browser's request as the fingerprinting server
// saw it).
func readEvidence(t *testing.T, file string) fingerprint.Capture {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c fingerprint.Capture
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	raw, err := hex.DecodeString(c.ClientHello)
	if err != nil {
		t.Fatalf("%s: client_hello_hex: %v", file, err)
	}
	if c.TLS, err = fingerprint.ParseClientHello(raw); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return c
}

// TestProfileEvidence holds each captured shipped profile to its evidence
// (testdata/evidence/NAME_{h2,h1,resumed}.json, the real browser's
// navigations and resumed connection, written by `go test
// ./internal/livebrowser -run 'TestChromium|TestFirefox' -update`): the
// profile file is exactly what the capture steps make of the evidence
// (`-update` here rewrites profiles/NAME.yaml from it), and our client
// replaying the profile reaches a fingerprinting server with the
// browser's JA4, JA3N, Akamai string, HEADERS priority and navigation
// headers (names, order, values) over HTTP/2 and HTTP/1.1, and the
// browser's resumed JA4 and JA3N. No browser is needed: this runs in CI.
func TestProfileEvidence(t *testing.T) {
	files, _ := filepath.Glob("testdata/evidence/*_h2.json")
	if len(files) == 0 {
		t.Fatal("no evidence under testdata/evidence")
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), "_h2.json")
		t.Run(name, func(t *testing.T) {
			h2 := readEvidence(t, f)
			h1 := readEvidence(t, strings.Replace(f, "_h2", "_h1", 1))
			var p Profile
			for _, c := range []fingerprint.Capture{h2, h1} {
				if _, err := UpdateFromCapture(&p, name, CapturedFrom(c)); err != nil {
					t.Fatal(err)
				}
			}
			// The HTTP/3 evidence (TestChromiumHTTP3's captures over
			// several QUIC connections) makes the http3 section.
			kinds := "h2,h1,resumed"
			var h3caps []fingerprint.Capture
			if b, err := os.ReadFile(strings.Replace(f, "_h2", "_h3", 1)); err == nil {
				if err := json.Unmarshal(b, &h3caps); err != nil {
					t.Fatalf("%s_h3.json: %v", name, err)
				}
				if p.HTTP3, err = HTTP3FromQUIC(h3caps); err != nil {
					t.Fatalf("%s_h3.json: %v", name, err)
				}
				kinds += ",h3"
			}
			y, err := p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			major := p.Version
			header := fmt.Sprintf("# Captured from the real %s %s (internal/livebrowser, go test ./internal/livebrowser -run %s -update);\n"+
				"# evidence: runtime/impersonate/testdata/evidence/%s_{%s}.json, replayed by TestProfileEvidence.\n",
				map[string]string{"chrome": "Chromium", "firefox": "Firefox ESR"}[p.Browser], major,
				map[string]string{"chrome": "TestChromium", "firefox": "TestFirefox"}[p.Browser], name, kinds)
			golden.Check(t, filepath.Join("profiles", name+".yaml"), append([]byte(header), y...))

			srv, tr := fpServer(t, fingerprint.Config{CloseAfterResponse: true})
			trs := map[string]*Transport{"2": tr, "1.1": newTestTransport(t, srv.CertPool(), "")}
			for _, v := range []struct {
				version string
				browser fingerprint.Capture
			}{{"2", h2}, {"1.1", h1}} {
				ours := fetchCapture(t, trs[v.version], &downloader.Outgoing{Method: "GET", URL: mustURL(t, srv.URL("localhost", "/")),
					Impersonate: name, HTTPVersion: v.version, Verify: true})
				b := v.browser
				if ours.JA4 != b.JA4 || ours.JA3N != b.JA3N {
					t.Errorf("HTTP/%s: JA4 %s JA3N %s, browser %s %s", v.version, ours.JA4, ours.JA3NHash, b.JA4, b.JA3NHash)
				}
				if ours.Akamai != b.Akamai {
					t.Errorf("HTTP/%s: Akamai %s, browser %s", v.version, ours.Akamai, b.Akamai)
				}
				if v.version == "2" && fmt.Sprint(ours.H2.HeadersPriority) != fmt.Sprint(b.H2.HeadersPriority) {
					t.Errorf("HEADERS priority %+v, browser %+v", ours.H2.HeadersPriority, b.H2.HeadersPriority)
				}
				want := slices.DeleteFunc(b.Headers.Clone(), func(h crawl.Header) bool { return h.Name == "Host" })
				got := slices.DeleteFunc(ours.Headers.Clone(), func(h crawl.Header) bool { return h.Name == "Host" })
				for i := range want {
					want[i].Value = strings.ReplaceAll(want[i].Value, "HeadlessChrome", "Chrome")
				}
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("HTTP/%s navigation headers\n got %v\nwant %v", v.version, got, want)
				}
			}
			if h3caps != nil {
				// Our client over HTTP/3 equals the browser's captures
				// field by field (random fields varying as the browser's).
				browser, err := fingerprint.SummarizeQUIC(h3caps)
				if err != nil {
					t.Fatal(err)
				}
				qsrv := fingerprint.NewQUICServer(t, fingerprint.QUICConfig{})
				checkHTTP3AsBrowser(t, browser, sendHTTP3Navigations(t, qsrv, name, h3Connections))
			}
			resumedFile := strings.Replace(f, "_h2", "_resumed", 1)
			if _, err := os.Stat(resumedFile); err != nil {
				return
			}
			// The server closed the first HTTP/2 connection after its
			// answer: this one resumes its session.
			ours := fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: mustURL(t, srv.URL("localhost", "/again")),
				Impersonate: name, HTTPVersion: "2", Verify: true})
			b := readEvidence(t, resumedFile)
			if ours.JA4 != b.JA4 || ours.JA3N != b.JA3N {
				t.Errorf("resumed: JA4 %s JA3N %s, browser %s %s", ours.JA4, ours.JA3NHash, b.JA4, b.JA3NHash)
			}
		})
	}
}

// capturedElsewhere are captured profiles whose evidence predates
// testdata/evidence: chrome_156 was captured from Chromium 156 with
// `spiderrun fingerprint capture`, whose output is kept, and
// TestChrome156Fidelity replays our client against its values.
var capturedElsewhere = map[string]string{"chrome_156": "testdata/chromium156_capture_h2.txt"}

// TestProfilesAreHonest: every shipped browser profile is either captured,
// with its evidence in the repository, or says derived:, and "random"
// picks captured ones only.
func TestProfilesAreHonest(t *testing.T) {
	for _, name := range browserProfiles() {
		p, err := LoadProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		evidence := filepath.Join("testdata", "evidence", name+"_h2.json")
		if f, ok := capturedElsewhere[name]; ok {
			evidence = f
		}
		_, err = os.Stat(evidence)
		switch {
		case p.Derived == "" && err != nil:
			t.Errorf("%s: neither derived nor captured (no %s)", name, evidence)
		case p.Derived != "" && err == nil:
			t.Errorf("%s: marked derived but has a capture (%s)", name, evidence)
		}
	}
	for _, name := range RandomChoices() {
		if p, _ := LoadProfile(name); p == nil || p.Derived != "" {
			t.Errorf("random may pick %s, which is derived", name)
		}
	}
	if len(RandomChoices()) < 2 {
		t.Errorf("random picks from %v", RandomChoices())
	}
}
