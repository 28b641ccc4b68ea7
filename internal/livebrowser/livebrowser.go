// Package livebrowser drives the machine's real browsers (Debian's chromium
// and firefox-esr) headless against loopback servers, for the differential
// tests that hold spiderrun's impersonation to what the browsers send. Its
// tests are the project's live-browser tests, kept in one package so that
// they can be run alone:
//
//	go test ./internal/livebrowser
//
// A browser that is not installed fails the tests when the CI environment
// variable is set (.ci/run installs chromium, firefox-esr and
// libnss3-tools), and skips them with the install command otherwise.
//
// The browsers never reach beyond loopback: Chromium resolves no name but
// localhost and SiteHosts, which it maps to 127.0.0.1
// (--host-resolver-rules), and Firefox resolves SiteHosts locally
// (network.dns.localDomains) and sends everything else that is not
// localhost to a closed loopback proxy port, with its background services
// switched off.
//
// A visit is either one page load (RunChromium, RunFirefox: the browser
// exits once the page has loaded) or a Session driven over the browser's
// remote protocol (StartChromium over the DevTools Protocol, StartFirefox
// over WebDriver BiDi), which opens pages, runs scripts and clicks like a
// user.
package livebrowser

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Browser names a browser binary and how to install it.
type Browser struct {
	// Name is the command looked up on PATH: chromium or firefox.
	Name string
	// Package is the Debian package that provides it.
	Package string
}

var (
	// Chromium is Debian's chromium package, driven with --headless=new.
	Chromium = Browser{Name: "chromium", Package: "chromium"}
	// Firefox is Debian's firefox-esr, driven with --headless.
	Firefox = Browser{Name: "firefox", Package: "firefox-esr"}
)

// Require returns the browser's path. A missing browser fails the test
// when CI is set (a CI run must never pass without running the browser)
// and skips it otherwise.
func Require(t testing.TB, b Browser) string {
	t.Helper()
	need, pkgs := b.Name, b.Package
	if b == Firefox {
		// certutil makes the profile's NSS database trust the test CA.
		need, pkgs = need+" and certutil", pkgs+" libnss3-tools"
	}
	bin, err := exec.LookPath(b.Name)
	if err == nil && b == Firefox {
		_, err = exec.LookPath("certutil")
	}
	if err != nil {
		msg := fmt.Sprintf("%s live test needs %s (apt-get install -y %s): %v", b.Name, need, pkgs, err)
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

var reVersion = regexp.MustCompile(`\d+(\.\d+)+`)

// Version returns the browser's version ("148.0.7778.167").
func Version(ctx context.Context, bin string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", bin, err)
	}
	v := reVersion.FindString(string(out))
	if v == "" {
		return "", fmt.Errorf("%s --version: no version in %q", bin, out)
	}
	return v, nil
}

// CA is a test certificate authority and a certificate for localhost and
// 127.0.0.1 that it signed. Firefox refuses a self-signed CA certificate as
// a server's own (MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY), so the
// server certificate is a separate leaf.
type CA struct {
	// Cert is the CA certificate; CertPEM is the same in PEM.
	Cert    *x509.Certificate
	CertPEM []byte
	// Leaf is the server certificate with its chain (leaf, CA).
	Leaf tls.Certificate
	// Pool trusts the CA.
	Pool *x509.CertPool
	// LeafSPKI is the base64 SHA-256 of the leaf's public key, the form
	// Chromium's --ignore-certificate-errors-spki-list takes.
	LeafSPKI string
}

// NewCA makes a CA and a certificate for localhost and SiteHosts, valid
// for a day.
func NewCA() (*CA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("test CA: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "spiderrun live-browser test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("test CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("test CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("test CA: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano() + 1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     append([]string{"localhost"}, SiteHosts...),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("test CA: leaf: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("test CA: leaf: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return &CA{
		Cert:     caCert,
		CertPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Leaf:     tls.Certificate{Certificate: [][]byte{der, caDER}, PrivateKey: key, Leaf: leaf},
		Pool:     pool,
		LeafSPKI: base64.StdEncoding.EncodeToString(spki[:]),
	}, nil
}

// Run is one browser visit.
type Run struct {
	// URL is the page to open (on loopback).
	URL string
	// HTTP1 turns HTTP/2 off (Chromium --disable-http2, Firefox
	// network.http.http2.enabled=false).
	HTTP1 bool
	// Dir is a fresh directory for the browser's profile.
	Dir string
	// Features are Chromium features to enable (--enable-features), such
	// as ShortLaxAllowUnsafeThreshold, which cuts the Lax+POST window
	// of cookies without SameSite from 2 minutes to 10 seconds.
	Features []string
}

// browserEnv is a fixed locale and time zone, so Accept-Language does not
// depend on the machine.
func browserEnv() []string {
	env := []string{"LANG=en_US.UTF-8", "LANGUAGE=en_US", "TZ=UTC"}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "LANG", "LANGUAGE", "LC_ALL", "TZ", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY":
			continue
		}
		env = append(env, kv)
	}
	return env
}

// ChromiumArgs are the flags of a headless Chromium visit: new headless
// mode, the test CA's leaf trusted by its key, no QUIC, no name resolution
// beyond localhost, and no background traffic.
func ChromiumArgs(ca *CA, r Run) []string {
	args := []string{
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--disable-extensions", "--disable-default-apps", "--disable-breakpad",
		"--disable-features=OptimizationHints,MediaRouter,Translate,InterestFeedContentSuggestions,DnsOverHttps",
		"--host-resolver-rules=" + hostResolverRules(),
		"--ignore-certificate-errors-spki-list=" + ca.LeafSPKI,
		"--user-data-dir=" + r.Dir,
		"--lang=en-US",
	}
	if r.HTTP1 {
		args = append(args, "--disable-http2")
	}
	if len(r.Features) > 0 {
		args = append(args, "--enable-features="+strings.Join(r.Features, ","))
	}
	return append(args, "--dump-dom", r.URL)
}

// hostResolverRules maps SiteHosts to 127.0.0.1 and every other name but
// localhost to nothing.
func hostResolverRules() string {
	var rules []string
	for _, h := range SiteHosts {
		rules = append(rules, "MAP "+h+" 127.0.0.1")
	}
	return strings.Join(append(rules, "MAP * ~NOTFOUND", "EXCLUDE localhost"), " , ")
}

// RunChromium opens r.URL in headless Chromium and returns when the page
// has loaded (Chromium dumps the DOM and exits).
func RunChromium(ctx context.Context, bin string, ca *CA, r Run) error {
	cmd := exec.CommandContext(ctx, bin, ChromiumArgs(ca, r)...)
	cmd.Env = browserEnv()
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("chromium: %w\n%s", err, tail(out))
	}
	return nil
}

// firefoxPrefs keep a fresh headless Firefox on loopback and quiet: every
// background service off, and anything not for localhost sent to a closed
// port (9, discard) of a loopback proxy.
var firefoxPrefs = map[string]any{
	"network.proxy.type":                                 1,
	"network.proxy.http":                                 "127.0.0.1",
	"network.proxy.http_port":                            9,
	"network.proxy.ssl":                                  "127.0.0.1",
	"network.proxy.ssl_port":                             9,
	"network.proxy.socks":                                "127.0.0.1",
	"network.proxy.socks_port":                           9,
	"network.proxy.no_proxies_on":                        "localhost," + strings.Join(SiteHosts, ","),
	"network.dns.localDomains":                           strings.Join(SiteHosts, ","),
	"network.proxy.allow_hijacking_localhost":            false,
	"network.dns.disablePrefetch":                        true,
	"network.prefetch-next":                              false,
	"network.http.speculative-parallel-limit":            0,
	"network.captive-portal-service.enabled":             false,
	"network.connectivity-service.enabled":               false,
	"network.trr.mode":                                   5,
	"network.http.http3.enable":                          false,
	"app.update.enabled":                                 false,
	"app.normandy.enabled":                               false,
	"app.shield.optoutstudies.enabled":                   false,
	"browser.shell.checkDefaultBrowser":                  false,
	"browser.startup.homepage_override.mstone":           "ignore",
	"browser.startup.page":                               0,
	"browser.newtabpage.enabled":                         false,
	"browser.safebrowsing.malware.enabled":               false,
	"browser.safebrowsing.phishing.enabled":              false,
	"browser.safebrowsing.downloads.enabled":             false,
	"browser.safebrowsing.blockedURIs.enabled":           false,
	"browser.safebrowsing.provider.mozilla.updateURL":    "",
	"browser.safebrowsing.provider.google4.updateURL":    "",
	"browser.search.update":                              false,
	"browser.ping-centre.telemetry":                      false,
	"browser.newtabpage.activity-stream.feeds.telemetry": false,
	"browser.newtabpage.activity-stream.telemetry":       false,
	"datareporting.healthreport.uploadEnabled":           false,
	"datareporting.policy.dataSubmissionEnabled":         false,
	"toolkit.telemetry.enabled":                          false,
	"toolkit.telemetry.unified":                          false,
	"toolkit.telemetry.server":                           "",
	"extensions.update.enabled":                          false,
	"extensions.getAddons.cache.enabled":                 false,
	"extensions.blocklist.enabled":                       false,
	"services.settings.server":                           "https://localhost:9/v1",
	"security.OCSP.enabled":                              0,
	"security.remote_settings.crlite_filters.enabled":    false,
	"security.remote_settings.intermediates.enabled":     false,
	"privacy.sanitize.sanitizeOnShutdown":                false,
	"media.gmp-manager.url":                              "",
	"media.gmp-gmpopenh264.enabled":                      false,
	"dom.push.enabled":                                   false,
	"geo.enabled":                                        false,
	"identity.fxaccounts.enabled":                        false,
	"messaging-system.rsexperimentloader.enabled":        false,
	"browser.region.network.url":                         "",
	"browser.region.update.enabled":                      false,
	"intl.accept_languages":                              "en-US, en",
	"intl.locale.requested":                              "en-US",
	"toolkit.startup.max_resumed_crashes":                -1,
	"browser.sessionstore.resume_from_crash":             false,
	"datareporting.healthreport.service.enabled":         false,
	"browser.discovery.enabled":                          false,
	"browser.topsites.contile.enabled":                   false,
	"browser.newtabpage.activity-stream.feeds.topsites":  false,
	"browser.newtabpage.activity-stream.showSponsored":   false,
	"browser.newtabpage.activity-stream.default.sites":   "",
	"browser.urlbar.suggest.quicksuggest.sponsored":      false,
	"browser.urlbar.quicksuggest.enabled":                false,
	"browser.contentblocking.report.lockwise.enabled":    false,
	"signon.management.page.breach-alerts.enabled":       false,
	"network.notify.checkForProxies":                     false,
	"network.dns.native_https_query":                     false,
	"security.certerrors.mitm.priming.enabled":           false,
	"browser.safebrowsing.passwords.enabled":             false,
	"extensions.systemAddon.update.enabled":              false,
	"app.update.auto":                                    false,
	"browser.translations.enable":                        false,
	"browser.ml.enable":                                  false,
	"network.trr.uri":                                    "https://localhost:9/dns-query",
}

// FirefoxProfile writes a Firefox profile into r.Dir: the prefs above and an
// NSS database (cert9.db, made with certutil) that trusts the test CA.
func FirefoxProfile(ctx context.Context, ca *CA, r Run) error {
	var b bytes.Buffer
	for k, v := range firefoxPrefs {
		switch v := v.(type) {
		case string:
			fmt.Fprintf(&b, "user_pref(%q, %q);\n", k, v)
		default:
			fmt.Fprintf(&b, "user_pref(%q, %v);\n", k, v)
		}
	}
	if r.HTTP1 {
		b.WriteString("user_pref(\"network.http.http2.enabled\", false);\n")
	}
	if err := os.WriteFile(filepath.Join(r.Dir, "user.js"), b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("firefox profile: %w", err)
	}
	caFile := filepath.Join(r.Dir, "test-ca.pem")
	if err := os.WriteFile(caFile, ca.CertPEM, 0o644); err != nil {
		return fmt.Errorf("firefox profile: %w", err)
	}
	db := "sql:" + r.Dir
	for _, args := range [][]string{
		{"-N", "-d", db, "--empty-password"},
		{"-A", "-n", "spiderrun-live-test-ca", "-t", "C,,", "-i", caFile, "-d", db},
	} {
		if out, err := exec.CommandContext(ctx, "certutil", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("certutil %s: %w\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

// RunFirefox opens r.URL in headless Firefox with a profile made by
// FirefoxProfile and returns once the page has loaded (Firefox takes a
// screenshot after the load event and exits).
func RunFirefox(ctx context.Context, bin string, ca *CA, r Run) error {
	if err := FirefoxProfile(ctx, ca, r); err != nil {
		return err
	}
	shot := filepath.Join(r.Dir, "page.png")
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-remote", "--profile", r.Dir, "--screenshot", shot, r.URL)
	cmd.Env = append(browserEnv(), "MOZ_CRASHREPORTER_DISABLE=1", "MOZ_DISABLE_AUTO_SAFE_MODE=1", "HOME="+r.Dir)
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("firefox: %w\n%s", err, tail(out))
	}
	if _, err := os.Stat(shot); err != nil {
		return errors.New("firefox exited without loading the page:\n" + tail(out))
	}
	return nil
}

func tail(b []byte) string {
	const n = 2000
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
