package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFingerprintCaptureCA: --ca-cert/--ca-key write a CA on first use and
// reuse it after, and the capture server's certificate verifies against
// it (what a browser that trusted the CA once does), for both runs.
func TestFingerprintCaptureCA(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	var first []byte
	for run := range 2 {
		u, wait := startCapture(t, "--ca-cert", certFile, "--ca-key", keyFile, "--out", filepath.Join(dir, "p.yaml"))
		pemBytes, err := os.ReadFile(certFile)
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			first = pemBytes
			if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("key file: %v %v", st, err)
			}
		} else if !bytes.Equal(first, pemBytes) {
			t.Error("the second run replaced the CA instead of reusing it")
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemBytes) {
			t.Fatal("ca.pem holds no certificate")
		}
		pu, _ := url.Parse(u)
		conn, err := tls.Dial("tcp", "127.0.0.1:"+pu.Port(), &tls.Config{RootCAs: pool, ServerName: "localhost"})
		if err != nil {
			t.Fatalf("run %d: the capture's certificate does not verify against the CA: %v", run, err)
		}
		conn.Close()
		if code, stdout, stderr := runCLI(t, "fetch", u, "--impersonate", "chrome_156", "-s", "TLS_VERIFY=false"); code != exitOK {
			t.Fatalf("fetch: %d %s %s", code, stdout, stderr)
		}
		code, stdout, stderr := wait()
		if code != exitOK || (run == 0) != strings.Contains(stderr, "wrote a new capture CA") {
			t.Errorf("run %d: exit %d\n%s%s", run, code, stdout, stderr)
		}
	}
	os.Remove(keyFile)
	if code, _, stderr := runCLI(t, "fingerprint", "capture", "--port", "0", "--ca-cert", certFile, "--ca-key", keyFile); code != exitUsage ||
		!strings.Contains(stderr, "exists but --ca-key") {
		t.Errorf("half a CA: exit %d %s", code, stderr)
	}
}
