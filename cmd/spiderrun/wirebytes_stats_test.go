package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// wireCounter is a loopback server that counts, per request, the bytes it
// received: HTTP/1.1 request line + headers + body read from the raw TCP
// stream, or for HTTP/2 (h2c, prior knowledge) the payload lengths of the
// stream's HEADERS, CONTINUATION and DATA frames.
type wireCounter struct {
	// hangUp closes the connection once a request was read, without an
	// answer: the download fails after its bytes went out.
	hangUp bool
	l      net.Listener
	mu     sync.Mutex
	reqs   []int64
}

func newWireCounter(t *testing.T, h2, hangUp bool) *wireCounter {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	w := &wireCounter{l: l, hangUp: hangUp}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			if h2 {
				go w.serveH2(c)
			} else {
				go w.serveH1(c)
			}
		}
	}()
	return w
}

func (w *wireCounter) record(n int64) {
	w.mu.Lock()
	w.reqs = append(w.reqs, n)
	w.mu.Unlock()
}

func (w *wireCounter) total() (n int64, count int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, r := range w.reqs {
		n += r
	}
	return n, len(w.reqs)
}

func (w *wireCounter) serveH1(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var n int64
		length := 0
		for {
			line, err := br.ReadString('\n')
			n += int64(len(line))
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
			if k, v, ok := strings.Cut(strings.TrimRight(line, "\r\n"), ":"); ok && textproto.CanonicalMIMEHeaderKey(k) == "Content-Length" {
				length, _ = strconv.Atoi(strings.TrimSpace(v))
			}
		}
		m, err := io.CopyN(io.Discard, br, int64(length))
		n += m
		if err != nil {
			return
		}
		w.record(n)
		if w.hangUp {
			return
		}
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok"); err != nil {
			return
		}
	}
}

func (w *wireCounter) serveH2(c net.Conn) {
	defer c.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	fr := http2.NewFramer(c, c)
	if err := fr.WriteSettings(); err != nil {
		return
	}
	streams := map[uint32]int64{}
	var hbuf strings.Builder
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		h := f.Header()
		end := false
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
			}
		case *http2.HeadersFrame:
			streams[h.StreamID] += int64(h.Length)
			end = f.StreamEnded()
		case *http2.ContinuationFrame:
			streams[h.StreamID] += int64(h.Length)
		case *http2.DataFrame:
			streams[h.StreamID] += int64(h.Length)
			end = f.StreamEnded()
			if n := len(f.Data()); n > 0 {
				fr.WriteWindowUpdate(0, uint32(n))
			}
		}
		if !end {
			continue
		}
		w.record(streams[h.StreamID])
		hbuf.Reset()
		var block []byte
		{
			var b strings.Builder
			enc := hpack.NewEncoder(&b)
			enc.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
			enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/html"})
			enc.WriteField(hpack.HeaderField{Name: "content-length", Value: "2"})
			block = []byte(b.String())
		}
		if fr.WriteHeaders(http2.HeadersFrameParam{StreamID: h.StreamID, BlockFragment: block, EndHeaders: true}) != nil ||
			fr.WriteData(h.StreamID, true, []byte("ok")) != nil {
			return
		}
	}
}

// wireSpider sends 5 GETs (one with extra headers) and 5 POSTs with
// bodies of growing size, all to base.
const wireSpider = `export async function* start() {
  const base = spider.args.base, opts = spider.args.h2 ? { http_version: "2" } : {};
  for (let i = 0; i < 5; i++) {
    yield new Request(base + "/get/" + i + "?q=" + "x".repeat(i * 7), { ...opts, callback: parse,
      headers: i % 2 ? { "X-Extra": "v".repeat(i * 11), Cookie: "a=b" } : {} });
  }
  for (let i = 0; i < 5; i++) {
    yield new Request(base + "/post/" + i, { ...opts, method: "POST", body: "é=" + "ü".repeat(i * 300), callback: parse });
  }
}
export function* parse(response) {}
`

// TestWireBytesStat: downloader/request_bytes equals the bytes the server
// received for the requests, for the default client and an impersonated
// one, over HTTP/1.1 and HTTP/2.
func TestWireBytesStat(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		h2          bool
		impersonate string
		// upperBound: net/http's own HTTP/2 client does not expose its
		// HPACK state, so the stat is an upper bound there (see
		// specs/downloader.md).
		upperBound bool
		hangUp     bool // every request fails after it was sent
	}{
		{"http1.1", false, "", false, false},
		{"http1.1 impersonated", false, "chrome_131", false, false},
		{"h2c impersonated", true, "chrome_131", false, false},
		{"h2c", true, "", true, false},
		{"http1.1 failed after sending", false, "", false, true},
		{"http1.1 impersonated failed after sending", false, "chrome_131", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			srv := newWireCounter(t, c.h2, c.hangUp)
			dir := t.TempDir()
			write(t, filepath.Join(dir, "spider.js"), wireSpider)
			spec := filepath.Join(dir, "spider.yaml")
			settings := "ROBOTSTXT_OBEY: false, CONCURRENT_REQUESTS: 3, RETRY_ENABLED: false"
			if c.impersonate != "" {
				settings += ", IMPERSONATE: " + c.impersonate
			}
			write(t, spec, "name: wire\nscript: spider.js\nsettings: {"+settings+"}\n")
			statsPath := filepath.Join(dir, "stats.json")
			args := []string{"run", spec, "-a", "base=http://" + srv.l.Addr().String(), "--stats-json", statsPath}
			if c.h2 {
				args = append(args, "-a", "h2=1")
			}
			code, _, stderr := runCLI(t, args...)
			if code != exitOK && !c.hangUp {
				t.Fatalf("exit %d\n%s", code, stderr)
			}
			data, err := os.ReadFile(statsPath)
			if err != nil {
				t.Fatal(err)
			}
			var st map[string]any
			if err := json.Unmarshal(data, &st); err != nil {
				t.Fatal(err)
			}
			got, _ := st["downloader/request_bytes"].(float64)
			want, n := srv.total()
			if n != 10 {
				t.Fatalf("server got %d requests, want 10\n%s", n, stderr)
			}
			t.Logf("%s: server received %d bytes for %d requests; downloader/request_bytes %v", c.name, want, n, got)
			if c.upperBound {
				if int64(got) < want {
					t.Fatalf("downloader/request_bytes = %v, less than the %d bytes the server received for the %d requests", got, want, n)
				}
				return
			}
			if int64(got) != want {
				t.Fatalf("downloader/request_bytes = %v, the server received %d bytes for the %d requests", got, want, n)
			}
		})
	}
}
