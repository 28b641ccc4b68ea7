package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// checkH3Connections is how many QUIC connections `check --http-version
// 3` makes: enough that what the browser randomises per connection
// (extension and transport parameter order) shows as random.
const checkH3Connections = 4

// checkHTTP3 is `fingerprint check PROFILE --http-version 3`.
func checkHTTP3(cmd *cobra.Command, p *impersonate.Profile, name string) error {
	hello, err := p.QUICHello("localhost")
	if err != nil {
		return usageErr(fmt.Errorf("%s: --http-version 3: %w", name, err))
	}
	srv, err := fingerprint.StartQUIC(fingerprint.QUICConfig{})
	if err != nil {
		return failErr(err)
	}
	defer srv.Close()
	caps, err := checkSendH3(cmd.Context(), srv, name, checkH3Connections, p.HTTP3.GreaseFrame)
	if err != nil {
		return failErr(err)
	}
	sent, err := impersonate.HTTP3FromQUIC(caps)
	if err != nil {
		return failErr(fmt.Errorf("%s over HTTP/3: %w", name, err))
	}
	fields, err := impersonate.CompareHTTP3(p.HTTP3, sent)
	if err != nil {
		return failErr(fmt.Errorf("%s: %w", name, err))
	}
	w := cmd.OutOrStdout()
	diffs := 0
	line := func(field, ours, want string) {
		if ours == want {
			fmt.Fprintf(w, "HTTP/3   %-16s ok    %s\n", field, ours)
			return
		}
		diffs++
		fmt.Fprintf(w, "HTTP/3   %-16s DIFF  sent %s\n%27s profile %s\n", field, ours, "", want)
	}
	record := append([]byte{0x16, 0x03, 0x01, byte(len(hello.ClientHello) >> 8), byte(len(hello.ClientHello))}, hello.ClientHello...)
	ch, err := fingerprint.ParseClientHello(record)
	if err != nil {
		return failErr(fmt.Errorf("%s: QUIC hello: %w", name, err))
	}
	line("JA4", caps[0].JA4, "q"+ch.JA4()[1:])
	for _, f := range fields {
		line(f.Name, f.Sent, f.Profile)
	}
	want := p.DefaultHeaders()
	got := caps[0].Headers
	line("header names", strings.Join(headerNames(got), ", "), strings.Join(lower(headerNames(want)), ", "))
	for _, h := range want {
		if g := got.Get(h.Name); g != h.Value && got.Has(h.Name) {
			line(h.Name, g, h.Value)
		}
	}
	if diffs > 0 {
		return &exitError{code: exitFailed, err: fmt.Errorf("%s: %d field(s) differ from the profile over HTTP/3", name, diffs)}
	}
	fmt.Fprintf(w, "%s: every HTTP/3 field as the profile says (%d QUIC connections)\n", p.Name, len(caps))
	return nil
}

// checkSendH3 sends profile's navigation over HTTP/3 on n new QUIC
// connections and returns what the server recorded, waiting for each
// connection's control stream (SETTINGS, and the GREASE frame when the
// profile sends one), which may trail the answer.
func checkSendH3(ctx context.Context, srv *fingerprint.QUICServer, profile string, n int, greaseFrame bool) ([]fingerprint.Capture, error) {
	tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: srv.CertPool(), HandshakeTimeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	u, _ := url.Parse(srv.URL("localhost", "/"))
	for i := 0; i < n; i++ {
		rctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		resp, err := tr.RoundTrip(rctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: profile, HTTPVersion: "3", Verify: true, PoolKey: "check" + strconv.Itoa(i)})
		if err != nil {
			cancel()
			return nil, fmt.Errorf("HTTP/3: %w", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		cancel()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		caps := srv.Captures()
		ready := len(caps) >= n && !slices.ContainsFunc(caps, func(c fingerprint.Capture) bool {
			return c.H3 == nil || c.H3.Settings == nil || (greaseFrame && len(c.H3.ControlFrames) == 0)
		})
		if ready {
			return caps, nil
		}
		if time.Now().After(deadline) {
			if errs := srv.Errors(); len(errs) > 0 {
				return nil, fmt.Errorf("HTTP/3: the server could not read our Initials: %v", errs)
			}
			if len(caps) < n {
				return nil, fmt.Errorf("HTTP/3: the server saw %d of %d requests", len(caps), n)
			}
			return caps, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lower(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(n)
	}
	return out
}
