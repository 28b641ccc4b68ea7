package impersonate

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
)

// tlsFamily names the browser family a ClientHello belongs to, from
// features that differ between the TLS stacks: BoringSSL (Chrome, Edge)
// sends GREASE and brotli certificate compression, NSS (Firefox) sends no
// GREASE but record_size_limit, Apple's stack sends GREASE with legacy
// 3DES suites, Go sends neither GREASE nor record_size_limit.
func tlsFamily(ch *fingerprint.ClientHello) string {
	grease := slices.ContainsFunc(ch.CipherSuites, fingerprint.IsGREASE)
	des := slices.Contains(ch.CipherSuites, 0xc008) || slices.Contains(ch.CipherSuites, 0x000a)
	switch {
	case grease && des:
		return "safari"
	case grease && slices.Contains(ch.Extensions, 0x001b):
		return "chromium"
	case !grease && slices.Contains(ch.Extensions, 0x001c):
		return "firefox"
	case !grease:
		return "go"
	}
	return "unknown"
}

func uaFamily(browser string) string {
	if browser == "chrome" || browser == "edge" {
		return "chromium"
	}
	return browser
}

var utlsVersion = regexp.MustCompile(`^Hello(?:Chrome|Firefox|Edge|Safari|IOS)_(\d+)`)

// TestShippedProfilesAgreeAcrossLayers connects with every shipped profile
// and checks, from the server side, that the TLS stack and the User-Agent
// name the same browser (and version, for utls parrots), and that the
// HTTP/2 preface is the profile's.
func TestShippedProfilesAgreeAcrossLayers(t *testing.T) {
	srv, tr := fpServer(t, fingerprint.Config{})
	for _, name := range browserProfiles() {
		t.Run(name, func(t *testing.T) {
			p, err := LoadProfile(name)
			if err != nil {
				t.Fatal(err)
			}
			c := fetchCapture(t, tr, &downloader.Outgoing{
				Method: "GET", URL: mustURL(t, srv.URL("localhost", "/")), Impersonate: name, Verify: true,
			})
			ua := c.Headers.Get("user-agent")
			browser, version := BrowserFromUserAgent(ua)
			if browser != p.Browser || version != p.Version {
				t.Errorf("user-agent %q names %s %s, profile says %s %s", ua, browser, version, p.Browser, p.Version)
			}
			if got, want := tlsFamily(c.TLS), uaFamily(browser); got != want {
				t.Errorf("TLS looks like %s, user-agent like %s (%s)", got, want, c.JA4)
			}
			if m := utlsVersion.FindStringSubmatch(p.TLS.UTLS); m != nil && !strings.HasPrefix(version, m[1]) {
				t.Errorf("TLS parrot %s but user-agent version %s", p.TLS.UTLS, version)
			}
			if c.HTTPVersion != "2" {
				t.Fatalf("negotiated HTTP/%s, want 2", c.HTTPVersion)
			}
			if c.Akamai != p.Akamai() {
				t.Errorf("Akamai = %s, want the profile's %s", c.Akamai, p.Akamai())
			}
			if hp := p.HTTP2.HeadersPriority; hp != nil {
				got := c.H2.HeadersPriority
				if got == nil || got.Exclusive != hp.Exclusive || got.DependsOn != hp.DependsOn || got.Weight != hp.Weight {
					t.Errorf("HEADERS priority = %+v, want %+v", got, hp)
				}
			}
			var want []string
			for _, h := range p.DefaultHeaders() {
				want = append(want, strings.ToLower(h.Name))
			}
			if got := c.HeaderNames(); !slices.Equal(got, want) {
				t.Errorf("header order\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestProfilesListAndLoad(t *testing.T) {
	names := Profiles()
	for _, want := range []string{"chrome", "chrome_156", "firefox", "safari", "edge", "random", "chrome_133", "firefox_120"} {
		if !slices.Contains(names, want) {
			t.Errorf("Profiles() lacks %s: %v", want, names)
		}
	}
	for _, n := range names {
		p, err := LoadProfile(n)
		if err != nil {
			t.Errorf("LoadProfile(%s): %v", n, err)
			continue
		}
		if n != PlainGo && p.UserAgent() == "" {
			t.Errorf("%s: no user-agent", n)
		}
	}
	// A loaded profile is the caller's copy.
	a, _ := LoadProfile("chrome")
	a.Name = "changed"
	if b, _ := LoadProfile("chrome"); b.Name != "chrome_156" {
		t.Errorf("LoadProfile shares state: %s", b.Name)
	}
	if r, err := LoadProfile("random"); err != nil || !slices.Contains(randomProfiles(), r.Name) {
		t.Errorf("LoadProfile(random) = %v, %v", r, err)
	}
	if _, err := LoadProfile("netscape_4"); err == nil || !strings.Contains(err.Error(), "unknown impersonation profile") {
		t.Errorf("unknown profile error = %v", err)
	}
}

// TestProfileFileRoundTrip loads a user's own profile file: the shipped
// chrome_156 written out with Marshal and read back behaves the same.
func TestProfileFileRoundTrip(t *testing.T) {
	p, err := LoadProfile("chrome_156")
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	srv, tr := fpServer(t, fingerprint.Config{})
	c := fetchCapture(t, tr, &downloader.Outgoing{Method: "GET", URL: mustURL(t, srv.URL("localhost", "/")), Impersonate: path, Verify: true})
	if c.JA4 != chromium156JA4 || c.Akamai != chromeAkamai {
		t.Errorf("profile file: JA4 %s Akamai %s", c.JA4, c.Akamai)
	}
}

func TestParseProfileErrors(t *testing.T) {
	base := "name: x\nbrowser: chrome\nversion: \"1\"\ntls: {utls: HelloChrome_133}\nhttp2: {settings: \"1:65536\", window_update: 1}\nheaders: ['user-agent: x']\n"
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", base + "colour: red\n", "p.yaml:7:1: field colour not found"},
		{"wrong type", strings.Replace(base, "window_update: 1", "window_update: many", 1), "p.yaml:5:45: cannot construct !!str `many` into uint32"},
		{"syntax", base + "headers: [\n", "p.yaml:8:1: invalid YAML: did not find expected node content"},
		{"no tls", "name: x\nhttp2: {settings: \"1:1\"}\n", "tls: client_hello or utls required"},
		{"both tls", strings.Replace(base, "{utls: HelloChrome_133}", "{utls: HelloChrome_133, client_hello: '16'}", 1), "set client_hello or utls, not both"},
		{"bad utls", strings.Replace(base, "HelloChrome_133", "HelloNetscape_4", 1), `unknown utls ClientHelloID "HelloNetscape_4"`},
		{"bad hex", strings.Replace(base, "{utls: HelloChrome_133}", "{client_hello: 'zz'}", 1), "tls.client_hello: encoding/hex"},
		{"not a hello", strings.Replace(base, "{utls: HelloChrome_133}", "{client_hello: '170303000101'}", 1), "tls.client_hello: utls fingerprinter"},
		{"bad setting", strings.Replace(base, `"1:65536"`, `"1=65536"`, 1), `http2.settings: bad entry "1=65536"`},
		{"bad weight", strings.Replace(base, "window_update: 1}", "window_update: 1, headers_priority: {weight: 300}}", 1), "headers_priority.weight: 300 not in 1..256"},
		{"bad pseudo", strings.Replace(base, "window_update: 1}", "window_update: 1, pseudo_header_order: [':method', ':path', ':host', ':scheme']}", 1), `unknown pseudo-header ":host"`},
		{"bad header", strings.Replace(base, "'user-agent: x'", "'user agent'", 1), `headers[0]: want "name: value"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseProfile("p.yaml", []byte(tc.yaml))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("valid profile rejected: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "p.yaml:") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestMergeHeaders(t *testing.T) {
	prof := crawl.Headers{{Name: "sec-ch-ua", Value: "b"}, {Name: "user-agent", Value: "UA"}, {Name: "accept", Value: "*/*"}, {Name: "priority", Value: "u=0, i"}}
	cases := []struct {
		name string
		req  crawl.Headers
		want crawl.Headers
	}{
		{"none", nil, prof},
		{"request value wins in profile position", crawl.Headers{{Name: "User-Agent", Value: "mine"}},
			crawl.Headers{{Name: "sec-ch-ua", Value: "b"}, {Name: "user-agent", Value: "mine"}, {Name: "accept", Value: "*/*"}, {Name: "priority", Value: "u=0, i"}}},
		{"extra headers follow in request order", crawl.Headers{{Name: "X-B", Value: "2"}, {Name: "Cookie", Value: "a=1"}},
			append(prof.Clone(), crawl.Header{Name: "X-B", Value: "2"}, crawl.Header{Name: "Cookie", Value: "a=1"})},
		{"empty value drops a profile header", crawl.Headers{{Name: "priority", Value: ""}},
			crawl.Headers{{Name: "sec-ch-ua", Value: "b"}, {Name: "user-agent", Value: "UA"}, {Name: "accept", Value: "*/*"}}},
		{"repeated request header keeps both values", crawl.Headers{{Name: "accept", Value: "a"}, {Name: "Accept", Value: "b"}},
			crawl.Headers{{Name: "sec-ch-ua", Value: "b"}, {Name: "user-agent", Value: "UA"}, {Name: "accept", Value: "a"}, {Name: "accept", Value: "b"}, {Name: "priority", Value: "u=0, i"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := MergeHeaders(prof, tc.req); !slices.Equal(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

func TestBrowserFromUserAgent(t *testing.T) {
	cases := []struct{ ua, browser, version string }{
		{"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36", "chrome", "156"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36 Edg/156.0.0.0", "edge", "156"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0", "firefox", "120"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.0 Safari/605.1.15", "safari", "16.0"},
		{"curl/8.0", "", ""},
	}
	for _, tc := range cases {
		b, v := BrowserFromUserAgent(tc.ua)
		if b != tc.browser || v != tc.version {
			t.Errorf("%q: got %s %s, want %s %s", tc.ua, b, v, tc.browser, tc.version)
		}
	}
}
