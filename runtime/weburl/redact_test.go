package weburl

import (
	"net/url"
	"strings"
	"testing"
)

// redactCases are inputs and the one rendering every redaction in
// spiderrun gives them.
var redactCases = []struct{ in, want string }{
	{"http://user:secret@proxy:8080", "http://user:***@proxy:8080"},
	{"socks5://tokenonly@proxy:1080", "socks5://***@proxy:1080"},
	{"http://proxy:8080", "http://proxy:8080"},
	{"redis://user:CANARY@127.0.0.1:6379/0", "redis://user:***@127.0.0.1:6379/0"},
	{"redis://:CANARY@127.0.0.1:1/0", "redis://:***@127.0.0.1:1/0"},
	{"https://u%40x:p%2Fw@h.test/a?b=1#c", "https://u%40x:***@h.test/a?b=1#c"},
	{"http://user:@h.test/", "http://user:***@h.test/"},
	{"http://h.test/p@x?mail=a@b.test", "http://h.test/p@x?mail=a@b.test"},
	{"HTTP://h.test/a%20b", "HTTP://h.test/a%20b"}, // no credentials: byte for byte
	{"user:secret@proxy:8080", "user:***@proxy:8080"},
	// unparsable: everything up to the last '@' of the URL
	{"http://us er:se cret@pro xy:80", "http://***@pro xy:80"},
	{"redis://:pa/ss@host:6379/0", "redis://***@host:6379/0"},
	{"redis://:p#ss@host:6379/0", "redis://***@host:6379/0"},
	{"1user:secret@host", "***@host"},
	{"", ""},
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range redactCases {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			if got := Redact(tc.in); got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if u, err := url.Parse(tc.in); err == nil {
				if got := RedactURL(u); Redact(u.String()) != got {
					t.Errorf("RedactURL(%q) = %q, Redact of its String() = %q", tc.in, got, Redact(u.String()))
				}
			}
		})
	}
	if RedactURL(nil) != "" {
		t.Error("RedactURL(nil) is not empty")
	}
}

func TestRedactSecrets(t *testing.T) {
	t.Parallel()
	const msg = "proxyconnect tcp: dial p:1 for s3cr3t/+x (s3cr3t%2F%2Bx) as longtoken123 and bob"
	for _, tc := range []struct {
		urls []string
		want string
	}{
		{[]string{"http://bob:s3cr3t%2F+x@p:1"}, "proxyconnect tcp: dial p:1 for *** (***) as longtoken123 and bob"},
		{[]string{"http://longtoken123@p:1"}, "proxyconnect tcp: dial p:1 for s3cr3t/+x (s3cr3t%2F%2Bx) as *** and bob"},
		{[]string{"", "http://p:1", "http://h/x"}, msg},
		{[]string{"longtoken123:s3cr3t/+x@p:1"}, "proxyconnect tcp: dial p:1 for *** (***) as *** and bob"},
		{[]string{"http://bob:s3cr3t/+x@p:1"}, "proxyconnect tcp: dial p:1 for *** (***) as longtoken123 and bob"}, // unparsable
	} {
		if got := RedactSecrets(msg, tc.urls...); got != tc.want {
			t.Errorf("RedactSecrets(%q) = %q, want %q", tc.urls, got, tc.want)
		}
	}
	if strings.Contains(RedactSecrets("x", "http://a:b@c"), Mask+Mask) {
		t.Error("double mask")
	}
}
