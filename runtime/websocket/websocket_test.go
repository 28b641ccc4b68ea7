package websocket_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	cws "github.com/coder/websocket"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
	"github.com/spiderrun/spiderrun/runtime/websocket"
)

func text(s string) crawl.WSMessage { return crawl.WSMessage{Data: []byte(s)} }

// drain reads a response and everything its stream yields.
func drain(t *testing.T, first *crawl.Response) []string {
	t.Helper()
	out := []string{string(first.Body)}
	for resp := first; ; {
		next, err := resp.Stream(context.Background())
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		out = append(out, string(next.Body))
		resp = next
	}
}

func newManager(t *testing.T, st stats.Collector) *websocket.Manager {
	t.Helper()
	m := websocket.NewManager(websocket.Options{Stats: st, IdleTimeout: 5 * time.Second, Compression: true})
	t.Cleanup(m.Close)
	return m
}

func TestMultiMessageExchangeAndStats(t *testing.T) {
	srv := fixture.NewWS(t, false)
	st := stats.NewMemory()
	m := newManager(t, st)
	req := &crawl.Request{URL: srv.WSURL("/stream?n=3"), WebSocket: &crawl.WebSocketSpec{ID: "s"}}
	resp, err := m.Download(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.WebSocket == nil || resp.WebSocket.ID() != "s" || !slices.Contains(resp.Flags, "text") || resp.Request != req {
		t.Fatalf("response = %+v", resp)
	}
	if got := drain(t, resp); !slices.Equal(got, []string{"msg 1", "msg 2", "msg 3"}) {
		t.Fatalf("messages = %q", got)
	}
	if stats.Int(st, "websocket/connections") != 1 || stats.Int(st, "websocket/messages_received") != 3 {
		t.Errorf("stats = %v", st.Snapshot())
	}
}

func TestReuseByWebSocketIDUsesOneConnection(t *testing.T) {
	srv := fixture.NewWS(t, false)
	st := stats.NewMemory()
	m := newManager(t, st)
	var got []string
	for i, msg := range []string{"one", "two", "three"} {
		req := &crawl.Request{URL: srv.WSURL("/echo"), WebSocket: &crawl.WebSocketSpec{ID: "conv", Send: []crawl.WSMessage{text(msg)}}}
		resp, err := m.Download(context.Background(), req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		got = append(got, string(resp.Body))
	}
	if !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("replies = %q", got)
	}
	if n := srv.Conns(); n != 1 {
		t.Fatalf("server saw %d connections, want 1", n)
	}
	if stats.Int(st, "websocket/messages_sent") != 3 {
		t.Errorf("messages_sent = %d", stats.Int(st, "websocket/messages_sent"))
	}
}

func TestLaterRequestTakesOverTheStream(t *testing.T) {
	srv := fixture.NewWS(t, false)
	m := newManager(t, nil)
	first, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/echo"),
		WebSocket: &crawl.WebSocketSpec{ID: "x", Send: []crawl.WSMessage{text("a")}}})
	if err != nil {
		t.Fatal(err)
	}
	second, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/echo"),
		WebSocket: &crawl.WebSocketSpec{ID: "x", Send: []crawl.WSMessage{text("b")}}})
	if err != nil {
		t.Fatal(err)
	}
	if string(second.Body) != "b" {
		t.Fatalf("second got %q", second.Body)
	}
	if _, err := first.Stream(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("first stream after takeover: %v, want EOF", err)
	}
}

func TestEndTagServerCloseAndBinary(t *testing.T) {
	srv := fixture.NewWS(t, false)
	m := newManager(t, nil)
	resp, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/end?n=2")})
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, resp); !slices.Equal(got, []string{"part 1", "part 2"}) {
		t.Fatalf("end tag: messages = %q (the tag itself is not delivered)", got)
	}
	resp, err = m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/close?code=4001&reason=bye")})
	if err != nil {
		t.Fatal(err)
	}
	if got := drain(t, resp); !slices.Equal(got, []string{"bye soon"}) {
		t.Fatalf("close: messages = %q", got)
	}
	resp, err = m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/binary?n=2")})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(resp.Flags, "binary") || resp.Body[0] != 0 || resp.Body[2] != 255 {
		t.Fatalf("binary frame: flags %v body %v", resp.Flags, resp.Body)
	}
	if m.Open() != 0 {
		// the binary stream is still being drained; it ends at the close
		drain(t, resp)
	}
}

func TestRefusedHandshakeIsATypedFailure(t *testing.T) {
	srv := fixture.NewWS(t, false)
	m := newManager(t, nil)
	_, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/refuse")})
	var f *crawl.Failure
	if !errors.As(err, &f) || f.Type != crawl.WebSocketError || !strings.Contains(f.Message, "HTTP 403") {
		t.Fatalf("err = %v, want a WebSocketError naming HTTP 403", err)
	}
	_, err = m.Download(context.Background(), &crawl.Request{URL: "http://127.0.0.1/not-ws"})
	if !errors.As(err, &f) || !strings.Contains(f.Message, "not a ws://") {
		t.Fatalf("err = %v", err)
	}
}

func TestTLSVerificationAndHandshakeHeaderOrder(t *testing.T) {
	tlsSrv := fixture.NewWS(t, true)
	m := newManager(t, nil)
	_, err := m.Download(context.Background(), &crawl.Request{URL: tlsSrv.WSURL("/stream?n=1")})
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("self-signed wss:// must fail verification, got %v", err)
	}
	off := false
	resp, err := m.Download(context.Background(), &crawl.Request{URL: tlsSrv.WSURL("/stream?n=1"), Verify: &off})
	if err != nil || string(resp.Body) != "msg 1" {
		t.Fatalf("verify:false: %v", err)
	}

	srv := fixture.NewWS(t, false)
	req := &crawl.Request{URL: srv.WSURL("/cookies"), Headers: crawl.Headers{
		{Name: "User-Agent", Value: "test-browser"}, {Name: "Cookie", Value: "sid=1"}, {Name: "Accept-Language", Value: "en"}}}
	resp, err = m.Download(context.Background(), req)
	if err != nil || string(resp.Body) != "sid=1" {
		t.Fatalf("cookie handshake: %v %q", err, resp.Body)
	}
	orders := srv.HeaderOrders()
	want := []string{"Host", "Connection", "Pragma", "Cache-Control", "User-Agent", "Upgrade", "Origin",
		"Sec-WebSocket-Version", "Accept-Language", "Cookie", "Sec-WebSocket-Key", "Sec-WebSocket-Extensions"}
	if len(orders) != 1 || !slices.Equal(orders[0], want) {
		t.Fatalf("handshake header order = %v\nwant %v", orders, want)
	}
}

func TestIdleTimeoutEndsTheConnection(t *testing.T) {
	srv := fixture.NewWS(t, false)
	m := websocket.NewManager(websocket.Options{IdleTimeout: 300 * time.Millisecond})
	defer m.Close()
	resp, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/echo"),
		WebSocket: &crawl.WebSocketSpec{ID: "idle", Send: []crawl.WSMessage{text("hi")}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resp.Stream(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("after idle: %v, want EOF", err)
	}
	if m.Open() != 0 {
		t.Fatalf("%d connections still open", m.Open())
	}
}

// ping_data is sent as a message every ping_interval while the connection
// is open: the echo server sends each one back.
func TestPingData(t *testing.T) {
	srv := fixture.NewWS(t, false)
	st := stats.NewMemory()
	m := newManager(t, st)
	resp, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/echo"), WebSocket: &crawl.WebSocketSpec{
		ID: "p", Send: []crawl.WSMessage{text("hello")}, PingData: []byte("ping"), PingInterval: 50 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != "hello" {
		t.Fatalf("first message %q", resp.Body)
	}
	for i := 0; i < 3; i++ {
		next, err := resp.Stream(context.Background())
		if err != nil {
			t.Fatalf("ping echo %d: %v", i, err)
		}
		if string(next.Body) != "ping" {
			t.Fatalf("message %q, want the echoed ping", next.Body)
		}
		resp = next
	}
	// hello + at least the first two pings (the third's counter may trail
	// its echo).
	if stats.Int(st, "websocket/messages_sent") < 3 {
		t.Errorf("messages_sent = %d", stats.Int(st, "websocket/messages_sent"))
	}
}

// A request's timeout bounds its handshake: a server that accepts the TCP
// connection and never answers fails the request in time.
func TestHandshakeTimeout(t *testing.T) {
	addr := fixture.Silent(t)
	m := newManager(t, nil)
	start := time.Now()
	_, err := m.Download(context.Background(), &crawl.Request{URL: "ws://" + addr + "/", Timeout: 200 * time.Millisecond})
	var f *crawl.Failure
	if !errors.As(err, &f) || f.Type != crawl.WebSocketError {
		t.Fatalf("err = %v, want a WebSocketError", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("the handshake was not bounded by the request's timeout")
	}
}

// Open connections count toward the connection caps: with one place, a
// second connection waits until the first one ends.
func TestConnectionCap(t *testing.T) {
	srv := fixture.NewWS(t, false)
	m := websocket.NewManager(websocket.Options{MaxConns: 1, IdleTimeout: 5 * time.Second})
	defer m.Close()
	first, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/echo"),
		WebSocket: &crawl.WebSocketSpec{ID: "a", Send: []crawl.WSMessage{text("1")}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = m.Download(ctx, &crawl.Request{URL: srv.WSURL("/stream?n=1"), WebSocket: &crawl.WebSocketSpec{ID: "b"}})
	if err == nil || !strings.Contains(err.Error(), "connection place") {
		t.Fatalf("second connection while the first is open: %v, want it to wait for a place", err)
	}
	if err := first.WebSocket.Close(1000, "done"); err != nil {
		t.Fatal(err)
	}
	resp, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/stream?n=1"), WebSocket: &crawl.WebSocketSpec{ID: "b"}})
	if err != nil || string(resp.Body) != "msg 1" {
		t.Fatalf("after the first closed: %v", err)
	}
}

// Spider close ends every open connection: streams end, nothing stays open,
// and a new request is refused.
func TestCloseEndsConnections(t *testing.T) {
	srv := fixture.NewWS(t, false)
	m := websocket.NewManager(websocket.Options{IdleTimeout: 10 * time.Second})
	resp, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/echo"),
		WebSocket: &crawl.WebSocketSpec{ID: "c", Send: []crawl.WSMessage{text("x")}}})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if _, err := resp.Stream(context.Background()); !errors.Is(err, io.EOF) {
		t.Fatalf("stream after Close: %v, want EOF", err)
	}
	if m.Open() != 0 {
		t.Fatalf("%d connections open after Close", m.Open())
	}
	if _, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/echo")}); err == nil || !strings.Contains(err.Error(), "closing") {
		t.Fatalf("request after Close: %v", err)
	}
}

// TestBrowserCompressionOffer: the browsers' permessage-deflate offers
// (Chromium's with a bare client_max_window_bits) negotiate compression
// with a real server, and long messages go both ways compressed.
func TestBrowserCompressionOffer(t *testing.T) {
	srv := fixture.NewWS(t, true)
	for _, profile := range []string{"chrome_156", "firefox"} {
		t.Run(profile, func(t *testing.T) {
			m := websocket.NewManager(websocket.Options{Impersonator: impersonator(t), Compression: true, Insecure: true, IdleTimeout: 5 * time.Second})
			defer m.Close()
			long := strings.Repeat("compress me ", 200)
			resp, err := m.Download(context.Background(), &crawl.Request{URL: srv.WSURL("/echo"), Impersonate: profile,
				WebSocket: &crawl.WebSocketSpec{Send: []crawl.WSMessage{text(long)}}})
			if err != nil {
				t.Fatal(err)
			}
			if string(resp.Body) != long {
				t.Fatalf("echo = %.40q…", resp.Body)
			}
			if ext := resp.Headers.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
				t.Errorf("server's extensions %q: compression not negotiated", ext)
			}
		})
	}
}

// TestSubprotocolNegotiated: a request's Sec-WebSocket-Protocol header is
// the list offered, and the server's choice from it is accepted (the
// library checks the answer against the offer).
func TestSubprotocolNegotiated(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := cws.Accept(w, r, &cws.AcceptOptions{Subprotocols: []string{"v2"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		c.Write(r.Context(), cws.MessageText, []byte(r.Header.Get("Sec-WebSocket-Protocol")+" -> "+c.Subprotocol()))
		c.Close(cws.StatusNormalClosure, "")
	}))
	defer srv.Close()
	m := newManager(t, nil)
	resp, err := m.Download(context.Background(), &crawl.Request{URL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/",
		Headers: crawl.Headers{{Name: "Sec-WebSocket-Protocol", Value: "chat,v2"}}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(resp.Body); got != "chat, v2 -> v2" {
		t.Errorf("server saw %q", got)
	}
}
