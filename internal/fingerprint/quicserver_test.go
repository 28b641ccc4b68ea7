package fingerprint

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/third_party/quic-go"
	"github.com/spiderrun/spiderrun/third_party/quic-go/http3"
)

// quic-go's own HTTP/3 client, a real implementation independent of the
// server's decoder, is recorded: its Initial, transport parameters,
// SETTINGS and header order, and the JSON answer carries the same record.
func TestQUICServerRecordsQuicGoClient(t *testing.T) {
	srv := NewQUICServer(t, QUICConfig{})
	tr := &http3.Transport{
		TLSClientConfig:    &tls.Config{RootCAs: srv.CertPool()},
		QUICConfig:         &quic.Config{},
		AdditionalSettings: map[uint64]uint64{0x21 + 0x1f*7: 42},
	}
	defer tr.Close()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, _ := http.NewRequest("POST", srv.URL("localhost", "/a?b=1"), strings.NewReader("hello"))
	req.Header.Set("X-First", "1")
	req.Header.Set("User-Agent", "probe")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 3 {
		t.Fatalf("proto %s", resp.Proto)
	}
	var got Capture
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("answer %s: %v", body, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := srv.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []Capture{got, c} {
		if c.HTTPVersion != "3" || c.Method != "POST" || c.Path != "/a?b=1" || c.BodyLen != 5 || c.ALPN != "h3" {
			t.Errorf("capture %+v", c)
		}
		if c.QUIC == nil || c.H3 == nil {
			t.Fatalf("no QUIC/H3 record (recorder errors %v): %s", srv.Errors(), body)
		}
		q := c.QUIC
		if q.Version != QUICv1 || q.DCIDLen < 8 || len(q.Packets) == 0 || len(q.Datagrams) == 0 || q.Datagrams[0] < 1200 {
			t.Errorf("quic %+v", q)
		}
		if !strings.HasPrefix(c.JA4, "q13d") || c.TLS.ServerName != "localhost" || !slices.Equal(c.TLS.ALPN, []string{"h3"}) {
			t.Errorf("JA4 %s TLS %+v", c.JA4, c.TLS)
		}
		ids := q.TransportParameterIDs()
		if !slices.Contains(ids, 0x0f) || !slices.Contains(ids, 0x04) {
			t.Errorf("transport parameters %v", ids)
		}
		var greaseSetting bool
		for _, s := range c.H3.Settings {
			greaseSetting = greaseSetting || (s.ID == 0x21+0x1f*7 && s.Value == 42 && s.GREASE)
		}
		if !greaseSetting {
			t.Errorf("settings %+v lack the GREASE one", c.H3.Settings)
		}
		if !slices.Equal(c.H3.PseudoOrder, []string{":authority", ":method", ":path", ":scheme"}) &&
			!slices.Equal(c.H3.PseudoOrder[:1], []string{":authority"}) {
			t.Errorf("pseudo order %v", c.H3.PseudoOrder)
		}
		if len(c.H3.UniStreams) == 0 || c.H3.UniStreams[0] != 0 {
			t.Errorf("uni streams %v", c.H3.UniStreams)
		}
		if !slices.Equal(c.H3.RequestFrames, []uint64{1, 0}) {
			t.Errorf("request frames %v", c.H3.RequestFrames)
		}
	}
	if errs := srv.Errors(); len(errs) > 0 {
		t.Errorf("recorder errors: %v", errs)
	}
}

// A hostile HTTP/3 client: a SETTINGS frame claiming a gigabyte closes the
// connection with H3_FRAME_ERROR without the server reading or allocating
// it, and a request stream of garbage is reset; the server goes on serving.
func TestQUICServerHostileHTTP3(t *testing.T) {
	srv := NewQUICServer(t, QUICConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tlsConf := &tls.Config{RootCAs: srv.CertPool(), ServerName: "localhost", NextProtos: []string{"h3"}}
	conn, err := quic.DialAddr(ctx, srv.Addr(), tlsConf, nil)
	if err != nil {
		t.Fatal(err)
	}
	str, err := conn.OpenStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	str.Write([]byte{0x01, 0xbf, 0xff, 0xff, 0xff}) // HEADERS of 2^30-1 bytes
	str.Close()
	if _, err := io.ReadAll(str); err == nil {
		t.Error("a garbage request stream was answered")
	}
	ctrl, err := conn.OpenUniStreamSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctrl.Write([]byte{0x00, 0x04, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // SETTINGS of 2^62-1 bytes
	select {
	case <-conn.Context().Done():
	case <-ctx.Done():
		t.Fatal("the server kept a connection that sent a huge SETTINGS frame")
	}
	var appErr *quic.ApplicationError
	if err := context.Cause(conn.Context()); !errors.As(err, &appErr) || appErr.ErrorCode != h3FrameError || !strings.Contains(appErr.ErrorMessage, "exceeds") {
		t.Errorf("connection closed with %v, want H3_FRAME_ERROR naming the size", err)
	}
	if len(srv.Captures()) != 0 {
		t.Errorf("captures %v", srv.Captures())
	}
	// A well-behaved client is still served.
	tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.URL("localhost", "/ok"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// SummarizeQUIC over two connections of quic-go's client: fixed fields
// equal, the GREASE transport parameter quic-go randomises named random,
// and a single connection refused.
func TestSummarizeQUIC(t *testing.T) {
	srv := NewQUICServer(t, QUICConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var caps []Capture
	for i := 0; i < 2; i++ {
		tr := &http3.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool()}}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(srv.URL("localhost", "/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		tr.Close()
		// The capture is recorded once the answer is written, which may
		// trail the client's read.
		c, err := srv.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		caps = append(caps, c)
	}
	if _, err := SummarizeQUIC(caps[:1]); err == nil {
		t.Error("one connection summarised")
	}
	sum, err := SummarizeQUIC(caps)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Connections != 2 || sum.JA4 != caps[0].JA4 || !slices.Contains(sum.Random, "quic.grease_transport_parameter") ||
		!slices.Equal(sum.Requests["/"].PseudoOrder, caps[0].H3.PseudoOrder) {
		t.Errorf("summary %+v", sum)
	}
	// A fixed field that differs between connections is an error.
	other := slices.Clone(caps)
	h := *other[1].QUIC
	h.SCIDLen++
	other[1].QUIC = &h
	if _, err := SummarizeQUIC(other); err == nil || !strings.Contains(err.Error(), "not random") {
		t.Errorf("differing SCID lengths: %v", err)
	}
	// quic-go's client is not Chromium, and the diff says where, field by
	// field (the JA4, the transport parameters, the SETTINGS...).
	g, err := ReadQUICGolden("../livebrowser/testdata/chromium_h3.json")
	if err != nil {
		t.Fatal(err)
	}
	diff := g.Summary.Diff(sum)
	joined := strings.Join(diff, "\n")
	for _, f := range []string{"ja4:", "transport_parameters:", "h3_settings:", "dcid_len:", "random:"} {
		if !strings.Contains(joined, "\n"+f) && !strings.HasPrefix(joined, f) {
			t.Errorf("diff lacks %s:\n%s", f, joined)
		}
	}
	if d := g.Summary.Diff(g.Summary); len(d) != 0 {
		t.Errorf("a summary differs from itself: %v", d)
	}
}
