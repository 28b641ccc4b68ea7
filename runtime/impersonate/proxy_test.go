package impersonate

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"testing"
)

// testProxy is a tiny HTTP proxy: CONNECT tunnels, and plain-http requests
// in absolute form are answered by the proxy itself. It records what it got.
type testProxy struct {
	ln       net.Listener
	wantAuth string // expected Proxy-Authorization ("" = none needed)
	mu       sync.Mutex
	auths    []string
	targets  []string // CONNECT authority or absolute URL
	wg       sync.WaitGroup
}

func startHTTPProxy(t *testing.T, wantAuth string) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testProxy{ln: ln, wantAuth: wantAuth}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	return p
}

func (p *testProxy) addr() string { return p.ln.Addr().String() }

func (p *testProxy) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	auth := req.Header.Get("Proxy-Authorization")
	p.mu.Lock()
	p.auths = append(p.auths, auth)
	if req.Method == http.MethodConnect {
		p.targets = append(p.targets, req.Host)
	} else {
		p.targets = append(p.targets, req.URL.String())
	}
	p.mu.Unlock()
	if p.wantAuth != "" && auth != p.wantAuth {
		io.WriteString(c, "HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if req.Method != http.MethodConnect {
		body := "proxied " + req.URL.String() + " target-saw-proxy-auth=" + strconv.FormatBool(req.Header.Get("Proxy-Authorization") != "")
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", len(body), body)
		return
	}
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer up.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	splice(c, br, up)
}

// splice copies both ways until either side closes.
func splice(c net.Conn, br io.Reader, up net.Conn) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, br); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
}

// startSOCKS5 is a minimal RFC 1928 server (no auth or user/password).
func startSOCKS5(t *testing.T, user, pass string) (addr string, targets func() []string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				target, err := socksHandshake(c, user, pass)
				if err != nil {
					return
				}
				mu.Lock()
				seen = append(seen, target)
				mu.Unlock()
				up, err := net.Dial("tcp", target)
				if err != nil {
					c.Write([]byte{5, 5, 0, 1, 0, 0, 0, 0, 0, 0})
					return
				}
				defer up.Close()
				c.Write([]byte{5, 0, 0, 1, 127, 0, 0, 1, 0, 0})
				splice(c, c, up)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

func socksHandshake(c net.Conn, user, pass string) (string, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil || hdr[0] != 5 {
		return "", fmt.Errorf("bad greeting")
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(c, methods); err != nil {
		return "", err
	}
	if user == "" {
		c.Write([]byte{5, 0})
	} else {
		c.Write([]byte{5, 2})
		var v [2]byte
		io.ReadFull(c, v[:])
		u := make([]byte, v[1])
		io.ReadFull(c, u)
		var pl [1]byte
		io.ReadFull(c, pl[:])
		pw := make([]byte, pl[0])
		io.ReadFull(c, pw)
		if string(u) != user || string(pw) != pass {
			c.Write([]byte{1, 1})
			return "", fmt.Errorf("bad credentials")
		}
		c.Write([]byte{1, 0})
	}
	var req [4]byte
	if _, err := io.ReadFull(c, req[:]); err != nil || req[1] != 1 {
		return "", fmt.Errorf("bad request")
	}
	var host string
	switch req[3] {
	case 1:
		var ip [4]byte
		io.ReadFull(c, ip[:])
		host = net.IP(ip[:]).String()
	case 3:
		var l [1]byte
		io.ReadFull(c, l[:])
		name := make([]byte, l[0])
		io.ReadFull(c, name)
		host = string(name)
	case 4:
		var ip [16]byte
		io.ReadFull(c, ip[:])
		host = net.IP(ip[:]).String()
	}
	var port [2]byte
	if _, err := io.ReadFull(c, port[:]); err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(int(binary.BigEndian.Uint16(port[:])))), nil
}
