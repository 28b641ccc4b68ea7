package impersonate

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spiderrun/spiderrun/internal/fingerprint"
)

// keyShareLen is the key_share entry size (group, length, key) per group
// Chromium offers, to count the shares from the extension's length.
var keyShareLen = map[string]int{"11ec": 4 + 1216, "001d": 4 + 32, "0017": 4 + 65, "0018": 4 + 97, "0019": 4 + 133}

// greaseLengthMax is quiche's kMaxGreaseLength: Chromium's GREASE
// transport parameter has a random length below it.
const greaseLengthMax = 16

// HTTP3FromQUIC derives a profile's http3 section from a browser's HTTP/3
// captures over several connections (the QUIC fingerprint server's
// records, as internal/livebrowser's TestChromiumHTTP3 keeps them in
// testdata/evidence/NAME_h3.json): fixed fields take the captured values,
// fields the browser randomises per connection (fingerprint.SummarizeQUIC's
// Random) become the profile's shuffle and GREASE settings.
func HTTP3FromQUIC(caps []fingerprint.Capture) (*HTTP3Spec, error) {
	sum, err := fingerprint.SummarizeQUIC(caps)
	if err != nil {
		return nil, err
	}
	first := caps[0]
	q, h := first.QUIC, first.H3
	random := func(f string) bool { return slices.Contains(sum.Random, f) }
	s := &HTTP3Spec{
		CipherSuites:               sum.CipherSuites,
		Extensions:                 sum.Extensions,
		ShuffleExtensions:          random("tls.extension_order"),
		Groups:                     sum.SupportedGroups,
		SignatureAlgorithms:        sum.SignatureAlgs,
		ALPN:                       sum.ALPN,
		ShuffleTransportParameters: random("quic.transport_parameter_order"),
		DCIDLength:                 sum.DCIDLen,
		SCIDLength:                 sum.SCIDLen,
		PseudoHeaderOrder:          h.PseudoOrder,
		ChaosProtection:            sum.ChaosProtected(),
		FirstPacketNumber:          int(sum.FirstPacketNumber),
	}
	if len(sum.Datagrams) > 0 {
		s.InitialPacketSize = sum.Datagrams[0]
	}
	ksLen, ok := sum.ExtensionLengths["0033"]
	if !ok {
		return nil, errors.New("http3 capture: no key_share extension")
	}
	for n := 2; n < ksLen && s.KeyShares < len(s.Groups); s.KeyShares++ {
		l, ok := keyShareLen[s.Groups[s.KeyShares]]
		if !ok {
			return nil, fmt.Errorf("http3 capture: key share size of group %s unknown", s.Groups[s.KeyShares])
		}
		n += l
	}
	// Transport parameters by id (the wire order is random when the
	// browser shuffles them), the GREASE one last.
	tps := slices.Clone(q.TransportParameters)
	slices.SortStableFunc(tps, func(a, b fingerprint.TransportParameter) int {
		if a.GREASE != b.GREASE {
			if a.GREASE {
				return 1
			}
			return -1
		}
		return int(a.ID) - int(b.ID)
	})
	var greaseLens []int
	for _, c := range caps {
		for _, p := range c.QUIC.TransportParameters {
			if p.GREASE {
				greaseLens = append(greaseLens, len(p.Hex)/2)
			}
		}
	}
	for _, p := range tps {
		name := p.Name
		if _, known := h3ParamIDs[name]; !known {
			name = "0x" + strconv.FormatUint(p.ID, 16)
		}
		switch {
		case p.GREASE:
			s.TransportParameters = append(s.TransportParameters, "grease")
			if len(slices.Compact(slices.Sorted(slices.Values(greaseLens)))) > 1 {
				s.GreaseLengthMax = greaseLengthMax
				if m := slices.Max(greaseLens); m >= greaseLengthMax {
					return nil, fmt.Errorf("http3 capture: GREASE transport parameter of %d bytes, above quiche's %d", m, greaseLengthMax-1)
				}
			} else {
				s.GreaseLength = greaseLens[0]
			}
		case p.ID == 0x0f:
			if p.Hex != "" {
				return nil, fmt.Errorf("http3 capture: initial_source_connection_id of %d bytes (only empty is supported)", len(p.Hex)/2)
			}
			s.TransportParameters = append(s.TransportParameters, name)
		case p.ID == 0x11:
			var vs []string
			grease := ""
			for i := 0; i+8 <= len(p.Hex); i += 8 {
				v := p.Hex[i : i+8]
				if n, _ := strconv.ParseUint(v, 16, 32); i > 0 && uint32(n)&0x0f0f0f0f == 0x0a0a0a0a {
					grease = " grease"
					continue
				}
				vs = append(vs, v)
			}
			s.TransportParameters = append(s.TransportParameters, name+"=hex:"+strings.Join(vs, " ")+grease)
		case p.Value != nil:
			s.TransportParameters = append(s.TransportParameters, name+"="+strconv.FormatUint(*p.Value, 10))
		case p.Hex == "":
			s.TransportParameters = append(s.TransportParameters, name)
		default:
			s.TransportParameters = append(s.TransportParameters, name+"=hex:"+p.Hex)
		}
	}
	var settings []string
	for _, st := range h.Settings {
		if st.GREASE {
			settings = append(settings, "grease")
			continue
		}
		settings = append(settings, fmt.Sprintf("%d:%d", st.ID, st.Value))
	}
	s.Settings = strings.Join(settings, ";")
	s.GreaseFrame = len(sum.ControlFrames) > 0 && sum.ControlFrames[0] == "GREASE"
	if _, err := s.compile(); err != nil {
		return nil, fmt.Errorf("http3 capture: %w", err)
	}
	return s, nil
}

// HTTP3Diff compares the HTTP/3 summary of our client (ours) with a
// browser's (fingerprint.QUICSummary.Diff, field by field, the list of
// random fields included) and returns the differences. What is known to
// differ for a stated reason is taken out of the comparison and returned
// as approximated instead, so a test sees it and a fix shows:
//   - the browser's User-Agent says HeadlessChrome, the profile's Chrome
//     (profiles are made unheadless, over TCP as well);
//   - only the request kinds ours sent are compared (a browser's image
//     subresource has no crawl request kind).
//
// The Initial packets' layout, random per connection in Chromium (chaos
// protection), is compared as the ranges initial_layout gives (the hello's
// split, PING, CRYPTO and PADDING counts per packet) and by which of its
// parts vary per connection (random).
func HTTP3Diff(browser, ours *fingerprint.QUICSummary) (diffs, approximated []string) {
	want := *browser
	want.Requests = map[string]fingerprint.QUICRequestSummary{}
	for path, r := range browser.Requests {
		if _, ok := ours.Requests[path]; !ok {
			approximated = append(approximated, fmt.Sprintf("requests[%s]: the browser's, not compared (our client did not send that request)", path))
			continue
		}
		hs := make([]string, len(r.Headers))
		for i, h := range r.Headers {
			hs[i] = strings.Replace(h, "HeadlessChrome/", "Chrome/", 1)
		}
		r.Headers = hs
		want.Requests[path] = r
	}
	slices.Sort(approximated)
	return want.Diff(ours), approximated
}

// HTTP3Field is one field of an http3 section as CompareHTTP3 shows it:
// the profile's value and the one read back from what the client sent.
type HTTP3Field struct {
	Name, Profile, Sent string
}

// CompareHTTP3 lists the fields of a profile's http3 section next to
// sent, the section HTTP3FromQUIC reads back from what our client sent
// over several connections, in a canonical form each (transport
// parameters as id=bytes, sorted when shuffled), for `spiderrun
// fingerprint check --http-version 3`.
func CompareHTTP3(profile, sent *HTTP3Spec) ([]HTTP3Field, error) {
	pc, err := profile.compile()
	if err != nil {
		return nil, err
	}
	sc, err := sent.compile()
	if err != nil {
		return nil, err
	}
	hexes := func(v []uint16, sorted bool) string {
		out := make([]string, 0, len(v))
		for _, x := range v {
			out = append(out, fmt.Sprintf("%04x", x))
		}
		if sorted {
			slices.Sort(out)
		}
		return strings.Join(out, ",")
	}
	params := func(c *h3compiled, sorted bool) string {
		var out []string
		for _, p := range c.params {
			switch {
			case p.grease:
				out = append(out, "grease")
			case p.fromConn:
				out = append(out, fmt.Sprintf("%#x=(own connection ID)", p.id))
			case p.greaseVersion:
				out = append(out, fmt.Sprintf("%#x=%x+GREASE version", p.id, p.value))
			default:
				out = append(out, fmt.Sprintf("%#x=%x", p.id, p.value))
			}
		}
		if sorted {
			slices.Sort(out)
		}
		return strings.Join(out, " ")
	}
	settings := func(c *h3compiled) string {
		var out []string
		for _, s := range c.settings {
			if s.grease {
				out = append(out, "grease")
			} else {
				out = append(out, fmt.Sprintf("%d:%d", s.id, s.val))
			}
		}
		return strings.Join(out, ";")
	}
	grease := func(s *HTTP3Spec, max int) string {
		switch {
		case s.GreaseLengthMax > 0:
			return fmt.Sprintf("random 0..%d", s.GreaseLengthMax-1)
		case max > 0 && s.GreaseLength < max:
			// One length over a few connections may repeat by chance.
			return fmt.Sprintf("random 0..%d", max-1)
		}
		return strconv.Itoa(s.GreaseLength)
	}
	shuffleExt, shuffleTP := profile.ShuffleExtensions, profile.ShuffleTransportParameters
	return []HTTP3Field{
		{"cipher_suites", hexes(pc.ciphers, false), hexes(sc.ciphers, false)},
		{"extensions", hexes(pc.exts, shuffleExt), hexes(sc.exts, shuffleExt)},
		{"ext. shuffled", strconv.FormatBool(shuffleExt), strconv.FormatBool(sent.ShuffleExtensions)},
		{"groups", strings.Join(profile.Groups, ","), strings.Join(sent.Groups, ",")},
		{"key_shares", strconv.Itoa(profile.KeyShares), strconv.Itoa(sent.KeyShares)},
		{"sig. algorithms", hexes(pc.sigalgs, false), hexes(sc.sigalgs, false)},
		{"alpn", strings.Join(profile.ALPN, ","), strings.Join(sent.ALPN, ",")},
		{"transport params", params(pc, shuffleTP), params(sc, shuffleTP)},
		{"params shuffled", strconv.FormatBool(shuffleTP), strconv.FormatBool(sent.ShuffleTransportParameters)},
		{"GREASE param len", grease(profile, 0), grease(sent, profile.GreaseLengthMax)},
		{"dcid_length", strconv.Itoa(profile.DCIDLength), strconv.Itoa(sent.DCIDLength)},
		{"scid_length", strconv.Itoa(profile.SCIDLength), strconv.Itoa(sent.SCIDLength)},
		{"Initial size", strconv.Itoa(profile.InitialPacketSize), strconv.Itoa(sent.InitialPacketSize)},
		{"chaos protection", strconv.FormatBool(profile.ChaosProtection), strconv.FormatBool(sent.ChaosProtection)},
		{"first packet number", strconv.Itoa(profile.FirstPacketNumber), strconv.Itoa(sent.FirstPacketNumber)},
		{"settings", settings(pc), settings(sc)},
		{"GREASE frame", strconv.FormatBool(profile.GreaseFrame), strconv.FormatBool(sent.GreaseFrame)},
		{"pseudo order", strings.Join(profile.PseudoHeaderOrder, ","), strings.Join(sent.PseudoHeaderOrder, ",")},
	}, nil
}
