// Package fingerprint is a fingerprinting TLS server for tests and for
// `spiderrun fingerprint capture`: it reads the raw ClientHello before the
// handshake, computes JA3, JA3N and JA4 (FoxIO spec), reads the HTTP/2
// preface frames (SETTINGS, WINDOW_UPDATE, PRIORITY, the first HEADERS) into
// the Akamai fingerprint, and records request headers in wire order.
package fingerprint

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/crypto/cryptobyte"
)

// TLS extension numbers that the fingerprints single out.
const (
	extServerName        = 0x0000
	extSupportedGroups   = 0x000a
	extPointFormats      = 0x000b
	extSignatureAlgs     = 0x000d
	extALPN              = 0x0010
	extSupportedVersions = 0x002b
)

// ClientHello is the parsed part of a ClientHello that fingerprints use. All
// lists are in wire order and keep GREASE values; the fingerprint methods
// drop them as their specs say.
type ClientHello struct {
	// Raw is the whole handshake record (5-byte record header included), as
	// utls's Fingerprinter wants it.
	Raw               []byte   `json:"-"`
	LegacyVersion     uint16   `json:"legacy_version"`
	CipherSuites      []uint16 `json:"cipher_suites"`
	Extensions        []uint16 `json:"extensions"`
	ServerName        string   `json:"server_name,omitempty"`
	ALPN              []string `json:"alpn,omitempty"`
	SignatureAlgs     []uint16 `json:"signature_algorithms,omitempty"`
	SupportedGroups   []uint16 `json:"supported_groups,omitempty"`
	PointFormats      []uint8  `json:"point_formats,omitempty"`
	SupportedVersions []uint16 `json:"supported_versions,omitempty"`
}

// IsGREASE reports whether v is a GREASE value (RFC 8701): 0x?a?a with both
// bytes equal.
func IsGREASE(v uint16) bool { return v>>8 == v&0xff && v&0x0f == 0x0a }

// ParseClientHello parses a TLS record holding a ClientHello.
func ParseClientHello(record []byte) (*ClientHello, error) {
	s := cryptobyte.String(record)
	var ctype uint8
	var body cryptobyte.String
	if !s.ReadUint8(&ctype) || !s.Skip(2) || !s.ReadUint16LengthPrefixed(&body) {
		return nil, errors.New("clienthello: short record header")
	}
	if ctype != 22 {
		return nil, fmt.Errorf("clienthello: record type %d is not a handshake", ctype)
	}
	var htype uint8
	var msg cryptobyte.String
	if !body.ReadUint8(&htype) || !body.ReadUint24LengthPrefixed(&msg) {
		return nil, errors.New("clienthello: short handshake header")
	}
	if htype != 1 {
		return nil, fmt.Errorf("clienthello: handshake type %d is not a ClientHello", htype)
	}
	ch := &ClientHello{Raw: append([]byte(nil), record...)}
	var sessionID, ciphers, comp cryptobyte.String
	if !msg.ReadUint16(&ch.LegacyVersion) || !msg.Skip(32) ||
		!msg.ReadUint8LengthPrefixed(&sessionID) ||
		!msg.ReadUint16LengthPrefixed(&ciphers) ||
		!msg.ReadUint8LengthPrefixed(&comp) {
		return nil, errors.New("clienthello: truncated before extensions")
	}
	for !ciphers.Empty() {
		var c uint16
		if !ciphers.ReadUint16(&c) {
			return nil, errors.New("clienthello: odd cipher suite list")
		}
		ch.CipherSuites = append(ch.CipherSuites, c)
	}
	if msg.Empty() {
		return ch, nil
	}
	var exts cryptobyte.String
	if !msg.ReadUint16LengthPrefixed(&exts) {
		return nil, errors.New("clienthello: bad extensions length")
	}
	for !exts.Empty() {
		var typ uint16
		var data cryptobyte.String
		if !exts.ReadUint16(&typ) || !exts.ReadUint16LengthPrefixed(&data) {
			return nil, errors.New("clienthello: truncated extension")
		}
		ch.Extensions = append(ch.Extensions, typ)
		if err := ch.parseExtension(typ, data); err != nil {
			return nil, fmt.Errorf("clienthello: extension %#04x: %w", typ, err)
		}
	}
	return ch, nil
}

func (ch *ClientHello) parseExtension(typ uint16, data cryptobyte.String) error {
	bad := errors.New("malformed")
	switch typ {
	case extServerName:
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) {
			return bad
		}
		for !list.Empty() {
			var nt uint8
			var name cryptobyte.String
			if !list.ReadUint8(&nt) || !list.ReadUint16LengthPrefixed(&name) {
				return bad
			}
			if nt == 0 {
				ch.ServerName = string(name)
			}
		}
	case extALPN:
		var list cryptobyte.String
		if !data.ReadUint16LengthPrefixed(&list) {
			return bad
		}
		for !list.Empty() {
			var p cryptobyte.String
			if !list.ReadUint8LengthPrefixed(&p) {
				return bad
			}
			ch.ALPN = append(ch.ALPN, string(p))
		}
	case extSignatureAlgs:
		return readU16List(&data, &ch.SignatureAlgs, true)
	case extSupportedGroups:
		return readU16List(&data, &ch.SupportedGroups, true)
	case extPointFormats:
		var list cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&list) {
			return bad
		}
		ch.PointFormats = append(ch.PointFormats, list...)
	case extSupportedVersions:
		var list cryptobyte.String
		if !data.ReadUint8LengthPrefixed(&list) {
			return bad
		}
		return readU16List(&list, &ch.SupportedVersions, false)
	}
	return nil
}

func readU16List(data *cryptobyte.String, out *[]uint16, prefixed bool) error {
	list := *data
	if prefixed && !data.ReadUint16LengthPrefixed(&list) {
		return errors.New("malformed list")
	}
	for !list.Empty() {
		var v uint16
		if !list.ReadUint16(&v) {
			return errors.New("odd list length")
		}
		*out = append(*out, v)
	}
	return nil
}

func noGREASE(in []uint16) []uint16 {
	out := make([]uint16, 0, len(in))
	for _, v := range in {
		if !IsGREASE(v) {
			out = append(out, v)
		}
	}
	return out
}

func joinDec[T uint8 | uint16](vs []T) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = strconv.Itoa(int(v))
	}
	return strings.Join(parts, "-")
}

func joinHex(vs []uint16) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%04x", v)
	}
	return strings.Join(parts, ",")
}

// JA3 returns the JA3 string (Salesforce): version, ciphers, extensions,
// groups, point formats, GREASE removed, extensions in wire order, so it
// changes with every Chrome connection (Chrome shuffles extensions).
func (ch *ClientHello) JA3() string { return ch.ja3(false) }

// JA3N returns JA3 with the extension list sorted, which is stable across
// Chrome's per-connection shuffling.
func (ch *ClientHello) JA3N() string { return ch.ja3(true) }

func (ch *ClientHello) ja3(sorted bool) string {
	exts := noGREASE(ch.Extensions)
	if sorted {
		slices.Sort(exts)
	}
	return strings.Join([]string{
		strconv.Itoa(int(ch.LegacyVersion)),
		joinDec(noGREASE(ch.CipherSuites)),
		joinDec(exts),
		joinDec(noGREASE(ch.SupportedGroups)),
		joinDec(ch.PointFormats),
	}, ",")
}

// MD5Hex is the hash that JA3 and JA3N publish.
func MD5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

func sha12(s string) string {
	if s == "" {
		return "000000000000"
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}

// JA4 returns the JA4 TLS client fingerprint per the FoxIO specification
// (TCP transport).
func (ch *ClientHello) JA4() string {
	a, ciphers, exts := ch.ja4Parts()
	return a + "_" + sha12(ciphers) + "_" + sha12(exts)
}

// JA4R returns JA4's raw form (the lists before hashing), useful when two
// fingerprints differ and one needs to see why.
func (ch *ClientHello) JA4R() string {
	a, ciphers, exts := ch.ja4Parts()
	return a + "_" + ciphers + "_" + exts
}

func (ch *ClientHello) ja4Parts() (a, ciphers, exts string) {
	version := "00"
	vers := noGREASE(ch.SupportedVersions)
	hi := ch.LegacyVersion
	if len(vers) > 0 {
		hi = slices.Max(vers)
	}
	switch hi {
	case 0x0304:
		version = "13"
	case 0x0303:
		version = "12"
	case 0x0302:
		version = "11"
	case 0x0301:
		version = "10"
	case 0x0300:
		version = "s3"
	}
	sni := "i"
	if slices.Contains(ch.Extensions, extServerName) {
		sni = "d"
	}
	cs := noGREASE(ch.CipherSuites)
	es := noGREASE(ch.Extensions)
	alpn := "00"
	if len(ch.ALPN) > 0 && ch.ALPN[0] != "" {
		p := ch.ALPN[0]
		first, last := p[0], p[len(p)-1]
		if isAlnum(first) && isAlnum(last) {
			alpn = string([]byte{first, last})
		} else {
			h := hex.EncodeToString([]byte(p))
			alpn = string([]byte{h[0], h[len(h)-1]})
		}
	}
	a = fmt.Sprintf("t%s%s%02d%02d%s", version, sni, min(len(cs), 99), min(len(es), 99), alpn)

	slices.Sort(cs)
	ciphers = joinHex(cs)
	var rest []uint16
	for _, e := range es {
		if e != extServerName && e != extALPN {
			rest = append(rest, e)
		}
	}
	slices.Sort(rest)
	exts = joinHex(rest)
	if sig := noGREASE(ch.SignatureAlgs); len(sig) > 0 {
		exts += "_" + joinHex(sig)
	}
	return a, ciphers, exts
}

func isAlnum(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z'
}
