package fingerprint

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
)

// The kinds of request the capture page makes a browser send, each from
// the browser itself (spiderrun fingerprint capture --kinds).
const (
	// PageNavigate is the capture page itself, opened by the user.
	PageNavigate = "navigate"
	// PageFetch is a fetch() POST of JSON by the page's script.
	PageFetch = "fetch"
	// PageResumed is an image loaded on a new, resumed, TLS connection
	// (the server closes every connection after one answer).
	PageResumed = "resumed"
	// PageWebSocket is a WebSocket handshake of the page's script.
	PageWebSocket = "websocket"
	// PageLink is the navigation by the user's click on the page's link.
	PageLink = "link"
	// PageForm is the POST of the next page's form, by the user's click
	// on its button.
	PageForm = "form"
)

// PageKinds lists the kinds in the order the capture page makes them.
var PageKinds = []string{PageNavigate, PageFetch, PageResumed, PageWebSocket, PageLink, PageForm}

// pagePaths are the paths of the kinds (the navigation is any other path
// that is not a favicon).
var pagePaths = map[string]string{
	"/k/fetch": PageFetch, "/k/resumed.png": PageResumed, "/k/ws": PageWebSocket,
	"/k/link": PageLink, "/k/form": PageForm,
}

// capturePage is served for the first navigation: the script sends the
// fetch, then the image (on a new connection), then the WebSocket, one
// after the other so that each finds the connection state it should; the
// link and the form wait for a user's click, which is what makes them a
// user's navigation (sec-fetch-user) and not a script's.
const capturePage = `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>spiderrun capture</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>spiderrun fingerprint capture</h1>
<p id="state">Recording what this browser sends: a script's fetch, a new (resumed) connection, a WebSocket handshake...</p>
<p><a id="link" href="/k/link">1. Click this link.</a></p>
<script>
(async () => {
  try { await fetch("/k/fetch", {method: "POST", headers: {"Content-Type": "application/json"}, body: "{}"}); } catch (e) {}
  await new Promise(done => { const i = new Image(); i.onload = i.onerror = done; i.src = "/k/resumed.png"; });
  await new Promise(done => { const w = new WebSocket("wss://" + location.host + "/k/ws"); w.onerror = w.onclose = done; });
  document.getElementById("state").textContent = "Recorded the fetch, the resumed connection and the WebSocket handshake. Now click the link.";
})();
</script>
</body></html>`

const linkPage = `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>spiderrun capture: form</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto">
<h1>spiderrun fingerprint capture</h1>
<form method="post" action="/k/form"><input name="q" value="a b"> <button id="post">2. Click this button.</button></form>
</body></html>`

const donePage = `<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>spiderrun capture: done</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 2em auto"><h1>Done</h1><p>Every kind of request was recorded; you can close this page.</p></body></html>`

// PageKind names the kind of a request of the capture session ("" for
// what is none: a favicon).
func PageKind(c Capture) string {
	path, _, _ := strings.Cut(c.Path, "?")
	if k, ok := pagePaths[path]; ok {
		return k
	}
	if strings.HasPrefix(path, "/favicon") {
		return ""
	}
	return PageNavigate
}

// CapturePage answers the requests of a capture session (Config.Answer;
// run the server with CloseAfterResponse so that the image comes on a
// resumed connection): the capture page for the navigation, the form page
// after the link, a last page after the form, and small answers to the
// rest (the WebSocket handshake is refused once recorded).
func CapturePage(c Capture) Answer {
	switch PageKind(c) {
	case PageNavigate:
		return Answer{ContentType: "text/html; charset=utf-8", Body: []byte(capturePage)}
	case PageLink:
		return Answer{ContentType: "text/html; charset=utf-8", Body: []byte(linkPage)}
	case PageForm:
		return Answer{ContentType: "text/html; charset=utf-8", Body: []byte(donePage)}
	case PageFetch:
		return Answer{ContentType: "application/json", Body: []byte(`{"recorded":"fetch"}`)}
	case PageWebSocket:
		return Answer{Status: 400, ContentType: "text/plain", Body: []byte("recorded; no WebSocket here")}
	}
	return Answer{ContentType: "text/plain", Body: []byte("recorded")}
}

// WaitKinds reads the server's captures (Next) until it has one of every
// kind in PageKinds, the first of each, and returns them by kind; when
// ctx ends first it returns what it has and an error naming the kinds
// still missing. first, when set, is a navigation already read.
func WaitKinds(ctx context.Context, srv *Server, first *Capture) (map[string]Capture, error) {
	got := map[string]Capture{}
	if first != nil {
		got[PageNavigate] = *first
	}
	for len(got) < len(PageKinds) {
		c, err := srv.Next(ctx)
		if err != nil {
			var missing []string
			for _, k := range PageKinds {
				if _, ok := got[k]; !ok {
					missing = append(missing, k)
				}
			}
			return got, fmt.Errorf("capture page: no %s request yet: %w", strings.Join(missing, ", "), err)
		}
		if k := PageKind(c); k != "" {
			if _, seen := got[k]; !seen {
				got[k] = c
			}
		}
	}
	return got, nil
}

// Resumed reports whether the capture's connection offered a TLS session
// to resume (a pre_shared_key extension, 41).
func (c *Capture) Resumed() bool {
	return c.TLS != nil && slices.Contains(c.TLS.Extensions, 41)
}

// The bodies the capture page makes the browser send: its script's fetch()
// and its form's POST (a check replays them).
const (
	PageFetchBody = "{}"
	PageFormBody  = "q=a+b"
)

// KindsFile is the file `spiderrun fingerprint capture --kinds FILE`
// writes: the capture session's first request of each kind.
type KindsFile struct {
	Regenerate string             `json:"regenerate"`
	Kinds      map[string]Capture `json:"kinds"`
}

// ReadKindsFile reads a KindsFile; one without a navigation (every check
// starts from it) or with a kind the capture page does not make is an
// error naming the file.
func ReadKindsFile(file string) (*KindsFile, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("kinds file: %w", err)
	}
	var f KindsFile
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("kinds file %s: %w", file, err)
	}
	for k := range f.Kinds {
		if !slices.Contains(PageKinds, k) {
			return nil, fmt.Errorf("kinds file %s: unknown kind %q (want %s)", file, k, strings.Join(PageKinds, ", "))
		}
	}
	if _, ok := f.Kinds[PageNavigate]; !ok {
		return nil, fmt.Errorf("kinds file %s: no %q capture (written by spiderrun fingerprint capture --kinds?)", file, PageNavigate)
	}
	return &f, nil
}
