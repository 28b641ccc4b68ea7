package middleware

import (
	"context"
	"errors"
	"strconv"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// Stats counts downloads under Scrapy's DownloaderStats names:
// downloader/request_count, request_method_count/<M>, request_bytes,
// response_count, response_status_count/<N>, response_bytes,
// exception_count, exception_type_count/<Type>. Placed closest to the
// downloader, it sees every attempt (retries and redirect hops included).
type Stats struct {
	Stats stats.Collector
}

// ProcessRequest implements RequestProcessor.
func (m *Stats) ProcessRequest(_ context.Context, r *crawl.Request) (Result, error) {
	m.Stats.Inc("downloader/request_count", 1)
	m.Stats.Inc("downloader/request_method_count/"+r.GetMethod(), 1)
	m.Stats.Inc("downloader/request_bytes", requestSize(r))
	return Result{}, nil
}

// ProcessResponse implements ResponseProcessor.
func (m *Stats) ProcessResponse(_ context.Context, _ *crawl.Request, resp *crawl.Response) (Result, error) {
	m.Stats.Inc("downloader/response_count", 1)
	m.Stats.Inc("downloader/response_status_count/"+strconv.Itoa(resp.Status), 1)
	m.Stats.Inc("downloader/response_bytes", responseSize(resp))
	return Result{}, nil
}

// ProcessException implements ExceptionProcessor.
func (m *Stats) ProcessException(_ context.Context, _ *crawl.Request, err error) (Result, error) {
	m.Stats.Inc("downloader/exception_count", 1)
	m.Stats.Inc("downloader/exception_type_count/"+string(failureType(err)), 1)
	return Result{}, nil
}

func failureType(err error) crawl.FailureType {
	var f *crawl.Failure
	if errors.As(err, &f) {
		return f.Type
	}
	return crawl.UnknownError
}

// requestSize approximates the bytes on the wire like Scrapy's
// request_httprepr: request line, headers, body.
func requestSize(r *crawl.Request) int64 {
	n := len(r.GetMethod()) + len(r.URL) + 12
	for _, h := range r.Headers {
		n += len(h.Name) + len(h.Value) + 4
	}
	return int64(n + len(r.Body))
}

func responseSize(resp *crawl.Response) int64 {
	n := 15
	for _, h := range resp.Headers {
		n += len(h.Name) + len(h.Value) + 4
	}
	return int64(n + len(resp.Body))
}
