package livebrowser_test

import (
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/golden"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/internal/qpackdyn"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// The QPACK settings the server announces, as servers that allow a
// dynamic table do (a table Chromium fills, more blocked streams than a
// page opens), and Chromium's own table capacity (its SETTINGS: 65536),
// which caps what its encoder sets.
const (
	qpackServerCapacity = 65536
	qpackServerBlocked  = 100
	qpackClientCapacity = 65536
)

// qpackEvidence keeps Chromium's QPACK captures; qpackdyn's
// TestEncoderMatchesChromiumEvidence replays them in CI.
const qpackEvidence = "../qpackdyn/testdata/chromium_qpack.json"

// qpackRichPage makes Chromium send several request kinds on one
// connection: the navigation, a stylesheet, a script, two images and two
// fetch()es (their answers are shown, so --dump-dom waits for them).
const qpackRichPage = `<!doctype html><html><head><link rel="icon" href="data:,"><link rel="stylesheet" href="/s.css"><script src="/a.js"></script></head><body><img src="/1.png"><img src="/2.png">
<script>(async () => { for (const p of ["/f1", "/f2"]) { const r = await fetch(p); document.body.insertAdjacentHTML("beforeend", "<p>" + await r.text() + "</p>"); } })();</script></body></html>`

// qpackFetchPage is the sequence our client can send too: the navigation,
// then three fetch()es one after the other (repeated headers).
const qpackFetchPage = `<!doctype html><html><head><link rel="icon" href="data:,"></head><body>
<script>(async () => { for (const p of ["/f1", "/f2", "/f3"]) { const r = await fetch(p); document.body.insertAdjacentHTML("beforeend", "<p>" + await r.text() + "</p>"); } })();</script></body></html>`

func qpackRespond(c fingerprint.Capture) (string, []byte) {
	switch {
	case c.Path == "/rich":
		return "text/html", []byte(qpackRichPage)
	case c.Path == "/":
		return "text/html", []byte(qpackFetchPage)
	case strings.HasPrefix(c.Path, "/f"):
		return "text/plain", []byte("fetched" + c.Path)
	case strings.HasSuffix(c.Path, ".css"):
		return "text/css", []byte("p{}")
	case strings.HasSuffix(c.Path, ".js"):
		return "text/javascript", []byte("1")
	}
	return "image/png", []byte("x")
}

// TestChromiumQPACK: against a server whose SETTINGS allow a QPACK
// dynamic table, real Chromium fills it (Set Dynamic Table Capacity,
// inserts, indexed references). Over a fresh browser per page — a rich
// one (document, style, script, images, fetch) and one of a navigation and
// three fetch()es — Chromium's encoder stream and every field section
// are byte for byte what qpackdyn's quiche encoder makes of the header
// lists the server decoded. Then our client with the browser's profile
// sends the second page's requests (navigation, three fetches) on one
// connection to the same server: its header lists are the browser's (the
// User-Agent made unheadless, as everywhere), and its encoder stream and
// field sections are byte for byte what Chromium's encoder makes of
// them, with the SETTINGS arriving where they did for our client (before
// the first request, or after it: Chromium's navigation races the
// server's SETTINGS the same way).
func TestChromiumQPACK(t *testing.T) {
	bin := livebrowser.Require(t, livebrowser.Chromium)
	ca, err := livebrowser.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv := fingerprint.NewQUICServer(t, fingerprint.QUICConfig{
		Certificate:           &ca.Leaf,
		QPACKMaxTableCapacity: qpackServerCapacity,
		QPACKBlockedStreams:   qpackServerBlocked,
		Respond:               qpackRespond,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	version, err := livebrowser.Version(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	major, _, _ := strings.Cut(version, ".")
	visits := []struct {
		path, done string
		n          int
	}{{"/rich", "<p>fetched/f2</p>", 7}, {"/", "<p>fetched/f3</p>", 4}}
	total := 0
	for _, v := range visits {
		args := chromiumQUICArgs(ca, srv.Port(), t.TempDir(), srv.URL("localhost", v.path))
		// The fetch()es run after the load event: virtual time lets them
		// finish before the DOM is dumped.
		args = slices.Insert(args, len(args)-2, "--virtual-time-budget=10000")
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.WaitDelay = 2 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), v.done) {
			t.Fatalf("chromium %s: %v\n%s", v.path, err, tailOf(out))
		}
		total += v.n
		waitQUICCaptures(t, srv, total)
	}
	browser := srv.Captures()
	conns, err := fingerprint.QPACKConns(browser)
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != len(visits) {
		t.Fatalf("%d connections, want one per visit", len(conns))
	}
	for i, q := range conns {
		if len(q.Streams) != visits[i].n {
			t.Fatalf("%s: %d requests on the connection (%v), want %d", visits[i].path, len(q.Streams), q.Paths, visits[i].n)
		}
		// Chromium used the table: Set Dynamic Table Capacity to the
		// server's 65536, then inserts, referenced by later sections.
		if want := qpackdyn.AppendPrefixInt(nil, 5, 0x20, qpackServerCapacity); !strings.HasPrefix(string(q.EncoderStream), string(want)) {
			t.Errorf("%s: Chromium's encoder stream starts %x, want Set Dynamic Table Capacity %d (%x)", visits[i].path, q.EncoderStream[:min(8, len(q.EncoderStream))], qpackServerCapacity, want)
		}
		if q.SettingsAt >= len(q.Sections) {
			t.Errorf("%s: no field section of Chromium's referenced the dynamic table", visits[i].path)
		}
		for _, d := range q.Replay(nil, qpackServerCapacity, qpackServerBlocked, qpackClientCapacity) {
			t.Errorf("%s: Chromium differs from qpackdyn's quiche encoder: %s", visits[i].path, d)
		}
		t.Logf("Chromium %s: %d requests %v, %d encoder stream bytes, the server's SETTINGS applied from request %d", visits[i].path, len(q.Streams), q.Paths, len(q.EncoderStream), q.SettingsAt)
	}
	if golden.Update() {
		// Only the HTTP layer: the Initials are TestChromiumHTTP3's.
		caps := make([]fingerprint.Capture, len(browser))
		for i, c := range browser {
			caps[i] = fingerprint.Capture{Conn: c.Conn, HTTPVersion: c.HTTPVersion, ALPN: c.ALPN, H3: c.H3,
				Method: c.Method, Path: c.Path, Authority: c.Authority, Headers: c.Headers}
		}
		b, err := json.MarshalIndent(fingerprint.QPACKEvidence{
			Browser:              "chromium " + version + " (Debian, headless)",
			Capture:              "go test ./internal/livebrowser -run TestChromiumQPACK -update",
			ServerCapacity:       qpackServerCapacity,
			ServerBlockedStreams: qpackServerBlocked,
			BrowserTableCapacity: qpackClientCapacity,
			Captures:             caps,
		}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.FromSlash(qpackEvidence), append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Our client, the browser's profile, the second page's requests on
	// one connection.
	profile := "chrome_" + major
	tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: ca.Pool, HandshakeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	page := srv.URL("localhost", "/")
	send := func(path string, kind string) {
		t.Helper()
		u, _ := url.Parse(srv.URL("localhost", path))
		req := &crawl.Request{URL: u.String(), Kind: kind}
		out := &downloader.Outgoing{Method: "GET", URL: u, Impersonate: profile, HTTPVersion: "3", Verify: true, PoolKey: "qpack", Request: req}
		if kind != crawl.KindNavigate {
			req.Parent = page
			out.Headers = crawl.Headers{{Name: "Referer", Value: page}}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		resp, err := tr.RoundTrip(ctx, out)
		if err != nil {
			t.Fatalf("our %s client, %s over HTTP/3: %v", profile, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send("/", crawl.KindNavigate)
	for _, p := range []string{"/f1", "/f2", "/f3"} {
		send(p, crawl.KindFetch)
	}
	waitQUICCaptures(t, srv, total+4)
	oursConns, err := fingerprint.QPACKConns(srv.Captures()[total:])
	if err != nil {
		t.Fatal(err)
	}
	if len(oursConns) != 1 || len(oursConns[0].Streams) != 4 {
		t.Fatalf("our client: %d connections, want the 4 requests on one", len(oursConns))
	}
	ours, chromium := oursConns[0], conns[1]
	// Same inputs: the browser's header lists, unheadless.
	want := make([][]qpackdyn.Field, len(chromium.Fields))
	for i, fs := range chromium.Fields {
		want[i] = slices.Clone(fs)
		for j := range want[i] {
			if want[i][j].Name == "user-agent" {
				want[i][j].Value = strings.Replace(want[i][j].Value, "HeadlessChrome/", "Chrome/", 1)
			}
		}
		if !slices.Equal(ours.Fields[i], want[i]) {
			t.Errorf("%s: our header list differs from Chromium's:\n ours %q\n chromium %q", ours.Paths[i], ours.Fields[i], want[i])
		}
	}
	// Same bytes: what Chromium's encoder makes of those lists, with the
	// SETTINGS where they reached our client.
	for _, d := range ours.Replay(want, qpackServerCapacity, qpackServerBlocked, qpackClientCapacity) {
		t.Errorf("our %s client differs from Chromium's encoder: %s", profile, d)
	}
	// And directly: with the SETTINGS at the same request, the sections
	// that use the table (references only, the values being on the
	// encoder stream, where the User-Agent differs) are Chromium's own
	// bytes.
	if ours.SettingsAt == chromium.SettingsAt {
		for i := ours.SettingsAt; i < len(ours.Sections); i++ {
			if !slices.Equal(ours.Sections[i], chromium.Sections[i]) {
				t.Errorf("%s: our field section %x, Chromium's %x", ours.Paths[i], ours.Sections[i], chromium.Sections[i])
			}
		}
	}
	// The same unidirectional streams: control and QPACK encoder (no
	// decoder stream: the server inserts nothing).
	browserLast, oursLast := browser[len(browser)-1], srv.Captures()[len(srv.Captures())-1]
	if !slices.Equal(oursLast.H3.UniStreams, browserLast.H3.UniStreams) {
		t.Errorf("our unidirectional streams %v, Chromium's %v", oursLast.H3.UniStreams, browserLast.H3.UniStreams)
	}
	if ours.SettingsAt >= len(ours.Sections) {
		t.Errorf("our client never referenced the dynamic table")
	}
	t.Logf("ours: %d requests %v, %d encoder stream bytes, the server's SETTINGS applied from request %d (Chromium: %d)", len(ours.Streams), ours.Paths, len(ours.EncoderStream), ours.SettingsAt, chromium.SettingsAt)
}
