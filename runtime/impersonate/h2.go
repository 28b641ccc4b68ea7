package impersonate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// A focused HTTP/2 client on x/net/http2's Framer and hpack. It exists
// because x/net/http2's Transport fixes its own SETTINGS (order, values,
// setting 5), its WINDOW_UPDATE and its pseudo-header order, and sends no
// HEADERS priority: all of which a server reads as "Go". Here every one of
// those comes from the profile. The rest (flow control, GOAWAY, RST_STREAM,
// PING, CONTINUATION) follows RFC 9113 with the smallest state that is
// correct; see specs/impersonation.md for the choice against forks.

const defaultWindow = 65535

// errConnLost means the connection died after the request was sent and
// before any response: the server may or may not have seen it, so only
// idempotent requests are retried (as net/http does).
var errConnLost = errors.New("http2: connection lost before the response")

// errConnUnusable means a request was never sent on this connection (it
// was closing or went away); the caller retries on a fresh connection.
var errConnUnusable = errors.New("http2: connection no longer usable")

// StreamError is an RST_STREAM from the server.
type StreamError struct {
	StreamID uint32
	Code     http2.ErrCode
}

func (e *StreamError) Error() string {
	return fmt.Sprintf("http2: stream %d reset by server: %v", e.StreamID, e.Code)
}

type h2Conn struct {
	nc   net.Conn
	prof *Profile

	wmu  sync.Mutex // guards fr writes, bw, henc, hbuf and stream-id order
	bw   *bufio.Writer
	fr   *http2.Framer
	henc *hpack.Encoder
	hbuf bytes.Buffer

	mu           sync.Mutex
	cond         *sync.Cond
	streams      map[uint32]*h2Stream
	nextID       uint32
	maxStreams   uint32
	peerInitWin  int32
	peerMaxFrame uint32
	sendWin      int32
	recvWin      int32 // our connection receive window (initial)
	streamWin    int32 // our per-stream receive window (SETTINGS 4)
	recvUnacked  int32
	goAway       bool
	err          error
	idleSince    time.Time
	done         chan struct{}
}

type h2Stream struct {
	id      uint32
	cc      *h2Conn
	gotResp chan struct{}
	resp    *http.Response
	buf     bytes.Buffer
	eof     bool
	err     error
	sendWin int32
	unacked int32
	closed  bool
	stop    func() bool // unregisters the context watcher
}

// newH2Conn writes the client preface exactly as the profile says:
// the connection preface, SETTINGS in profile order, the connection
// WINDOW_UPDATE, then any PRIORITY frames.
func newH2Conn(nc net.Conn, p *Profile, maxHeaderBytes uint32) (*h2Conn, error) {
	cc := &h2Conn{
		nc:           nc,
		prof:         p,
		streams:      map[uint32]*h2Stream{},
		nextID:       1,
		maxStreams:   100,
		peerInitWin:  defaultWindow,
		peerMaxFrame: 16384,
		sendWin:      defaultWindow,
		recvWin:      defaultWindow,
		streamWin:    defaultWindow,
		idleSince:    time.Now(),
		done:         make(chan struct{}),
	}
	cc.cond = sync.NewCond(&cc.mu)
	cc.bw = bufio.NewWriterSize(nc, 16<<10)
	cc.fr = http2.NewFramer(cc.bw, bufio.NewReaderSize(nc, 16<<10))
	tableSize := uint32(4096)
	var settings []http2.Setting
	for _, s := range p.set {
		settings = append(settings, http2.Setting{ID: http2.SettingID(s.id), Val: s.val})
		switch http2.SettingID(s.id) {
		case http2.SettingHeaderTableSize:
			tableSize = s.val
		case http2.SettingInitialWindowSize:
			cc.streamWin = int32(s.val)
		}
	}
	cc.fr.ReadMetaHeaders = hpack.NewDecoder(tableSize, nil)
	cc.fr.MaxHeaderListSize = maxHeaderBytes
	cc.henc = hpack.NewEncoder(&cc.hbuf)
	for _, pf := range p.prio {
		if pf.stream >= cc.nextID {
			// Firefox-style priority trees occupy the low stream ids; the
			// first request uses the next free one, as Firefox does.
			cc.nextID = pf.stream + 2
		}
	}
	if len(p.prio) == 0 && p.firefoxFrom(140) {
		// Firefox ESR 140 (measured, TestHTTP2FrameOrder) and 153 send no
		// PRIORITY frames yet start their first request on stream 3.
		cc.nextID = 3
	}
	if _, err := cc.bw.WriteString(http2.ClientPreface); err != nil {
		return nil, err
	}
	if err := cc.fr.WriteSettings(settings...); err != nil {
		return nil, err
	}
	if p.HTTP2.WindowUpdate > 0 {
		if err := cc.fr.WriteWindowUpdate(0, p.HTTP2.WindowUpdate); err != nil {
			return nil, err
		}
		cc.recvWin += int32(p.HTTP2.WindowUpdate)
	}
	for _, pf := range p.prio {
		if err := cc.fr.WritePriority(pf.stream, http2.PriorityParam{StreamDep: pf.dep, Exclusive: pf.exclusive, Weight: uint8(pf.weight - 1)}); err != nil {
			return nil, err
		}
	}
	if err := cc.bw.Flush(); err != nil {
		return nil, err
	}
	go cc.readLoop()
	return cc, nil
}

// usable reports whether a new request may start on this connection now.
func (cc *h2Conn) usable() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err == nil && !cc.goAway && uint32(len(cc.streams)) < cc.maxStreams && cc.nextID < 1<<31-1
}

func (cc *h2Conn) idle(since time.Duration) bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.streams) == 0 && time.Since(cc.idleSince) > since
}

func (cc *h2Conn) dead() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err != nil || (cc.goAway && len(cc.streams) == 0)
}

func (cc *h2Conn) close() {
	cc.fail(errors.New("http2: connection closed"))
	<-cc.done
}

// fail tears the connection down: every open stream gets err.
func (cc *h2Conn) fail(err error) {
	cc.mu.Lock()
	if cc.err == nil {
		cc.err = err
	}
	for _, s := range cc.streams {
		if s.err == nil && !s.eof {
			s.err = err
		}
		s.signalResp()
	}
	cc.cond.Broadcast()
	cc.mu.Unlock()
	cc.nc.Close()
}

func (s *h2Stream) signalResp() {
	select {
	case <-s.gotResp:
	default:
		close(s.gotResp)
	}
}

func (cc *h2Conn) write(f func() error) error {
	cc.wmu.Lock()
	defer cc.wmu.Unlock()
	if err := f(); err != nil {
		return err
	}
	return cc.bw.Flush()
}

func (cc *h2Conn) readLoop() {
	defer close(cc.done)
	for {
		f, err := cc.fr.ReadFrame()
		if err != nil {
			if _, ok := f.(*http2.MetaHeadersFrame); ok {
				// x/net drops the whole connection when a header list
				// exceeds MaxHeaderListSize by far (CONTINUATION flood
				// defence) or is malformed.
				err = fmt.Errorf("%w: over %d bytes or malformed (%w)", ErrHeadersTooLarge, cc.fr.MaxHeaderListSize, err)
			}
			cc.fail(fmt.Errorf("http2: read: %w", err))
			return
		}
		if err := cc.handle(f); err != nil {
			cc.fail(err)
			return
		}
	}
}

func (cc *h2Conn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		cc.mu.Lock()
		tableSize := int64(-1)
		err := f.ForeachSetting(func(s http2.Setting) error {
			switch s.ID {
			case http2.SettingHeaderTableSize:
				tableSize = int64(s.Val)
			case http2.SettingMaxConcurrentStreams:
				cc.maxStreams = s.Val
			case http2.SettingMaxFrameSize:
				cc.peerMaxFrame = s.Val
			case http2.SettingInitialWindowSize:
				if s.Val > 1<<31-1 {
					return errors.New("http2: peer initial window too large")
				}
				delta := int32(s.Val) - cc.peerInitWin
				cc.peerInitWin = int32(s.Val)
				for _, st := range cc.streams {
					st.sendWin += delta
				}
				cc.cond.Broadcast()
			}
			return nil
		})
		cc.mu.Unlock()
		if err != nil {
			return err
		}
		return cc.write(func() error {
			if tableSize >= 0 {
				// Our encoder must not use a bigger dynamic table than
				// the server's decoder allows.
				cc.henc.SetMaxDynamicTableSizeLimit(uint32(tableSize))
			}
			return cc.fr.WriteSettingsAck()
		})
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		return cc.write(func() error { return cc.fr.WritePing(true, f.Data) })
	case *http2.WindowUpdateFrame:
		cc.mu.Lock()
		if f.StreamID == 0 {
			cc.sendWin += int32(f.Increment)
		} else if s := cc.streams[f.StreamID]; s != nil {
			s.sendWin += int32(f.Increment)
		}
		cc.cond.Broadcast()
		cc.mu.Unlock()
	case *http2.MetaHeadersFrame:
		if rst := cc.onHeaders(f); rst != 0 {
			return cc.write(func() error { return cc.fr.WriteRSTStream(rst, http2.ErrCodeCancel) })
		}
	case *http2.DataFrame:
		return cc.onData(f)
	case *http2.RSTStreamFrame:
		cc.mu.Lock()
		if s := cc.streams[f.StreamID]; s != nil {
			// NO_ERROR after a complete response only stops our upload.
			if !(f.ErrCode == http2.ErrCodeNo && s.eof) {
				s.err = &StreamError{StreamID: f.StreamID, Code: f.ErrCode}
			}
			s.signalResp()
			delete(cc.streams, f.StreamID)
			cc.markIdle()
		}
		cc.cond.Broadcast()
		cc.mu.Unlock()
	case *http2.GoAwayFrame:
		cc.mu.Lock()
		cc.goAway = true
		for id, s := range cc.streams {
			if id > f.LastStreamID {
				// Never processed by the server: safe to retry elsewhere.
				s.err = fmt.Errorf("%w: server sent GOAWAY (%v) before stream %d", errConnUnusable, f.ErrCode, id)
				s.signalResp()
				delete(cc.streams, id)
			}
		}
		cc.cond.Broadcast()
		cc.mu.Unlock()
	case *http2.PushPromiseFrame:
		// We advertise push off when the profile does; a server that
		// pushes anyway is answered with a refusal, not a crash.
		return cc.write(func() error { return cc.fr.WriteRSTStream(f.PromiseID, http2.ErrCodeRefusedStream) })
	}
	return nil
}

func (cc *h2Conn) markIdle() {
	if len(cc.streams) == 0 {
		cc.idleSince = time.Now()
	}
}

// onHeaders handles response HEADERS; it returns a stream id to reset
// (headers over the limit), or 0.
func (cc *h2Conn) onHeaders(f *http2.MetaHeadersFrame) uint32 {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	s := cc.streams[f.StreamID]
	if s == nil {
		return 0
	}
	if s.resp != nil {
		// Trailers: the stream ends here; their values are not exposed.
		if f.StreamEnded() {
			s.eof = true
			delete(cc.streams, s.id)
			cc.markIdle()
			cc.cond.Broadcast()
		}
		return 0
	}
	if f.Truncated {
		s.err = fmt.Errorf("http2: %w", ErrHeadersTooLarge)
		s.signalResp()
		delete(cc.streams, s.id)
		cc.markIdle()
		return s.id
	}
	status := f.PseudoValue("status")
	code, err := strconv.Atoi(status)
	if err != nil || code < 100 || code > 999 {
		s.err = fmt.Errorf("http2: malformed :status %q", status)
		s.signalResp()
		delete(cc.streams, s.id)
		return 0
	}
	if code >= 100 && code < 200 && !f.StreamEnded() {
		return 0 // 100 Continue, 103 Early Hints: wait for the final response
	}
	h := make(http.Header, len(f.Fields))
	for _, hf := range f.RegularFields() {
		k := http.CanonicalHeaderKey(hf.Name)
		h[k] = append(h[k], hf.Value)
	}
	resp := &http.Response{
		Status:        status + " " + http.StatusText(code),
		StatusCode:    code,
		Proto:         "HTTP/2.0",
		ProtoMajor:    2,
		Header:        h,
		ContentLength: -1,
		Body:          &h2Body{s: s},
	}
	if cl := h.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	s.resp = resp
	if f.StreamEnded() {
		s.eof = true
		delete(cc.streams, s.id)
		cc.markIdle()
	}
	s.signalResp()
	cc.cond.Broadcast()
	return 0
}

func (cc *h2Conn) onData(f *http2.DataFrame) error {
	n := int32(f.Header().Length) // flow control counts padding too
	data := f.Data()
	cc.mu.Lock()
	s := cc.streams[f.StreamID]
	giveBack := n - int32(len(data)) // padding is never read by anyone
	if s == nil || s.closed || s.resp == nil {
		giveBack = n
	} else {
		s.buf.Write(data)
		if f.StreamEnded() {
			s.eof = true
			delete(cc.streams, s.id)
			cc.markIdle()
		}
	}
	cc.cond.Broadcast()
	cc.mu.Unlock()
	if giveBack > 0 {
		return cc.write(func() error { return cc.fr.WriteWindowUpdate(0, uint32(giveBack)) })
	}
	return nil
}

// roundTrip sends one request and waits for the response headers. The
// response body streams; its Close releases the stream.
func (cc *h2Conn) roundTrip(ctx context.Context, req *wireRequest) (*http.Response, error) {
	s := &h2Stream{cc: cc, gotResp: make(chan struct{})}
	hasBody := len(req.body) > 0

	// HPACK state is shared by the connection: header blocks must reach the
	// server in the order they were encoded, so encoding, stream-id
	// allocation and the HEADERS write happen under one write lock.
	cc.wmu.Lock()
	cc.mu.Lock()
	if cc.err != nil || cc.goAway {
		cc.mu.Unlock()
		cc.wmu.Unlock()
		return nil, errConnUnusable
	}
	s.id = cc.nextID
	cc.nextID += 2
	s.sendWin = cc.peerInitWin
	cc.streams[s.id] = s
	maxFrame := int(cc.peerMaxFrame)
	cc.mu.Unlock()
	block := cc.encodeHeaders(req)
	sent, err := cc.writeHeaders(s.id, block, !hasBody, maxFrame, cc.headersPriority(req))
	cc.wmu.Unlock()
	downloader.AddWireBytes(ctx, int64(sent))
	if err != nil {
		cc.fail(err)
		// Nothing of the request reached the server: safe to send again
		// on a new connection (the server had closed this one).
		return nil, fmt.Errorf("%w: write headers: %w", errConnUnusable, err)
	}
	s.stop = context.AfterFunc(ctx, func() {
		cc.mu.Lock()
		if s.err == nil && !s.eof {
			s.err = ctx.Err()
		}
		s.signalResp()
		cc.cond.Broadcast()
		cc.mu.Unlock()
	})
	var bodyErr error
	if hasBody {
		// A failed upload may still have a response (the server answered
		// early and reset the rest): wait for it before giving up.
		bodyErr = cc.writeBody(ctx, s, req.body)
	}
	<-s.gotResp
	cc.mu.Lock()
	resp, serr := s.resp, s.err
	cc.mu.Unlock()
	if resp == nil {
		s.abort()
		if serr == nil {
			serr = cmp(bodyErr, errors.New("http2: stream ended without a response"))
		}
		cc.mu.Lock()
		lost := cc.err != nil && serr == cc.err
		cc.mu.Unlock()
		if lost {
			serr = fmt.Errorf("%w: %w", errConnLost, serr)
		}
		return nil, serr
	}
	return resp, nil
}

// encodeHeaders builds the header block: pseudo-headers in the profile's
// order, then the regular headers in the order given, names lower-case.
// The caller holds wmu.
func (cc *h2Conn) encodeHeaders(req *wireRequest) []byte {
	cc.hbuf.Reset()
	for _, ph := range cc.prof.HTTP2.PseudoHeaderOrder {
		var v string
		switch ph {
		case ":method":
			v = req.method
		case ":authority":
			v = req.authority
		case ":scheme":
			v = req.scheme
		case ":path":
			v = req.path
		}
		cc.henc.WriteField(hpack.HeaderField{Name: ph, Value: v})
	}
	hasLen := false
	for _, h := range req.headers {
		name := strings.ToLower(h.Name)
		if name == "content-length" {
			hasLen = true
		}
		switch name {
		case "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te":
			if name != "te" || h.Value != "trailers" {
				continue // connection-specific: forbidden in HTTP/2 (RFC 9113 8.2.2)
			}
		}
		cc.henc.WriteField(hpack.HeaderField{Name: name, Value: h.Value})
	}
	if len(req.body) > 0 && !hasLen {
		// Browsers announce the length of a request body.
		cc.henc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(req.body))})
	}
	return append([]byte(nil), cc.hbuf.Bytes()...)
}

// headersPriority is the priority of req's HEADERS frame: the profile's
// (its navigation's), except that Chromium weighs each request by its own
// priority, which its priority header states as an urgency (u=0 for a
// navigation, u=1 for a fetch() or XHR, u=3 for an image), with
// net/spdy's Spdy3PriorityToHttp2Weight: a fetch() goes out with weight
// 220, not the navigation's 256 (measured by `spiderrun fingerprint check
// --kinds` against Chromium 148).
func (cc *h2Conn) headersPriority(req *wireRequest) http2.PriorityParam {
	hp := cc.prof.HTTP2.HeadersPriority
	if hp == nil {
		return http2.PriorityParam{}
	}
	weight := hp.Weight
	if familyOf(cc.prof) == familyChromium {
		if u, ok := urgency(req.headers.Get("priority")); ok {
			weight = chromiumWeight(u)
		}
	}
	return http2.PriorityParam{StreamDep: hp.DependsOn, Exclusive: hp.Exclusive, Weight: uint8(weight - 1)}
}

// urgency reads the u parameter of a priority header (RFC 9218).
func urgency(v string) (int, bool) {
	for _, item := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok || k != "u" {
			continue
		}
		u, err := strconv.Atoi(val)
		if err != nil || u < 0 || u > 7 {
			return 0, false
		}
		return u, true
	}
	return 0, false
}

// chromiumWeight is net/spdy's Spdy3PriorityToHttp2Weight, in its float32
// arithmetic: 0 -> 256, 1 -> 220, 2 -> 183, 3 -> 147, 4 -> 110.
func chromiumWeight(spdyPriority int) int {
	const steps = float32(255.9) / float32(7)
	return int(steps*float32(7-spdyPriority)) + 1
}

// writeHeaders writes the HEADERS frame (and CONTINUATION frames) of a
// header block and returns the bytes of their payloads: the request's
// header bytes on the wire (downloader.AddWireBytes), frame headers aside.
func (cc *h2Conn) writeHeaders(id uint32, block []byte, endStream bool, maxFrame int, prio http2.PriorityParam) (sent int, err error) {
	first := true
	for len(block) > 0 || first {
		n := min(len(block), maxFrame)
		chunk := block[:n]
		block = block[n:]
		if first {
			p := http2.HeadersFrameParam{StreamID: id, BlockFragment: chunk, EndStream: endStream, EndHeaders: len(block) == 0, Priority: prio}
			if err := cc.fr.WriteHeaders(p); err != nil {
				return 0, err
			}
			sent += len(chunk)
			if !p.Priority.IsZero() {
				sent += 5 // the priority fields in the payload
			}
			first = false
			continue
		}
		if err := cc.fr.WriteContinuation(id, len(block) == 0, chunk); err != nil {
			return 0, err
		}
		sent += len(chunk)
	}
	if err := cc.bw.Flush(); err != nil {
		return 0, err
	}
	return sent, nil
}

// writeBody sends DATA within both flow-control windows.
// The DATA payloads sent count as the request's wire bytes.
func (cc *h2Conn) writeBody(ctx context.Context, s *h2Stream, body []byte) error {
	for len(body) > 0 {
		cc.mu.Lock()
		for (cc.sendWin <= 0 || s.sendWin <= 0) && cc.err == nil && s.err == nil && !s.eof {
			cc.cond.Wait()
		}
		if err := cmp(cc.err, s.err); err != nil {
			cc.mu.Unlock()
			return fmt.Errorf("http2: send body: %w", err)
		}
		if s.eof {
			// The server answered in full before reading the whole body
			// (a 413, say): the rest is not wanted.
			cc.mu.Unlock()
			return nil
		}
		n := min(int32(len(body)), cc.sendWin, s.sendWin, int32(cc.peerMaxFrame))
		cc.sendWin -= n
		s.sendWin -= n
		cc.mu.Unlock()
		chunk := body[:n]
		body = body[n:]
		if err := cc.write(func() error { return cc.fr.WriteData(s.id, len(body) == 0, chunk) }); err != nil {
			cc.fail(err)
			return fmt.Errorf("http2: send body: %w", err)
		}
		downloader.AddWireBytes(ctx, int64(len(chunk)))
	}
	return nil
}

func cmp(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// abort cancels the stream (RST_STREAM CANCEL) unless it already ended,
// and returns unread bytes to the connection window.
func (s *h2Stream) abort() {
	cc := s.cc
	cc.mu.Lock()
	if s.closed {
		cc.mu.Unlock()
		return
	}
	s.closed = true
	_, open := cc.streams[s.id]
	delete(cc.streams, s.id)
	cc.markIdle()
	unread := int32(s.buf.Len())
	s.buf.Reset()
	if s.err == nil && !s.eof {
		s.err = errors.New("http2: response body closed")
	}
	broken := cc.err != nil
	cc.cond.Broadcast()
	cc.mu.Unlock()
	if s.stop != nil {
		s.stop()
	}
	if broken {
		return
	}
	cc.write(func() error {
		if open {
			if err := cc.fr.WriteRSTStream(s.id, http2.ErrCodeCancel); err != nil {
				return err
			}
		}
		if unread > 0 {
			return cc.fr.WriteWindowUpdate(0, uint32(unread))
		}
		return nil
	})
}

type h2Body struct{ s *h2Stream }

// Read hands out buffered DATA and returns flow-control credit as it is
// consumed (not as it arrives), so a reader that stops reading stops the
// server: memory stays bounded by the windows the profile advertises.
func (b *h2Body) Read(p []byte) (int, error) {
	s := b.s
	cc := s.cc
	cc.mu.Lock()
	for s.buf.Len() == 0 && !s.eof && s.err == nil && !s.closed {
		cc.cond.Wait()
	}
	if s.buf.Len() == 0 {
		err := io.EOF
		if s.closed {
			err = errors.New("http2: read on closed body")
		} else if s.err != nil && !s.eof {
			err = s.err
		}
		cc.mu.Unlock()
		return 0, err
	}
	n, _ := s.buf.Read(p)
	var streamWU, connWU int32
	if !s.eof {
		s.unacked += int32(n)
		if s.unacked >= cc.streamWin/2 {
			streamWU, s.unacked = s.unacked, 0
		}
	}
	cc.recvUnacked += int32(n)
	if cc.recvUnacked >= cc.recvWin/2 {
		connWU, cc.recvUnacked = cc.recvUnacked, 0
	}
	cc.mu.Unlock()
	if streamWU > 0 || connWU > 0 {
		cc.write(func() error {
			if connWU > 0 {
				if err := cc.fr.WriteWindowUpdate(0, uint32(connWU)); err != nil {
					return err
				}
			}
			if streamWU > 0 {
				return cc.fr.WriteWindowUpdate(s.id, uint32(streamWU))
			}
			return nil
		})
	}
	return n, nil
}

func (b *h2Body) Close() error {
	b.s.abort()
	return nil
}

// wireRequest is a request resolved for the wire.
type wireRequest struct {
	method    string
	scheme    string
	authority string
	path      string
	headers   crawl.Headers
	body      []byte
}
