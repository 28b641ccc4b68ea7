package impersonate

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/qpackdyn"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/third_party/quic-go"
	"github.com/spiderrun/spiderrun/third_party/quic-go/quicvarint"
)

// TestHTTP3RequestsUseDynamicTable: the chrome profile against a server
// allowing a QPACK table sends requests the server decodes (its decoder
// following our encoder stream, acknowledging on its decoder stream),
// the later ones referencing the table; against one allowing no blocked
// stream it only sets the capacity and inserts nothing, as quiche.
func TestHTTP3RequestsUseDynamicTable(t *testing.T) {
	for _, c := range []struct {
		name    string
		blocked uint64
	}{{"blocked streams allowed", 100}, {"no blocked stream", 0}} {
		t.Run(c.name, func(t *testing.T) {
			srv := fingerprint.NewQUICServer(t, fingerprint.QUICConfig{QPACKMaxTableCapacity: 4096, QPACKBlockedStreams: c.blocked})
			tr := h3Transport(t, srv.CertPool())
			send := func(i int) {
				u, _ := url.Parse(srv.URL("localhost", fmt.Sprintf("/r%d", i)))
				out := &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome_148", HTTPVersion: "3", Verify: true,
					Headers: crawl.Headers{{Name: "Cookie", Value: "a=1; b=2"}}}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				resp, err := tr.RoundTrip(ctx, out)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				readAll(t, resp)
			}
			// The server's SETTINGS reach the client at some point (the
			// first request may go before, as Chromium's navigation
			// does); the capacity instruction goes out with the next
			// request. Requests until it is seen, then two more.
			n := 0
			for ; n < 50; n++ {
				send(n)
				if enc, _ := srv.QPACKStreams(1); len(enc) > 0 {
					break
				}
			}
			send(n + 1)
			send(n + 2)
			caps := srv.Captures()
			conns, err := fingerprint.QPACKConns(caps)
			if err != nil || len(conns) != 1 {
				t.Fatalf("%d connections (%v), want the requests on one", len(conns), err)
			}
			q := conns[0]
			for i, c := range caps {
				if c.Headers.Get("user-agent") == "" || c.Path != q.Paths[i] {
					t.Fatalf("request %d decoded as %s %v", i, c.Path, c.Headers)
				}
				// Cookie crumbs, as Chromium's quiche sends them.
				if got := c.Headers.Values("cookie"); strings.Join(got, "|") != "a=1|b=2" {
					t.Errorf("%s: cookies %q", c.Path, got)
				}
			}
			setCap := qpackdyn.AppendPrefixInt(nil, 5, 0x20, 4096)
			enc, _ := srv.QPACKStreams(q.Conn)
			if c.blocked == 0 {
				if hex.EncodeToString(enc) != hex.EncodeToString(setCap) || q.SettingsAt != len(q.Sections) {
					t.Fatalf("encoder stream %x, sections %x: want the capacity instruction only", enc, q.Sections)
				}
				return
			}
			if !strings.HasPrefix(string(enc), string(setCap)) || q.Sections[len(q.Sections)-1][0] == 0 {
				t.Fatalf("encoder stream %x, sections %x: want the table used", enc, q.Sections)
			}
			if d := q.Replay(nil, 4096, c.blocked, 65536); d != nil {
				t.Errorf("not quiche's encoding: %v", d)
			}
			t.Logf("%d requests, the SETTINGS used from request %d", len(q.Sections), q.SettingsAt)
		})
	}
}

// hostileDecoderServer announces a QPACK table, reads one request's
// HEADERS and, instead of answering, writes decoder on its QPACK decoder
// stream.
func hostileDecoderServer(t *testing.T, decoder []byte) (*url.URL, *Transport) {
	t.Helper()
	cert, pool := testCert(t)
	ln, err := quic.ListenAddr("127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h3"}}, &quic.Config{MaxIdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept(ctx)
		if err != nil {
			return
		}
		ctrl, _ := c.OpenUniStream()
		// SETTINGS: QPACK_MAX_TABLE_CAPACITY 4096, BLOCKED_STREAMS 16.
		ctrl.Write([]byte{0x00, 0x04, 0x05, 0x01, 0x50, 0x00, 0x07, 0x10})
		str, err := c.AcceptStream(ctx)
		if err != nil {
			return
		}
		r := bufio.NewReader(str)
		quicvarint.Read(r)
		l, _ := quicvarint.Read(r)
		io.CopyN(io.Discard, r, int64(l))
		dec, _ := c.OpenUniStream()
		dec.Write(append([]byte{0x03}, decoder...))
		<-c.Context().Done()
	}()
	t.Cleanup(func() { cancel(); ln.Close(); <-done })
	u, _ := url.Parse("https://" + ln.Addr().(*net.UDPAddr).AddrPort().String() + "/")
	return u, h3Transport(t, pool)
}

// TestHTTP3HostileDecoderStream: a server decoder stream with garbage or
// an acknowledgment of a section we never sent closes the connection
// (QPACK_DECODER_STREAM_ERROR) and the request fails at once saying why,
// instead of waiting for an answer.
func TestHTTP3HostileDecoderStream(t *testing.T) {
	for _, c := range []struct {
		name, want string
		decoder    []byte
	}{
		{"ack for an unknown stream", "Section Acknowledgment for stream 44", qpackdyn.SectionAck(44)},
		{"zero increment", "Insert Count Increment of 0", []byte{0x00}},
		{"garbage", "integer overflow", []byte{0x3f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		t.Run(c.name, func(t *testing.T) {
			u, tr := hostileDecoderServer(t, c.decoder)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			_, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome_148", HTTPVersion: "3", Verify: true})
			if err == nil || !strings.Contains(err.Error(), "qpack decoder stream") || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want the decoder stream's fault (%q)", err, c.want)
			}
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("the request waited for its deadline: %v", err)
			}
		})
	}
}

// TestHTTP3AcknowledgmentsFreeBlockedStream: with one blocked stream
// allowed, a request may insert only when no earlier section is still
// unacknowledged with entries the server may not have; so later requests
// insert their new values only if the server's Section Acknowledgments
// reach our encoder. Without them the first section with inserts would
// stay blocked in our encoder's eyes forever and every later value would
// go out as a literal.
func TestHTTP3AcknowledgmentsFreeBlockedStream(t *testing.T) {
	srv := fingerprint.NewQUICServer(t, fingerprint.QUICConfig{QPACKMaxTableCapacity: 4096, QPACKBlockedStreams: 1})
	tr := h3Transport(t, srv.CertPool())
	const n = 10
	for i := 0; i < n; i++ {
		u, _ := url.Parse(srv.URL("localhost", "/"))
		out := &downloader.Outgoing{Method: "GET", URL: u, Impersonate: "chrome_148", HTTPVersion: "3", Verify: true,
			Headers: crawl.Headers{{Name: "X-N", Value: fmt.Sprintf("value-%d", i)}}}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := tr.RoundTrip(ctx, out)
		if err != nil {
			cancel()
			t.Fatalf("request %d: %v", i, err)
		}
		readAll(t, resp)
		cancel()
	}
	conns, err := fingerprint.QPACKConns(srv.Captures())
	if err != nil || len(conns) == 0 {
		t.Fatalf("%d connections (%v)", len(conns), err)
	}
	// The requests go over one connection; once in CI (under load) they
	// went over two, not investigated yet: the one that carried the most
	// is read, and it must have carried most of them.
	conn := conns[0]
	for _, c := range conns[1:] {
		if len(c.Sections) > len(conn.Sections) {
			conn = c
		}
	}
	if len(conns) > 1 {
		t.Logf("%d connections; reading connection %d (%d of %d requests)", len(conns), conn.Conn, len(conn.Sections), n)
	}
	if len(conn.Sections) < n/2+1 {
		t.Fatalf("the busiest of %d connections carried %d of %d requests", len(conns), len(conn.Sections), n)
	}
	enc, _ := srv.QPACKStreams(conn.Conn)
	d := qpackdyn.NewDecoder(4096, 100)
	if err := d.ReadEncoderStream(strings.NewReader(string(enc)), func([]byte) {}); err != nil {
		t.Fatal(err)
	}
	_, table := d.Table()
	var inserted []string
	for _, f := range table {
		if f.Name == "x-n" {
			inserted = append(inserted, f.Value)
		}
	}
	if len(inserted) < 2 {
		t.Fatalf("x-n values inserted: %q; want later requests to insert too (acknowledgments applied)", inserted)
	}
	t.Logf("x-n values inserted over %d requests: %q", n, inserted)
}
