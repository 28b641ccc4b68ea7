package extract

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/encoding"
	"golang.org/x/text/unicode/norm"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// URL handling itself (w3lib's safe_url_string and canonicalize_url,
// Python's urljoin) lives in runtime/weburl; what is here needs the page:
// the <base href> of a response.

// stripHTML5Whitespace is w3lib's strip_html5_whitespace.
func stripHTML5Whitespace(s string) string { return strings.Trim(s, " \t\n\r\f") }

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

var baseHrefRe = regexp.MustCompile(`(?i)<base\s[^>]*href\s*=\s*["']\s*([^"'\s]+)\s*["']`)

type baseKey struct{}

type baseResult struct {
	u   *url.URL
	err error
}

// BaseURL is w3lib's get_base_url: the <base href> found in the first 4 KB
// of the page resolved against the response URL, or the response URL.
func BaseURL(resp *crawl.Response) (*url.URL, error) {
	r := resp.Memo(baseKey{}, func() any {
		respURL, err := url.Parse(weburl.SafeString(resp.URL, nil))
		if err != nil {
			return baseResult{nil, fmt.Errorf("response url %q: %w", resp.URL, err)}
		}
		text := Text(resp)
		if len(text) > 4096 {
			text = text[:4096]
		}
		if m := baseHrefRe.FindStringSubmatch(text); m != nil {
			if s, err := weburl.Join(respURL, m[1], nil); err == nil {
				if u, err := url.Parse(s); err == nil {
					return baseResult{u, nil}
				}
			}
		}
		return baseResult{respURL, nil}
	}).(baseResult)
	return r.u, r.err
}

// URLJoin is response.urljoin(ref): ref resolved against the page's base
// URL (honouring <base href>) with weburl.Join.
func URLJoin(resp *crawl.Response, ref string) (string, error) {
	base, err := BaseURL(resp)
	if err != nil {
		return "", err
	}
	s, err := weburl.Join(base, ref, nil)
	if err != nil {
		return "", fmt.Errorf("urljoin %q with %s: %w", ref, base, err)
	}
	return s, nil
}

// Links are resolved exactly as Scrapy 2.8's LxmlParserLinkExtractor
// resolves them, on strings and with Python's own rules rather than
// net/url's: urljoin(base_url, href) (Python 3.11's urllib.parse), then
// process_value, then w3lib 2.1's safe_url_string with the page encoding,
// then urljoin(response.url, url). The differences from net/url matter
// for links: Python keeps the dot segments of an absolute URL, resolves
// "http:x" against the base, drops the ';' of an empty parameter, and
// safe_url_string lower-cases the host, normalises the port and quotes
// with the WHATWG sets ('[' in a path, '\'' in a query).
//
// We differ on purpose in three ways (specs/scrapy-differences.md), all
// because a link becomes a request as it is: an IPv6 host keeps its
// brackets, a '%' that starts no escape becomes "%25", and a link that
// safe_url_string rejects is skipped instead of failing the page.

// pyParts is a URL split as Python's urlparse splits it.
type pyParts struct {
	scheme, netloc, path, params, query, fragment string
}

var (
	pyUsesRelative = pySet("", "ftp", "http", "gopher", "nntp", "imap", "wais", "file", "https", "shttp", "mms",
		"prospero", "rtsp", "rtspu", "sftp", "svn", "svn+ssh", "ws", "wss")
	pyUsesNetloc = pySet("", "ftp", "http", "gopher", "nntp", "telnet", "imap", "wais", "file", "mms", "https", "shttp",
		"snews", "prospero", "rtsp", "rtspu", "rsync", "svn", "svn+ssh", "sftp", "nfs", "git", "git+ssh", "ws", "wss")
	pyUsesParams = pySet("", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtspu", "sip",
		"sips", "mms", "sftp", "tel")
	w3libSpecialSchemes = pySet("ftp", "file", "http", "https", "ws", "wss")
)

func pySet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// errBadURL is the ValueError of Python's urlsplit and of w3lib's
// safe_url_string (a bad port, a bracketed host that is no IP address,
// a character the page encoding cannot encode).
var errBadURL = errors.New("bad url")

func isPyC0OrSpace(c byte) bool { return c <= ' ' }

func removeTabsNewlines(s string) string {
	if strings.ContainsAny(s, "\t\r\n") {
		s = strings.NewReplacer("\t", "", "\r", "", "\n", "").Replace(s)
	}
	return s
}

func isPySchemeChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'
}

// pySplit is Python 3.11's urlsplit(s, scheme) (no params split).
func pySplit(s, scheme string) (pyParts, error) {
	i := 0
	for i < len(s) && isPyC0OrSpace(s[i]) {
		i++
	}
	s = removeTabsNewlines(s[i:])
	var p pyParts
	p.scheme = scheme
	if i := strings.IndexByte(s, ':'); i > 0 && (s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		ok := true
		for j := 0; j < i; j++ {
			if !isPySchemeChar(s[j]) {
				ok = false
				break
			}
		}
		if ok {
			p.scheme, s = strings.ToLower(s[:i]), s[i+1:]
		}
	}
	if strings.HasPrefix(s, "//") {
		end := len(s)
		if j := strings.IndexAny(s[2:], "/?#"); j >= 0 {
			end = j + 2
		}
		p.netloc, s = s[2:end], s[end:]
		open, closed := strings.Contains(p.netloc, "["), strings.Contains(p.netloc, "]")
		if open != closed {
			return pyParts{}, errBadURL
		}
		if open {
			if err := pyCheckBracketedNetloc(p.netloc); err != nil {
				return pyParts{}, err
			}
		}
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		s, p.fragment = s[:i], s[i+1:]
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s, p.query = s[:i], s[i+1:]
	}
	p.path = s
	if !isASCII(p.netloc) {
		if err := pyCheckNetloc(p.netloc); err != nil {
			return pyParts{}, err
		}
	}
	return p, nil
}

var ipvFutureRe = regexp.MustCompile(`^v[a-fA-F0-9]+\..+$`)

// pyCheckBracketedNetloc is urllib.parse._check_bracketed_netloc.
func pyCheckBracketedNetloc(netloc string) error {
	hostPort := netloc[strings.LastIndexByte(netloc, '@')+1:]
	var host string
	if before, bracketed, ok := strings.Cut(hostPort, "["); ok {
		if before != "" {
			return errBadURL
		}
		h, port, _ := strings.Cut(bracketed, "]")
		if port != "" && port[0] != ':' {
			return errBadURL
		}
		host = h
	} else {
		host, _, _ = strings.Cut(hostPort, ":")
	}
	if strings.HasPrefix(host, "v") {
		if !ipvFutureRe.MatchString(host) {
			return errBadURL
		}
		return nil
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Is4() {
		return errBadURL
	}
	return nil
}

// pyCheckNetloc is urllib.parse._checknetloc: a non-ASCII netloc must not
// gain a delimiter under NFKC.
func pyCheckNetloc(netloc string) error {
	n := strings.NewReplacer("@", "", ":", "", "#", "", "?", "").Replace(netloc)
	n2 := norm.NFKC.String(n)
	if n == n2 {
		return nil
	}
	if strings.ContainsAny(n2, "/?#@:") {
		return errBadURL
	}
	return nil
}

// pyParse is Python's urlparse(s, scheme): pySplit, then the ';params' of
// the last path segment for the schemes that have them.
func pyParse(s, scheme string) (pyParts, error) {
	p, err := pySplit(s, scheme)
	if err != nil {
		return p, err
	}
	if pyUsesParams[p.scheme] && strings.IndexByte(p.path, ';') >= 0 {
		i := strings.IndexByte(p.path, ';')
		if j := strings.LastIndexByte(p.path, '/'); j >= 0 {
			i = strings.IndexByte(p.path[j:], ';')
			if i >= 0 {
				i += j
			}
		}
		if i >= 0 {
			p.path, p.params = p.path[:i], p.path[i+1:]
		}
	}
	return p, nil
}

// unparse is Python's urlunparse (urlunsplit when params is "").
func (p pyParts) unparse() string {
	path := p.path
	if p.params != "" {
		path += ";" + p.params
	}
	n := len(p.scheme) + len(p.netloc) + len(path) + len(p.query) + len(p.fragment) + 6
	var b strings.Builder
	b.Grow(n)
	if p.scheme != "" {
		b.WriteString(p.scheme)
		b.WriteByte(':')
	}
	if p.netloc != "" || (p.scheme != "" && pyUsesNetloc[p.scheme] && !strings.HasPrefix(path, "//")) {
		b.WriteString("//")
		b.WriteString(p.netloc)
		if path != "" && path[0] != '/' {
			b.WriteByte('/')
		}
	}
	b.WriteString(path)
	if p.query != "" {
		b.WriteByte('?')
		b.WriteString(p.query)
	}
	if p.fragment != "" {
		b.WriteByte('#')
		b.WriteString(p.fragment)
	}
	return b.String()
}

// pyBase is a base URL for pyJoin, parsed once.
type pyBase struct {
	raw   string
	parts pyParts
	err   error
	// For fastResolve, when the base is a plain http(s) URL: its
	// "scheme://netloc", its path, its "?query" and its path's directory
	// ("" when the directory has empty or dot segments, which Python's
	// urljoin would rewrite).
	fastPrefix, fastPath, fastQuery, fastDir string
}

func newPyBase(raw string) pyBase {
	p, err := pyParse(raw, "")
	b := pyBase{raw: raw, parts: p, err: err}
	if err == nil && (p.scheme == "http" || p.scheme == "https") && plainHost(p.netloc) && p.params == "" &&
		(p.path == "" || p.path[0] == '/') && plainTail(p.path) && (p.query == "" || plainTail("?"+p.query)) {
		b.fastPrefix, b.fastPath = p.scheme+"://"+p.netloc, p.path
		if p.query != "" {
			b.fastQuery = "?" + p.query
		}
		dir := p.path[:strings.LastIndexByte(p.path, '/')+1]
		if dir == "" {
			dir = "/"
		}
		if !strings.Contains(dir[1:], "//") && !hasDotSegment(dir) {
			b.fastDir = dir
		}
	}
	return b
}

// fastResolve is pyJoin(base, val) followed by w3libSafeURL and the join
// with the response URL, for the common links that all three leave as
// they are apart from the join itself: an absolute http(s) URL with a
// lower-case host, an absolute path, a query, a fragment or a relative
// path, made of characters that need no quoting, without dot segments or
// ';'. ok=false sends val the long way.
func fastResolve(b *pyBase, val string) (string, bool) {
	if b.fastPrefix == "" || val == "" {
		return "", false
	}
	switch c := val[0]; {
	case c == 'h' && (strings.HasPrefix(val, "http://") || strings.HasPrefix(val, "https://")):
		rest := val[strings.IndexByte(val, '/')+2:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if !plainHost(rest[:end]) || !plainTail(rest[end:]) {
			return "", false
		}
		return val, true
	case c == '/':
		if len(val) > 1 && val[1] == '/' || !plainTail(val) || hasDotSegment(pathOf(val)) {
			return "", false
		}
		return b.fastPrefix + val, true
	case c == '?':
		if !plainTail(val) {
			return "", false
		}
		return b.fastPrefix + b.fastPath + val, true
	case c == '#':
		if !plainTail(val) {
			return "", false
		}
		return b.fastPrefix + b.fastPath + b.fastQuery + val, true
	case c == '.' || b.fastDir == "":
		return "", false
	}
	p := pathOf(val)
	if strings.IndexByte(p, ':') >= 0 || strings.Contains(p, "//") || hasDotSegment(p) || !plainTail(val) {
		return "", false
	}
	return b.fastPrefix + b.fastDir + val, true
}

// pathOf is the part of s before '?' or '#'.
func pathOf(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		return s[:i]
	}
	return s
}

// hasDotSegment reports whether the path p has a "." or ".." segment.
func hasDotSegment(p string) bool {
	for p != "" {
		seg := p
		if i := strings.IndexByte(p, '/'); i >= 0 {
			seg, p = p[:i], p[i+1:]
		} else {
			p = ""
		}
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// plainHost reports whether an http(s) netloc is one w3libSafeURL leaves
// as it is: a lower-case ASCII host with valid labels and an optional
// port written as Python's str(int(port)) writes it.
func plainHost(h string) bool {
	host, port, hasPort := strings.Cut(h, ":")
	if host == "" {
		return false
	}
	for i := 0; i < len(host); i++ {
		c := host[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	if !pyASCIIHostOK(host) {
		return false
	}
	if hasPort {
		if port == "" || len(port) > 5 || port[0] == '0' && len(port) > 1 {
			return false
		}
		n := 0
		for i := 0; i < len(port); i++ {
			if port[i] < '0' || port[i] > '9' {
				return false
			}
			n = n*10 + int(port[i]-'0')
		}
		if n > 65535 {
			return false
		}
	}
	return true
}

// plainTail reports whether path?query#fragment (each part optional)
// needs no quoting by w3libSafeURL for an http(s) URL and survives
// Python's split and unsplit unchanged: no ';' (params), no empty query
// or fragment, one '#' at most.
func plainTail(s string) bool {
	set := w3libPathSafe
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch c {
		case '%':
			if !(i+2 < len(s) && isHexByte(s[i+1]) && isHexByte(s[i+2])) {
				return false
			}
		case ';':
			if set == w3libPathSafe {
				return false
			}
		case '?':
			if set == w3libPathSafe {
				if i+1 == len(s) || s[i+1] == '#' {
					return false
				}
				set = w3libSpecialQuery
				continue
			}
		case '#':
			if set == w3libFragmentSafe || i+1 == len(s) {
				return false
			}
			set = w3libFragmentSafe
			continue
		}
		if !set[c] {
			return false
		}
	}
	return true
}

// pyJoin is Python's urljoin(base.raw, ref).
func pyJoin(base pyBase, ref string) (string, error) {
	if base.raw == "" {
		return ref, nil
	}
	if ref == "" {
		return base.raw, nil
	}
	if base.err != nil {
		return "", base.err
	}
	bp := base.parts
	u, err := pyParse(ref, bp.scheme)
	if err != nil {
		return "", err
	}
	if u.scheme != bp.scheme || !pyUsesRelative[u.scheme] {
		return ref, nil
	}
	if pyUsesNetloc[u.scheme] {
		if u.netloc != "" {
			return u.unparse(), nil
		}
		u.netloc = bp.netloc
	}
	if u.path == "" && u.params == "" {
		u.path, u.params = bp.path, bp.params
		if u.query == "" {
			u.query = bp.query
		}
		return u.unparse(), nil
	}
	var segs []string
	if strings.HasPrefix(u.path, "/") {
		segs = strings.Split(u.path, "/")
	} else {
		baseSegs := strings.Split(bp.path, "/")
		if baseSegs[len(baseSegs)-1] != "" {
			baseSegs = baseSegs[:len(baseSegs)-1]
		}
		segs = append(baseSegs, strings.Split(u.path, "/")...)
		// Python filters the empty segments between the first and the last.
		kept := segs[:1]
		for _, s := range segs[1 : len(segs)-1] {
			if s != "" {
				kept = append(kept, s)
			}
		}
		segs = append(kept, segs[len(segs)-1])
	}
	resolved := make([]string, 0, len(segs))
	for _, s := range segs {
		switch s {
		case "..":
			if len(resolved) > 0 {
				resolved = resolved[:len(resolved)-1]
			}
		case ".":
		default:
			resolved = append(resolved, s)
		}
	}
	if last := segs[len(segs)-1]; last == "." || last == ".." {
		resolved = append(resolved, "")
	}
	u.path = strings.Join(resolved, "/")
	if u.path == "" {
		u.path = "/"
	}
	return u.unparse(), nil
}

// Byte sets of w3lib.url (the RFC 3986 and WHATWG "safest" sets), on top
// of Python's quote's always-safe letters, digits and "_.-~".
var (
	w3libPathSafe     = quoteSet(":/?@!$&'()*+,;=%")
	w3libQuerySafe    = quoteSet(":/?@!$&'()*+,;=%")
	w3libSpecialQuery = quoteSet(":/?@!$&()*+,;=%")
	w3libFragmentSafe = quoteSet(":/?@!$&'()*+,;=%")
	w3libUserinfoSafe = quoteSet("!$&'()*+,")
)

func quoteSet(extra string) *[256]bool {
	var t [256]bool
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range "_.-~" + extra {
		t[c] = true
	}
	return &t
}

// pyQuote is Python's quote(b, safe) on bytes: every byte outside safe
// becomes %XX.
func pyQuote(b *strings.Builder, s string, safe *[256]bool) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if safe[c] {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
}

// quoteEscapes is pyQuote, except that a '%' that starts no escape
// becomes "%25": w3lib leaves it, but the link becomes a request as it is
// and Go's HTTP client cannot send such a URL (runtime/weburl makes the
// same choice; specs/scrapy-differences.md).
func quoteEscapes(b *strings.Builder, s string, safe *[256]bool) {
	for {
		i := strings.IndexByte(s, '%')
		if i < 0 {
			pyQuote(b, s, safe)
			return
		}
		pyQuote(b, s[:i], safe)
		if i+2 < len(s) && isHexByte(s[i+1]) && isHexByte(s[i+2]) {
			b.WriteByte('%')
		} else {
			b.WriteString("%25")
		}
		s = s[i+1:]
	}
}

func quoted(s string, safe *[256]bool) bool {
	for i := 0; i < len(s); i++ {
		if !safe[s[i]] {
			return false
		}
	}
	return true
}

// encodeIn is Python's s.encode(encoding) (strict): nil enc is UTF-8.
func encodeIn(s string, enc encoding.Encoding) (string, error) {
	if enc == nil || isASCII(s) {
		return s, nil
	}
	out, err := enc.NewEncoder().String(s)
	if err != nil {
		return "", errBadURL
	}
	return out, nil
}

// pyUnquote is Python's unquote (UTF-8, errors="replace").
func pyUnquote(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHexByte(s[i+1]) && isHexByte(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func isHexByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// idnaLabel is the IDNA 2003 nameprep + punycode of Python's idna codec
// for one non-ASCII label, with UTS #46 transitional mapping (which maps
// as nameprep does: case, ß to ss, compatibility forms).
var idnaLabel = idna.New(idna.MapForLookup(), idna.Transitional(true), idna.StrictDomainName(false))

// pyIDNA is Python's host.encode("idna"): ASCII labels as they are (each
// 1 to 63 bytes), others nameprepped and punycoded.
func pyIDNA(host string) (string, bool) {
	if isASCII(host) {
		// Every label 1 to 63 bytes; the last may be empty (a trailing
		// dot).
		start := 0
		for i := 0; i <= len(host); i++ {
			if i < len(host) && host[i] != '.' {
				continue
			}
			if n := i - start; n >= 64 || n == 0 && i < len(host) {
				return "", false
			}
			start = i + 1
		}
		return host, true
	}
	host = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".").Replace(host)
	labels := strings.Split(host, ".")
	trailing := ""
	if len(labels) > 1 && labels[len(labels)-1] == "" {
		labels, trailing = labels[:len(labels)-1], "."
	}
	out := make([]string, len(labels))
	for i, l := range labels {
		if isASCII(l) {
			if len(l) == 0 || len(l) >= 64 {
				return "", false
			}
			out[i] = l
			continue
		}
		a, err := idnaLabel.ToASCII(l)
		if err != nil || a == "" || len(a) >= 64 || strings.Contains(a, ".") {
			return "", false
		}
		out[i] = a
	}
	return strings.Join(out, ".") + trailing, true
}

// w3libSafeURL is w3lib 2.1's safe_url_string(s, encoding=enc): enc is the
// page encoding (nil: UTF-8), used for the query, the fragment and the
// user info; the path is always UTF-8. It fails (errBadURL) where w3lib
// raises: a port that is no number in 0-65535, a character enc cannot
// encode.
func w3libSafeURL(s string, enc encoding.Encoding) (string, error) {
	s = removeTabsNewlines(strings.TrimFunc(s, func(r rune) bool { return r <= ' ' }))
	p, err := pySplit(s, "")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	netloc := p.netloc
	if netloc != "" && !(quoted(netloc, w3libPathSafe) && !strings.ContainsAny(netloc, "@[]%:") && netloc == strings.ToLower(netloc) && pyASCIIHostOK(netloc)) {
		if netloc, err = w3libNetloc(p.netloc, enc); err != nil {
			return "", err
		}
	}
	if p.scheme != "" {
		b.WriteString(p.scheme)
		b.WriteByte(':')
	}
	// urlunsplit
	var path strings.Builder
	path.Grow(len(p.path))
	quoteEscapes(&path, p.path, w3libPathSafe)
	ps := path.String()
	if netloc != "" || (p.scheme != "" && pyUsesNetloc[p.scheme] && !strings.HasPrefix(ps, "//")) {
		b.WriteString("//")
		b.WriteString(netloc)
		if ps != "" && ps[0] != '/' {
			b.WriteByte('/')
		}
	}
	b.WriteString(ps)
	if p.query != "" {
		q, err := encodeIn(p.query, enc)
		if err != nil {
			return "", err
		}
		b.WriteByte('?')
		if w3libSpecialSchemes[p.scheme] {
			quoteEscapes(&b, q, w3libSpecialQuery)
		} else {
			quoteEscapes(&b, q, w3libQuerySafe)
		}
	}
	if p.fragment != "" {
		f, err := encodeIn(p.fragment, enc)
		if err != nil {
			return "", err
		}
		b.WriteByte('#')
		quoteEscapes(&b, f, w3libFragmentSafe)
	}
	return b.String(), nil
}

// pyASCIIHostOK reports whether an ASCII host passes Python's idna codec
// unchanged (labels of 1 to 63 bytes, a trailing dot allowed).
func pyASCIIHostOK(h string) bool {
	_, ok := pyIDNA(h)
	return ok
}

// w3libNetloc rebuilds a netloc as safe_url_string does: user info
// unquoted and quoted again, the host lower-cased and IDNA-encoded (or
// kept, in enc, when IDNA fails), the port as a number.
func w3libNetloc(netloc string, enc encoding.Encoding) (string, error) {
	var b strings.Builder
	hostinfo := netloc
	if i := strings.LastIndexByte(netloc, '@'); i >= 0 {
		userinfo := netloc[:i]
		hostinfo = netloc[i+1:]
		user, pass, hasPass := strings.Cut(userinfo, ":")
		pyQuote(&b, pyUnquote(user), w3libUserinfoSafe)
		if hasPass {
			b.WriteByte(':')
			pyQuote(&b, pyUnquote(pass), w3libUserinfoSafe)
		}
		b.WriteByte('@')
	}
	var host, port string
	ipv6 := false
	if _, bracketed, ok := strings.Cut(hostinfo, "["); ok {
		h, rest, _ := strings.Cut(bracketed, "]")
		host, ipv6 = h, true
		_, port, _ = strings.Cut(rest, ":")
	} else {
		host, port, _ = strings.Cut(hostinfo, ":")
	}
	if ipv6 && host != "" {
		// w3lib 2.1 writes Python's hostname, which has lost the
		// brackets: "http://[::1]:80/" becomes "http://::1:80/". We keep
		// them, as runtime/weburl does (specs/scrapy-differences.md).
		h, zone, hasZone := strings.Cut(host, "%")
		b.WriteString("[" + strings.ToLower(h))
		if hasZone {
			b.WriteString("%" + zone)
		}
		b.WriteByte(']')
	} else if host != "" {
		// Python's hostname: lower-cased, except an IPv6 zone.
		h, zone, hasZone := strings.Cut(host, "%")
		host = strings.ToLower(h)
		if hasZone {
			host += "%" + zone
		}
		if a, ok := pyIDNA(host); ok {
			b.WriteString(a)
		} else {
			h, err := encodeIn(host, enc)
			if err != nil || !utf8.ValidString(h) {
				return "", errBadURL
			}
			b.WriteString(h)
		}
	}
	if port != "" {
		n := 0
		for i := 0; i < len(port); i++ {
			c := port[i]
			if c < '0' || c > '9' {
				return "", errBadURL
			}
			if n = n*10 + int(c-'0'); n > 65535 {
				return "", errBadURL
			}
		}
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String(), nil
}

type linkBaseKey struct{}

// removeCommentsRe is w3lib.html's _REMOVECOMMENTS_RE.
var removeCommentsRe = regexp.MustCompile(`(?s)<!--.*?(?:-->|$)`)

// linkBaseURL is Scrapy's get_base_url(response) as link extraction uses
// it: the first <base href> in the first 4096 characters of the page,
// comments removed, made safe (page encoding) and joined with the safe
// response URL; else the safe response URL. A base href that w3lib would
// reject is ignored.
func linkBaseURL(resp *crawl.Response) string {
	return resp.Memo(linkBaseKey{}, func() any {
		respURL, err := w3libSafeURL(resp.URL, nil)
		if err != nil {
			respURL = resp.URL
		}
		text := firstChars(Text(resp), 4096)
		if !hasBaseTag(text) {
			return respURL
		}
		text = removeCommentsRe.ReplaceAllString(text, "")
		if m := baseHrefRe.FindStringSubmatch(text); m != nil {
			if href, err := w3libSafeURL(m[1], queryEncoding(Encoding(resp))); err == nil {
				if s, err := pyJoin(newPyBase(respURL), href); err == nil {
					return s
				}
			}
		}
		return respURL
	}).(string)
}

// firstChars is s[:n] in characters, as Python slices a str.
func firstChars(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if isASCII(s[:n]) {
		return s[:n]
	}
	c := 0
	for i := range s {
		if c == n {
			return s[:i]
		}
		c++
	}
	return s
}

// hasBaseTag reports whether s holds "<base" in any case, the test before
// the regular expressions run.
func hasBaseTag(s string) bool {
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 || len(s)-i < 5 {
			return false
		}
		if strings.EqualFold(s[i+1:i+5], "base") {
			return true
		}
		s = s[i+1:]
	}
}

// resolve is the URL of a link whose (stripped) attribute value is val,
// as Scrapy's _extract_links builds it, or ok=false when Scrapy skips it:
// urljoin with the base URL (a ValueError skips the link), process_value
// (None skips it; it sees the joined value before it is made safe),
// safe_url_string with the page encoding, urljoin with the response URL.
//
// Where safe_url_string raises (a port that is no number in 0-65535, a
// character the page encoding cannot encode) Scrapy 2.8 fails the whole
// extraction; we skip that one link, as Scrapy skips the hrefs urljoin
// rejects (specs/scrapy-differences.md).
func (uc *linkURLs) resolve(val string, process func(string) (string, bool, error)) (string, bool, error) {
	if process == nil {
		if s, ok := fastResolve(&uc.base, val); ok {
			return s, true, nil
		}
	}
	return uc.resolveWith(val, process)
}

// resolveLong is resolve without its fastResolve shortcut.
func (uc *linkURLs) resolveLong(val string) (string, bool, error) { return uc.resolveWith(val, nil) }

func (uc *linkURLs) resolveWith(val string, process func(string) (string, bool, error)) (string, bool, error) {
	joined, err := pyJoin(uc.base, val)
	if err != nil {
		return "", false, nil
	}
	if process != nil {
		v, ok, err := process(joined)
		if err != nil {
			return "", false, fmt.Errorf("process_value(%q): %w", joined, err)
		}
		if !ok {
			return "", false, nil
		}
		joined = v
	}
	safe, err := w3libSafeURL(joined, uc.enc)
	if err != nil {
		return "", false, nil
	}
	out, err := pyJoin(uc.resp, safe)
	if err != nil {
		return "", false, nil
	}
	return out, true, nil
}
