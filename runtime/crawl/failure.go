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
func redactUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxx")
		return strings.Replace(u.String(), ":xxx@", ":***@", 1)
	}
	u.User = url.User("xxx")
	return strings.Replace(u.String(), "//xxx@", "//***@", 1)
}
