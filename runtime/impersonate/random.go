package impersonate

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// TLS extension numbers whose contents vary per connection.
const (
	extSupportedGroups   = 0x000a
	extSignatureAlgs     = 0x000d
	extSupportedVersions = 0x002b
	extKeyShare          = 0x0033
	extPreSharedKey      = 0x0029
	extECH               = 0xfe0d
)

// HelloRandom is what a browser's ClientHello draws afresh on every
// connection: the GREASE values (RFC 8701) in each place BoringSSL puts
// one, the ECH GREASE extension's length and the extension order. A
// server that fingerprints over several connections sees these as
// distributions; spiderrun's must match the browser's (issue 16, item 1,
// measured by internal/livebrowser's TestRandomFields).
type HelloRandom struct {
	// CipherGREASE is the GREASE cipher suite (0 = none).
	CipherGREASE uint16
	// ExtGREASE are the GREASE extension types, in order.
	ExtGREASE []uint16
	// ExtGREASEAt are their positions in the extension list.
	ExtGREASEAt []int
	// GroupGREASE, KeyShareGREASE, VersionGREASE and SigAlgGREASE are the
	// GREASE entries of supported_groups, key_share, supported_versions and
	// signature_algorithms (0 = none).
	GroupGREASE, KeyShareGREASE, VersionGREASE, SigAlgGREASE uint16
	// ECHLen is the length of the encrypted_client_hello extension's data
	// (-1 = no such extension).
	ECHLen int
	// Order is the extension order without GREASE entries.
	Order []uint16
	// PSK reports a pre_shared_key extension (a resumed connection).
	PSK bool
}

// isGREASE reports whether v is a GREASE value (0x?a?a, both bytes equal).
func isGREASE(v uint16) bool { return v>>8 == v&0xff && v&0x0f == 0x0a }

// ParseHelloRandom reads the per-connection random fields of a ClientHello
// record (5-byte record header included, as captured).
func ParseHelloRandom(record []byte) (*HelloRandom, error) {
	bad := func(what string) error { return fmt.Errorf("client hello: %s", what) }
	s := cryptobyte.String(record)
	var ctype, htype uint8
	var body, msg, sid, ciphers, comp, exts cryptobyte.String
	if !s.ReadUint8(&ctype) || ctype != 22 || !s.Skip(2) || !s.ReadUint16LengthPrefixed(&body) ||
		!body.ReadUint8(&htype) || htype != 1 || !body.ReadUint24LengthPrefixed(&msg) {
		return nil, bad("not a handshake record holding a ClientHello")
	}
	if !msg.Skip(2+32) || !msg.ReadUint8LengthPrefixed(&sid) || !msg.ReadUint16LengthPrefixed(&ciphers) ||
		!msg.ReadUint8LengthPrefixed(&comp) || !msg.ReadUint16LengthPrefixed(&exts) {
		return nil, bad("truncated before its extensions")
	}
	r := &HelloRandom{ECHLen: -1}
	for !ciphers.Empty() {
		var c uint16
		if !ciphers.ReadUint16(&c) {
			return nil, bad("odd cipher suite list")
		}
		if isGREASE(c) && r.CipherGREASE == 0 {
			r.CipherGREASE = c
		}
	}
	for i := 0; !exts.Empty(); i++ {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, bad("truncated extension")
		}
		if isGREASE(typ) {
			r.ExtGREASE = append(r.ExtGREASE, typ)
			r.ExtGREASEAt = append(r.ExtGREASEAt, i)
			continue
		}
		r.Order = append(r.Order, typ)
		var err error
		switch typ {
		case extSupportedGroups:
			r.GroupGREASE, err = firstGREASE(data, 2)
		case extSignatureAlgs:
			r.SigAlgGREASE, err = firstGREASE(data, 2)
		case extSupportedVersions:
			r.VersionGREASE, err = firstGREASE(data, 1)
		case extKeyShare:
			r.KeyShareGREASE, err = keyShareGREASE(data)
		case extECH:
			r.ECHLen = len(data)
		case extPreSharedKey:
			r.PSK = true
		}
		if err != nil {
			return nil, fmt.Errorf("client hello: extension %#04x: %w", typ, err)
		}
	}
	return r, nil
}

// firstGREASE returns the first GREASE entry of a list of uint16 behind a
// lenBytes-long length prefix.
func firstGREASE(data cryptobyte.String, lenBytes int) (uint16, error) {
	var list cryptobyte.String
	ok := false
	if lenBytes == 1 {
		ok = data.ReadUint8LengthPrefixed(&list)
	} else {
		ok = data.ReadUint16LengthPrefixed(&list)
	}
	if !ok {
		return 0, errors.New("malformed list")
	}
	for !list.Empty() {
		var v uint16
		if !list.ReadUint16(&v) {
			return 0, errors.New("odd list")
		}
		if isGREASE(v) {
			return v, nil
		}
	}
	return 0, nil
}

func keyShareGREASE(data cryptobyte.String) (uint16, error) {
	var shares cryptobyte.String
	if !data.ReadUint16LengthPrefixed(&shares) {
		return 0, errors.New("malformed key shares")
	}
	for !shares.Empty() {
		var g uint16
		var key cryptobyte.String
		if !shares.ReadUint16(&g) || !shares.ReadUint16LengthPrefixed(&key) {
			return 0, errors.New("malformed key share")
		}
		if isGREASE(g) {
			return g, nil
		}
	}
	return 0, nil
}

// RandomDiff compares two samples of first-connection ClientHellos, the
// browser's and ours, as distributions, and describes every difference
// (none: nil). A field the browser varies must vary in ours and take only
// values the browser may take: any GREASE value for GREASE fields (40
// draws from 16 values show only part of the set), the browser's own
// values for the ECH length and the extension set. A field the browser
// keeps fixed must be that same value in ours. Relations BoringSSL keeps
// on every connection (the key share's GREASE group is the
// supported_groups one; the two GREASE extensions differ) must hold in
// ours when they held in every browser hello.
func RandomDiff(browser, ours []*HelloRandom) []string {
	if len(browser) < 2 || len(ours) < 2 {
		return []string{fmt.Sprintf("need at least two hellos on each side (browser %d, ours %d)", len(browser), len(ours))}
	}
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	grease := []struct {
		name string
		get  func(*HelloRandom) uint16
	}{
		{"cipher GREASE", func(h *HelloRandom) uint16 { return h.CipherGREASE }},
		{"supported_groups GREASE", func(h *HelloRandom) uint16 { return h.GroupGREASE }},
		{"key_share GREASE", func(h *HelloRandom) uint16 { return h.KeyShareGREASE }},
		{"supported_versions GREASE", func(h *HelloRandom) uint16 { return h.VersionGREASE }},
		{"signature_algorithms GREASE", func(h *HelloRandom) uint16 { return h.SigAlgGREASE }},
		{"first GREASE extension", func(h *HelloRandom) uint16 { return at(h.ExtGREASE, 0) }},
		{"second GREASE extension", func(h *HelloRandom) uint16 { return at(h.ExtGREASE, 1) }},
	}
	for _, g := range grease {
		bv, ov := values(browser, g.get), values(ours, g.get)
		switch {
		case len(bv) == 1 && len(ov) == 1 && bv[0] == ov[0]:
			// fixed, or absent (0), on both sides
		case len(bv) == 1:
			add("%s: the browser always sends %#04x, ours %s", g.name, bv[0], hexList(ov))
		case len(ov) == 1:
			add("%s: the browser varies it (%s), ours is always %#04x", g.name, hexList(bv), ov[0])
		default:
			for _, v := range ov {
				if !isGREASE(v) {
					add("%s: ours sends %#04x, not a GREASE value", g.name, v)
				}
			}
		}
	}
	rel := []struct {
		name string
		ok   func(*HelloRandom) bool
	}{
		{"key_share GREASE group = supported_groups GREASE", func(h *HelloRandom) bool { return h.KeyShareGREASE == h.GroupGREASE }},
		{"the two GREASE extensions differ", func(h *HelloRandom) bool { return len(h.ExtGREASE) < 2 || h.ExtGREASE[0] != h.ExtGREASE[1] }},
	}
	for _, r := range rel {
		if allOf(browser, r.ok) && !allOf(ours, r.ok) {
			add("%s: always so in the browser, not in ours", r.name)
		}
	}
	posKey := func(h *HelloRandom) string { return fmt.Sprint(h.ExtGREASEAt) }
	if bp, op := keys(browser, posKey), keys(ours, posKey); fmt.Sprint(bp) != fmt.Sprint(op) {
		add("GREASE extension positions: browser %v, ours %v", bp, op)
	}
	ech := func(h *HelloRandom) string { return strconv.Itoa(h.ECHLen) }
	be, oe := keys(browser, ech), keys(ours, ech)
	switch {
	case len(be) == 1 && fmt.Sprint(be) != fmt.Sprint(oe):
		add("ECH extension length: the browser always sends %s, ours %v", be[0], oe)
	case len(be) > 1 && len(oe) < 2:
		add("ECH extension length: the browser varies it (%v), ours is always %v", be, oe)
	case len(be) > 1 && !subset(oe, be):
		add("ECH extension length: ours %v, not all among the browser's %v", oe, be)
	}
	order := func(h *HelloRandom) string { return fmt.Sprint(h.Order) }
	set := func(h *HelloRandom) string { return fmt.Sprint(slices.Sorted(slices.Values(h.Order))) }
	bo, oo := keys(browser, order), keys(ours, order)
	switch {
	case len(bo) == 1 && fmt.Sprint(bo) != fmt.Sprint(oo):
		add("extension order: the browser's is always %s, ours %v", bo[0], oo)
	case len(bo) > 1 && len(oo) < 2:
		add("extension order: the browser shuffles it, ours is always %s", oo[0])
	}
	if bs, os := keys(browser, set), keys(ours, set); fmt.Sprint(bs) != fmt.Sprint(os) {
		add("extension set: browser %v, ours %v", bs, os)
	}
	return out
}

func at(s []uint16, i int) uint16 {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// values lists the distinct values get takes over hs, sorted.
func values(hs []*HelloRandom, get func(*HelloRandom) uint16) []uint16 {
	var out []uint16
	for _, h := range hs {
		out = append(out, get(h))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// keys lists the distinct strings key gives over hs, sorted.
func keys(hs []*HelloRandom, key func(*HelloRandom) string) []string {
	var out []string
	for _, h := range hs {
		out = append(out, key(h))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func allOf(hs []*HelloRandom, ok func(*HelloRandom) bool) bool {
	for _, h := range hs {
		if !ok(h) {
			return false
		}
	}
	return true
}

func subset(a, b []string) bool {
	for _, v := range a {
		if !slices.Contains(b, v) {
			return false
		}
	}
	return true
}

func hexList(vs []uint16) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf("%#04x", v))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
