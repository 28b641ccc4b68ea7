package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/third_party/quic-go/http3"
)

func h3TestCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "h3"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startH3 serves h over HTTP/3 (quic-go) on a loopback UDP port.
func startH3(t *testing.T, cert tls.Certificate, h http.HandlerFunc) *net.UDPAddr {
	t.Helper()
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http3.Server{TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}}), Handler: h}
	go srv.Serve(udp)
	t.Cleanup(func() { srv.Close(); udp.Close() })
	return udp.LocalAddr().(*net.UDPAddr)
}

// TestFetchHTTP3: `spiderrun fetch --http-version 3` reaches a local
// quic-go HTTP/3 server with the chrome profile and reports HTTP/3.0.
func TestFetchHTTP3(t *testing.T) {
	addr := startH3(t, h3TestCert(t), func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "h3 body "+r.Header.Get("Sec-Fetch-Mode"))
	})
	url := "https://" + addr.String() + "/x"
	code, stdout, stderr := runCLI(t, "fetch", url, "--impersonate", "chrome", "--http-version", "3", "-s", "TLS_VERIFY=false")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	if !strings.Contains(stderr, "200 OK "+url+" (HTTP/3.0)\n") {
		t.Errorf("stderr %q", stderr)
	}
	if stdout != "h3 body navigate" {
		t.Errorf("stdout %q", stdout)
	}
}

const altSvcSpider = `export async function* start() {
  yield new Request(spider.args.base + "/", { callback: parse });
}
export function* parse(response) {
  if (response.url.endsWith("/")) {
    for (let i = 1; i <= 5; i++) yield new Request(spider.args.base + "/" + i, { callback: parse });
  }
  yield { url: response.url };
}
`

// TestCrawlAutoMovesToHTTP3: a spider with HTTP_VERSION auto fetches the
// first page over TCP (HTTP/2), learns h3 from its Alt-Svc answer and
// fetches the rest over HTTP/3, which the HTTP/3 server sees; the stats
// count the responses per protocol and the race QUIC won.
func TestCrawlAutoMovesToHTTP3(t *testing.T) {
	cert := h3TestCert(t)
	var h3Hits, tcpHits atomic.Int64
	addr := startH3(t, cert, func(w http.ResponseWriter, r *http.Request) {
		h3Hits.Add(1)
		io.WriteString(w, "<p>h3</p>")
	})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tcpHits.Add(1)
		w.Header().Set("Alt-Svc", `h3=":`+strconv.Itoa(addr.Port)+`"; ma=600`)
		io.WriteString(w, "<p>tcp</p>")
	}))
	ts.EnableHTTP2 = true
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.StartTLS()
	defer ts.Close()

	dir := t.TempDir()
	write(t, filepath.Join(dir, "spider.js"), altSvcSpider)
	spec := filepath.Join(dir, "spider.yaml")
	write(t, spec, "name: altsvc\nscript: spider.js\nsettings: {ROBOTSTXT_OBEY: false, CONCURRENT_REQUESTS: 1, IMPERSONATE: chrome, HTTP_VERSION: auto, TLS_VERIFY: false}\n")
	statsPath := filepath.Join(dir, "stats.json")
	code, _, stderr := runCLI(t, "run", spec, "-a", "base="+ts.URL, "--stats-json", statsPath)
	if code != exitOK {
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
	if h2, h3 := st["downloader/response_protocol_count/h2"], st["downloader/response_protocol_count/h3"]; h2 != 1.0 || h3 != 5.0 {
		t.Errorf("stats h2=%v h3=%v, want 1 and 5\n%s", h2, h3, data)
	}
	if tcpHits.Load() != 1 || h3Hits.Load() != 5 {
		t.Errorf("TCP server %d requests, HTTP/3 server %d; want 1 and 5", tcpHits.Load(), h3Hits.Load())
	}
	// One race (the second request: QUIC against the pooled HTTP/2
	// connection, which waits 300 ms), won by QUIC; the rest reuse it.
	if q, c := st["downloader/http3/race_won_quic"], st["downloader/http3/race_won_tcp"]; q != 1.0 || c != nil {
		t.Errorf("stats race_won_quic=%v race_won_tcp=%v, want 1 and none", q, c)
	}
}
