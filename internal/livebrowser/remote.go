package livebrowser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// SiteHosts are the names the browsers resolve to 127.0.0.1 besides
// localhost, and that the test certificate covers: two hosts of one
// registrable domain (same-site, cross-origin) and one of another
// (cross-site). Real public-suffix names are used because Chromium treats a
// name under an unknown TLD (.test) as its own site; the browsers never
// resolve them through DNS (Chromium's --host-resolver-rules, Firefox's
// network.dns.localDomains).
var SiteHosts = []string{"www.example.com", "api.example.com", "www.example.org"}

// Session is a browser driven over its remote protocol: the Chrome
// DevTools Protocol for Chromium, WebDriver BiDi for Firefox. It opens
// pages, evaluates scripts and clicks like a user (input events the
// browser treats as user activation).
type Session struct {
	browser Browser
	cmd     *exec.Cmd
	done    chan struct{} // closed when the browser process has exited
	out     *tailBuffer
	conn    *websocket.Conn
	session string // CDP: the page target's flat session id
	context string // BiDi: the top-level browsing context

	mu      sync.Mutex
	nextID  int
	pending map[int]chan rpcReply
	readErr error
}

type rpcReply struct {
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

// StartChromium launches headless Chromium on about:blank with
// ChromiumArgs (less --dump-dom) and a DevTools endpoint, and attaches to
// its page.
//
// The first page is r.URL (about:blank when empty), opened as from the
// command line: a typed navigation.
func StartChromium(ctx context.Context, bin string, ca *CA, r Run) (*Session, error) {
	first := r.URL
	if first == "" {
		first = "about:blank"
	}
	args := ChromiumArgs(ca, r)
	args = append(args[:len(args)-2], "--remote-debugging-port=0", first)
	s := &Session{browser: Chromium}
	if err := s.start(bin, args, browserEnv()); err != nil {
		return nil, err
	}
	portFile := filepath.Join(r.Dir, "DevToolsActivePort")
	var ws string
	for ws == "" {
		if b, err := os.ReadFile(portFile); err == nil {
			lines := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(lines) == 2 {
				ws = "ws://127.0.0.1:" + lines[0] + lines[1]
			}
		}
		if err := s.wait(ctx, 50*time.Millisecond); err != nil {
			s.Close()
			return nil, fmt.Errorf("chromium devtools endpoint: %w", err)
		}
	}
	if err := s.dial(ctx, ws); err != nil {
		return nil, err
	}
	var targets struct {
		TargetInfos []struct {
			TargetID string `json:"targetId"`
			Type     string `json:"type"`
		} `json:"targetInfos"`
	}
	if err := s.call(ctx, "Target.getTargets", nil, &targets); err != nil {
		s.Close()
		return nil, err
	}
	for _, ti := range targets.TargetInfos {
		if ti.Type != "page" {
			continue
		}
		var att struct {
			SessionID string `json:"sessionId"`
		}
		if err := s.call(ctx, "Target.attachToTarget", map[string]any{"targetId": ti.TargetID, "flatten": true}, &att); err != nil {
			s.Close()
			return nil, err
		}
		s.session = att.SessionID
		return s, nil
	}
	s.Close()
	return nil, errors.New("chromium: no page target")
}

// Start starts b (Chromium or Firefox) on r: StartChromium or StartFirefox.
func Start(ctx context.Context, b Browser, bin string, ca *CA, r Run) (*Session, error) {
	if b == Chromium {
		return StartChromium(ctx, bin, ca, r)
	}
	return StartFirefox(ctx, bin, ca, r)
}

// StartFirefox launches headless Firefox on about:blank with a profile made
// by FirefoxProfile and WebDriver BiDi on a free loopback port, and opens a
// BiDi session on its window. The first page is r.URL (about:blank when
// empty), opened as from the command line.
func StartFirefox(ctx context.Context, bin string, ca *CA, r Run) (*Session, error) {
	first := r.URL
	if first == "" {
		first = "about:blank"
	}
	if err := FirefoxProfile(ctx, ca, r); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	s := &Session{browser: Firefox}
	env := append(browserEnv(), "MOZ_CRASHREPORTER_DISABLE=1", "MOZ_DISABLE_AUTO_SAFE_MODE=1", "HOME="+r.Dir)
	if err := s.start(bin, []string{"--headless", "--no-remote", "--profile", r.Dir, "--remote-debugging-port", port, first}, env); err != nil {
		return nil, err
	}
	for {
		err := s.dial(ctx, "ws://127.0.0.1:"+port+"/session")
		if err == nil {
			break
		}
		if werr := s.wait(ctx, 100*time.Millisecond); werr != nil {
			s.Close()
			return nil, fmt.Errorf("firefox webdriver bidi: %w (last dial: %v)", werr, err)
		}
	}
	if err := s.call(ctx, "session.new", map[string]any{"capabilities": map[string]any{}}, nil); err != nil {
		s.Close()
		return nil, err
	}
	var tree struct {
		Contexts []struct {
			Context string `json:"context"`
		} `json:"contexts"`
	}
	if err := s.call(ctx, "browsingContext.getTree", map[string]any{}, &tree); err != nil {
		s.Close()
		return nil, err
	}
	if len(tree.Contexts) == 0 {
		s.Close()
		return nil, errors.New("firefox: no browsing context")
	}
	s.context = tree.Contexts[0].Context
	return s, nil
}

func (s *Session) start(bin string, args, env []string) error {
	s.cmd = exec.Command(bin, args...)
	s.cmd.Env = env
	s.out = &tailBuffer{}
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("%s: %w", s.browser.Name, err)
	}
	s.done = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.done) }()
	return nil
}

// wait sleeps for d, failing when ctx ends or the browser has exited.
func (s *Session) wait(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return fmt.Errorf("%w\n%s", ctx.Err(), s.out.tail())
	case <-s.done:
		return fmt.Errorf("%s exited\n%s", s.browser.Name, s.out.tail())
	case <-time.After(d):
		return nil
	}
}

func (s *Session) dial(ctx context.Context, u string) error {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, u, nil)
	if err != nil {
		return err
	}
	c.SetReadLimit(64 << 20)
	s.conn = c
	s.pending = map[int]chan rpcReply{}
	go s.read()
	return nil
}

func (s *Session) read() {
	for {
		_, b, err := s.conn.Read(context.Background())
		if err != nil {
			s.mu.Lock()
			s.readErr = err
			for id, ch := range s.pending {
				close(ch)
				delete(s.pending, id)
			}
			s.mu.Unlock()
			return
		}
		var m struct {
			ID *int `json:"id"`
			rpcReply
		}
		if json.Unmarshal(b, &m) != nil || m.ID == nil {
			continue // an event
		}
		s.mu.Lock()
		ch := s.pending[*m.ID]
		delete(s.pending, *m.ID)
		s.mu.Unlock()
		if ch != nil {
			ch <- m.rpcReply
		}
	}
}

// call sends one command and decodes its result into out (when not nil).
func (s *Session) call(ctx context.Context, method string, params, out any) error {
	s.mu.Lock()
	if s.readErr != nil {
		s.mu.Unlock()
		return fmt.Errorf("%s %s: connection lost: %w", s.browser.Name, method, s.readErr)
	}
	s.nextID++
	id := s.nextID
	ch := make(chan rpcReply, 1)
	s.pending[id] = ch
	s.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if params == nil {
		msg["params"] = map[string]any{}
	}
	if s.session != "" {
		msg["sessionId"] = s.session
	}
	b, _ := json.Marshal(msg)
	if err := s.conn.Write(ctx, websocket.MessageText, b); err != nil {
		return fmt.Errorf("%s %s: %w", s.browser.Name, method, err)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s %s: %w", s.browser.Name, method, ctx.Err())
	case r, ok := <-ch:
		if !ok {
			return fmt.Errorf("%s %s: connection lost", s.browser.Name, method)
		}
		if len(r.Error) > 0 && string(r.Error) != "null" {
			return fmt.Errorf("%s %s: %s", s.browser.Name, method, r.Error)
		}
		if out != nil {
			return json.Unmarshal(r.Result, out)
		}
		return nil
	}
}

// Eval evaluates a JavaScript expression in the page (awaiting a promise)
// and decodes its JSON-able value into out (when not nil).
func (s *Session) Eval(ctx context.Context, expr string, out any) error {
	if s.browser == Chromium {
		var r struct {
			Result struct {
				Value json.RawMessage `json:"value"`
			} `json:"result"`
			ExceptionDetails json.RawMessage `json:"exceptionDetails"`
		}
		err := s.call(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &r)
		if err != nil {
			return err
		}
		if len(r.ExceptionDetails) > 0 {
			return fmt.Errorf("chromium: %s: %s", expr, r.ExceptionDetails)
		}
		if out != nil && len(r.Result.Value) > 0 {
			return json.Unmarshal(r.Result.Value, out)
		}
		return nil
	}
	// BiDi serializes values its own way: have the page hand back JSON.
	var r struct {
		Type   string `json:"type"`
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails json.RawMessage `json:"exceptionDetails"`
	}
	err := s.call(ctx, "script.evaluate", map[string]any{
		"expression":   "(async () => JSON.stringify(await (" + expr + ")) ?? 'null')()",
		"target":       map[string]any{"context": s.context},
		"awaitPromise": true,
	}, &r)
	if err != nil {
		return err
	}
	if r.Type == "exception" {
		return fmt.Errorf("firefox: %s: %s", expr, r.ExceptionDetails)
	}
	if out != nil {
		return json.Unmarshal([]byte(r.Result.Value), out)
	}
	return nil
}

// Navigate opens url in the page the way a remote-control client does
// (not a user action: what it sends is not compared) and waits for its
// load event.
func (s *Session) Navigate(ctx context.Context, url string) error {
	var err error
	if s.browser == Firefox {
		err = s.call(ctx, "browsingContext.navigate", map[string]any{"context": s.context, "url": url, "wait": "none"}, nil)
	} else {
		err = s.call(ctx, "Page.navigate", map[string]any{"url": url}, nil)
	}
	if err != nil {
		return err
	}
	return s.WaitLoaded(ctx, url)
}

// WaitLoaded waits until the page's URL starts with url and its document
// has loaded.
func (s *Session) WaitLoaded(ctx context.Context, url string) error {
	for {
		var st struct {
			URL   string `json:"url"`
			Ready string `json:"ready"`
		}
		err := s.Eval(ctx, "({url: location.href, ready: document.readyState})", &st)
		if err == nil && strings.HasPrefix(st.URL, url) && st.Ready == "complete" {
			return nil
		}
		if werr := s.wait(ctx, 50*time.Millisecond); werr != nil {
			return fmt.Errorf("waiting for %s (at %s, %s, %v): %w", url, st.URL, st.Ready, err, werr)
		}
	}
}

// Click clicks the centre of the element that selector finds with the
// mouse, through the browser's input pipeline (Input.dispatchMouseEvent,
// BiDi input.performActions), so the page sees a trusted click with user
// activation, as from a person.
func (s *Session) Click(ctx context.Context, selector string) error {
	var pt struct{ X, Y float64 }
	q, _ := json.Marshal(selector)
	// Scrolled into view first: a pointer event outside the viewport hits
	// nothing (Chromium 156 in a Debian 13 chroot, with other fonts, laid
	// the kinds page's last form out below the fold).
	expr := fmt.Sprintf("(() => { const e = document.querySelector(%s); e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect(); return {x: r.x + r.width/2, y: r.y + r.height/2}; })()", q)
	if err := s.Eval(ctx, expr, &pt); err != nil {
		return err
	}
	if s.browser == Firefox {
		return s.call(ctx, "input.performActions", map[string]any{"context": s.context, "actions": []any{map[string]any{
			"type": "pointer", "id": "mouse", "parameters": map[string]any{"pointerType": "mouse"},
			"actions": []any{
				map[string]any{"type": "pointerMove", "x": int(pt.X), "y": int(pt.Y)},
				map[string]any{"type": "pointerDown", "button": 0},
				map[string]any{"type": "pointerUp", "button": 0},
			},
		}}}, nil)
	}
	for _, typ := range []string{"mouseMoved", "mousePressed", "mouseReleased"} {
		p := map[string]any{"type": typ, "x": pt.X, "y": pt.Y}
		if typ != "mouseMoved" {
			p["button"], p["clickCount"] = "left", 1
		}
		if err := s.call(ctx, "Input.dispatchMouseEvent", p, nil); err != nil {
			return err
		}
	}
	return nil
}

// Screenshot returns a PNG of the whole page laid out width CSS pixels
// wide (Chromium only: Emulation.setDeviceMetricsOverride and
// Page.captureScreenshot), for a person to look at what a test saw.
func (s *Session) Screenshot(ctx context.Context, width int) ([]byte, error) {
	if s.browser != Chromium {
		return nil, errors.New("screenshot: chromium only")
	}
	metrics := func(h int) error {
		return s.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": width, "height": h, "deviceScaleFactor": 1, "mobile": false}, nil)
	}
	if err := metrics(800); err != nil {
		return nil, err
	}
	var h int
	if err := s.Eval(ctx, "Math.ceil(document.documentElement.scrollHeight)", &h); err != nil {
		return nil, err
	}
	if err := metrics(max(h, 200)); err != nil {
		return nil, err
	}
	var r struct {
		Data []byte `json:"data"` // base64 in JSON, which encoding/json decodes into []byte
	}
	if err := s.call(ctx, "Page.captureScreenshot", map[string]any{"format": "png"}, &r); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// Close ends the browser (and waits for it to exit).
func (s *Session) Close() error {
	if s.conn != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if s.browser == Firefox {
			_ = s.call(ctx, "session.end", nil, nil)
		} else {
			s.session = "" // a browser-level command
			_ = s.call(ctx, "Browser.close", nil, nil)
		}
		cancel()
		s.conn.CloseNow()
		select {
		case <-s.done:
		case <-time.After(3 * time.Second):
		}
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	return nil
}

// tailBuffer keeps the last bytes a browser wrote, for error messages.
type tailBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	t.b = append(t.b, p...)
	if len(t.b) > 8192 {
		t.b = t.b[len(t.b)-8192:]
	}
	t.mu.Unlock()
	return len(p), nil
}

func (t *tailBuffer) tail() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return tail(t.b)
}
