package livebrowser_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// retryServer is an HTTP/1.1-only TLS server that records each
// connection's ClientHello extensions and, on a kept-alive connection,
// answers its second request (/drop) by closing the connection: a
// browser then sends that request again on a new connection.
type retryServer struct {
	ln   net.Listener
	mu   sync.Mutex
	exts [][]uint16 // by connection, in accept order
	reqs []string   // "conn N: PATH"
}

func startRetryServer(t *testing.T, ca *livebrowser.CA, page string) *retryServer {
	t.Helper()
	s := &retryServer{}
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.Leaf}, NextProtos: []string{"http/1.1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ln = ln
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c, cfg, page)
		}
	}()
	return s
}

func (s *retryServer) serve(raw net.Conn, base *tls.Config, page string) {
	defer raw.Close()
	var id int
	cfg := base.Clone()
	cfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		s.mu.Lock()
		s.exts = append(s.exts, slices.Clone(h.Extensions))
		id = len(s.exts) - 1
		s.mu.Unlock()
		return nil, nil
	}
	c := tls.Server(raw, cfg)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		s.mu.Lock()
		s.reqs = append(s.reqs, fmt.Sprintf("conn %d: %s", id, req.URL.Path))
		s.mu.Unlock()
		if req.URL.Path == "/drop" && n > 0 {
			return // a kept-alive connection closed under the request
		}
		body, ctype := "ok", "text/plain"
		if req.URL.Path == "/" {
			body, ctype = page, "text/html"
		}
		closing := ""
		if req.URL.Path == "/" {
			closing = "Connection: close\r\n"
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %d\r\n%sAccess-Control-Allow-Origin: *\r\n\r\n%s", ctype, len(body), closing, body)
		if closing != "" {
			return
		}
	}
}

// TestFirefoxRetryHello holds our Firefox profile to Firefox ESR on a
// retried request: the page (its connection closed after the answer), a
// fetch on a new, resumed connection, then a second fetch on that kept-alive
// connection, which the server closes under it; Firefox sends that request
// again on a third connection, whose ClientHello has no
// compress_certificate (27) extension and offers no session (Firefox's
// nsNSSIOLayer registers no certificate compression on a socket of a
// restarted transaction, IS_RETRY). Our client, sending the same three
// requests with the shipped profile of the browser's version, must make
// the same three hellos, extension by extension.
func TestFirefoxRetryHello(t *testing.T) {
	t.Parallel()
	bin := livebrowser.Require(t, livebrowser.Firefox)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	version, err := livebrowser.Version(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := livebrowser.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	browser := startRetryServer(t, ca, `<!doctype html><link rel="icon" href="data:,"><title>retry</title>page`)
	page := fmt.Sprintf("https://localhost:%d/", browser.ln.Addr().(*net.TCPAddr).Port)
	s := openPage(t, ctx, livebrowser.Firefox, bin, ca, livebrowser.Run{URL: page, HTTP1: true, Dir: t.TempDir()})
	defer s.Close()
	var status int
	if err := s.Eval(ctx, `fetch("/a").then(r => r.text()).then(() => fetch("/drop")).then(r => r.status, e => 0)`, &status); err != nil {
		t.Fatal(err)
	}
	s.Close()
	want := []string{"conn 0: /", "conn 1: /a", "conn 1: /drop", "conn 2: /drop"}
	if b := browser.requests(); status != 200 || !slices.Equal(b, want) {
		t.Fatalf("Firefox: status %d, requests %v, want %v", status, b, want)
	}

	major, _, _ := strings.Cut(version, ".")
	profile := "firefox_" + major
	ours := startRetryServer(t, ca, "page")
	tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: ca.Pool, HandshakeTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	base := fmt.Sprintf("https://localhost:%d", ours.ln.Addr().(*net.TCPAddr).Port)
	for _, path := range []string{"/", "/a", "/drop"} {
		u, _ := url.Parse(base + path)
		r := &crawl.Request{URL: u.String(), Kind: crawl.KindFetch, Parent: base + "/"}
		if path == "/" {
			r = &crawl.Request{URL: u.String()}
		}
		resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: profile, HTTPVersion: "1.1", Verify: true, Request: r})
		if err != nil {
			t.Fatalf("%s %s: %v", profile, path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if o := ours.requests(); !slices.Equal(o, want) {
		t.Fatalf("ours: requests %v, want %v", o, want)
	}
	b, o := browser.hellos(), ours.hellos()
	for i := range b {
		t.Logf("conn %d: Firefox 27=%v psk=%v %v", i, slices.Contains(b[i], 27), slices.Contains(b[i], 41), b[i])
		if !slices.Equal(o[i], b[i]) {
			t.Errorf("conn %d (%s): extensions\n ours    %v\n Firefox %v", i, want[min(i+1, 3)], o[i], b[i])
		}
	}
	if slices.Contains(b[2], 27) || !slices.Contains(b[1], 27) {
		t.Errorf("Firefox: compress_certificate on the retry's connection %v, on the one before %v (specs/impersonation.md says off, on)",
			slices.Contains(b[2], 27), slices.Contains(b[1], 27))
	}
}

func (s *retryServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

func (s *retryServer) hellos() [][]uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.exts)
}
