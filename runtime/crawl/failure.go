package crawl

import (
	"fmt"
	"net/url"
	"strings"
)

// FailureType names the kind of a failed request, as errbacks see it in
// failure.type. The names follow Twisted/Scrapy where Scrapy users know them.
type FailureType string

// Failure types.
const (
	TimeoutError      FailureType = "TimeoutError"
	DNSLookupError    FailureType = "DNSLookupError"
	ConnectionRefused FailureType = "ConnectionRefusedError"
	ConnectionReset   FailureType = "ConnectionResetError"
	ConnectionError   FailureType = "ConnectionError"
	TLSError          FailureType = "TLSError"
	HttpError         FailureType = "HttpError"
	IgnoreRequest     FailureType = "IgnoreRequest"
	MaxSizeExceeded   FailureType = "MaxSizeExceeded"
	TooManyRedirects  FailureType = "TooManyRedirects"
	ParseError        FailureType = "ParseError"
	BlockedAddress    FailureType = "BlockedAddress"
	SessionError      FailureType = "SessionError"
	Blocked           FailureType = "BlockedError" // an anti-bot answer, still there after BLOCK_RETRY_TIMES
	WebSocketError    FailureType = "WebSocketError"
	UnknownError      FailureType = "Error"
)

// Failure is a request that did not produce a usable response. It is an
// error; Err keeps the Go cause for errors.Is/As.
type Failure struct {
	Type     FailureType
	Message  string
	Request  *Request
	Response *Response // set for HttpError
	Err      error
}

// Error names the URL and the reason, as users read it in logs.
func (f *Failure) Error() string {
	url := ""
	if f.Request != nil {
		url = f.Request.GetMethod() + " " + redactUserinfo(f.Request.URL) + ": "
	}
	return fmt.Sprintf("%s%s: %s", url, f.Type, f.Message)
}

// Unwrap returns the Go cause.
func (f *Failure) Unwrap() error { return f.Err }

// NewFailure builds a Failure whose message is err's text.
func NewFailure(t FailureType, req *Request, err error) *Failure {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	return &Failure{Type: t, Message: msg, Request: req, Err: err}
}

// redactUserinfo hides credentials in a URL (http://user:***@host/): error
// messages end up in logs, stats dumps and errbacks.
//
// It is runtime/weburl's Redact, copied: this package holds the data types
// every other package of ours uses, so it imports none of them (STYLE.md,
// enforced by deps_test.go) — not even a leaf like weburl, to keep the
// bottom of the graph a single package with no exceptions to argue about.
// The copy is standard-library code only, and TestRedactSameAsWeburl
// (failure_test.go) keeps it equal to weburl.Redact, mask included.
func redactUserinfo(raw string) string {
	const mask = "***" // weburl.Mask
	if !strings.Contains(raw, "@") {
		return raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		start := 0
		if i := strings.Index(raw, "://"); i >= 0 {
			start = i + 3
		}
		at := strings.LastIndexByte(raw, '@')
		if at < start {
			return raw
		}
		return raw[:start] + mask + raw[at:]
	}
	if u.User == nil {
		if at := strings.LastIndexByte(u.Opaque, '@'); at >= 0 {
			u.Opaque = mask + u.Opaque[at:]
			return u.String()
		}
		return raw
	}
	userinfo := mask
	if _, has := u.User.Password(); has {
		userinfo = url.User(u.User.Username()).String() + ":" + mask
	}
	u.User = url.User("x")
	return strings.Replace(u.String(), "//x@", "//"+userinfo+"@", 1)
}
