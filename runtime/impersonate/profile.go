// Package impersonate sends HTTP requests that look like a real browser on
// the wire: the browser's TLS ClientHello (utls), its HTTP/2 connection
// preface (SETTINGS order and values, WINDOW_UPDATE, HEADERS priority,
// pseudo-header order) and its header set and order, over direct
// connections or HTTP CONNECT / SOCKS5 tunnels. Browser profiles are data
// files (profiles/*.yaml, or a user's own file) described in
// specs/impersonation.md.
package impersonate

import (
	"bytes"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v4"

	"github.com/spiderrun/spiderrun/runtime/crawl"
)

//go:embed profiles/*.yaml
var profileFS embed.FS

// Random is the profile name that picks, per session (per PoolKey), one of
// the newest shipped profile of each browser (chrome, edge, firefox,
// safari), then keeps it for that session.
const Random = "random"

// PlainGo is the profile used when no impersonation is asked for: Go's own
// TLS stack and x/net/http2-like settings, no default headers.
const PlainGo = "go"

// Profile is one browser identity: what to send at the TLS, HTTP/2 and
// header layers. It is loaded from YAML (see specs/impersonation.md).
type Profile struct {
	// Name identifies the profile (chrome_156); aliases such as chrome
	// resolve to it.
	Name string `yaml:"name"`
	// Browser is the family the TLS and User-Agent must both name: chrome,
	// edge, firefox, safari (or go for the plain client).
	Browser string `yaml:"browser"`
	// Version is the browser's major version as the User-Agent shows it.
	Version string `yaml:"version"`
	// Source says where the data comes from (captured here, utls, derived).
	Source string `yaml:"source,omitempty"`
	// Derived, when set, says that the profile was not captured from the
	// real browser and what it was made from instead. Derived profiles
	// are listed as such (`spiderrun fingerprint list`) and never picked
	// by "random"; captured ones keep their evidence in
	// testdata/evidence (TestProfileEvidence).
	Derived string    `yaml:"derived,omitempty"`
	TLS     TLSSpec   `yaml:"tls"`
	HTTP2   HTTP2Spec `yaml:"http2"`
	// HTTP3 is the QUIC and HTTP/3 part; nil means the profile does not
	// speak HTTP/3 (http_version "3" fails, "auto" stays on TCP).
	HTTP3 *HTTP3Spec `yaml:"http3,omitempty"`
	// Headers are the browser's default headers for a top-level navigation
	// over HTTP/2, in wire order, one "name: value" per entry.
	Headers []string `yaml:"headers"`
	// HeadersHTTP1 are the same for HTTP/1.1 (names with the browser's
	// case). Empty means: derive from Headers (see HTTP1Headers).
	HeadersHTTP1 []string `yaml:"headers_http1,omitempty"`

	raw     []byte // decoded TLS.ClientHello
	headers crawl.Headers
	h1      crawl.Headers
	set     []setting
	prio    []priorityFrame
	h3      *h3compiled
}

// TLSSpec is the ClientHello: either a captured record (hex) that utls's
// Fingerprinter turns into a ClientHelloSpec per connection, or the name of
// a utls built-in parrot.
type TLSSpec struct {
	// ClientHello is the hex of a captured ClientHello record (from
	// `spiderrun fingerprint capture`).
	ClientHello string `yaml:"client_hello,omitempty"`
	// UTLS names a utls ClientHelloID (HelloChrome_133, HelloFirefox_120,
	// HelloSafari_16_0, HelloGolang, ...).
	UTLS string `yaml:"utls,omitempty"`
	// ShuffleExtensions permutes extensions per connection as Chrome does
	// since version 106 (GREASE and padding stay in place).
	ShuffleExtensions bool `yaml:"shuffle_extensions,omitempty"`
}

// HTTP2Spec is the browser's HTTP/2 connection preface and request framing.
type HTTP2Spec struct {
	// Settings in wire order, Akamai notation: "1:65536;2:0;4:6291456".
	Settings string `yaml:"settings"`
	// WindowUpdate is the connection WINDOW_UPDATE increment sent after
	// SETTINGS (0 = none).
	WindowUpdate uint32 `yaml:"window_update"`
	// PriorityFrames are PRIORITY frames sent before the first request,
	// Akamai notation "stream:exclusive:depends_on:weight".
	PriorityFrames []string `yaml:"priority_frames,omitempty"`
	// HeadersPriority, when set, puts the PRIORITY flag on every HEADERS
	// frame with these values (weight 1..256).
	HeadersPriority *HeadersPriority `yaml:"headers_priority,omitempty"`
	// PseudoHeaderOrder is the order of :method :authority :scheme :path.
	PseudoHeaderOrder []string `yaml:"pseudo_header_order"`
}

// HeadersPriority is the priority carried on HEADERS frames.
type HeadersPriority struct {
	Exclusive bool   `yaml:"exclusive"`
	DependsOn uint32 `yaml:"depends_on"`
	Weight    int    `yaml:"weight"`
}

type setting struct {
	id  uint16
	val uint32
}

type priorityFrame struct {
	stream, dep uint32
	exclusive   bool
	weight      int
}

// DefaultHeaders returns the browser's HTTP/2 header set in its order (a
// copy the caller may change).
func (p *Profile) DefaultHeaders() crawl.Headers { return p.headers.Clone() }

// HTTP1Headers returns the browser's HTTP/1.1 header set in its order, with
// the browser's name case.
func (p *Profile) HTTP1Headers() crawl.Headers { return p.h1.Clone() }

// UserAgent is the profile's User-Agent value.
func (p *Profile) UserAgent() string { return p.headers.Get("user-agent") }

// Akamai renders the profile's HTTP/2 fingerprint as a server would compute
// it: SETTINGS|WINDOW_UPDATE|PRIORITY|pseudo-header order.
func (p *Profile) Akamai() string {
	prio := "0"
	if len(p.HTTP2.PriorityFrames) > 0 {
		prio = strings.Join(p.HTTP2.PriorityFrames, ",")
	}
	var ps []string
	for _, h := range p.HTTP2.PseudoHeaderOrder {
		ps = append(ps, h[1:2])
	}
	return fmt.Sprintf("%s|%d|%s|%s", p.HTTP2.Settings, p.HTTP2.WindowUpdate, prio, strings.Join(ps, ","))
}

// Marshal renders the profile as YAML in the documented format.
func (p *Profile) Marshal() ([]byte, error) {
	var b bytes.Buffer
	// yaml.v4's Encoder folds long strings at 80 columns; yaml.v3's did not,
	// and one User-Agent per line is what users diff and grep, so the width
	// is unlimited as before.
	enc, err := yaml.NewDumper(&b, yaml.WithV3Defaults(), yaml.WithIndent(2), yaml.WithLineWidth(-1))
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	if err := enc.Dump(p); err != nil {
		return nil, fmt.Errorf("profile %s: %w", p.Name, err)
	}
	return b.Bytes(), enc.Close()
}

// ErrUnknownProfile is returned for a name that is neither shipped nor a
// readable file.
var ErrUnknownProfile = errors.New("unknown impersonation profile")

// aliases maps the short names to the newest shipped profile of each
// browser; they are data too (profiles/aliases.yaml), read once.
var aliases = sync.OnceValue(func() map[string]string {
	out := map[string]string{}
	b, err := profileFS.ReadFile("profiles/aliases.yaml")
	if err != nil {
		return out
	}
	_ = yaml.Unmarshal(b, &out)
	return out
})

// Profiles lists every name LoadProfile accepts without a path, sorted:
// shipped profiles, their aliases and "random".
func Profiles() []string {
	var names []string
	entries, _ := fs.ReadDir(profileFS, "profiles")
	for _, e := range entries {
		n := strings.TrimSuffix(e.Name(), ".yaml")
		if n != "aliases" {
			names = append(names, n)
		}
	}
	for a := range aliases() {
		names = append(names, a)
	}
	names = append(names, Random)
	slices.Sort(names)
	return slices.Compact(names)
}

// Aliases returns the short names (chrome, edge, firefox, safari) and the
// shipped profile each stands for (a copy).
func Aliases() map[string]string {
	out := map[string]string{}
	for k, v := range aliases() {
		out[k] = v
	}
	return out
}

// RandomChoices lists the profiles "random" picks from, sorted.
func RandomChoices() []string { return randomProfiles() }

// browserProfiles lists every shipped versioned browser profile (no
// aliases, not the plain Go client).
func browserProfiles() []string {
	var out []string
	entries, _ := fs.ReadDir(profileFS, "profiles")
	for _, e := range entries {
		n := strings.TrimSuffix(e.Name(), ".yaml")
		if n != "aliases" && n != PlainGo {
			out = append(out, n)
		}
	}
	return out
}

// randomProfiles are the profiles "random" chooses from: the newest of each
// browser (the alias targets), because an old browser version is itself a
// rare, suspicious fingerprint, and only captured ones: a derived profile
// may differ from its browser where nobody has looked.
func randomProfiles() []string {
	var out []string
	for _, p := range aliases() {
		if prof, err := LoadProfile(p); err == nil && prof.Derived == "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// shipped caches parsed shipped profiles: the embedded data never changes,
// and callers (validation per request) may ask often.
var shipped sync.Map // name -> *Profile

// LoadProfile returns a shipped profile by name or alias, or reads a
// profile file when nameOrPath looks like a path (contains a slash or ends
// in .yaml/.yml/.json). "" is the plain Go client. "random" returns one of
// the newest browser profiles chosen now; a Transport instead keeps one
// choice per session. Each call returns a copy the caller may change.
func LoadProfile(nameOrPath string) (*Profile, error) {
	name := strings.TrimSpace(nameOrPath)
	if name == "" {
		name = PlainGo
	}
	if strings.ContainsAny(name, `/\`) || strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".json") {
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("impersonate profile: %w", err)
		}
		return ParseProfile(name, b)
	}
	lname := strings.ToLower(name)
	if lname == Random {
		all := randomProfiles()
		lname = all[rand.IntN(len(all))]
	}
	if a, ok := aliases()[lname]; ok {
		lname = a
	}
	if v, ok := shipped.Load(lname); ok {
		cp := *v.(*Profile)
		return &cp, nil
	}
	b, err := profileFS.ReadFile(path.Join("profiles", lname+".yaml"))
	if err != nil {
		return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownProfile, name, strings.Join(Profiles(), ", "))
	}
	p, err := ParseProfile(lname+".yaml", b)
	if err != nil {
		return nil, err
	}
	shipped.Store(lname, p)
	cp := *p
	return &cp, nil
}

// ParseProfile decodes and validates a profile; file names the source in
// error messages (file:line:col for YAML errors).
func ParseProfile(file string, data []byte) (*Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var p Profile
	if err := dec.Decode(&p); err != nil {
		return nil, profileYAMLError(file, err)
	}
	if err := p.compile(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return &p, nil
}

// profileYAMLError names file:line:col for each problem the YAML library
// reports, one per line, like the errors of spider specs.
func profileYAMLError(file string, err error) error {
	var list *yaml.LoadErrors
	if errors.As(err, &list) && len(list.Errors) > 0 {
		lines := make([]string, len(list.Errors))
		for i, e := range list.Errors {
			lines[i] = positioned(file, e.Mark, e.Message)
		}
		return &yamlError{text: strings.Join(lines, "\n"), err: err}
	}
	var one *yaml.LoadError
	if errors.As(err, &one) {
		return &yamlError{text: positioned(file, one.Mark, "invalid YAML: "+one.Message), err: err}
	}
	return fmt.Errorf("%s: %w", file, err)
}

func positioned(file string, at yaml.Mark, msg string) string {
	if at.Line == 0 {
		return file + ": " + msg
	}
	return fmt.Sprintf("%s:%d:%d: %s", file, at.Line, at.Column, msg)
}

// yamlError is a profile's YAML error as shown to the user; the library's
// error stays reachable with errors.As.
type yamlError struct {
	text string
	err  error
}

func (e *yamlError) Error() string { return e.text }
func (e *yamlError) Unwrap() error { return e.err }

func (p *Profile) compile() error {
	p.raw, p.set, p.prio, p.h3 = nil, nil, nil, nil
	if p.Name == "" {
		return errors.New("name: required")
	}
	switch {
	case p.TLS.ClientHello != "" && p.TLS.UTLS != "":
		return errors.New("tls: set client_hello or utls, not both")
	case p.TLS.ClientHello != "":
		raw, err := hex.DecodeString(strings.Join(strings.Fields(p.TLS.ClientHello), ""))
		if err != nil {
			return fmt.Errorf("tls.client_hello: %w", err)
		}
		p.raw = raw
		if _, err := p.helloSpec(false); err != nil {
			return fmt.Errorf("tls.client_hello: %w", err)
		}
	case p.TLS.UTLS != "":
		if _, ok := utlsIDs[p.TLS.UTLS]; !ok {
			return fmt.Errorf("tls.utls: unknown utls ClientHelloID %q", p.TLS.UTLS)
		}
	default:
		return errors.New("tls: client_hello or utls required")
	}
	if p.HTTP2.Settings != "" {
		for _, kv := range strings.Split(p.HTTP2.Settings, ";") {
			k, v, ok := strings.Cut(kv, ":")
			id, err1 := strconv.ParseUint(k, 10, 16)
			val, err2 := strconv.ParseUint(v, 10, 32)
			if !ok || err1 != nil || err2 != nil {
				return fmt.Errorf("http2.settings: bad entry %q (want id:value)", kv)
			}
			p.set = append(p.set, setting{uint16(id), uint32(val)})
		}
	}
	for _, s := range p.HTTP2.PriorityFrames {
		f := strings.Split(s, ":")
		var n [4]uint64
		if len(f) != 4 {
			return fmt.Errorf("http2.priority_frames: bad entry %q (want stream:exclusive:depends_on:weight)", s)
		}
		for i := range f {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return fmt.Errorf("http2.priority_frames: bad entry %q: %w", s, err)
			}
			n[i] = v
		}
		if n[0] == 0 || n[3] < 1 || n[3] > 256 {
			return fmt.Errorf("http2.priority_frames: bad entry %q (stream > 0, weight 1..256)", s)
		}
		p.prio = append(p.prio, priorityFrame{stream: uint32(n[0]), exclusive: n[1] == 1, dep: uint32(n[2]), weight: int(n[3])})
	}
	if hp := p.HTTP2.HeadersPriority; hp != nil && (hp.Weight < 1 || hp.Weight > 256) {
		return fmt.Errorf("http2.headers_priority.weight: %d not in 1..256", hp.Weight)
	}
	if len(p.HTTP2.PseudoHeaderOrder) == 0 {
		p.HTTP2.PseudoHeaderOrder = []string{":method", ":authority", ":scheme", ":path"}
	}
	seen := map[string]bool{}
	for _, h := range p.HTTP2.PseudoHeaderOrder {
		switch h {
		case ":method", ":authority", ":scheme", ":path":
		default:
			return fmt.Errorf("http2.pseudo_header_order: unknown pseudo-header %q", h)
		}
		if seen[h] {
			return fmt.Errorf("http2.pseudo_header_order: %q twice", h)
		}
		seen[h] = true
	}
	if len(seen) != 4 {
		return errors.New("http2.pseudo_header_order: needs all of :method :authority :scheme :path")
	}
	if p.HTTP3 != nil {
		c, err := p.HTTP3.compile()
		if err != nil {
			return err
		}
		p.h3 = c
	}
	var err error
	if p.headers, err = parseHeaderLines("headers", p.Headers); err != nil {
		return err
	}
	if p.h1, err = parseHeaderLines("headers_http1", p.HeadersHTTP1); err != nil {
		return err
	}
	if len(p.h1) == 0 {
		p.h1 = deriveHTTP1(p.headers)
	}
	return nil
}

func parseHeaderLines(field string, lines []string) (crawl.Headers, error) {
	var out crawl.Headers
	for i, l := range lines {
		name, value, ok := strings.Cut(l, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, fmt.Errorf("%s[%d]: want \"name: value\", got %q", field, i, l)
		}
		out = append(out, crawl.Header{Name: name, Value: strings.TrimSpace(value)})
	}
	return out, nil
}

// deriveHTTP1 turns an HTTP/2 header list into what Chromium sends over
// HTTP/1.1 when no capture says otherwise: Connection: keep-alive first,
// Canonical-Case names except the sec-ch-* client hints (Chromium sends
// those lower-case), and no priority header (RFC 9218's header is only sent
// over HTTP/2 and HTTP/3).
func deriveHTTP1(h2 crawl.Headers) crawl.Headers {
	if len(h2) == 0 {
		return nil
	}
	out := crawl.Headers{{Name: "Connection", Value: "keep-alive"}}
	for _, h := range h2 {
		n := strings.ToLower(h.Name)
		switch {
		case n == "priority":
			continue
		case strings.HasPrefix(n, "sec-ch-"):
		default:
			n = canonical(n)
		}
		out = append(out, crawl.Header{Name: n, Value: h.Value})
	}
	return out
}

func canonical(n string) string {
	b := []byte(strings.ToLower(n))
	up := true
	for i, c := range b {
		if up && c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
		up = c == '-'
	}
	return string(b)
}

// MergeHeaders combines a profile's default headers with a request's own:
// the profile's order is kept, a request header with the same name
// (case-insensitive) replaces the profile's value in place, and request
// headers the profile does not have follow in the request's order. A
// request header with an empty value removes the profile's header (the
// way to drop, say, sec-fetch-user for a non-navigation request).
func MergeHeaders(profile, req crawl.Headers) crawl.Headers {
	out := make(crawl.Headers, 0, len(profile)+len(req))
	used := make([]bool, len(req))
	for _, ph := range profile {
		found := false
		for i, rh := range req {
			if strings.EqualFold(rh.Name, ph.Name) {
				used[i] = true
				if !found && rh.Value != "" {
					out = append(out, crawl.Header{Name: ph.Name, Value: rh.Value})
				} else if found && rh.Value != "" {
					// A repeated request header keeps all its values.
					out = append(out, crawl.Header{Name: ph.Name, Value: rh.Value})
				}
				found = true
			}
		}
		if !found {
			out = append(out, ph)
		}
	}
	for i, rh := range req {
		if !used[i] && rh.Value != "" {
			out = append(out, rh)
		}
	}
	return out
}
