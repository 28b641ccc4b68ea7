package downloader

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// MaxSizeError reports a body (or header block) over a size limit.
type MaxSizeError struct {
	Limit int64
	// Read is how many bytes were read before giving up; Declared is the
	// Content-Length when that alone was over the limit.
	Read, Declared int64
	// Compressed is how many wire bytes had been read when a decoded body
	// crossed the limit (0 when not encoded).
	Compressed int64
}

func (e *MaxSizeError) Error() string {
	switch {
	case e.Declared > 0:
		return fmt.Sprintf("Content-Length %s exceeds DOWNLOAD_MAXSIZE %s", humanBytes(e.Declared), humanBytes(e.Limit))
	case e.Compressed > 0:
		return fmt.Sprintf("decompressed body exceeded DOWNLOAD_MAXSIZE (%d B) after %d compressed bytes", e.Limit, e.Compressed)
	}
	return fmt.Sprintf("body exceeded DOWNLOAD_MAXSIZE (%d B)", e.Limit)
}

// DataLossError is a body shorter than its Content-Length (or a truncated
// compressed stream) with DOWNLOAD_FAIL_ON_DATALOSS on.
type DataLossError struct {
	Got, Want int64
	Err       error
}

func (e *DataLossError) Error() string {
	if e.Want > 0 {
		return fmt.Sprintf("unexpected EOF: %d of %d bytes", e.Got, e.Want)
	}
	return fmt.Sprintf("truncated body after %d bytes: %v", e.Got, e.Err)
}

func (e *DataLossError) Unwrap() error { return e.Err }

// ErrFileNotAllowed refuses a file:// request that did not come from a
// start request or a file:// page.
var ErrFileNotAllowed = errors.New("file:// request refused: only start requests and links from file:// pages may read local files")

// errDownloadTimeout is the cause set on the per-request deadline, so a
// timeout of ours is told apart from the caller's cancellation.
var errDownloadTimeout = errors.New("download timeout")

// classify turns a transport or body error into a *crawl.Failure whose
// message names the reason in words a user can act on. phase says what
// the download was doing ("waiting for response headers", "connecting to
// host:port", ...), received how many body bytes had arrived (-1 before the
// headers).
func classify(ctx context.Context, req *crawl.Request, err error, timeout time.Duration, phase string, received int64) *crawl.Failure {
	var f *crawl.Failure
	if errors.As(err, &f) {
		return f
	}
	fail := func(t crawl.FailureType, format string, args ...any) *crawl.Failure {
		msg := fmt.Sprintf(format, args...)
		if req != nil {
			// the transport's text may quote the proxy's or the URL's credentials
			msg = weburl.RedactSecrets(msg, req.Proxy, req.URL)
		}
		return &crawl.Failure{Type: t, Message: msg, Request: req, Err: err}
	}
	if context.Cause(ctx) == errDownloadTimeout || errors.Is(err, errDownloadTimeout) {
		var bw *budgetWaitError
		if errors.As(err, &bw) {
			return fail(crawl.TimeoutError, "download deadline %s exceeded waiting for DOWNLOAD_MEMORY_BUDGET (%s of %s in use, %d B received)",
				timeout, humanBytes(bw.inUse), humanBytes(bw.limit), max(received, 0))
		}
		if received >= 0 {
			return fail(crawl.TimeoutError, "download deadline %s exceeded (%d B received)", timeout, received)
		}
		return fail(crawl.TimeoutError, "timeout after %s %s", timeout, phase)
	}
	var blocked *BlockedError
	var maxSize *MaxSizeError
	var budget *BudgetError
	var dataLoss *DataLossError
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var recordErr tls.RecordHeaderError
	var alertErr tls.AlertError
	switch {
	case errors.As(err, &blocked):
		return fail(crawl.BlockedAddress, "%s", blocked.Error())
	case errors.As(err, &maxSize):
		return fail(crawl.MaxSizeExceeded, "%s", maxSize.Error())
	case errors.As(err, &budget):
		if budget.Exhausted {
			// Transient: the same body fits once others are done.
			return fail(crawl.ConnectionError, "%s", budget.Error())
		}
		return fail(crawl.MaxSizeExceeded, "%s", budget.Error())
	case errors.As(err, new(*decodeError)):
		return fail(crawl.UnknownError, "undecodable body: %s", err.Error())
	case errors.As(err, &dataLoss):
		return fail(crawl.ConnectionError, "%s", dataLoss.Error())
	case errors.Is(err, ErrFileNotAllowed):
		return fail(crawl.IgnoreRequest, "%s", err.Error())
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return fail(crawl.DNSLookupError, "dns timeout resolving %s", dnsErr.Name)
		}
		if dnsErr.IsNotFound {
			return fail(crawl.DNSLookupError, "no such host: %s", dnsErr.Name)
		}
		return fail(crawl.DNSLookupError, "dns lookup of %s failed: %s", dnsErr.Name, dnsErr.Err)
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr),
		errors.As(err, &invalidCert), errors.As(err, &recordErr), errors.As(err, &alertErr):
		return fail(crawl.TLSError, "tls: %s", innermost(err))
	case errors.Is(err, syscall.ECONNREFUSED):
		return fail(crawl.ConnectionRefused, "connection refused %s", strings.TrimPrefix(phase, "connecting "))
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		if received >= 0 {
			return fail(crawl.ConnectionReset, "connection reset by peer after %d B of body", received)
		}
		return fail(crawl.ConnectionReset, "connection reset by peer %s", phase)
	case errors.Is(err, context.Canceled):
		return fail(crawl.UnknownError, "download cancelled")
	case errors.Is(err, os.ErrDeadlineExceeded), isTimeout(err):
		return fail(crawl.TimeoutError, "timeout %s", phase)
	case strings.Contains(err.Error(), "server response headers exceeded"):
		return fail(crawl.MaxSizeExceeded, "response headers exceed %s", humanBytes(maxHeaderBytes))
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		return fail(crawl.TLSError, "%s", innermost(err))
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		if received >= 0 {
			return fail(crawl.ConnectionError, "connection closed after %d B of body", received)
		}
		return fail(crawl.ConnectionError, "connection closed by peer %s", phase)
	}
	return fail(crawl.ConnectionError, "%s", innermost(err))
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// innermost strips *url.Error wrapping (it repeats the URL, which the
// Failure already names).
func innermost(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
