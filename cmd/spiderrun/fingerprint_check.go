package main

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/internal/fpcheck"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// newFingerprintCheckCmd sends PROFILE's first navigation to a loopback
// fingerprinting server and diffs what arrives against the profile's own
// data (its captured ClientHello, HTTP/2 preface and header lists), field
// by field.
func newFingerprintCheckCmd() *cobra.Command {
	var httpVersion, kinds string
	cmd := &cobra.Command{
		Use:   "check PROFILE",
		Short: "Send a profile's navigation to a local fingerprinting server and diff it against the profile, field by field",
		Long: `check starts a fingerprinting server on loopback, sends it the first
navigation of PROFILE (a shipped name or a profile file) over HTTP/2 and,
when the profile has HTTP/1.1 headers, over HTTP/1.1, each on a first
connection, and compares what the server saw with what the profile says:
JA4 and JA3N of the captured ClientHello (HTTP/2; a profile made from a
utls parrot has no capture to compare with), the Akamai HTTP/2 string,
the HEADERS priority, and every header in order with its value. It prints
one line per field and exits 1 when any differs.

With --http-version 3 it starts a QUIC fingerprinting server instead,
sends the navigation over HTTP/3 on several new QUIC connections, reads
back from the recorded Initials and HTTP/3 frames the http3 section they
show (ciphers, extensions, groups, key shares, signature algorithms,
ALPN, transport parameters with their values, GREASE ones included, and
whether extensions and parameters change order per connection,
connection-ID lengths, Initial datagram size, SETTINGS, the GREASE frame,
pseudo-header order) and compares it with the profile's http3 section,
plus the JA4 of the profile's own QUIC hello and the navigation headers.

With --kinds FILE (what capture --kinds wrote from the browser) it checks
every kind of request recorded there instead: it starts a capture server,
sends PROFILE's version of each request in the capture page's order
(the navigation, the script's fetch, the image on a resumed connection,
the WebSocket handshake, the link, the form POST), each as its kind and
from its page, and compares each with the browser's: the connection's
JA4, JA3N, ALPN and resumption, its Akamai string and HEADERS priority
over HTTP/2, the method and path, and the headers in wire order with
their values. It prints the fields that differ under each kind and
exits 1 when any does.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := impersonate.LoadProfile(args[0])
			if err != nil {
				return usageErr(err)
			}
			if kinds != "" {
				if cmd.Flags().Changed("http-version") {
					return usageErr(errors.New("--kinds checks each kind over the HTTP version the browser used: drop --http-version"))
				}
				return checkKinds(cmd, p.Name, args[0], kinds)
			}
			switch httpVersion {
			case "3":
				return checkHTTP3(cmd, p, args[0])
			case "", "2":
			default:
				return usageErr(fmt.Errorf("--http-version %q: want 2 (HTTP/2 and HTTP/1.1) or 3", httpVersion))
			}
			srv, err := fingerprint.Start(fingerprint.Config{})
			if err != nil {
				return failErr(err)
			}
			defer srv.Close()
			w := cmd.OutOrStdout()
			diffs := 0
			line := func(version, field, ours, want string) {
				if ours == want {
					fmt.Fprintf(w, "HTTP/%-3s %-16s ok    %s\n", version, field, ours)
					return
				}
				diffs++
				fmt.Fprintf(w, "HTTP/%-3s %-16s DIFF  sent %s\n%27s profile %s\n", version, field, ours, "", want)
			}
			versions := []string{"2"}
			if len(p.HeadersHTTP1) > 0 {
				versions = append(versions, "1.1")
			}
			for _, v := range versions {
				c, err := checkSend(cmd.Context(), srv, args[0], v)
				if err != nil {
					return failErr(err)
				}
				want := p.DefaultHeaders()
				if v == "1.1" {
					want = p.HTTP1Headers()
				}
				got := slices.DeleteFunc(c.Headers.Clone(), func(h crawl.Header) bool { return h.Name == "Host" })
				if v == "2" {
					if p.TLS.ClientHello != "" {
						raw, err := hex.DecodeString(strings.Join(strings.Fields(p.TLS.ClientHello), ""))
						if err != nil {
							return failErr(fmt.Errorf("%s: client_hello: %w", args[0], err))
						}
						ch, err := fingerprint.ParseClientHello(raw)
						if err != nil {
							return failErr(fmt.Errorf("%s: client_hello: %w", args[0], err))
						}
						line(v, "JA4", c.JA4, ch.JA4())
						line(v, "JA3N", c.JA3NHash, fingerprint.MD5Hex(ch.JA3N()))
					} else {
						fmt.Fprintf(w, "HTTP/%-3s %-16s -     %s (utls %s: no captured ClientHello to compare with)\n", v, "JA4", c.JA4, p.TLS.UTLS)
					}
					line(v, "Akamai", c.Akamai, p.Akamai())
					line(v, "HEADERS priority", priority(c.H2.HeadersPriority), profilePriority(p.HTTP2.HeadersPriority))
				}
				line(v, "header names", strings.Join(headerNames(got), ", "), strings.Join(headerNames(want), ", "))
				for _, h := range want {
					if g := got.Get(h.Name); g != h.Value && got.Has(h.Name) {
						line(v, h.Name, g, h.Value)
					}
				}
			}
			if diffs > 0 {
				return &exitError{code: exitFailed, err: fmt.Errorf("%s: %d field(s) differ from the profile", args[0], diffs)}
			}
			fmt.Fprintf(w, "%s: every field as the profile says\n", p.Name)
			return nil
		},
	}
	cmd.Flags().StringVar(&httpVersion, "http-version", "2", "2: check over HTTP/2 (and HTTP/1.1 when the profile has its headers); 3: over HTTP/3 (QUIC)")
	cmd.Flags().StringVar(&kinds, "kinds", "", "check every kind of request in this file (written by capture --kinds) against what the browser sent")
	return cmd
}

// checkSend sends profile's navigation over version on a first connection
// and returns what the server saw.
func checkSend(ctx context.Context, srv *fingerprint.Server, profile, version string) (fingerprint.Capture, error) {
	tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: srv.CertPool(), HandshakeTimeout: 10 * time.Second})
	if err != nil {
		return fingerprint.Capture{}, err
	}
	defer tr.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	u, _ := url.Parse(srv.URL("localhost", "/"))
	resp, err := tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: profile, HTTPVersion: version, Verify: true})
	if err != nil {
		return fingerprint.Capture{}, fmt.Errorf("HTTP/%s: %w", version, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	c, err := srv.Next(ctx)
	if err != nil {
		return c, errors.New("the server saw no request")
	}
	return c, nil
}

func headerNames(h crawl.Headers) []string {
	out := make([]string, len(h))
	for i, kv := range h {
		out[i] = kv.Name
	}
	return out
}

func priority(p *fingerprint.Priority) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("exclusive=%v depends_on=%d weight=%d", p.Exclusive, p.DependsOn, p.Weight)
}

func profilePriority(p *impersonate.HeadersPriority) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("exclusive=%v depends_on=%d weight=%d", p.Exclusive, p.DependsOn, p.Weight)
}

// checkKinds runs the per-kind check of profile (as given on the command
// line) against the browser's capture session in file.
func checkKinds(cmd *cobra.Command, name, profile, file string) error {
	f, err := fingerprint.ReadKindsFile(file)
	if err != nil {
		return usageErr(err)
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*time.Minute)
	defer cancel()
	results, err := fpcheck.Kinds(ctx, profile, f.Kinds)
	if err != nil {
		return failErr(fmt.Errorf("check %s against %s: %w", name, file, err))
	}
	w := cmd.OutOrStdout()
	diffs := 0
	var differ []string
	for _, r := range results {
		status := "ok  "
		if len(r.Diffs) > 0 {
			status = "DIFF"
			differ = append(differ, r.Kind)
		}
		fmt.Fprintf(w, "kind %-9s  %s  %s %s HTTP/%s, JA4 %s; compared: %s\n", r.Kind, status, r.Ours.Method, r.Ours.Path, r.Ours.HTTPVersion,
			r.Ours.JA4, strings.Join(r.Compared, ", "))
		for _, d := range r.Diffs {
			diffs++
			fmt.Fprintf(w, "kind %-9s  DIFF  %s\n", r.Kind, strings.ReplaceAll(d.String(), "\n", "\n"+strings.Repeat(" ", 22)))
		}
		if r.Note != "" {
			fmt.Fprintf(w, "kind %-9s  note  %s\n", r.Kind, r.Note)
		}
	}
	for _, k := range fingerprint.PageKinds {
		if _, ok := f.Kinds[k]; !ok {
			fmt.Fprintf(w, "kind %-9s  -     not in %s\n", k, file)
		}
	}
	if diffs > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%s: %d field(s) differ from the browser's capture %s (kinds %s)", name, diffs, file, strings.Join(differ, ", "))}
	}
	fmt.Fprintf(w, "%s: every kind as the browser sent it (%d kinds)\n", name, len(results))
	return nil
}
