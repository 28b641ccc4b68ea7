package downloader

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"weak"

	"golang.org/x/net/http2/hpack"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Wire bytes: what a request cost on the wire, for the stat
// downloader/request_bytes. The transports measure it as they serialise
// the request and report it with AddWireBytes:
//
//   - HTTP/1.x: the request line, the header block and the body, exactly
//     as written to the connection (above TLS; to a proxy, the
//     absolute-form request line and Proxy-Authorization included; the
//     CONNECT of a tunnel not).
//   - HTTP/2: the payloads of the request's HEADERS and CONTINUATION frames
//     (the HPACK-compressed header block as sent, so a header indexed by an
//     earlier request on the connection costs a byte or two) and of its
//     DATA frames. Frame headers, the connection preface, SETTINGS,
//     WINDOW_UPDATE and PING are the connection's, not the request's.
//
// A request that never reached the wire (refused connection, DNS failure,
// an answer from the HTTP cache) counts 0. Scrapy instead counts its own
// HTTP/1.1 rendering of every request (request_httprepr) before download.

type wireKey struct{}

// wireCount accumulates one download's bytes.
type wireCount struct{ n atomic.Int64 }

func withWireCount(ctx context.Context) (context.Context, *wireCount) {
	w := &wireCount{}
	return context.WithValue(ctx, wireKey{}, w), w
}

// AddWireBytes records n bytes of the request being downloaded with ctx as
// written on the wire. Transports call it; it does nothing for a context
// that does not come from Downloader.Download.
func AddWireBytes(ctx context.Context, n int64) {
	if w, ok := ctx.Value(wireKey{}).(*wireCount); ok && n > 0 {
		w.n.Add(n)
	}
}

// wireBytesMemo is the Response.Memo key of the request's wire bytes.
type wireBytesMemo struct{}

// attach records the count on resp.
func (w *wireCount) attach(resp *crawl.Response) {
	n := w.n.Load()
	resp.Memo(wireBytesMemo{}, func() any { return n })
}

// wrap records the count for a failed download's error (a
// *crawl.Failure, which keeps its own Err: callers match it by type).
func (w *wireCount) wrap(err error) error {
	n := w.n.Load()
	var f *crawl.Failure
	if n == 0 || !errors.As(err, &f) {
		return err
	}
	// Keyed weakly: the entry goes when the failure is collected, whether
	// or not FailureWireBytes read it.
	k := weak.Make(f)
	failureBytes.Store(k, n)
	runtime.AddCleanup(f, func(k weak.Pointer[crawl.Failure]) { failureBytes.Delete(k) }, k)
	return err
}

// failureBytes maps weak.Pointer[crawl.Failure] to the bytes its download
// had written.
var failureBytes sync.Map

// RequestWireBytes returns the bytes the request of resp took on the wire
// (see AddWireBytes), and false when resp did not come from a download
// (the HTTP cache, a middleware's answer).
func RequestWireBytes(resp *crawl.Response) (int64, bool) {
	v, ok := resp.Cached(wireBytesMemo{})
	if !ok {
		return 0, false
	}
	n, ok := v.(int64)
	return n, ok
}

// FailureWireBytes returns the bytes a failed download had written on the
// wire before it failed (0 when it never reached the wire, or err does not
// come from Downloader.Download).
func FailureWireBytes(err error) int64 {
	var f *crawl.Failure
	if !errors.As(err, &f) {
		return 0
	}
	n, _ := failureBytes.Load(weak.Make(f))
	v, _ := n.(int64)
	return v
}

// countWriter counts the bytes written to it.
type countWriter struct{ n int64 }

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

// WriteByte and WriteString let Request.Write count without wrapping w in
// a 4 KB bufio.Writer it allocates for every request (issue 20: 4 KB of
// every page's allocations) and without converting strings to bytes.
func (w *countWriter) WriteByte(byte) error { w.n++; return nil }

func (w *countWriter) WriteString(s string) (int, error) {
	w.n += int64(len(s))
	return len(s), nil
}

// traceWireBytes adds to ctx an httptrace hook that records the request's
// wire bytes (AddWireBytes) once net/http has written it in full. net/http
// does not expose its writes, so the request is serialised again by the
// code net/http itself writes HTTP/1.x with (Request.Write, WriteProxy),
// with the headers the Transport adds (Proxy-Authorization to an HTTP
// proxy): byte for byte what went on the wire. For HTTP/2 the HPACK block
// depends on the connection's dynamic table, which net/http keeps to
// itself: the size is that of a block encoded against an empty table (an
// upper bound: a header repeated from an earlier request on the
// connection costs less on the wire), plus the body's DATA payloads.
func traceWireBytes(ctx context.Context, req *http.Request, body []byte, proxy *url.URL, h2c bool) context.Context {
	var h2 atomic.Bool
	h2.Store(h2c)
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if tc, ok := info.Conn.(*tls.Conn); ok && tc.ConnectionState().NegotiatedProtocol == "h2" {
				h2.Store(true)
			}
		},
		WroteRequest: func(info httptrace.WroteRequestInfo) {
			if info.Err != nil {
				return
			}
			if h2.Load() {
				AddWireBytes(ctx, h2RequestSize(req, body))
			} else {
				AddWireBytes(ctx, h1RequestSize(req, body, proxy))
			}
		},
	})
}

// h1RequestSize serialises req as net/http's Transport writes it.
func h1RequestSize(req *http.Request, body []byte, proxy *url.URL) int64 {
	r := req.Clone(context.Background())
	r.Body, r.GetBody, r.ContentLength = nil, nil, 0
	if len(body) > 0 {
		r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	}
	var w countWriter
	if proxy != nil && (proxy.Scheme == "http" || proxy.Scheme == "https") && req.URL.Scheme == "http" {
		// Forwarded to the proxy: absolute-form target, and the
		// credentials the Transport adds.
		if u := proxy.User; u != nil {
			pw, _ := u.Password()
			r.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
		}
		_ = r.WriteProxy(&w)
	} else {
		_ = r.Write(&w)
	}
	return w.n
}

// h2RequestSize is the HPACK block of req against an empty dynamic table,
// with the pseudo-headers and header filtering of net/http's HTTP/2
// client, plus the body (DATA payloads).
func h2RequestSize(req *http.Request, body []byte) int64 {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	path := req.URL.RequestURI()
	enc.WriteField(hpack.HeaderField{Name: ":authority", Value: host})
	enc.WriteField(hpack.HeaderField{Name: ":method", Value: req.Method})
	enc.WriteField(hpack.HeaderField{Name: ":path", Value: path})
	enc.WriteField(hpack.HeaderField{Name: ":scheme", Value: req.URL.Scheme})
	for k, vv := range req.Header {
		name := strings.ToLower(k)
		switch name {
		case "host", "content-length", "connection", "proxy-connection", "transfer-encoding", "upgrade", "keep-alive":
			continue
		case "user-agent":
			if len(vv) > 0 && vv[0] == "" {
				continue
			}
		}
		for _, v := range vv {
			enc.WriteField(hpack.HeaderField{Name: name, Value: v})
		}
	}
	if len(body) > 0 {
		enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
	}
	return int64(buf.Len() + len(body))
}
