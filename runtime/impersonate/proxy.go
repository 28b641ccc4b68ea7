package impersonate

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/proxy"

	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// proxyAuthorization is the Basic credential for a proxy URL's userinfo
// ("" without one). It is sent only to the proxy, never to the target.
func proxyAuthorization(u *url.URL) string {
	if u == nil || u.User == nil {
		return ""
	}
	pw, _ := u.User.Password()
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))
}

func proxyAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	switch u.Scheme {
	case "https":
		return net.JoinHostPort(u.Hostname(), "443")
	case "socks5", "socks5h":
		return net.JoinHostPort(u.Hostname(), "1080")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// dialProxy opens a connection to an HTTP(S) proxy itself (TLS to the proxy
// uses Go's stack: that hop is not the site's to fingerprint).
func (t *Transport) dialProxy(ctx context.Context, pu *url.URL) (net.Conn, error) {
	conn, err := t.dialContext(ctx, "tcp", proxyAddr(pu))
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", weburl.RedactURL(pu), err)
	}
	if pu.Scheme == "https" {
		tc := tls.Client(conn, &tls.Config{ServerName: pu.Hostname(), RootCAs: t.opts.RootCAs})
		hctx, cancel := context.WithTimeout(ctx, t.handshakeTimeout())
		defer cancel()
		if err := tc.HandshakeContext(hctx); err != nil {
			conn.Close()
			return nil, fmt.Errorf("proxy %s: tls: %w", weburl.RedactURL(pu), err)
		}
		conn = tc
	}
	return conn, nil
}

// tunnel returns a raw byte stream to addr through the proxy: HTTP CONNECT
// for http/https proxies, SOCKS5 (the proxy resolves the name) for
// socks5/socks5h. The impersonated TLS then runs inside it, so the target
// sees the same ClientHello as on a direct connection.
func (t *Transport) tunnel(ctx context.Context, pu *url.URL, addr string) (net.Conn, error) {
	switch pu.Scheme {
	case "http", "https":
		return t.connect(ctx, pu, addr)
	case "socks5", "socks5h":
		var auth *proxy.Auth
		if pu.User != nil {
			pw, _ := pu.User.Password()
			auth = &proxy.Auth{User: pu.User.Username(), Password: pw}
		}
		d, err := proxy.SOCKS5("tcp", proxyAddr(pu), auth, forwardDialer{t})
		if err != nil {
			return nil, fmt.Errorf("proxy %s: %w", weburl.RedactURL(pu), err)
		}
		conn, err := d.(proxy.ContextDialer).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("socks5 proxy %s to %s: %w", weburl.RedactURL(pu), addr, err)
		}
		return conn, nil
	}
	return nil, fmt.Errorf("proxy %s: unsupported scheme %q (want http, https, socks5)", weburl.RedactURL(pu), pu.Scheme)
}

type forwardDialer struct{ t *Transport }

func (f forwardDialer) Dial(network, addr string) (net.Conn, error) {
	return f.t.dialContext(context.Background(), network, addr)
}

func (f forwardDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return f.t.dialContext(ctx, network, addr)
}

func (t *Transport) connect(ctx context.Context, pu *url.URL, addr string) (net.Conn, error) {
	conn, err := t.dialProxy(ctx, pu)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := "CONNECT " + addr + " HTTP/1.1\r\nHost: " + addr + "\r\n"
	if a := proxyAuthorization(pu); a != "" {
		req += "Proxy-Authorization: " + a + "\r\n"
	}
	req += "\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: CONNECT %s: %w", weburl.RedactURL(pu), addr, ctxErr(ctx, err))
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: CONNECT %s: %w", weburl.RedactURL(pu), addr, ctxErr(ctx, err))
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		conn.Close()
		return nil, fmt.Errorf("proxy %s: CONNECT %s: %s", weburl.RedactURL(pu), addr, resp.Status)
	}
	if br.Buffered() > 0 {
		// The proxy already relayed bytes from the target; keep them.
		return &bufferedConn{Conn: conn, br: br}, nil
	}
	return conn, nil
}

type bufferedConn struct {
	net.Conn
	br *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.br.Read(p) }
