// Package websocket downloads WebSocketRequests (scrapy_cffi's semantics):
// a request opens a connection (or reuses the open one with the same
// websocket_id), sends its messages, and yields one response per message
// received. The handshake goes through the same impersonated TLS stack,
// cookies and proxy as HTTP requests, with the browser's header order.
//
// Messages received on a connection go to the most recent request on that
// websocket_id: when a later request reuses the connection, the earlier
// request's stream ends and the new one receives what follows, so each
// message reaches exactly one callback.
package websocket

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// DialTLSFunc opens an impersonated TLS connection (impersonate.Transport's
// DialTLS): profile "" means plain Go TLS.
type DialTLSFunc func(ctx context.Context, network, addr, profile string, proxy *url.URL, alpn []string) (net.Conn, error)

// Impersonator is the impersonating stack a wss:// handshake goes through
// (an *impersonate.Transport): its profiles, resolved per session as for
// HTTP requests ("random" keeps one choice per session), and its TLS dial.
type Impersonator interface {
	Profile(name, poolKey string) (*impersonate.Profile, error)
	DialTLSWith(ctx context.Context, network, addr string, o impersonate.DialTLSOptions) (net.Conn, error)
}

// Options configure a Manager.
type Options struct {
	// Impersonator returns the impersonating stack (called when a
	// connection opens, so a crawl without WebSockets never builds it). It
	// replaces DialTLS: the handshake's headers come from the same profile
	// as its ClientHello, and TLS_VERIFY false reaches the TLS dial.
	Impersonator func() (Impersonator, error)
	// DialTLS dials wss:// connections with a browser profile when
	// Impersonator is nil; it cannot turn certificate verification off,
	// and the handshake's profile is then loaded apart from the dial's
	// ("random" may pick another one). nil for both uses crypto/tls (and a
	// request asking for a profile fails).
	//
	// Deprecated: set Impersonator.
	DialTLS DialTLSFunc
	// Dial opens plain TCP connections (ws://); nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// RootCAs verifies wss:// servers when DialTLS is nil (tests).
	RootCAs *x509.CertPool
	// Impersonate is the default profile (IMPERSONATE).
	Impersonate string
	// Insecure turns certificate verification off (TLS_VERIFY false); the
	// zero value verifies. A request's Verify wins.
	Insecure bool
	// EndTag closes the connection when a text message equals it
	// (WS_END_TAG, default "websocket end"); the tag is not delivered.
	EndTag string
	// IdleTimeout closes a connection that received nothing for this long
	// (WS_IDLE_TIMEOUT) [60s].
	IdleTimeout time.Duration
	// HandshakeTimeout bounds dialing and the upgrade [30s].
	HandshakeTimeout time.Duration
	// Compression offers permessage-deflate (browsers do) [true via
	// NewManager's caller; zero value false].
	Compression bool
	// MaxConns and MaxConnsPerHost cap the open connections
	// (CONCURRENT_REQUESTS, CONCURRENT_REQUESTS_PER_DOMAIN); a request that
	// needs a new connection waits for a place [0: no cap].
	MaxConns, MaxConnsPerHost int
	Stats                     stats.Collector
	Logger                    *slog.Logger
}

// Manager holds the open connections of a crawl. It is safe for concurrent
// use.
type Manager struct {
	opts Options
	log  *slog.Logger
	st   stats.Collector

	mu     sync.Mutex
	conns  map[string]*conn
	closed bool
	seq    atomic.Int64

	all     chan struct{}            // MaxConns places
	perHost map[string]chan struct{} // MaxConnsPerHost places, by host
}

// NewManager returns a Manager.
func NewManager(opts Options) *Manager {
	if opts.EndTag == "" {
		opts.EndTag = "websocket end"
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 60 * time.Second
	}
	if opts.HandshakeTimeout <= 0 {
		opts.HandshakeTimeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Stats == nil {
		opts.Stats = stats.NewMemory()
	}
	m := &Manager{opts: opts, log: opts.Logger, st: opts.Stats, conns: map[string]*conn{}, perHost: map[string]chan struct{}{}}
	if opts.MaxConns > 0 {
		m.all = make(chan struct{}, opts.MaxConns)
	}
	return m
}

// place waits for a free connection place for host and returns the func
// that gives it back.
func (m *Manager) place(ctx context.Context, host string) (func(), error) {
	var chans []chan struct{}
	if m.all != nil {
		chans = append(chans, m.all)
	}
	if n := m.opts.MaxConnsPerHost; n > 0 {
		m.mu.Lock()
		ch := m.perHost[host]
		if ch == nil {
			ch = make(chan struct{}, n)
			m.perHost[host] = ch
		}
		m.mu.Unlock()
		chans = append(chans, ch)
	}
	release := func(n int) {
		for _, ch := range chans[:n] {
			<-ch
		}
	}
	for i, ch := range chans {
		select {
		case ch <- struct{}{}:
		case <-ctx.Done():
			release(i)
			return nil, fmt.Errorf("waiting for a connection place (CONCURRENT_REQUESTS / _PER_DOMAIN): %w", ctx.Err())
		}
	}
	var once sync.Once
	return func() { once.Do(func() { release(len(chans)) }) }, nil
}

// IsWebSocket reports whether r is a WebSocket request.
func IsWebSocket(r *crawl.Request) bool {
	if r.WebSocket != nil {
		return true
	}
	s := strings.ToLower(r.URL)
	return strings.HasPrefix(s, "ws://") || strings.HasPrefix(s, "wss://")
}

// Download sends r's messages on the connection of its websocket_id
// (opening it if needed) and returns the first message received after
// that; the response's Stream yields the following ones until the
// connection ends or a later request takes it over. Errors are
// *crawl.Failure of type WebSocketError (or TLSError, ConnectionRefused...).
func (m *Manager) Download(ctx context.Context, r *crawl.Request) (*crawl.Response, error) {
	spec := r.WebSocket
	if spec == nil {
		spec = &crawl.WebSocketSpec{}
	}
	id := spec.ID
	if id == "" {
		id = fmt.Sprintf("\x00anon-%d", m.seq.Add(1))
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, fail(r, errors.New("the spider is closing"))
	}
	c := m.conns[id]
	m.mu.Unlock()
	var o *owner
	if c == nil || c.isDone() {
		var err error
		if c, o, err = m.open(ctx, id, r); err != nil {
			return nil, err
		}
	} else {
		o = c.takeOver(r)
	}
	for _, msg := range spec.Send {
		if err := c.Send(ctx, msg); err != nil {
			return nil, fail(r, fmt.Errorf("send: %w", err))
		}
	}
	if spec.PingInterval > 0 && len(spec.PingData) > 0 {
		c.startPing(spec.PingInterval, spec.PingData)
	}
	resp, err := o.next(ctx)
	if errors.Is(err, io.EOF) {
		return nil, fail(r, fmt.Errorf("connection ended before a message arrived: %s", c.endReason()))
	}
	return resp, err
}

// Close ends every connection (spider close).
func (m *Manager) Close() {
	m.mu.Lock()
	m.closed = true
	conns := make([]*conn, 0, len(m.conns))
	for _, c := range m.conns {
		conns = append(conns, c)
	}
	m.mu.Unlock()
	for _, c := range conns {
		c.Close(int(websocket.StatusGoingAway), "spider closed")
	}
}

// Open is the number of open connections.
func (m *Manager) Open() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.conns)
}

func fail(r *crawl.Request, err error) *crawl.Failure {
	return &crawl.Failure{Type: crawl.WebSocketError, Message: err.Error(), Request: r, Err: err}
}

// open dials, upgrades and starts reading a new connection owned by r.
func (m *Manager) open(ctx context.Context, id string, r *crawl.Request) (*conn, *owner, error) {
	u, err := url.Parse(r.URL)
	if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		return nil, nil, fail(r, fmt.Errorf("not a ws:// or wss:// URL: %q", r.URL))
	}
	profile := r.Impersonate
	if profile == "" {
		profile = m.opts.Impersonate
	}
	verify := !m.opts.Insecure
	if r.Verify != nil {
		verify = *r.Verify
	}
	var proxy *url.URL
	if r.Proxy != "" {
		if proxy, err = url.Parse(r.Proxy); err != nil {
			return nil, nil, fail(r, errors.New("invalid proxy URL"))
		}
	}
	timeout := m.opts.HandshakeTimeout
	if r.Timeout > 0 {
		timeout = r.Timeout // the request's timeout bounds its handshake
	}
	free, err := m.place(ctx, u.Host)
	if err != nil {
		return nil, nil, fail(r, err)
	}
	opened := false
	defer func() {
		if !opened {
			free()
		}
	}()
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hs := &handshaker{m: m, req: r, profile: profile, poolKey: poolKey(r), proxy: proxy, verify: verify,
		protocols: subprotocols(r.Headers), compression: m.opts.Compression}
	if err := hs.resolve(); err != nil {
		return nil, nil, fail(r, err)
	}
	opts := &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: hs},
		Subprotocols: hs.protocols,
	}
	if m.opts.Compression {
		opts.CompressionMode = websocket.CompressionContextTakeover
	} else {
		opts.CompressionMode = websocket.CompressionDisabled
	}
	ws, resp, err := websocket.Dial(hctx, r.URL, opts)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, nil, &crawl.Failure{Type: crawl.WebSocketError, Request: r, Err: err,
				Message: fmt.Sprintf("handshake refused: HTTP %d", resp.StatusCode)}
		}
		var f *crawl.Failure
		if errors.As(err, &f) {
			return nil, nil, f
		}
		return nil, nil, fail(r, fmt.Errorf("handshake: %w", err))
	}
	ws.SetReadLimit(32 << 20)
	cctx, ccancel := context.WithCancel(context.Background())
	c := &conn{m: m, id: id, ws: ws, ctx: cctx, cancel: ccancel, done: make(chan struct{}), free: free}
	opened = true
	if resp != nil {
		c.headers = crawl.FromHTTP(resp.Header)
	}
	m.mu.Lock()
	m.conns[id] = c
	m.mu.Unlock()
	o := c.takeOver(r)
	m.st.Inc("websocket/connections", 1)
	go c.read()
	return c, o, nil
}

// conn is one open WebSocket connection.
type conn struct {
	m       *Manager
	id      string
	ws      *websocket.Conn
	headers crawl.Headers
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	free    func() // gives the connection's place back

	mu      sync.Mutex
	owner   *owner
	reason  string
	pinging bool
	sendMu  sync.Mutex
}

// owner is the request currently receiving a connection's messages.
type owner struct {
	c    *conn
	req  *crawl.Request
	ch   chan message
	stop chan struct{} // closed when a later request takes over
}

type message struct {
	data   []byte
	binary bool
}

// ID implements crawl.WebSocketConn.
func (c *conn) ID() string { return c.id }

func (c *conn) isDone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *conn) endReason() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reason == "" {
		return "closed"
	}
	return c.reason
}

func (c *conn) takeOver(r *crawl.Request) *owner {
	o := &owner{c: c, req: r, ch: make(chan message, 16), stop: make(chan struct{})}
	c.mu.Lock()
	if c.owner != nil {
		close(c.owner.stop)
	}
	c.owner = o
	c.mu.Unlock()
	return o
}

// Send implements crawl.WebSocketConn.
func (c *conn) Send(ctx context.Context, msg crawl.WSMessage) error {
	typ := websocket.MessageText
	if msg.Binary {
		typ = websocket.MessageBinary
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if err := c.ws.Write(ctx, typ, msg.Data); err != nil {
		return err
	}
	c.m.st.Inc("websocket/messages_sent", 1)
	c.m.st.Inc("websocket/bytes", int64(len(msg.Data)))
	return nil
}

// Close implements crawl.WebSocketConn.
func (c *conn) Close(code int, reason string) error {
	c.finish(fmt.Sprintf("closed by the spider (%d %s)", code, reason))
	return c.ws.Close(websocket.StatusCode(code), reason)
}

func (c *conn) finish(reason string) {
	c.mu.Lock()
	if c.reason == "" {
		c.reason = reason
	}
	c.mu.Unlock()
	c.m.mu.Lock()
	if c.m.conns[c.id] == c {
		delete(c.m.conns, c.id)
	}
	c.m.mu.Unlock()
	c.cancel()
	c.free()
}

// read delivers messages to the current owner until the connection ends:
// a close frame, an error, the end tag, the idle timeout or Close.
func (c *conn) read() {
	defer close(c.done)
	for {
		rctx, cancel := context.WithTimeout(c.ctx, c.m.opts.IdleTimeout)
		typ, data, err := c.ws.Read(rctx)
		idle := rctx.Err() == context.DeadlineExceeded && c.ctx.Err() == nil
		cancel()
		if err != nil {
			switch {
			case idle:
				c.finish(fmt.Sprintf("idle for %s (WS_IDLE_TIMEOUT)", c.m.opts.IdleTimeout))
				c.ws.Close(websocket.StatusNormalClosure, "idle")
			case websocket.CloseStatus(err) != -1:
				c.finish(fmt.Sprintf("closed by the server (%d %s)", websocket.CloseStatus(err), closeReason(err)))
			default:
				c.finish(fmt.Sprintf("connection lost: %v", err))
			}
			return
		}
		c.m.st.Inc("websocket/messages_received", 1)
		c.m.st.Inc("websocket/bytes", int64(len(data)))
		if typ == websocket.MessageText && string(data) == c.m.opts.EndTag {
			c.finish("end tag received (WS_END_TAG)")
			c.ws.Close(websocket.StatusNormalClosure, "")
			return
		}
		c.deliver(message{data: data, binary: typ == websocket.MessageBinary})
	}
}

func closeReason(err error) string {
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Reason
	}
	return ""
}

// deliver hands a message to the current owner, moving to the new owner
// when one takes over meanwhile.
func (c *conn) deliver(msg message) {
	for {
		c.mu.Lock()
		o := c.owner
		c.mu.Unlock()
		select {
		case o.ch <- msg:
			return
		case <-o.stop:
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *conn) startPing(every time.Duration, data []byte) {
	c.mu.Lock()
	if c.pinging {
		c.mu.Unlock()
		return
	}
	c.pinging = true
	c.mu.Unlock()
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-c.ctx.Done():
				return
			case <-t.C:
				if err := c.Send(c.ctx, crawl.WSMessage{Data: data}); err != nil {
					return
				}
			}
		}
	}()
}

// next returns the owner's next message as a response, or io.EOF when the
// connection ended or a later request took it over.
func (o *owner) next(ctx context.Context) (*crawl.Response, error) {
	var msg message
	select {
	case msg = <-o.ch:
	default:
		select {
		case msg = <-o.ch:
		case <-o.stop:
			return nil, io.EOF
		case <-o.c.done:
			select {
			case msg = <-o.ch:
			default:
				return nil, io.EOF
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	flag := "text"
	if msg.binary {
		flag = "binary"
	}
	return &crawl.Response{
		URL: o.req.URL, Status: http.StatusSwitchingProtocols, Headers: o.c.headers,
		Body: msg.data, Protocol: "websocket", Request: o.req,
		Flags: []string{"websocket", flag}, WebSocket: o.c, Stream: o.next,
	}, nil
}

// poolKey is the session a request's connection belongs to, as for HTTP
// requests: its session_id, or meta pool_key.
func poolKey(r *crawl.Request) string {
	if pk, ok := r.Meta["pool_key"].(string); ok {
		return pk
	}
	return r.SessionID
}

// handshaker is the http.RoundTripper behind the WebSocket library's
// upgrade request: it dials through the impersonated stack and writes the
// browser's headers in the browser's order (Go's net/http would sort
// them).
type handshaker struct {
	m           *Manager
	req         *crawl.Request
	profile     string
	poolKey     string
	proxy       *url.URL
	verify      bool
	protocols   []string
	compression bool

	imp  Impersonator
	prof *impersonate.Profile // nil: no impersonation
}

// resolve finds the impersonating stack and the profile whose headers the
// handshake sends.
func (h *handshaker) resolve() error {
	if f := h.m.opts.Impersonator; f != nil && (h.profile != "" || h.proxy != nil) {
		imp, err := f()
		if err != nil {
			return err
		}
		h.imp = imp
	}
	if h.profile == "" {
		return nil
	}
	if h.imp != nil {
		var err error
		h.prof, err = h.imp.Profile(h.profile, h.poolKey)
		return err
	}
	// The older DialTLS path: the dialer resolves (and refuses) the
	// profile name itself; the headers are those of the same name when it
	// is a profile this package can load, else the request's own.
	h.prof, _ = impersonate.LoadProfile(h.profile)
	return nil
}

func (h *handshaker) RoundTrip(hr *http.Request) (*http.Response, error) {
	ctx := hr.Context()
	host := hr.URL.Host
	if hr.URL.Port() == "" {
		if hr.URL.Scheme == "https" {
			host += ":443"
		} else {
			host += ":80"
		}
	}
	nc, err := h.dial(ctx, hr.URL.Scheme == "https", host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		nc.SetDeadline(dl)
	}
	wsURL := *hr.URL
	wsURL.Scheme = "ws"
	if hr.URL.Scheme == "https" {
		wsURL.Scheme = "wss"
	}
	headers := handshakeHeaders(handshakeInput{
		url: &wsURL, req: h.req, profile: h.prof, key: hr.Header.Get("Sec-WebSocket-Key"),
		protocols: h.protocols, compression: h.compression,
	})
	bw := bufio.NewWriter(nc)
	fmt.Fprintf(bw, "GET %s HTTP/1.1\r\n", hr.URL.RequestURI())
	for _, kv := range headers {
		fmt.Fprintf(bw, "%s: %s\r\n", kv.Name, kv.Value)
	}
	bw.WriteString("\r\n")
	if err := bw.Flush(); err != nil {
		nc.Close()
		return nil, err
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, hr)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("reading the upgrade response: %w", err)
	}
	nc.SetDeadline(time.Time{})
	if resp.StatusCode != http.StatusSwitchingProtocols {
		resp.Body.Close()
		nc.Close()
		resp.Body = http.NoBody
		return resp, nil
	}
	if err := acceptExtensions(resp.Header); err != nil {
		nc.Close()
		return nil, err
	}
	resp.Body = &rwc{Reader: br, Conn: nc}
	return resp, nil
}

// rwc is the upgraded connection: reads continue from the buffered reader
// that parsed the response.
type rwc struct {
	*bufio.Reader
	net.Conn
}

func (c *rwc) Read(p []byte) (int, error) { return c.Reader.Read(p) }

func (h *handshaker) dial(ctx context.Context, useTLS bool, addr string) (net.Conn, error) {
	if !useTLS {
		if h.proxy != nil {
			return nil, fail(h.req, errors.New("ws:// through a proxy is not supported; use wss://"))
		}
		d := h.m.opts.Dial
		if d == nil {
			d = (&net.Dialer{}).DialContext
		}
		return d(ctx, "tcp", addr)
	}
	if h.imp != nil {
		// Browsers offer only http/1.1 for a WebSocket (no RFC 8441 on a
		// fresh connection).
		return h.imp.DialTLSWith(ctx, "tcp", addr, impersonate.DialTLSOptions{
			Profile: h.profile, PoolKey: h.poolKey, Proxy: h.proxy, ALPN: []string{"http/1.1"},
			InsecureSkipVerify: !h.verify,
		})
	}
	if h.m.opts.DialTLS != nil && (h.profile != "" || h.proxy != nil) {
		return h.m.opts.DialTLS(ctx, "tcp", addr, h.profile, h.proxy, []string{"http/1.1"})
	}
	if h.profile != "" {
		return nil, fail(h.req, fmt.Errorf("impersonation profile %q needs the impersonating dialer", h.profile))
	}
	host, _, _ := net.SplitHostPort(addr)
	d := &tls.Dialer{Config: &tls.Config{ServerName: host, RootCAs: h.m.opts.RootCAs, NextProtos: []string{"http/1.1"},
		InsecureSkipVerify: !h.verify}} //nolint:gosec // TLS_VERIFY / verify:false opt-out
	return d.DialContext(ctx, "tcp", addr)
}
