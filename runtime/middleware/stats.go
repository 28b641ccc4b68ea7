package middleware

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Stats counts downloads under Scrapy's DownloaderStats names:
// downloader/request_count, request_method_count/<M>, request_bytes,
// response_count, response_status_count/<N>, response_bytes,
// response_protocol_count/<h1|h2|h3> (ours: how much went over HTTP/3),
// exception_count, exception_type_count/<Type>. Placed closest to the
// downloader, it sees every attempt (retries and redirect hops included).
// request_bytes is counted when the download returns: the bytes the
// transport actually wrote for the request (downloader.AddWireBytes), not
// an estimate made before the transport added its own headers.
type Stats struct {
	Stats stats.Collector
}

// ProcessRequest implements RequestProcessor.
func (m *Stats) ProcessRequest(_ context.Context, r *crawl.Request) (Result, error) {
	m.Stats.Inc("downloader/request_count", 1)
	m.Stats.Inc("downloader/request_method_count/"+r.GetMethod(), 1)
	return Result{}, nil
}

// ProcessResponse implements ResponseProcessor.
func (m *Stats) ProcessResponse(_ context.Context, r *crawl.Request, resp *crawl.Response) (Result, error) {
	m.Stats.Inc("downloader/request_bytes", requestWireBytes(r, resp))
	m.Stats.Inc("downloader/response_count", 1)
	m.Stats.Inc("downloader/response_status_count/"+strconv.Itoa(resp.Status), 1)
	if p := protocolKey(resp.Protocol); p != "" {
		m.Stats.Inc("downloader/response_protocol_count/"+p, 1)
	}
	m.Stats.Inc("downloader/response_bytes", responseSize(resp))
	return Result{}, nil
}

// ProcessException implements ExceptionProcessor.
func (m *Stats) ProcessException(ctx context.Context, r *crawl.Request, err error) (Result, error) {
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		// Cancelled by the crawl's close: not a download error, and the
		// request stays pending for a resumed crawl. One that never left
		// the downloader's waits (its download delay, a slot) was not
		// sent at all: it is not counted as a request either.
		if n := downloader.FailureWireBytes(err); n > 0 {
			m.Stats.Inc("downloader/request_bytes", n)
		} else {
			m.Stats.Inc("downloader/request_count", -1)
			m.Stats.Inc("downloader/request_method_count/"+r.GetMethod(), -1)
		}
		return Result{}, nil
	}
	m.Stats.Inc("downloader/request_bytes", downloader.FailureWireBytes(err))
	m.Stats.Inc("downloader/exception_count", 1)
	m.Stats.Inc("downloader/exception_type_count/"+string(failureType(err)), 1)
	return Result{}, nil
}

// requestWireBytes is the bytes the request of resp took on the wire, as
// the transport measured them (downloader.RequestWireBytes); 0 for a
// response from the HTTP cache. A response that came from neither (a
// handler other than the Downloader, a middleware's own answer) is counted
// as Scrapy counts every request: its HTTP/1.1 rendering.
func requestWireBytes(r *crawl.Request, resp *crawl.Response) int64 {
	if n, ok := downloader.RequestWireBytes(resp); ok {
		return n
	}
	if slices.Contains(resp.Flags, FlagCached) {
		return 0
	}
	if resp.Request != nil {
		r = resp.Request
	}
	if r == nil {
		return 0
	}
	return requestSize(r)
}

// requestSize approximates Scrapy's request_httprepr: request line,
// headers, body.
func requestSize(r *crawl.Request) int64 {
	n := len(r.GetMethod()) + len(r.URL) + 12
	for _, h := range r.Headers {
		n += len(h.Name) + len(h.Value) + 4
	}
	return int64(n + len(r.Body))
}

func failureType(err error) crawl.FailureType {
	var f *crawl.Failure
	if errors.As(err, &f) {
		return f.Type
	}
	return crawl.UnknownError
}

func responseSize(resp *crawl.Response) int64 {
	n := 15
	for _, h := range resp.Headers {
		n += len(h.Name) + len(h.Value) + 4
	}
	return int64(n + len(resp.Body))
}

// protocolKey names a response's HTTP version in stats (h1, h2, h3), so a
// crawl shows how much of it went over HTTP/3.
func protocolKey(proto string) string {
	switch proto {
	case "HTTP/1.0", "HTTP/1.1":
		return "h1"
	case "HTTP/2.0":
		return "h2"
	case "HTTP/3.0":
		return "h3"
	}
	return ""
}
