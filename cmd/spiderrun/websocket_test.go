package main

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fixture"
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
