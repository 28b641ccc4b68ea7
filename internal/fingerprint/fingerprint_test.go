package fingerprint

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"
	"golang.org/x/net/http2"
)

// The example from the FoxIO JA4 README (Chrome, 15 ciphers, 16 extensions).
func TestJA4FoxIOExample(t *testing.T) {
	ch := &ClientHello{
		LegacyVersion:     0x0303,
		CipherSuites:      []uint16{0x0a0a, 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035},
		Extensions:        []uint16{0x1a1a, 0x0000, 0x0017, 0xff01, 0x000a, 0x000b, 0x0023, 0x0010, 0x0005, 0x000d, 0x0012, 0x0033, 0x002d, 0x002b, 0x001b, 0x4469, 0x0015},
		ALPN:              []string{"h2", "http/1.1"},
		SignatureAlgs:     []uint16{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601},
		SupportedGroups:   []uint16{0x2a2a, 0x001d, 0x0017, 0x0018},
		PointFormats:      []uint8{0},
		SupportedVersions: []uint16{0x3a3a, 0x0304, 0x0303},
	}
	if got, want := ch.JA4(), "t13d1516h2_8daaf6152771_e5627efa2ab1"; got != want {
		t.Errorf("JA4 = %s, want %s\nraw %s", got, want, ch.JA4R())
	}
	if got, want := ch.JA3(), "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,0-23-65281-10-11-35-16-5-13-18-51-45-43-27-17513-21,29-23-24,0"; got != want {
		t.Errorf("JA3 = %s\nwant  %s", got, want)
	}
	if got := ch.JA3N(); !strings.Contains(got, ",0-5-10-11-13-16-18-21-23-27-35-43-45-51-17513-65281,") {
		t.Errorf("JA3N extensions not sorted: %s", got)
	}
	noSNI := *ch
	noSNI.Extensions = noSNI.Extensions[2:]
	noSNI.ALPN = nil
	if got := noSNI.JA4(); !strings.HasPrefix(got, "t13i151500_") {
		t.Errorf("no SNI, no ALPN: JA4 = %s", got)
	}
}

// TestParseChromiumCapture parses the ClientHello that Chromium 156 sent on
// this machine (stored in the shipped chrome_156 profile) and checks the
// JA4 measured for it in the issue.
func TestParseChromiumCapture(t *testing.T) {
	b, err := os.ReadFile("../../runtime/impersonate/profiles/chrome_156.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		TLS struct {
			ClientHello string `yaml:"client_hello"`
		} `yaml:"tls"`
	}
	if err := yaml.Unmarshal(b, &p); err != nil {
		t.Fatal(err)
	}
	raw, err := hex.DecodeString(p.TLS.ClientHello)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := ParseClientHello(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := ch.JA4(); got != "t13d1517h2_8daaf6152771_cb7bf5808d99" {
		t.Errorf("JA4 = %s", got)
	}
	if ch.ServerName != "localhost" || ch.ALPN[0] != "h2" {
		t.Errorf("SNI %q ALPN %v", ch.ServerName, ch.ALPN)
	}
	if _, err := ParseClientHello(raw[:40]); err == nil {
		t.Error("truncated hello parsed without error")
	}
	if _, err := ParseClientHello([]byte{23, 3, 3, 0, 0}); err == nil {
		t.Error("application-data record parsed as a hello")
	}
}

func TestAkamaiString(t *testing.T) {
	h := &H2{
		Settings:     []Setting{{1, 65536}, {4, 131072}, {5, 16384}},
		WindowUpdate: 12517377,
		Priorities:   []Priority{{StreamID: 3, DependsOn: 0, Weight: 201}, {StreamID: 9, DependsOn: 7, Weight: 1}},
		PseudoOrder:  []string{":method", ":path", ":authority", ":scheme"},
	}
	if got, want := h.Akamai(), "1:65536;4:131072;5:16384|12517377|3:0:0:201,9:0:7:1|m,p,a,s"; got != want {
		t.Errorf("Akamai = %s, want %s", got, want)
	}
}

// TestServerSeesGoClients drives the server with Go's own clients over
// HTTP/2 and HTTP/1.1 and checks what it records: the x/net/http2
// fingerprint the issue quotes, and header order on HTTP/1.1.
func TestServerSeesGoClients(t *testing.T) {
	srv, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	h2c := &http.Client{Transport: &http2.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}}
	resp, err := h2c.Get(srv.URL("localhost", "/h2?x=1"))
	if err != nil {
		t.Fatal(err)
	}
	var c Capture
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	h2c.CloseIdleConnections()
	if c.HTTPVersion != "2" || c.Path != "/h2?x=1" || c.Authority == "" {
		t.Errorf("capture = %+v", c)
	}
	// The value the issue quotes for any x/net/http2 client.
	if want := "2:0;4:4194304;5:16384;6:10485760|1073741824|0|a,m,p,s"; c.Akamai != want {
		t.Errorf("Go http2 Akamai = %s, want %s", c.Akamai, want)
	}
	if c.H2.HeadersPriority != nil {
		t.Errorf("Go sent a HEADERS priority: %+v", c.H2.HeadersPriority)
	}
	if !strings.HasPrefix(c.JA4, "t13d") || c.TLS.ServerName != "localhost" {
		t.Errorf("JA4 %s SNI %q", c.JA4, c.TLS.ServerName)
	}
	got, err := srv.Next(context.Background())
	if err != nil || got.JA4 != c.JA4 {
		t.Errorf("Next = %v, %v", got.JA4, err)
	}

	// HTTP/1.1 by hand so the header order and case are known.
	conn, err := tls.Dial("tcp", srv.Addr(), &tls.Config{RootCAs: srv.CertPool(), ServerName: "localhost", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /p HTTP/1.1\r\nHost: localhost\r\nX-Zeta: 1\r\nuser-agent: ua\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc")
	r, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	var c1 Capture
	if err := json.NewDecoder(r.Body).Decode(&c1); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c1.HeaderNames(), ","); got != "Host,X-Zeta,user-agent,Content-Length,Connection" {
		t.Errorf("h1 header order = %s", got)
	}
	if c1.BodyLen != 3 || c1.Method != "POST" || c1.HTTPVersion != "1.1" || c1.ALPN != "http/1.1" {
		t.Errorf("h1 capture = %+v", c1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := srv.Next(ctx); err != nil {
		t.Errorf("second capture not delivered: %v", err)
	}
	if n := len(srv.Captures()); n != 2 {
		t.Errorf("captures = %d, want 2", n)
	}
}

// TestServerSurvivesGarbage: plain HTTP, a huge declared hello and a
// truncated record on the TLS port close the connection without a capture,
// and the server keeps serving.
func TestServerSurvivesGarbage(t *testing.T) {
	srv, err := Start(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	for _, junk := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"\x16\x03\x01\x00\x04\x01\xff\xff\xff",
		"\x16\x03\x01\x40\x00\x01",
	} {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, junk)
		if cw, ok := c.(*net.TCPConn); ok {
			cw.CloseWrite()
		}
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, _ := io.ReadAll(c)
		c.Close()
		if len(b) > 0 && b[0] != 0x15 { // a TLS alert is fine, a page is not
			t.Errorf("%q answered with %q", junk, b)
		}
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL("localhost", "/still-up"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The capture is recorded just after the answer is written.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := srv.Next(ctx)
	if err != nil || c.Path != "/still-up" {
		t.Errorf("capture = %+v, %v", c, err)
	}
	if n := len(srv.Captures()); n != 1 {
		t.Errorf("%d captures, want 1 (garbage must not be recorded)", n)
	}
}

func TestServerNoHTTP2(t *testing.T) {
	srv, err := Start(Config{NoHTTP2: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Get(srv.URL("localhost", "/"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 1 {
		t.Errorf("h1-only server answered %s", resp.Proto)
	}
}
