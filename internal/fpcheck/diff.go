// Package fpcheck holds what spiderrun's client sent to what a real browser
// sent, field by field: header lists (names in wire order, then values)
// and the TLS fingerprints of a connection that do not vary per
// connection. `spiderrun fingerprint check --kinds` prints its findings;
// internal/livebrowser's tests turn them into test errors, so the command
// and the live tests judge with the same rules.
package fpcheck

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/impersonate"
)

// Diff is one field where ours differs from the browser's.
type Diff struct {
	// Field names what differs: "header names and order", a header's
	// name, "JA4", "ALPN", ...
	Field string
	// Ours and Browser are the two values as printed.
	Ours, Browser string
}

func (d Diff) String() string {
	if d.Field == fieldNames {
		// Two lists: one under the other reads best.
		return fmt.Sprintf("%s\n got %s\nwant %s", d.Field, d.Ours, d.Browser)
	}
	return fmt.Sprintf("%s = %s, browser %s", d.Field, d.Ours, d.Browser)
}

const fieldNames = "header names and order"

// Names lists h's names in order.
func Names(h crawl.Headers) []string {
	out := make([]string, len(h))
	for i, kv := range h {
		out[i] = kv.Name
	}
	return out
}

// Headers compares two header lists: names in order first (a difference
// there is the one Diff, since values of shifted lists would only repeat
// it), then every value, except those of the names in skip (fields drawn
// afresh per request, such as Sec-WebSocket-Key).
func Headers(ours, browser crawl.Headers, skip ...string) []Diff {
	if !slices.Equal(Names(ours), Names(browser)) {
		return []Diff{{Field: fieldNames, Ours: fmt.Sprint(Names(ours)), Browser: fmt.Sprint(Names(browser))}}
	}
	var out []Diff
	for i := range browser {
		if slices.ContainsFunc(skip, func(s string) bool { return strings.EqualFold(s, browser[i].Name) }) {
			continue
		}
		if ours[i].Value != browser[i].Value {
			out = append(out, Diff{Field: browser[i].Name, Ours: fmt.Sprintf("%q", ours[i].Value), Browser: fmt.Sprintf("%q", browser[i].Value)})
		}
	}
	return out
}

// Conn compares the TLS fingerprints of two connections that a server
// fingerprints alike on every connection: JA4 and JA3N (both sort away
// Chromium's per-connection extension shuffle, and ignore GREASE), ALPN,
// whether a session was offered for resumption, and, for a browser without
// GREASE (Firefox), the ECH GREASE extension's length, fixed per kind of
// connection; Chromium draws that length per connection, which only a
// sample of connections can judge (impersonate.RandomDiff).
func Conn(ours, browser fingerprint.Capture) ([]Diff, error) {
	if ours.TLS == nil || browser.TLS == nil {
		return nil, fmt.Errorf("no ClientHello recorded (ours %v, browser %v)", ours.TLS != nil, browser.TLS != nil)
	}
	var out []Diff
	add := func(field, o, b string) {
		if o != b {
			out = append(out, Diff{Field: field, Ours: o, Browser: b})
		}
	}
	add("resumed", fmt.Sprint(ours.Resumed()), fmt.Sprint(browser.Resumed()))
	add("JA4", ours.JA4, browser.JA4)
	add("JA3N", ours.JA3NHash, browser.JA3NHash)
	add("ALPN", fmt.Sprint(ours.TLS.ALPN), fmt.Sprint(browser.TLS.ALPN))
	b, err := helloRandom(browser)
	if err != nil {
		return out, fmt.Errorf("browser's: %w", err)
	}
	o, err := helloRandom(ours)
	if err != nil {
		return out, fmt.Errorf("ours: %w", err)
	}
	if b.CipherGREASE == 0 {
		add("ECH length", fmt.Sprint(o.ECHLen), fmt.Sprint(b.ECHLen))
	}
	return out, nil
}

func helloRandom(c fingerprint.Capture) (*impersonate.HelloRandom, error) {
	raw, err := hex.DecodeString(c.ClientHello)
	if err != nil {
		return nil, fmt.Errorf("client hello: %w", err)
	}
	return impersonate.ParseHelloRandom(raw)
}

// HTTP2 compares what two HTTP/2 connections open with: the Akamai string
// (SETTINGS, WINDOW_UPDATE, PRIORITY frames, pseudo-header order) and the
// priority of the first HEADERS frame.
func HTTP2(ours, browser fingerprint.Capture) []Diff {
	var out []Diff
	if ours.Akamai != browser.Akamai {
		out = append(out, Diff{Field: "Akamai", Ours: ours.Akamai, Browser: browser.Akamai})
	}
	if o, b := priority(ours.H2), priority(browser.H2); o != b {
		out = append(out, Diff{Field: "HEADERS priority", Ours: o, Browser: b})
	}
	return out
}

// priority renders the HEADERS frame's priority ("none" when its flag was
// clear).
func priority(h *fingerprint.H2) string {
	if h == nil || h.HeadersPriority == nil {
		return "none"
	}
	p := h.HeadersPriority
	return fmt.Sprintf("exclusive=%v depends_on=%d weight=%d", p.Exclusive, p.DependsOn, p.Weight)
}
