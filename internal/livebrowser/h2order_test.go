package livebrowser_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// frameRecorder is an HTTP/2 server that records, per connection, the
// frames a client sends up to and including its first HEADERS (type,
// flags that matter, stream id), having sent its own SETTINGS first as
// Go's and nginx's servers do. It answers every request with a small
// HTML page.
type frameRecorder struct {
	ln   net.Listener
	mu   sync.Mutex
	seqs [][]string
	wg   sync.WaitGroup
}

func startFrameRecorder(t *testing.T, cert tls.Certificate) *frameRecorder {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	r := &frameRecorder{ln: ln}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			r.wg.Add(1)
			go func() { defer r.wg.Done(); r.serve(c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); r.wg.Wait() })
	return r
}

func (r *frameRecorder) port() int { return r.ln.Addr().(*net.TCPAddr).Port }

// sequences returns the recorded frame sequences, one per connection.
func (r *frameRecorder) sequences() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]string(nil), r.seqs...)
}

func (r *frameRecorder) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		return
	}
	var seq []string
	recorded := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		if !recorded {
			name := f.Header().Type.String()
			if f.Header().Type == http2.FrameSettings && f.Header().Flags.Has(http2.FlagSettingsAck) {
				name += "(ack)"
			}
			seq = append(seq, fmt.Sprintf("%s:%d", name, f.Header().StreamID))
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if !recorded {
				recorded = true
				r.mu.Lock()
				r.seqs = append(r.seqs, seq)
				r.mu.Unlock()
			}
			var hb bytes.Buffer
			enc := hpack.NewEncoder(&hb)
			enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
			enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/html"})
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: hb.Bytes(), EndHeaders: true})
			fr.WriteData(f.StreamID, true, []byte("<!doctype html><title>ok</title>ok"))
		}
	}
}

// TestHTTP2FrameOrder holds the order of the frames that open our HTTP/2
// connection, up to the first request's HEADERS, and that request's
// stream id, to each browser's, against a server that sends its SETTINGS
// first.
func TestHTTP2FrameOrder(t *testing.T) {
	t.Parallel()
	for _, b := range []livebrowser.Browser{livebrowser.Chromium, livebrowser.Firefox} {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			bin := livebrowser.Require(t, b)
			ca, err := livebrowser.NewCA()
			if err != nil {
				t.Fatal(err)
			}
			rec := startFrameRecorder(t, ca.Leaf)
			ctx, cancel := contextWithTimeout(30 * time.Second)
			defer cancel()
			r := livebrowser.Run{URL: fmt.Sprintf("https://localhost:%d/", rec.port()), Dir: t.TempDir()}
			if b == livebrowser.Chromium {
				err = livebrowser.RunChromium(ctx, bin, ca, r)
			} else {
				err = livebrowser.RunFirefox(ctx, bin, ca, r)
			}
			if err != nil {
				t.Fatal(err)
			}
			seqs := rec.sequences()
			if len(seqs) == 0 {
				t.Fatal("the browser opened no HTTP/2 connection")
			}
			browser := seqs[0]
			// Our client, with the shipped profile of this browser (the
			// frame order does not change between 140 and 153, or 148 and
			// 156), to the same server.
			profile := map[string]string{"chromium": "chrome", "firefox": "firefox"}[b.Name]
			tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: ca.Pool, HandshakeTimeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			u, _ := url.Parse(r.URL)
			resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: profile, HTTPVersion: "2", Verify: true})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			seqs = rec.sequences()
			ours := seqs[len(seqs)-1]
			t.Logf("%s: %s; ours (%s): %s", b.Name, strings.Join(browser, " "), profile, strings.Join(ours, " "))
			// Where the acknowledgement of the server's SETTINGS falls
			// depends on when it arrives, for the browser as for us.
			noAck := func(seq []string) []string {
				return slices.DeleteFunc(slices.Clone(seq), func(f string) bool { return strings.HasPrefix(f, "SETTINGS(ack)") })
			}
			if g, w := noAck(ours), noAck(browser); !slices.Equal(g, w) {
				t.Errorf("frames up to the first HEADERS: ours %v, %s %v", g, b.Name, w)
			}
		})
	}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
