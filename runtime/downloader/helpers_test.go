package downloader

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fixture"
	"github.com/spiderrun/spiderrun/internal/proctest"
	"github.com/spiderrun/spiderrun/runtime/crawl"
)

// testResolver maps names to addresses like a hosts file. A name mapped
// to nil is NXDOMAIN; slow names sleep until the context ends. next, when
// set, answers instead (rebinding tests).
type testResolver struct {
	mu    sync.Mutex
	names map[string][]netip.Addr
	slow  map[string]bool
	next  func(host string) []netip.Addr
	calls int
}

func (r *testResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	r.calls++
	next := r.next
	addrs, ok := r.names[host]
	slow := r.slow[host]
	r.mu.Unlock()
	if slow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if next != nil {
		return next(host), nil
	}
	if !ok || addrs == nil {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	return addrs, nil
}

func loopback() []netip.Addr { return []netip.Addr{netip.MustParseAddr("127.0.0.1")} }

// syncBuffer is a goroutine-safe log sink.
type syncBuffer = proctest.Buffer

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// newDownloader builds a downloader that trusts srv's certificate (when
// TLS) and uses small test budgets. The timeout is generous (the machine
// is shared and -race is slow); tests about timeouts set their own.
func newDownloader(t *testing.T, srv *fixture.Server, mod func(*Options)) *Downloader {
	t.Helper()
	o := DefaultOptions()
	o.RandomizeDelay = false
	o.Timeout = 5 * time.Second
	o.MaxSize = 1 << 20
	o.WarnSize = 512 << 10
	if srv != nil && srv.TLS != nil {
		o.HTTP.RootCAs = srv.TLSConfig().RootCAs
	}
	if mod != nil {
		mod(&o)
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if h, ok := d.Transport().(*HTTPTransport); ok {
			h.CloseIdleConnections()
		}
	})
	return d
}

func get(url string) *crawl.Request { return &crawl.Request{URL: url, Start: true} }

func mustFail(t *testing.T, resp *crawl.Response, err error, typ crawl.FailureType, contains ...string) *crawl.Failure {
	t.Helper()
	if err == nil {
		t.Fatalf("want %s failure, got response %d (%d B)", typ, resp.Status, len(resp.Body))
	}
	var f *crawl.Failure
	if !errors.As(err, &f) {
		t.Fatalf("error %T is not a *crawl.Failure: %v", err, err)
	}
	if f.Type != typ {
		t.Fatalf("failure type = %s, want %s (%v)", f.Type, typ, err)
	}
	for _, c := range contains {
		if !strings.Contains(f.Error(), c) {
			t.Errorf("failure %q does not contain %q", f.Error(), c)
		}
	}
	return f
}
