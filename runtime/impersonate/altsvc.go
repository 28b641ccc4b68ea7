package impersonate

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// altSvcDefaultMaxAge is how long an Alt-Svc entry without ma= lasts
// (RFC 7838 section 3.1: 24 hours).
const altSvcDefaultMaxAge = 24 * time.Hour

// restrictedPorts: Chromium ignores an alternative on an unrestricted
// port (>= 1024) for an origin on a restricted one (< 1024), so that a
// user of a shared host cannot move a site to a port of their own
// (HttpStreamFactory::JobController::GetAlternativeServiceInfoInternal,
// enable_user_alternate_protocol_ports off by default).
const restrictedPorts = 1024

// altSvcHeader is a parsed Alt-Svc header value (RFC 7838 section 3).
type altSvcHeader struct {
	clear bool
	// h3 is the first usable "h3" alternative; nil when the header names
	// none (only other protocols, or h3 drafts Chromium no longer speaks).
	h3 *altSvc
}

var errAltSvcSyntax = errors.New("alt-svc syntax")

// parseAltSvc parses an Alt-Svc value as Chromium's
// SpdyAltSvcWireFormat::ParseHeaderFieldValue does: "clear" alone, or a
// comma-separated list of protocol-id="[host]:port" with ;ma=N and
// ;persist=1 parameters. A malformed value is an error (the header is
// then ignored as a whole); a well-formed one without an h3 alternative
// is not. now is when the response arrived (ma counts from it).
func parseAltSvc(v string, now time.Time) (altSvcHeader, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return altSvcHeader{}, fmt.Errorf("%w: empty value", errAltSvcSyntax)
	}
	if v == "clear" {
		return altSvcHeader{clear: true}, nil
	}
	var out altSvcHeader
	for _, entry := range splitOutsideQuotes(v, ',') {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue // RFC 7230 list syntax allows empty elements
		}
		parts := splitOutsideQuotes(entry, ';')
		proto, auth, found := strings.Cut(strings.TrimSpace(parts[0]), "=")
		proto = strings.TrimSpace(proto)
		if !found || proto == "" {
			return altSvcHeader{}, fmt.Errorf("%w: %q has no protocol=authority", errAltSvcSyntax, entry)
		}
		auth = strings.TrimSpace(auth)
		if len(auth) < 2 || auth[0] != '"' || auth[len(auth)-1] != '"' {
			return altSvcHeader{}, fmt.Errorf("%w: authority %s is not a quoted string", errAltSvcSyntax, auth)
		}
		host, port, err := net.SplitHostPort(auth[1 : len(auth)-1])
		if err != nil {
			return altSvcHeader{}, fmt.Errorf("%w: authority %s: %w", errAltSvcSyntax, auth, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return altSvcHeader{}, fmt.Errorf("%w: authority %s: bad port", errAltSvcSyntax, auth)
		}
		ma := altSvcDefaultMaxAge
		for _, p := range parts[1:] {
			k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
			k, val = strings.ToLower(strings.TrimSpace(k)), strings.Trim(strings.TrimSpace(val), `"`)
			switch k {
			case "ma":
				n, err := strconv.ParseUint(val, 10, 32)
				if err != nil {
					return altSvcHeader{}, fmt.Errorf("%w: ma=%q", errAltSvcSyntax, val)
				}
				ma = time.Duration(n) * time.Second
			case "persist", "v", "":
				// persist=1 keeps the entry across network changes, which
				// this transport does not observe; v= is gQUIC's.
			}
		}
		if proto == "h3" && out.h3 == nil {
			out.h3 = &altSvc{host: host, port: port, expires: now.Add(ma)}
		}
	}
	return out, nil
}

// splitOutsideQuotes splits s at sep where sep is not inside a quoted
// string.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if quoted {
				i++
			}
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}
