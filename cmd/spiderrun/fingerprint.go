package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

func init() { register(newFingerprintCmd) }

func newFingerprintCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fingerprint",
		Short: "Inspect and capture browser TLS/HTTP2 fingerprints",
	}
	cmd.AddCommand(newFingerprintCaptureCmd(), newFingerprintListCmd(), newFingerprintCheckCmd())
	return cmd
}

func newFingerprintCaptureCmd() *cobra.Command {
	var (
		port    int
		host    string
		out     string
		name    string
		merge   bool
		timeout time.Duration
		caCert  string
		caKey   string
		kinds   string
	)
	cmd := &cobra.Command{
		Use:   "capture",
		Short: "Serve TLS on loopback and write an impersonation profile from what a browser sends",
		Long: `capture serves HTTPS (HTTP/2 and HTTP/1.1) on a loopback port with a
self-signed certificate and prints a URL. Open it in the browser to copy
(accept the certificate warning, or start the browser with
--ignore-certificate-errors). The first page request is turned into a
profile: the ClientHello, the HTTP/2 SETTINGS, WINDOW_UPDATE and priorities,
and the header set and order. Use the profile with IMPERSONATE: FILE.

Run it once with the browser on HTTP/2, then, to record the HTTP/1.1 header
order too, again with --merge while the browser has HTTP/2 disabled
(Chromium: --disable-http2).

With --kinds FILE the URL serves a capture page instead, which makes the
browser itself send every kind of request: the page's navigation, a
script's fetch(), an image on a new (resumed) TLS connection, a WebSocket
handshake, then, when you click its link and the next page's button, a
followed link and a form POST. The profile is still made from the
navigation; FILE gets every capture (JSON, by kind: headers in wire
order, JA4, the ClientHello) as the evidence to compare a client with.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var prof impersonate.Profile
			if merge {
				if out == "" {
					return usageErr(errors.New("--merge needs --out FILE"))
				}
				if b, err := os.ReadFile(out); err == nil {
					p, err := impersonate.ParseProfile(out, b)
					if err != nil {
						return usageErr(err)
					}
					prof = *p
				}
			}
			cfg := fingerprint.Config{Addr: fmt.Sprintf("127.0.0.1:%d", port)}
			if (caCert == "") != (caKey == "") {
				return usageErr(errors.New("--ca-cert and --ca-key go together"))
			}
			if caCert != "" {
				ca, created, err := loadOrCreateCA(caCert, caKey)
				if err != nil {
					return usageErr(err)
				}
				leaf, err := ca.leaf(host)
				if err != nil {
					return failErr(err)
				}
				cfg.Certificate = &leaf
				if created {
					fmt.Fprintf(cmd.ErrOrStderr(), "wrote a new capture CA to %s (key %s); trust it once in the browser:\n"+
						"  Chromium/Chrome (Linux): certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n spiderrun-capture -i %s\n"+
						"  Firefox: certutil -d sql:PROFILE_DIR -A -t C,, -n spiderrun-capture -i %s (or Settings > Certificates > Import)\n"+
						"  Safari/macOS: open %s in Keychain Access and set it to Always Trust\n", caCert, caKey, caCert, caCert, caCert)
				}
			}
			if kinds != "" {
				// The capture page, and a new connection for every request
				// so that the image's is a resumed one.
				cfg.Answer, cfg.CloseAfterResponse = fingerprint.CapturePage, true
			}
			srv, err := fingerprint.Start(cfg)
			if err != nil {
				return failErr(err)
			}
			defer srv.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "open %s in the browser to capture (waiting up to %s)\n", srv.URL(host, "/"), timeout)
			if kinds != "" {
				fmt.Fprintln(cmd.OutOrStdout(), "then click the page's link, and the button of the page it opens")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			var c fingerprint.Capture
			var kindsErr error
			if kinds != "" {
				var got map[string]fingerprint.Capture
				got, kindsErr = fingerprint.WaitKinds(ctx, srv, nil)
				nav, ok := got[fingerprint.PageNavigate]
				if !ok {
					return failErr(fmt.Errorf("no browser request within %s: %w", timeout, kindsErr))
				}
				c = nav
				if err := writeKinds(cmd.OutOrStdout(), kinds, got); err != nil {
					return failErr(err)
				}
			} else {
				for {
					c, err = srv.Next(ctx)
					if err != nil {
						return failErr(fmt.Errorf("no browser request within %s: %w", timeout, err))
					}
					// Browsers fetch /favicon.ico too; only the navigation
					// carries the full header set.
					if !strings.HasPrefix(c.Path, "/favicon") {
						break
					}
				}
			}
			notes, err := impersonate.UpdateFromCapture(&prof, name, impersonate.CapturedFrom(c))
			if err != nil {
				return failErr(err)
			}
			data, err := prof.Marshal()
			if err != nil {
				return failErr(err)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "captured HTTP/%s from %s\n", c.HTTPVersion, c.Headers.Get("user-agent"))
			fmt.Fprintf(w, "ja4:    %s\nja3n:   %s\n", c.JA4, c.JA3NHash)
			if c.Akamai != "" {
				fmt.Fprintf(w, "akamai: %s\n", c.Akamai)
			}
			fmt.Fprintf(w, "headers: %s\n", strings.Join(c.HeaderNames(), ", "))
			for _, n := range notes {
				fmt.Fprintln(w, "note:", n)
			}
			if out == "" || out == "-" {
				if _, err = w.Write(data); err != nil {
					return err
				}
				if kindsErr != nil {
					return failErr(fmt.Errorf("%s lacks some kinds: %w", kinds, kindsErr))
				}
				return nil
			}
			if err := os.WriteFile(out, data, 0o644); err != nil {
				return failErr(fmt.Errorf("write profile: %w", err))
			}
			fmt.Fprintf(w, "profile %s written to %s\n", prof.Name, out)
			if kindsErr != nil {
				return failErr(fmt.Errorf("%s lacks some kinds: %w", kinds, kindsErr))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&port, "port", 8443, "loopback port to listen on (0 = any free port)")
	f.StringVar(&host, "host", "localhost", "host name to print in the URL (a name, so the browser sends SNI)")
	f.StringVarP(&out, "out", "o", "", "profile file to write (default: print it)")
	f.StringVar(&name, "name", "", "profile name (default: browser_version from the User-Agent)")
	f.BoolVar(&merge, "merge", false, "update --out in place with what this capture adds (HTTP/1.1 headers, say)")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the browser")
	f.StringVar(&caCert, "ca-cert", "", "CA certificate (PEM) to serve with, written with --ca-key on first use: trust it once in the browser instead of accepting a warning")
	f.StringVar(&caKey, "ca-key", "", "the CA's private key (PEM), written with --ca-cert on first use")
	f.StringVar(&kinds, "kinds", "", "serve the capture page, which makes the browser send every kind of request (fetch, resumed connection, WebSocket, link, form), and write them all to this JSON file")
	return cmd
}

// writeKinds writes the capture session's requests to file, by kind, and
// prints a line for each (what is missing is the caller's error).
func writeKinds(w io.Writer, file string, got map[string]fingerprint.Capture) error {
	doc := fingerprint.KindsFile{Regenerate: "spiderrun fingerprint capture --kinds FILE, then follow the page", Kinds: got}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("kinds: %w", err)
	}
	for _, k := range fingerprint.PageKinds {
		c, ok := got[k]
		if !ok {
			fmt.Fprintf(w, "kind %-9s  not sent\n", k)
			continue
		}
		resumed := ""
		if c.Resumed() {
			resumed = " (resumed)"
		}
		fmt.Fprintf(w, "kind %-9s  %s %s HTTP/%s, %d headers, JA4 %s%s\n", k, c.Method, c.Path, c.HTTPVersion, len(c.Headers), c.JA4, resumed)
	}
	if err := os.WriteFile(file, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	fmt.Fprintf(w, "request kinds written to %s\n", file)
	return nil
}
