package fpcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/downloader"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
	"github.com/spiderrun/spiderrun/runtime/websocket"
)

// KindResult is the check of one kind of request of a capture session.
type KindResult struct {
	// Kind is one of fingerprint.PageKinds.
	Kind string
	// Ours is what the server saw of our request.
	Ours fingerprint.Capture
	// Diffs are the fields that differ from the browser's (none: equal).
	Diffs []Diff
	// Compared lists the fields compared, in order, for the report.
	Compared []string
	// Note says what was not compared and why ("" = nothing left out).
	Note string
}

// Kinds sends profile's version of every request the browser sent in a
// capture session (browser: a KindsFile's kinds) to a fresh capture server
// and compares each with the browser's, field by field. The requests go
// in the capture page's order, over one client, to a server that closes
// every connection after one answer, as the session's did: so every
// connection after the navigation's is a resumed one in both. They carry
// the browser's own authority (host and port: Host, Origin and Referer
// compare as they are) and are dialled to the server's loopback port.
//
// A kind's result has no Diffs when what we sent equals the browser's:
// the connection's TLS (Conn), its HTTP/2 preface (HTTP2) when both used
// HTTP/2, the method and path, and the headers in wire order with their
// values (Headers), except the resumed image's (spiderrun has no image
// kind: only its connection is compared) and the WebSocket key (random).
// headless Chromium's "HeadlessChrome" is read as the profile capture
// reads it. An error is a check that could not run.
func Kinds(ctx context.Context, profile string, browser map[string]fingerprint.Capture) ([]KindResult, error) {
	nav, ok := browser[fingerprint.PageNavigate]
	if !ok {
		return nil, errors.New("no navigation to start from")
	}
	s, err := newSender(profile, nav.Authority)
	if err != nil {
		return nil, err
	}
	defer s.close()
	// Chromium sometimes opens the capture page itself over a resumed
	// connection: a connection it made before the navigation (a preconnect
	// that carried no request) gave it a session ticket. Then our
	// navigation goes over a resumed connection too, after one that is not
	// compared.
	primed := nav.Resumed()
	if primed {
		if err := s.prime(ctx, nav.HTTPVersion); err != nil {
			return nil, fmt.Errorf("%s: %w", fingerprint.PageNavigate, err)
		}
	}
	var out []KindResult
	for _, kind := range fingerprint.PageKinds {
		b, ok := browser[kind]
		if !ok {
			continue
		}
		ours, err := s.send(ctx, kind, b, browser)
		if err != nil {
			return out, fmt.Errorf("%s: %w", kind, err)
		}
		res, err := compare(kind, ours, b)
		if err != nil {
			return out, fmt.Errorf("%s: %w", kind, err)
		}
		if kind == fingerprint.PageNavigate && primed {
			res.Note = "the browser's navigation went over a resumed connection (it had connected before): ours too"
		}
		out = append(out, res)
	}
	return out, nil
}

// newSender starts a capture server for the browser's authority (host and
// port) and a client dialling it.
func newSender(profile, authority string) (*sender, error) {
	host, _, err := net.SplitHostPort(authority)
	if err != nil {
		return nil, fmt.Errorf("navigation's authority %q: %w", authority, err)
	}
	var names []string
	if net.ParseIP(host) == nil {
		names = append(names, host)
	}
	cert, err := fingerprint.SelfSignedFor(names...)
	if err != nil {
		return nil, err
	}
	srv, err := fingerprint.Start(fingerprint.Config{Certificate: &cert, Answer: fingerprint.CapturePage, CloseAfterResponse: true})
	if err != nil {
		return nil, err
	}
	tr, err := impersonate.NewTransport(impersonate.Options{RootCAs: srv.CertPool(), HandshakeTimeout: 10 * time.Second,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, srv.Addr())
		}})
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &sender{srv: srv, tr: tr, profile: profile, base: "https://" + authority}, nil
}

func (s *sender) close() {
	s.tr.Close()
	s.srv.Close()
}

// prime makes one connection that is not compared (a favicon request, of
// no kind), so that the next one resumes its TLS session.
func (s *sender) prime(ctx context.Context, httpVersion string) error {
	u, err := url.Parse(s.base + "/favicon.ico")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	resp, err := s.tr.RoundTrip(ctx, &downloader.Outgoing{Method: "GET", URL: u, Impersonate: s.profile, HTTPVersion: httpVersion, Verify: true,
		Request: &crawl.Request{URL: u.String(), Kind: crawl.KindFetch}})
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// compare holds ours to the browser's request of kind.
func compare(kind string, ours, browser fingerprint.Capture) (KindResult, error) {
	res := KindResult{Kind: kind, Ours: ours}
	if kind != fingerprint.PageResumed && ours.Resumed() != browser.Resumed() {
		// Which connection Chromium sends a request on (one it opened
		// ahead, before it held a session ticket, or a new resumed one) is
		// its pool's timing, not the request's: seen both ways in CI. Both
		// states' TLS is compared where they meet (the navigation, the
		// image's resumed connection).
		res.Note = fmt.Sprintf("TLS not compared: the browser's connection was %s, ours %s (connection timing)", resumedWord(browser.Resumed()), resumedWord(ours.Resumed()))
	} else {
		res.Compared = append(res.Compared, "TLS (resumed, JA4, JA3N, ALPN)")
		d, err := Conn(ours, browser)
		if err != nil {
			return res, err
		}
		res.Diffs = append(res.Diffs, d...)
	}
	if ours.HTTPVersion != browser.HTTPVersion {
		res.Diffs = append(res.Diffs, Diff{Field: "HTTP version", Ours: ours.HTTPVersion, Browser: browser.HTTPVersion})
	} else if browser.HTTPVersion == "2" {
		res.Compared = append(res.Compared, "Akamai")
		for _, d := range HTTP2(ours, browser) {
			if d.Field == "HEADERS priority" && kind == fingerprint.PageResumed {
				continue // the image's own priority (below)
			}
			res.Diffs = append(res.Diffs, d)
		}
		if kind != fingerprint.PageResumed {
			res.Compared = append(res.Compared, "HEADERS priority")
		}
	}
	if kind == fingerprint.PageResumed {
		res.Note = "headers and HEADERS priority not compared: an image request, and spiderrun has no image kind"
		return res, nil
	}
	if ours.Method != browser.Method || ours.Path != browser.Path {
		res.Diffs = append(res.Diffs, Diff{Field: "request", Ours: ours.Method + " " + ours.Path, Browser: browser.Method + " " + browser.Path})
	}
	res.Compared = append(res.Compared, "headers in order", "header values")
	var skip []string
	if kind == fingerprint.PageWebSocket {
		skip = []string{"Sec-WebSocket-Key"}
		res.Note = strings.TrimPrefix(res.Note+"; Sec-WebSocket-Key not compared: random per handshake", "; ")
	}
	res.Diffs = append(res.Diffs, Headers(ours.Headers, impersonate.Unheadless(browser.Headers), skip...)...)
	return res, nil
}

// sender sends the kinds of a capture session with one client.
type sender struct {
	srv     *fingerprint.Server
	tr      *impersonate.Transport
	profile string
	base    string // https://authority
}

// send makes the request a spider makes for the browser's request b of
// kind (the kind, the parent page, the Referer the Referer middleware
// adds, the body and Content-Type the page's script or form set) and
// returns what the server saw of it.
func (s *sender) send(ctx context.Context, kind string, b fingerprint.Capture, all map[string]fingerprint.Capture) (fingerprint.Capture, error) {
	page := s.base + all[fingerprint.PageNavigate].Path
	r := &crawl.Request{URL: s.base + b.Path, Method: b.Method, Parent: page, Headers: crawl.Headers{{Name: "Referer", Value: page}}}
	switch kind {
	case fingerprint.PageNavigate:
		r.Kind, r.Parent, r.Headers = crawl.KindNavigate, "", nil
	case fingerprint.PageFetch:
		r.Kind, r.Body = crawl.KindFetch, []byte(fingerprint.PageFetchBody)
	case fingerprint.PageResumed:
		// No image kind: what counts is the connection.
		r.Kind = crawl.KindFetch
	case fingerprint.PageLink:
		r.Kind = crawl.KindLink
	case fingerprint.PageForm:
		r.Kind, r.Body = crawl.KindForm, []byte(fingerprint.PageFormBody)
		if l, ok := all[fingerprint.PageLink]; ok {
			// The form is on the page the link opened.
			r.Parent = s.base + l.Path
			r.Headers = crawl.Headers{{Name: "Referer", Value: r.Parent}}
		}
	case fingerprint.PageWebSocket:
		r.URL = "wss://" + s.base[len("https://"):] + b.Path
	}
	if ct := b.Headers.Get("content-type"); ct != "" && r.Body != nil {
		r.Headers.Add("Content-Type", ct)
	}
	before := len(s.srv.Captures())
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if kind == fingerprint.PageWebSocket {
		r.Impersonate = s.profile
		m := websocket.NewManager(websocket.Options{
			Impersonator: func() (websocket.Impersonator, error) { return s.tr, nil },
			Compression:  true, HandshakeTimeout: 10 * time.Second,
		})
		// The capture page's server refuses the upgrade once it has
		// recorded it: the download fails, the recorded request counts.
		_, _ = m.Download(ctx, r)
		m.Close()
	} else {
		u, err := url.Parse(r.URL)
		if err != nil {
			return fingerprint.Capture{}, err
		}
		resp, err := s.tr.RoundTrip(ctx, &downloader.Outgoing{Method: r.GetMethod(), URL: u, Headers: r.Headers, Body: r.Body,
			Impersonate: s.profile, HTTPVersion: b.HTTPVersion, Verify: true, Request: r})
		if err != nil {
			return fingerprint.Capture{}, fmt.Errorf("%s %s: %w", r.GetMethod(), r.URL, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	// A capture is recorded once answered, so it can trail the response.
	for {
		caps := s.srv.Captures()
		if i := slices.IndexFunc(caps[before:], func(c fingerprint.Capture) bool { return fingerprint.PageKind(c) == kind }); i >= 0 {
			return caps[before+i], nil
		}
		select {
		case <-ctx.Done():
			return fingerprint.Capture{}, fmt.Errorf("our %s request never reached the check server", kind)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func resumedWord(resumed bool) string {
	if resumed {
		return "resumed"
	}
	return "a full handshake"
}
