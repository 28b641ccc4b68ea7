// Package challengesite is a test fixture: a "protected site" over TLS
// that answers like Cloudflare's JS challenge (403, Server: cloudflare,
// cf-mitigated: challenge) until the client holds a clearance cookie, and
// binds that cookie to the client's User-Agent and TLS fingerprint (JA4,
// from the raw ClientHello it reads before the handshake), as protected
// sites bind cf_clearance. The challenge page's JavaScript computes a
// token from a nonce (a small proof of work), posts it, gets the HttpOnly
// cf_clearance cookie and reloads. A client with the cookie but another
// User-Agent or JA4 gets the challenge again: that is what the browser
// hand-off tests hold spiderrun to.
package challengesite

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
)

// Rounds is the proof of work's length: the token is the FNV-1a hash of
// the nonce iterated this many times, in JavaScript and in Go alike.
const Rounds = 20000

// Site is a running protected site.
type Site struct {
	// URL is https://localhost:PORT (a name, so that clients send SNI as
	// they do to real sites).
	URL string

	srv    *http.Server
	ln     net.Listener
	secret []byte

	mu sync.Mutex
	// Counters by "UA|JA4" of the client.
	challenged map[string]int
	cleared    map[string]int
	served     map[string]int
	// refused counts requests that carried a cf_clearance cookie that was
	// not bound to their User-Agent and JA4.
	refused map[string]int
	// hints are the sec-ch-ua values seen, by what the request was:
	// "verify" (the challenge's script) or "content".
	hints map[string]map[string]bool
	// webdriver counts verifications from a page where
	// navigator.webdriver was true (refused).
	webdriver int
}

// Start serves the site on a loopback port with cert.
func Start(cert tls.Certificate) (*Site, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	s := &Site{
		URL: "https://localhost:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), ln: ln, secret: secret,
		hints: map[string]map[string]bool{"verify": {}, "content": {}}, challenged: map[string]int{}, cleared: map[string]int{}, served: map[string]int{}, refused: map[string]int{},
	}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(s.serve),
		// Browsers reset spare connections when they exit: not news.
		ErrorLog:  log.New(io.Discard, "", 0),
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if tc, ok := c.(*tls.Conn); ok {
				if hc, ok := tc.NetConn().(*helloConn); ok {
					return context.WithValue(ctx, helloKey{}, hc)
				}
			}
			return ctx
		},
	}
	go s.srv.ServeTLS(&helloListener{Listener: ln}, "", "")
	return s, nil
}

// Close stops the site.
func (s *Site) Close() error { return s.srv.Close() }

// Who is the key of the counters: the client's User-Agent and JA4.
func Who(ua, ja4 string) string { return ua + "|" + ja4 }

// Counts returns copies of the counters.
func (s *Site) Counts() (challenged, cleared, served, refused map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return cp(s.challenged), cp(s.cleared), cp(s.served), cp(s.refused)
}

func (s *Site) hint(kind string, r *http.Request) {
	s.mu.Lock()
	s.hints[kind][r.Header.Get("Sec-Ch-Ua")] = true
	s.mu.Unlock()
}

// ClientHints returns the sec-ch-ua values of the verifications (the
// browser) and of the content requests.
func (s *Site) ClientHints() (verify, content []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for v := range s.hints["verify"] {
		verify = append(verify, v)
	}
	for v := range s.hints["content"] {
		content = append(content, v)
	}
	return verify, content
}

// WebdriverSeen is the number of verifications refused because the page
// saw navigator.webdriver true.
func (s *Site) WebdriverSeen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webdriver
}

// Clearance is the cf_clearance value the site gives a client with this
// User-Agent and binding JA4 (tests hand it to another identity).
func (s *Site) Clearance(ua, ja4 string) string { return s.clearance(ua, ja4) }

// clearance is the cookie value bound to a client.
func (s *Site) clearance(ua, ja4 string) string {
	m := hmac.New(sha256.New, s.secret)
	io.WriteString(m, Who(ua, ja4))
	return hex.EncodeToString(m.Sum(nil))
}

// Token is the proof of work for a nonce (what the page's JS computes).
func Token(nonce string) string {
	h := uint32(2166136261)
	for i := 0; i < Rounds; i++ {
		for j := 0; j < len(nonce); j++ {
			h ^= uint32(nonce[j])
			h *= 16777619
		}
		h ^= uint32(i & 0xff)
		h *= 16777619
	}
	return strconv.FormatUint(uint64(h), 16)
}

func (s *Site) count(m map[string]int, who string) {
	s.mu.Lock()
	m[who]++
	s.mu.Unlock()
}

func (s *Site) serve(w http.ResponseWriter, r *http.Request) {
	ja4 := ja4Of(r)
	ua := r.UserAgent()
	who := Who(ua, ja4)
	if r.URL.Path == "/__challenge/verify" && r.Method == http.MethodPost {
		s.verify(w, r, ua, ja4)
		return
	}
	if c, err := r.Cookie("cf_clearance"); err == nil {
		if hmac.Equal([]byte(c.Value), []byte(s.clearance(ua, ja4))) {
			s.count(s.served, who)
			s.hint("content", r)
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			// X-Page-Token is echoed: tests extract a value of the page in
			// the browser and check that the crawl sends it back.
			fmt.Fprintf(w, "<html><head><title>content %s</title></head><body><p class=path>%s</p><p class=ja4>%s</p><p class=ua>%s</p><p class=token>%s</p></body></html>",
				html.EscapeString(r.URL.Path), html.EscapeString(r.URL.Path), ja4, html.EscapeString(ua), html.EscapeString(r.Header.Get("X-Page-Token")))
			return
		}
		s.count(s.refused, who)
	}
	s.count(s.challenged, who)
	nonce := make([]byte, 8)
	rand.Read(nonce)
	w.Header().Set("Server", "cloudflare")
	w.Header().Set("Cf-Mitigated", "challenge")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, challengePage, hex.EncodeToString(nonce), Rounds)
}

func (s *Site) verify(w http.ResponseWriter, r *http.Request, ua, ja4 string) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1024))
	nonce, rest, _ := strings.Cut(string(body), ":")
	token, webdriver, _ := strings.Cut(rest, ":")
	if webdriver != "false" {
		s.mu.Lock()
		s.webdriver++
		s.mu.Unlock()
		http.Error(w, "automation detected", http.StatusForbidden)
		return
	}
	if nonce == "" || token != Token(nonce) {
		http.Error(w, "bad token", http.StatusForbidden)
		return
	}
	s.count(s.cleared, Who(ua, ja4))
	s.hint("verify", r)
	http.SetCookie(w, &http.Cookie{Name: "cf_clearance", Value: s.clearance(ua, ja4), Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteLaxMode})
	w.WriteHeader(http.StatusNoContent)
}

const challengePage = `<!DOCTYPE html><html><head><title>Just a moment...</title></head>
<body><div id="challenge-running">Checking your browser before accessing the site.</div>
<script>
(async function () {
  const nonce = %[1]q, rounds = %[2]d;
  let h = 2166136261 >>> 0;
  for (let i = 0; i < rounds; i++) {
    for (let j = 0; j < nonce.length; j++) { h ^= nonce.charCodeAt(j); h = Math.imul(h, 16777619) >>> 0; }
    h ^= (i & 0xff); h = Math.imul(h, 16777619) >>> 0;
  }
  const r = await fetch("/__challenge/verify", {method: "POST", body: nonce + ":" + h.toString(16) + ":" + String(navigator.webdriver === true)});
  if (r.status === 204) location.reload();
  else document.getElementById("challenge-running").textContent = "failed: " + r.status;
})();
</script></body></html>`

// helloListener reads each connection's ClientHello before the TLS
// handshake (in the connection's goroutine: the first Read).
type helloListener struct{ net.Listener }

func (l *helloListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &helloConn{Conn: c}, nil
}

type helloConn struct {
	net.Conn
	once   sync.Once
	prefix []byte
	ja4    string
	err    error
}

func (c *helloConn) Read(p []byte) (int, error) {
	c.once.Do(func() {
		var joined []byte
		c.prefix, joined, c.err = readHello(c.Conn)
		if c.err == nil {
			if ch, err := fingerprint.ParseClientHello(joined); err == nil {
				c.ja4 = BindingJA4(ch)
			}
		}
	})
	if c.err != nil {
		return 0, c.err
	}
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// BindingJA4 is the JA4 of the hello without the resumption extensions
// (pre_shared_key, early_data): a client's resumed connections are the
// same client, as a real site that binds a clearance to JA4 sees it.
func BindingJA4(ch *fingerprint.ClientHello) string {
	c := *ch
	c.Extensions = nil
	for _, e := range ch.Extensions {
		if e != 41 && e != 42 {
			c.Extensions = append(c.Extensions, e)
		}
	}
	return c.JA4()
}

// readHello reads the TLS records of the ClientHello message: as read,
// and joined into one record (what the parser takes).
func readHello(r io.Reader) (raw, joined []byte, err error) {
	var msg []byte
	for {
		hdr := make([]byte, 5)
		if _, err := io.ReadFull(r, hdr); err != nil {
			return nil, nil, err
		}
		if hdr[0] != 22 {
			return nil, nil, errors.New("not a TLS handshake")
		}
		n := int(hdr[3])<<8 | int(hdr[4])
		buf := make([]byte, n)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, nil, err
		}
		raw = append(append(raw, hdr...), buf...)
		msg = append(msg, buf...)
		if len(msg) >= 4 {
			want := int(msg[1])<<16 | int(msg[2])<<8 | int(msg[3])
			if want > 64<<10 {
				return nil, nil, errors.New("client hello too large")
			}
			if len(msg) >= want+4 {
				joined = append([]byte{22, hdr[1], hdr[2], byte(len(msg) >> 8), byte(len(msg))}, msg...)
				return raw, joined, nil
			}
		}
	}
}

type helloKey struct{}

// ja4Of is the binding JA4 of the request's connection (read by the time
// a request arrives: the handshake is over).
func ja4Of(r *http.Request) string {
	if hc, ok := r.Context().Value(helloKey{}).(*helloConn); ok {
		return hc.ja4
	}
	return ""
}
