package impersonate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// h1Conn is one HTTP/1.1 connection. Go's net/http writes headers from a
// map (sorted, canonical case); browsers do not, so requests are written
// here by hand in the profile's order and case. Responses are parsed by
// net/http's ReadResponse (chunked, Content-Length, close semantics).
type h1Conn struct {
	nc net.Conn
	br *bufio.Reader
	hl *headerLimit
	// forward is set for a plain-http request through an HTTP proxy: the
	// request line carries the absolute URL and these extra headers.
	forward   bool
	proxyAuth string
	idleSince time.Time
	reused    bool
}

// roundTrip writes the request and reads the response head. The returned
// release func must be called once the body is done with; it reports
// whether the connection may be reused.
func (c *h1Conn) roundTrip(ctx context.Context, req *wireRequest, target string) (*http.Response, func(reusable bool) bool, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\n", req.method, target)
	// Every browser sends Host first.
	host := req.authority
	if v := req.headers.Get("host"); v != "" {
		host = v
	}
	b.WriteString("Host: " + host + "\r\n")
	hasLen := false
	for _, h := range req.headers {
		if strings.EqualFold(h.Name, "host") {
			continue
		}
		if strings.EqualFold(h.Name, "content-length") {
			hasLen = true
		}
		if strings.ContainsAny(h.Name+h.Value, "\r\n") {
			return nil, nil, fmt.Errorf("header %q: value contains CR or LF", h.Name)
		}
		b.WriteString(h.Name + ": " + h.Value + "\r\n")
	}
	if len(req.body) > 0 && !hasLen {
		b.WriteString("Content-Length: " + strconv.Itoa(len(req.body)) + "\r\n")
	}
	if c.forward && c.proxyAuth != "" {
		b.WriteString("Proxy-Authorization: " + c.proxyAuth + "\r\n")
	}
	b.WriteString("\r\n")

	// The context bounds the whole exchange: cancelling it unblocks any
	// read or write by expiring the connection's deadline.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	// What was written is the request's bytes on the wire
	// (downloader.AddWireBytes): request line, headers, body.
	n, err := io.WriteString(c.nc, b.String())
	downloader.AddWireBytes(ctx, int64(n))
	if err != nil {
		stop()
		return nil, nil, ctxErr(ctx, fmt.Errorf("write request: %w", err))
	}
	var bodyErr error
	if len(req.body) > 0 {
		// A server may answer (413) and close before reading the whole
		// body; its answer is still read below, as net/http does.
		n, err := c.nc.Write(req.body)
		downloader.AddWireBytes(ctx, int64(n))
		if err != nil {
			bodyErr = fmt.Errorf("write request body: %w", err)
		}
	}
	hreq := &http.Request{Method: req.method}
	var resp *http.Response
	c.hl.active, c.hl.n = true, int64(c.br.Buffered())
	defer func() { c.hl.active = false }()
	for {
		r, err := http.ReadResponse(c.br, hreq)
		if err != nil {
			stop()
			if bodyErr != nil {
				return nil, nil, ctxErr(ctx, bodyErr)
			}
			return nil, nil, ctxErr(ctx, fmt.Errorf("read response: %w", err))
		}
		if r.StatusCode >= 100 && r.StatusCode < 200 && r.StatusCode != http.StatusSwitchingProtocols {
			continue // 100 Continue / 103 Early Hints precede the real response
		}
		resp = r
		break
	}
	keep := bodyErr == nil && !resp.Close && !strings.EqualFold(req.headers.Get("connection"), "close")
	release := func(reusable bool) bool {
		fired := !stop()
		if fired {
			reusable = false
		}
		if !(reusable && keep) {
			c.nc.Close()
			return false
		}
		c.nc.SetDeadline(time.Time{})
		c.idleSince = time.Now()
		return true
	}
	return resp, release, nil
}

func ctxErr(ctx context.Context, err error) error {
	if ce := ctx.Err(); ce != nil {
		return fmt.Errorf("%w (%w)", ce, err)
	}
	return err
}

// h1Body reports whether the body was read to the end, which is what
// makes the connection reusable.
type h1Body struct {
	rc      io.ReadCloser
	done    bool
	closed  bool
	release func(reusable bool)
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.closed {
		return 0, errors.New("http: read on closed response body")
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.done = true
	}
	return n, err
}

func (b *h1Body) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.rc.Close()
	b.release(b.done && err == nil)
	return err
}

const h1BufSize = 16 << 10

func newH1Conn(nc net.Conn, forward bool, maxHeader int64) *h1Conn {
	hl := &headerLimit{r: nc, max: maxHeader}
	return &h1Conn{nc: nc, br: bufio.NewReaderSize(hl, h1BufSize), hl: hl, forward: forward}
}

// ErrHeadersTooLarge is returned for a response whose header block exceeds
// Options.MaxResponseHeaderBytes. Its text follows net/http's ("server
// response headers exceeded ...") so callers that cannot import this
// package classify both the same way.
var ErrHeadersTooLarge = errors.New("server response headers exceeded the limit")

// headerLimit counts bytes read from the connection while a response head
// is parsed (http.ReadResponse itself has no limit) and fails past max.
type headerLimit struct {
	r      io.Reader
	max    int64
	n      int64
	active bool
}

func (h *headerLimit) Read(p []byte) (int, error) {
	if h.active && h.n > h.max+h1BufSize {
		return 0, fmt.Errorf("%w (over %d bytes)", ErrHeadersTooLarge, h.max)
	}
	n, err := h.r.Read(p)
	if h.active {
		h.n += int64(n)
	}
	return n, err
}
