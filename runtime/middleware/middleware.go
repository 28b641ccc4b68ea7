// Package middleware holds the downloader middlewares: the chain that every
// request and response passes through between the engine and the
// downloader, with Scrapy's ordering (process_request forward,
// process_response and process_exception in reverse), and the built-ins
// (default headers, cookies, retry, redirect, HTTP errors, robots.txt, stats).
package middleware

import (
	"context"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// Result is what a middleware method returns, with Scrapy's meaning:
//   - all nil: continue with the next middleware;
//   - Response set: stop, use this response (process_request skips the
//     download; process_response replaces the response);
//   - Request set: stop, schedule this request instead (retry, redirect);
//   - Err set: fail (process_request/process_response go to
//     process_exception/the errback).
type Result struct {
	Response *crawl.Response
	Request  *crawl.Request
}

// RequestProcessor runs before the download, in list order.
type RequestProcessor interface {
	ProcessRequest(ctx context.Context, req *crawl.Request) (Result, error)
}

// ResponseProcessor runs after the download, in reverse list order. A nil
// Result with nil error means "pass resp on unchanged".
type ResponseProcessor interface {
	ProcessResponse(ctx context.Context, req *crawl.Request, resp *crawl.Response) (Result, error)
}

// ExceptionProcessor runs when the download (or a process_request) failed,
// in reverse list order. A nil Result with nil error passes the error on.
type ExceptionProcessor interface {
	ProcessException(ctx context.Context, req *crawl.Request, err error) (Result, error)
}

// A Downloader middleware implements any subset of RequestProcessor,
// ResponseProcessor and ExceptionProcessor.
type Downloader = any
