package middleware

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/stats"
)

// HTTPError turns non-2xx responses into HttpError failures that carry
// the response (Scrapy's HttpErrorMiddleware), unless allowed by
// HTTPERROR_ALLOWED_CODES, HTTPERROR_ALLOW_ALL, or the request's meta
// handle_httpstatus_list / handle_httpstatus_all. It goes first in the
// list, so it judges the response after retry and redirect had their say.
type HTTPError struct {
	AllowedCodes []int
	AllowAll     bool
	Stats        stats.Collector
}

// ProcessResponse implements ResponseProcessor.
func (m *HTTPError) ProcessResponse(_ context.Context, r *crawl.Request, resp *crawl.Response) (Result, error) {
	// 2xx, and WebSocket messages (their status is the handshake's 101).
	if resp.Status >= 200 && resp.Status < 300 || resp.Protocol == "websocket" {
		return Result{}, nil
	}
	if r.MetaBool("handle_httpstatus_all") || m.AllowAll {
		return Result{}, nil
	}
	if list, ok := metaIntList(r.Meta["handle_httpstatus_list"]); ok {
		if slices.Contains(list, resp.Status) {
			return Result{}, nil
		}
	} else if slices.Contains(m.AllowedCodes, resp.Status) {
		return Result{}, nil
	}
	if m.Stats != nil {
		m.Stats.Inc("httperror/response_ignored_count", 1)
		m.Stats.Inc("httperror/response_ignored_status_count/"+strconv.Itoa(resp.Status), 1)
	}
	return Result{}, &crawl.Failure{
		Type:     crawl.HttpError,
		Message:  fmt.Sprintf("ignoring non-2xx response %d %s", resp.Status, http.StatusText(resp.Status)),
		Request:  r,
		Response: resp,
	}
}

// metaIntList reads a list of ints from meta as Go or JSON left it.
func metaIntList(v any) ([]int, bool) {
	switch l := v.(type) {
	case []int:
		return l, true
	case []any:
		out := make([]int, 0, len(l))
		for _, x := range l {
			switch n := x.(type) {
			case int:
				out = append(out, n)
			case int64:
				out = append(out, int(n))
			case float64:
				out = append(out, int(n))
			}
		}
		return out, true
	case []int64:
		out := make([]int, len(l))
		for i, n := range l {
			out[i] = int(n)
		}
		return out, true
	case []float64:
		out := make([]int, len(l))
		for i, n := range l {
			out[i] = int(n)
		}
		return out, true
	}
	return nil, false
}
