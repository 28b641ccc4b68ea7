package fingerprint

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
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
