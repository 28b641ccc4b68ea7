package crawl_test

import (
	"math/rand/v2"
	"testing"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// TestRedactSameAsWeburl: Failure.Error renders the request URL exactly as
// weburl.Redact does (runtime/crawl keeps a private copy of it, since it
// imports no package of ours).
func TestRedactSameAsWeburl(t *testing.T) {
	t.Parallel()
	cases := []string{
		"http://user:secret@proxy:8080", "socks5://tokenonly@proxy:1080", "http://proxy:8080",
		"redis://user:CANARY@127.0.0.1:6379/0", "redis://:CANARY@127.0.0.1:1/0",
		"https://u%40x:p%2Fw@h.test/a?b=1#c", "http://user:@h.test/", "http://h.test/p@x?mail=a@b.test",
		"user:secret@proxy:8080", "http://us er:se cret@pro xy:80", "redis://:pa/ss@host:6379/0",
		"1user:secret@host", "mailto:a@b.test", "", "http://[::1]:80/@", "//u:p@h/",
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pieces := []string{"http://", "redis://", "user", ":", "p#w", "@", "h.test", ":80", "/", "?", "q=a@b", "#", "%", " ", "%2F", "[::1]"}
	for range 5000 {
		s := ""
		for range 1 + rng.IntN(8) {
			s += pieces[rng.IntN(len(pieces))]
		}
		cases = append(cases, s)
	}
	for _, in := range cases {
		f := &crawl.Failure{Type: crawl.TimeoutError, Message: "m", Request: &crawl.Request{URL: in}}
		want := "GET " + weburl.Redact(in) + ": TimeoutError: m"
		if got := f.Error(); got != want {
			t.Fatalf("Failure.Error() for %q = %q, want %q", in, got, want)
		}
	}
}
