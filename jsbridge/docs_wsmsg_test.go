package jsbridge

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/jsbridge/compile"
)

// TestWebSocketMsgForms: every message form specs/websocket.md documents
// ("Messages: WebSocketMsg") becomes the frame it promises, in
// send_message, and the wrong ones are TypeErrors that say why.
func TestWebSocketMsgForms(t *testing.T) {
	t.Parallel()
	cases := []struct {
		expr string
		want string // "text:DATA" / "binary:DATA", or the error's text
	}{
		{`"hi"`, "text:hi"},
		{`new TextEncoder().encode("hi")`, "binary:hi"},
		{`new TextEncoder().encode("hi").buffer`, "binary:hi"},
		{`new WebSocketMsg({ data: "hi", flags: "binary" })`, "binary:hi"},
		{`new WebSocketMsg({ data: "hi", flags: "text" })`, "text:hi"},
		{`new WebSocketMsg({ data: "hi" })`, "text:hi"},
		{`new WebSocketMsg({ data: new TextEncoder().encode("hi") })`, "binary:hi"},
		{`new WebSocketMsg({ data: new TextEncoder().encode("hi"), flags: "text" })`, "text:hi"},
		{`new WebSocketMsg({ data: "hi", flags: ["websocket", "binary"] })`, "binary:hi"},
		{`new WebSocketMsg({ data: "hi", binary: true })`, "binary:hi"},
		{`new WebSocketMsg("hi", { binary: true })`, "binary:hi"},
		{`new WebSocketMsg("hi", { flags: "binary" })`, "binary:hi"},
		{`new WebSocketMsg("hi", true)`, "binary:hi"},
		{`new WebSocketMsg("hi", "binary")`, "binary:hi"},
		{`new WebSocketMsg(new TextEncoder().encode("hi"), { binary: false })`, "text:hi"},
		{`new WebSocketMsg(new WebSocketMsg({ data: "hi", flags: "binary" }))`, "binary:hi"},
		{`{ data: "hi", flags: "binary" }`, "binary:hi"},
		{`[new WebSocketMsg({ data: "a", flags: "binary" }), "b"]`, "binary:a text:b"},
		{`new WebSocketMsg({ data: "hi", flags: "binray" })`, `TypeError: WebSocketMsg: flags: want "text" or "binary", got "binray"`},
		{`new WebSocketMsg({ data: "hi", flags: "text", binary: true })`, `TypeError: WebSocketMsg: flags "text" and binary: true disagree`},
		{`new WebSocketMsg({ data: { nested: 1 } })`, `TypeError: WebSocketMsg: data: want a string, Uint8Array or ArrayBuffer`},
		{`new WebSocketMsg({ flags: "binary" })`, `TypeError: WebSocketMsg: want a string, Uint8Array, ArrayBuffer or WebSocketMsg ({data, flags})`},
		{`new WebSocketMsg()`, `TypeError: WebSocketMsg: want a string, Uint8Array, ArrayBuffer or WebSocketMsg ({data, flags})`},
		{`{ flags: "binary" }`, `WebSocketRequest: send_message: want a string, Uint8Array, ArrayBuffer or WebSocketMsg ({data, flags})`},
		{`["ok", { data: {} }]`, `WebSocketRequest: send_message: [1]: data: want a string, Uint8Array or ArrayBuffer`},
	}
	for _, tc := range cases {
		t.Run(tc.expr, func(t *testing.T) {
			t.Parallel()
			src := fmt.Sprintf("export function parse() {\n  return new WebSocketRequest({ url: \"ws://ws.test/\", send_message: %s });\n}\n", tc.expr)
			p, err := compile.Compile(compile.Source{Filename: "wsmsg.js", Code: src})
			if err != nil {
				t.Fatal(err)
			}
			s, err := New(Options{Program: p, Name: "wsmsg", Logger: newTestLogger(&logBuffer{})})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Shutdown)
			rec, err := call(t, s, "parse")
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %q, want it to contain %q", err, tc.want)
				}
				return
			}
			if len(rec.errs) > 0 {
				if !strings.Contains(rec.errs[0].Error(), tc.want) {
					t.Fatalf("error %q, want it to contain %q", rec.errs[0], tc.want)
				}
				return
			}
			if len(rec.reqs) != 1 || rec.reqs[0].WebSocket == nil {
				t.Fatalf("output %s", rec)
			}
			var got []string
			for _, m := range rec.reqs[0].WebSocket.Send {
				kind := "text"
				if m.Binary {
					kind = "binary"
				}
				got = append(got, kind+":"+string(m.Data))
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Fatalf("sent %q, want %q", g, tc.want)
			}
		})
	}
}

// TestWebSocketMsgFields: a WebSocketMsg shows what it will send.
func TestWebSocketMsgFields(t *testing.T) {
	t.Parallel()
	src := `export function parse() {
  const a = new WebSocketMsg({ data: "x", flags: "binary" });
  const b = new WebSocketMsg(new Uint8Array([1]));
  const c = new WebSocketMsg("y");
  return { a: [a.data, a.flags, a.binary], b: [b.flags, b.binary, b.data instanceof Uint8Array], c: [c.flags, c.binary] };
}
`
	p, err := compile.Compile(compile.Source{Filename: "wsmsg.js", Code: src})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Options{Program: p, Name: "wsmsg", Logger: newTestLogger(&logBuffer{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	rec, err := call(t, s, "parse")
	if err != nil {
		t.Fatal(err)
	}
	if want := `I {"a":["x","binary",true],"b":["binary",true,true],"c":["text",false]}`; rec.String() != want {
		t.Fatalf("got %s\nwant %s", rec, want)
	}
}
