package websocket_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/websocket"
)

// chromium156JA4H1 is real Chromium 156's hello when it offers only
// http/1.1, as browsers do for wss:// (measured with --disable-http2; see
// runtime/impersonate's fidelity tests).
const chromium156JA4H1 = "t13d1516h1_8daaf6152771_5b37b36a67c0"

// TestHandshakeLooksLikeChrome: a wss:// handshake with the chrome_156
// profile, seen by the fingerprinting server, has Chromium's HTTP/1.1
// ClientHello and Chrome's upgrade header order. (The server answers with
// its capture, not 101, so the download itself fails as a refused
// handshake.)
func TestHandshakeLooksLikeChrome(t *testing.T) {
	srv, err := fingerprint.Start(fingerprint.Config{NoHTTP2: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: srv.CertPool()})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	m := websocket.NewManager(websocket.Options{DialTLS: tr.DialTLS, Compression: true})
	defer m.Close()
	req := &crawl.Request{
		URL:         "wss://localhost:" + strconv.Itoa(srv.Port()) + "/feed",
		Impersonate: "chrome_156",
		Headers:     crawl.Headers{{Name: "User-Agent", Value: "Mozilla/5.0 Chrome/156"}, {Name: "Accept-Encoding", Value: "gzip, deflate, br, zstd"}, {Name: "Accept-Language", Value: "en-US,en;q=0.9"}},
	}
	_, _ = m.Download(context.Background(), req)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := srv.Next(ctx)
	if err != nil {
		t.Fatalf("no capture: %v", err)
	}
	if c.JA4 != chromium156JA4H1 {
		t.Errorf("JA4 = %s, want Chromium's http/1.1 hello %s", c.JA4, chromium156JA4H1)
	}
	var names []string
	for _, h := range c.Headers {
		names = append(names, h.Name)
	}
	want := []string{"Host", "Connection", "Pragma", "Cache-Control", "User-Agent", "Upgrade", "Origin",
		"Sec-WebSocket-Version", "Accept-Encoding", "Accept-Language", "Sec-WebSocket-Key", "Sec-WebSocket-Extensions"}
	if len(names) != len(want) {
		t.Fatalf("headers %v, want %v", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("headers %v, want %v", names, want)
		}
	}
}
