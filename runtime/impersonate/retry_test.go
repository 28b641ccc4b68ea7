package impersonate

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// TestRetryHello: a request sent again because its kept-alive connection
// closed under it goes out on a new connection whose hello, for a Firefox
// profile, has no compress_certificate (27) and offers no session, as
// Firefox ESR 140's (internal/livebrowser's TestFirefoxRetryHello holds it
// to the browser); a Chrome profile's retry is an ordinary resumed hello.
func TestRetryHello(t *testing.T) {
	cert, err := fingerprint.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	for _, c := range []struct {
		profile   string
		want27    bool
		wantPSK   bool
		first27   bool
		secondPSK bool
	}{
		{"firefox_140", false, false, true, true},
		{"chrome_148", true, true, true, true},
	} {
		t.Run(c.profile, func(t *testing.T) {
			var mu sync.Mutex
			var hellos [][]uint16
			cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"},
				GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
					mu.Lock()
					hellos = append(hellos, slices.Clone(h.Extensions))
					mu.Unlock()
					return nil, nil
				}}
			ln := dropServer(t, cfg, nil)
			tr, err := NewTransport(Options{RootCAs: pool, HandshakeTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			base := fmt.Sprintf("https://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
			for _, path := range []string{"/", "/a", "/drop"} {
				u, _ := url.Parse(base + path)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: c.profile, HTTPVersion: "1.1", Verify: true})
				if err != nil {
					cancel()
					t.Fatalf("%s: %v", path, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				cancel()
			}
			mu.Lock()
			defer mu.Unlock()
			if len(hellos) != 3 {
				t.Fatalf("%d connections, want 3 (the page, /a, the retried /drop): %v", len(hellos), hellos)
			}
			has := func(i int, ext uint16) bool { return slices.Contains(hellos[i], ext) }
			if has(0, 27) != c.first27 || has(1, 41) != c.secondPSK || has(2, 27) != c.want27 || has(2, 41) != c.wantPSK {
				t.Errorf("hellos: page 27=%v; /a psk=%v; retry 27=%v psk=%v (want %v, %v, %v, %v)\n%v",
					has(0, 27), has(1, 41), has(2, 27), has(2, 41), c.first27, c.secondPSK, c.want27, c.wantPSK, hellos)
			}
		})
	}
}

// dropServer is an HTTP/1.1 server on TLS: "/" answers and closes the
// connection, "/drop" closes a kept-alive connection under the request
// (reading it, not answering: the close the client finds only then), and
// every other request is answered on a connection kept alive. served, when
// set, is told of every request answered.
func dropServer(t *testing.T, cfg *tls.Config, served func(*http.Request)) net.Listener {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				br := bufio.NewReader(conn)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if req.URL.Path == "/drop" && n > 0 {
						return // closed under the request
					}
					if served != nil {
						served(req)
					}
					closing := ""
					if req.URL.Path == "/" {
						closing = "Connection: close\r\n"
					}
					fmt.Fprintf(conn, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n%s\r\nok", closing)
					if closing != "" {
						return
					}
				}
			}()
		}
	}()
	return ln
}

// TestResendOnClosedReusedConnection: a request that finds its kept-alive
// connection closed before any response header is sent again on a new
// connection whatever its method — a POST too — as Chromium
// (ShouldResendRequest: a reused connection, no response headers) and
// Firefox do; the server acts on it once.
func TestResendOnClosedReusedConnection(t *testing.T) {
	cert, err := fingerprint.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			ln := dropServer(t, &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}, func(r *http.Request) {
				mu.Lock()
				got = append(got, r.Method+" "+r.URL.Path)
				mu.Unlock()
			})
			tr, err := NewTransport(Options{RootCAs: pool, HandshakeTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			base := fmt.Sprintf("https://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
			for _, path := range []string{"/a", "/drop"} {
				u, _ := url.Parse(base + path)
				out := &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome_156", HTTPVersion: "1.1", Verify: true}
				if path == "/drop" && method == "POST" {
					out.Method, out.Body = "POST", []byte("q=1")
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				resp, err := tr.RoundTrip(ctx, out)
				if err != nil {
					cancel()
					t.Fatalf("%s %s: %v", out.Method, path, err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				cancel()
			}
			mu.Lock()
			defer mu.Unlock()
			if want := []string{"GET /a", method + " /drop"}; !slices.Equal(got, want) {
				t.Errorf("the server acted on %v, want %v", got, want)
			}
		})
	}
}
