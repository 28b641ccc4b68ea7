package main

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/livebrowser"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// TestFingerprintCheckKindsChromium records a capture session of the
// machine's Chromium (capture --kinds, the page followed as a person
// would) and checks profiles against it, kind by kind: the profile that
// capture wrote and the shipped profile of the same version (chrome_148)
// send every kind as Chromium did; Firefox's profile fails, naming kinds and fields;
// and so does the captured profile against a kinds file in which the
// browser's link said another sec-fetch-site.
func TestFingerprintCheckKindsChromium(t *testing.T) {
	bin := livebrowser.Require(t, livebrowser.Chromium)
	dir := t.TempDir()
	out, kindsFile := filepath.Join(dir, "captured.yaml"), filepath.Join(dir, "kinds.json")
	caCert, caKey := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	page, wait := startCapture(t, "--out", out, "--kinds", kindsFile, "--ca-cert", caCert, "--ca-key", caKey, "--timeout", "2m")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Chromium takes the capture CA's key as trusted (the leaf's chain
	// carries the CA certificate).
	ca := &livebrowser.CA{LeafSPKI: spkiOf(t, caCert)}
	s, err := livebrowser.StartChromium(ctx, bin, ca, livebrowser.Run{URL: page, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := strings.TrimSuffix(page, "/")
	if err := s.WaitLoaded(ctx, page); err != nil {
		t.Fatal(err)
	}
	if err := livebrowser.FollowCapturePage(ctx, s, base); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := wait()
	if code != exitOK {
		t.Fatalf("capture exit %d: %s %s", code, stdout, stderr)
	}
	s.Close()

	// The shipped profile of the browser's version, when there is one
	// (chrome_148 for Debian's Chromium 148 here).
	vctx, vcancel := context.WithTimeout(context.Background(), 10*time.Second)
	version, err := livebrowser.Version(vctx, bin)
	vcancel()
	if err != nil {
		t.Fatal(err)
	}
	major, _, _ := strings.Cut(version, ".")
	profiles := []string{out}
	if _, err := impersonate.LoadProfile("chrome_" + major); err == nil {
		profiles = append(profiles, "chrome_"+major)
	} else {
		t.Logf("no shipped chrome_%s: only the captured profile is checked", major)
	}
	for _, profile := range profiles {
		code, stdout, stderr = runCLI(t, "fingerprint", "check", profile, "--kinds", kindsFile)
		if code != exitOK || !strings.Contains(stdout, "every kind as the browser sent it (6 kinds)") || strings.Contains(stdout, "DIFF") {
			t.Errorf("check %s --kinds: exit %d\n%s%s", profile, code, stdout, stderr)
		}
		t.Logf("check %s --kinds:\n%s", profile, stdout)
		for _, k := range fingerprint.PageKinds {
			if !strings.Contains(stdout, "kind "+k) {
				t.Errorf("check %s --kinds: no line for kind %s\n%s", profile, k, stdout)
			}
		}
	}

	// Another browser: the TLS and the headers of every kind differ.
	code, stdout, stderr = runCLI(t, "fingerprint", "check", "firefox_140", "--kinds", kindsFile)
	t.Logf("check firefox_140 --kinds:\n%s", stdout)
	for _, want := range []string{"kind navigate   DIFF  JA4 = ", "kind fetch      DIFF  header names and order", "kind link       DIFF  JA4 = "} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check firefox_140: output lacks %q\n%s", want, stdout)
		}
	}
	if code != exitFailed || !strings.Contains(stderr, "differ from the browser's capture") || !strings.Contains(stderr, "kinds navigate, fetch") {
		t.Errorf("check firefox_140: exit %d\n%s", code, stderr)
	}

	// The browser's link said cross-site: ours, same-origin, differs
	// there and only there.
	var doc fingerprint.KindsFile
	b, err := os.ReadFile(kindsFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	link := doc.Kinds[fingerprint.PageLink]
	for i := range link.Headers {
		if strings.EqualFold(link.Headers[i].Name, "sec-fetch-site") {
			link.Headers[i].Value = "cross-site"
		}
	}
	doc.Kinds[fingerprint.PageLink] = link
	edited := filepath.Join(dir, "edited.json")
	b, _ = json.Marshal(doc)
	if err := os.WriteFile(edited, b, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI(t, "fingerprint", "check", out, "--kinds", edited)
	if code != exitFailed || !strings.Contains(stdout, `kind link       DIFF  sec-fetch-site = "same-origin", browser "cross-site"`) ||
		strings.Count(stdout, "DIFF") != 2 || !strings.Contains(stderr, "1 field(s) differ") || !strings.Contains(stderr, "(kinds link)") {
		t.Errorf("edited kinds file: exit %d\n%s%s", code, stdout, stderr)
	}
}

// spkiOf is the base64 SHA-256 of the public key of the PEM certificate in
// file (Chromium's --ignore-certificate-errors-spki-list form).
func spkiOf(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// TestFingerprintCheckKindsErrors: a kinds file that is not one is a usage
// error naming the file and the reason.
func TestFingerprintCheckKindsErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ body, want string }{
		{`{"kinds": {}}`, `no "navigate" capture`},
		{`{"kinds": {"navigate": {}, "video": {}}}`, `unknown kind "video"`},
		{`not json`, "invalid character"},
	} {
		file := filepath.Join(dir, "kinds.json")
		if err := os.WriteFile(file, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, stderr := runCLI(t, "fingerprint", "check", "chrome_148", "--kinds", file)
		if code != exitUsage || !strings.Contains(stderr, "kinds file "+file) || !strings.Contains(stderr, c.want) {
			t.Errorf("%s: exit %d %q", c.body, code, stderr)
		}
	}
	code, _, stderr := runCLI(t, "fingerprint", "check", "chrome_148", "--kinds", filepath.Join(dir, "missing.json"))
	if code != exitUsage || !strings.Contains(stderr, "missing.json") {
		t.Errorf("missing file: exit %d %q", code, stderr)
	}
}
