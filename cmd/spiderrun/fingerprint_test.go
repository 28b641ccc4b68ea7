package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

var reCaptureURL = regexp.MustCompile(`open (https://\S+) in the browser`)

// startCapture runs `spiderrun fingerprint capture` in the background and
// returns the URL it prints and a func that waits for it to end.
func startCapture(t *testing.T, args ...string) (string, func() (int, string, string)) {
	t.Helper()
	pr, pw := io.Pipe()
	var errb bytes.Buffer
	done := make(chan int, 1)
	go func() {
		code := run(append([]string{"fingerprint", "capture", "--port", "0", "--timeout", "20s"}, args...), pw, &errb)
		pw.Close()
		done <- code
	}()
	br := bufio.NewReader(pr)
	first, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("capture printed nothing: %v (stderr %s)", err, errb.String())
	}
	m := reCaptureURL.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("first line %q has no URL", first)
	}
	rest := make(chan string, 1)
	go func() { b, _ := io.ReadAll(br); rest <- string(b) }()
	return m[1], func() (int, string, string) {
		select {
		case code := <-done:
			return code, first + <-rest, errb.String()
		case <-time.After(30 * time.Second):
			t.Fatal("capture did not finish")
			return 0, "", ""
		}
	}
}

// TestFingerprintCaptureRoundTrip captures our own chrome_156 client (HTTP/2,
// then HTTP/1.1 with --merge), and checks that the written profile
// reproduces Chromium's fingerprints when fetched with.
func TestFingerprintCaptureRoundTrip(t *testing.T) {
	out := filepath.Join(t.TempDir(), "captured.yaml")

	url, wait := startCapture(t, "--out", out, "--name", "mine")
	if code, stdout, stderr := runCLI(t, "fetch", url, "--impersonate", "chrome_156", "-s", "TLS_VERIFY=false"); code != exitOK {
		t.Fatalf("fetch exit %d: %s %s", code, stdout, stderr)
	}
	code, stdout, stderr := wait()
	if code != exitOK {
		t.Fatalf("capture exit %d: %s %s", code, stdout, stderr)
	}
	for _, want := range []string{"captured HTTP/2", "ja4:    " + chromiumJA4, "akamai: 1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p", "profile mine written to " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("capture output lacks %q:\n%s", want, stdout)
		}
	}

	url, wait = startCapture(t, "--out", out, "--merge")
	if code, _, stderr := runCLI(t, "fetch", url, "--impersonate", "chrome_156", "--http-version", "1.1", "-s", "TLS_VERIFY=false"); code != exitOK {
		t.Fatalf("fetch h1: %s", stderr)
	}
	if code, stdout, stderr := wait(); code != exitOK || !strings.Contains(stdout, "captured HTTP/1.1") {
		t.Fatalf("merge capture exit %d: %s %s", code, stdout, stderr)
	}

	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := impersonate.ParseProfile(out, b)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := impersonate.LoadProfile("chrome_156")
	if got.Name != "mine" || got.Browser != "chrome" || got.Version != "156" || !got.TLS.ShuffleExtensions {
		t.Errorf("profile identity = %s %s %s shuffle=%v", got.Name, got.Browser, got.Version, got.TLS.ShuffleExtensions)
	}
	if got.Akamai() != want.Akamai() {
		t.Errorf("Akamai %s, want %s", got.Akamai(), want.Akamai())
	}
	if g, w := got.DefaultHeaders(), want.DefaultHeaders(); len(g) != len(w) || g.Get("user-agent") != w.Get("user-agent") {
		t.Errorf("headers\n got %v\nwant %v", g, w)
	}
	if g, w := got.HTTP1Headers(), want.HTTP1Headers(); len(g) != len(w) || g[0] != w[0] {
		t.Errorf("http1 headers\n got %v\nwant %v", g, w)
	}

	// The captured file is a usable profile: fetching with it gives
	// Chromium's JA4 again.
	srv := startFingerprint(t)
	code, stdout, stderr = runCLI(t, "fetch", srv.URL("localhost", "/"), "--impersonate", out, "-s", "TLS_VERIFY=false")
	if code != exitOK || !strings.Contains(stdout, `"ja4": "`+chromiumJA4+`"`) {
		t.Errorf("fetch with captured profile: exit %d %s %s", code, stderr, stdout[:min(len(stdout), 300)])
	}
}

func TestFingerprintCaptureErrors(t *testing.T) {
	code, _, stderr := runCLI(t, "fingerprint", "capture", "--merge")
	if code != exitUsage || !strings.Contains(stderr, "--merge needs --out FILE") {
		t.Errorf("exit %d %q", code, stderr)
	}
	code, _, stderr = runCLI(t, "fingerprint", "capture", "--port", "0", "--timeout", "50ms")
	if code != exitFailed || !strings.Contains(stderr, "no browser request within 50ms") {
		t.Errorf("exit %d %q", code, stderr)
	}
}

// TestFingerprintCaptureKinds runs a capture session with --kinds and
// plays the browser with our chrome_156 client: the typed navigation, the
// page's fetch, the image, the WebSocket handshake, the link and the
// form, each as its kind. The profile comes from the navigation, the
// kinds file holds every request by kind, and the command prints a line
// for each. (internal/livebrowser's TestCapturePage runs the same page in
// the real browsers.)
func TestFingerprintCaptureKinds(t *testing.T) {
	dir := t.TempDir()
	out, kindsFile := filepath.Join(dir, "captured.yaml"), filepath.Join(dir, "kinds.json")
	page, wait := startCapture(t, "--out", out, "--kinds", kindsFile)
	tr, err := impersonate.NewTransport(impersonate.Options{HandshakeTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	base := strings.TrimSuffix(page, "/")
	for _, r := range []*crawl.Request{
		{URL: base + "/"},
		{URL: base + "/k/fetch", Method: "POST", Kind: crawl.KindFetch, Parent: base + "/", Body: []byte("{}"),
			Headers: crawl.Headers{{Name: "Content-Type", Value: "application/json"}}},
		{URL: base + "/k/resumed.png", Parent: base + "/", Kind: crawl.KindFetch},
		{URL: base + "/k/ws", Parent: base + "/", Kind: crawl.KindFetch},
		{URL: base + "/k/link", Parent: base + "/"},
		{URL: base + "/k/form", Method: "POST", Parent: base + "/k/link", Body: []byte("q=a+b")},
	} {
		u, _ := url.Parse(r.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: r.GetMethod(), URL: u, Headers: r.Headers, Body: r.Body,
			Impersonate: "chrome_156", Request: r})
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", r.URL, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
	}
	code, stdout, stderr := wait()
	if code != exitOK {
		t.Fatalf("capture exit %d: %s %s", code, stdout, stderr)
	}
	for _, want := range []string{"then click the page's link", "kind navigate   GET / HTTP/2", "kind fetch      POST /k/fetch HTTP/2",
		"kind resumed    GET /k/resumed.png HTTP/2", "(resumed)", "kind websocket  GET /k/ws", "kind link       GET /k/link",
		"kind form       POST /k/form", "request kinds written to " + kindsFile, "profile chrome_156 written to " + out} {
		if !strings.Contains(stdout, want) {
			t.Errorf("capture output lacks %q:\n%s", want, stdout)
		}
	}
	b, err := os.ReadFile(kindsFile)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Kinds map[string]fingerprint.Capture `json:"kinds"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Kinds["fetch"].Headers.Get("sec-fetch-mode"); got != "cors" {
		t.Errorf("kinds file: fetch sec-fetch-mode %q (%v)", got, doc.Kinds["fetch"].Headers)
	}
	if got := doc.Kinds["form"].Headers.Get("origin"); got != base {
		t.Errorf("kinds file: form origin %q, want %q", got, base)
	}
	if len(doc.Kinds) != len(fingerprint.PageKinds) {
		t.Errorf("kinds file has %d kinds, want %d", len(doc.Kinds), len(fingerprint.PageKinds))
	}
}
