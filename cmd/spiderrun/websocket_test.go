package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// TestWebSocketSpider mixes HTTP and WebSocket requests in one crawl: the
// HTTP response sets a cookie, the WebSocket handshake carries it (looked up
// under http:// for a ws:// URL), the callback runs once per message, sends
// more on the same connection with response.send, reuses the connection by
// websocket_id, and closes it.
func TestWebSocketSpider(t *testing.T) {
	web := fixture.New(t, fixture.Options{})
	ws := fixture.NewWS(t, false)
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: wsmix\nstart_urls:\n  - "+web.URL+"/setcookie?name=sid&value=abc\nscript: spider.js\n")
	// The fixture serves both on 127.0.0.1, so the cookie set by the HTTP
	// server applies to the WebSocket server's host too.
	write(t, filepath.Join(dir, "spider.js"), `
export function* parse(response) {
  yield new WebSocketRequest({ url: "`+ws.WSURL("/cookies")+`", websocket_id: "chat", callback: on_message });
}

export function* on_message(response) {
  yield { websocket_id: response.websocket_id, message: response.message, flags: response.flags };
  if (response.message === "sid=abc") {
    response.send("hello");
  } else if (response.message === "hello") {
    // Reuse the open connection: only the message is sent.
    yield new WebSocketRequest({ url: response.url, websocket_id: "chat", send_message: ["again"], callback: on_message, dont_filter: true });
  } else {
    response.close(1000, "done");
  }
}
`)
	out := filepath.Join(dir, "items.jsonl")
	code, _, stderr := runCLI(t, "run", spec, "-O", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := readLines(t, out, "")
	want := []string{
		`{"websocket_id":"chat","message":"sid=abc","flags":["websocket","text"]}`,
		`{"websocket_id":"chat","message":"hello","flags":["websocket","text"]}`,
		`{"websocket_id":"chat","message":"again","flags":["websocket","text"]}`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("items:\n%s\nwant:\n%s\nstderr:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), stderr)
	}
	if ws.Conns() != 1 {
		t.Errorf("%d WebSocket connections, want 1", ws.Conns())
	}
	for _, stat := range []string{"websocket/connections: 1", "websocket/messages_received: 3", "websocket/messages_sent: 2"} {
		if !strings.Contains(stderr, stat) {
			t.Errorf("stats lack %q\n%s", stat, stderr)
		}
	}
}

// TestWebSocketErrback: a refused handshake reaches the request's errback
// as a typed Failure, and the crawl finishes normally.
func TestWebSocketErrback(t *testing.T) {
	ws := fixture.NewWS(t, false)
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: wsfail\nscript: spider.js\n")
	write(t, filepath.Join(dir, "spider.js"), `
export function* start() {
  yield new WebSocketRequest({ url: "`+ws.WSURL("/refuse")+`", callback: on_message, errback: on_error });
}
export function on_message(response) {
  return { unexpected: response.message };
}
export function on_error(failure) {
  return { type: failure.type, refused: failure.message.includes("HTTP 403"), url: failure.request.url.startsWith("ws://") };
}
`)
	out := filepath.Join(dir, "items.jsonl")
	code, _, stderr := runCLI(t, "run", spec, "-O", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := readLines(t, out, "")
	if want := `{"type":"WebSocketError","refused":true,"url":true}`; len(got) != 1 || got[0] != want {
		t.Fatalf("items %v, want [%s]\n%s", got, want, stderr)
	}
}

// TestWebSocketMsgFrames: the message forms of specs/websocket.md reach the
// server as the frames they promise, through `spiderrun run` — in
// send_message and in response.send — and the echo comes back with the
// same frame type.
func TestWebSocketMsgFrames(t *testing.T) {
	ws := fixture.NewWS(t, false)
	dir := t.TempDir()
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: wsmsg\nscript: spider.js\n")
	write(t, filepath.Join(dir, "spider.js"), `
export function* start() {
  yield new WebSocketRequest({
    url: "`+ws.WSURL("/echo")+`",
    send_message: [
      new WebSocketMsg({ data: "object binary", flags: "binary" }),
      new WebSocketMsg({ data: new TextEncoder().encode("object text"), flags: "text" }),
      new WebSocketMsg("positional binary", { binary: true }),
      { data: "plain object binary", flags: "binary" },
    ],
    callback: on_echo,
  });
}

let n = 0;
export function* on_echo(response) {
  const kind = response.flags[1];
  yield { kind, text: kind === "binary" ? new TextDecoder().decode(response.message) : response.message };
  if (++n === 4) response.send(new WebSocketMsg({ data: "sent binary", flags: "binary" }));
  if (n === 5) response.close();
}
`)
	out := filepath.Join(dir, "items.jsonl")
	code, _, stderr := runCLI(t, "run", spec, "-O", out)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	got := readLines(t, out, "")
	want := []string{
		`{"kind":"binary","text":"object binary"}`,
		`{"kind":"text","text":"object text"}`,
		`{"kind":"binary","text":"positional binary"}`,
		`{"kind":"binary","text":"plain object binary"}`,
		`{"kind":"binary","text":"sent binary"}`,
	}
	if !slices.Equal(got, want) {
		t.Fatalf("items:\n%s\nwant:\n%s\nstderr:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), stderr)
	}
}

// TestWebSocketHandshakeOfProfile: through `spiderrun run`, a WebSocket
// request followed from a page sends its profile's browser handshake: the
// browser's header set and order (chosen by the profile's browser field: a
// Firefox profile saved as mybrowser.yaml is still Firefox), its
// User-Agent and the page's cookie, and no Referer although the Referer
// middleware adds one to every followed request (neither browser sends
// it). The full header-by-header comparison with the real browsers is in
// runtime/websocket and internal/livebrowser.
func TestWebSocketHandshakeOfProfile(t *testing.T) {
	firefox := filepath.Join(t.TempDir(), "mybrowser.yaml")
	p, err := impersonate.LoadProfile("firefox")
	if err != nil {
		t.Fatal(err)
	}
	p.Name = "mybrowser"
	data, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	write(t, firefox, string(data))
	for _, tc := range []struct {
		profile string
		want    []string
	}{
		{"chrome_156", []string{"Host", "Connection", "Pragma", "Cache-Control", "User-Agent", "Upgrade", "Origin",
			"Sec-WebSocket-Version", "Accept-Encoding", "Accept-Language", "Cookie", "Sec-WebSocket-Key", "Sec-WebSocket-Extensions"}},
		{firefox, []string{"Host", "User-Agent", "Accept", "Accept-Language", "Accept-Encoding", "Sec-WebSocket-Version",
			"Origin", "Sec-WebSocket-Extensions", "Sec-WebSocket-Key", "Connection", "Cookie", "Sec-Fetch-Dest",
			"Sec-Fetch-Mode", "Sec-Fetch-Site", "Pragma", "Cache-Control", "Upgrade"}},
	} {
		t.Run(filepath.Base(tc.profile), func(t *testing.T) {
			web := fixture.New(t, fixture.Options{})
			ws := fixture.NewWS(t, false)
			dir := t.TempDir()
			spec := filepath.Join(dir, "spider.yaml")
			write(t, spec, "name: wsprofile\nstart_urls:\n  - "+web.URL+"/setcookie?name=sid&value=abc\nscript: spider.js\nsettings:\n  IMPERSONATE: "+tc.profile+"\n")
			// The page is on another port than the socket: a browser's
			// Origin would be the page's, which the fixture (like many
			// WebSocket servers) refuses; the spider names the socket's own.
			origin := strings.Replace(strings.TrimSuffix(ws.WSURL(""), "/"), "ws://", "http://", 1)
			write(t, filepath.Join(dir, "spider.js"), `
export function* parse(response) {
  yield new WebSocketRequest({ url: "`+ws.WSURL("/cookies")+`", headers: { Origin: "`+origin+`" }, callback: on_message });
}
export function on_message(response) {
  response.close(1000, "done");
  return { message: response.message };
}
`)
			out := filepath.Join(dir, "items.jsonl")
			code, _, stderr := runCLI(t, "run", spec, "-O", out)
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			if got := readLines(t, out, ""); !slices.Equal(got, []string{`{"message":"sid=abc"}`}) {
				t.Fatalf("items %v\n%s", got, stderr)
			}
			orders := ws.HeaderOrders()
			if len(orders) != 1 || !slices.Equal(orders[0], tc.want) {
				t.Fatalf("handshake headers\n got %v\nwant %v", orders, tc.want)
			}
		})
	}
}

// TestWebSocketTLSVerifyOff: with IMPERSONATE, a wss:// handshake to an
// untrusted certificate fails, and succeeds with TLS_VERIFY false.
func TestWebSocketTLSVerifyOff(t *testing.T) {
	ws := fixture.NewWS(t, true)
	for _, verify := range []string{"true", "false"} {
		dir := t.TempDir()
		spec := filepath.Join(dir, "spider.yaml")
		write(t, spec, "name: wsverify\nscript: spider.js\nsettings:\n  IMPERSONATE: chrome_156\n  TLS_VERIFY: "+verify+"\n")
		write(t, filepath.Join(dir, "spider.js"), `
export function* start() {
  yield new WebSocketRequest({ url: "`+ws.WSURL("/stream?n=1")+`", callback: on_message, errback: on_error });
}
export function on_message(response) { return { message: response.message }; }
export function on_error(failure) { return { certificate: failure.message.includes("certificate") }; }
`)
		out := filepath.Join(dir, "items.jsonl")
		if code, _, stderr := runCLI(t, "run", spec, "-O", out); code != 0 {
			t.Fatalf("TLS_VERIFY %s: exit %d\n%s", verify, code, stderr)
		}
		want := map[string]string{"true": `{"certificate":true}`, "false": `{"message":"msg 1"}`}[verify]
		if got := readLines(t, out, ""); !slices.Equal(got, []string{want}) {
			t.Errorf("TLS_VERIFY %s: items %v, want %s", verify, got, want)
		}
	}
}
