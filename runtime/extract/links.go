package extract

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/dlclark/regexp2/v2"
	"golang.org/x/net/html"
	"golang.org/x/text/encoding"

	"github.com/spiderrun/spiderrun/runtime/crawl"
	"github.com/spiderrun/spiderrun/runtime/extract/internal/html5"
	"github.com/spiderrun/spiderrun/runtime/weburl"
)

// Link is one extracted link, as Scrapy's scrapy.link.Link. URL is absolute
// and keeps its fragment; Fragment stays "" because Scrapy's LinkExtractor
// never sets it (the field exists for links built by hand).
type Link struct {
	URL      string `json:"url"`
	Text     string `json:"text"`
	Fragment string `json:"fragment"`
	NoFollow bool   `json:"nofollow"`
}

// IgnoredExtensions is Scrapy's IGNORED_EXTENSIONS (scrapy.linkextractors),
// the default of LinkExtractorOptions.DenyExtensions.
var IgnoredExtensions = []string{
	// archives
	"7z", "7zip", "bz2", "rar", "tar", "tar.gz", "xz", "zip",
	// images
	"mng", "pct", "bmp", "gif", "jpg", "jpeg", "png", "pst", "psp", "tif", "tiff", "ai", "drw",
	"dxf", "eps", "ps", "svg", "cdr", "ico",
	// audio
	"mp3", "wma", "ogg", "wav", "ra", "aac", "mid", "au", "aiff",
	// video
	"3gp", "asf", "asx", "avi", "mov", "mp4", "mpg", "qt", "rm", "swf", "wmv", "m4a", "m4v", "flv",
	"webm",
	// office suites
	"xls", "xlsx", "ppt", "pptx", "pps", "doc", "docx", "odt", "ods", "odg", "odp",
	// other
	"css", "pdf", "exe", "bin", "rss", "dmg", "iso", "apk",
}

// LinkExtractorOptions are the arguments of Scrapy's LinkExtractor. A nil
// slice means "Scrapy's default"; an empty non-nil slice means "none" (so
// Tags: []string{} extracts nothing, as tags=None does in Scrapy, and
// DenyExtensions: []string{} denies no extension).
type LinkExtractorOptions struct {
	Allow          []string `json:"allow,omitempty"` // regexes; a link must match one
	Deny           []string `json:"deny,omitempty"`  // regexes; a link matching one is dropped
	AllowDomains   []string `json:"allow_domains,omitempty"`
	DenyDomains    []string `json:"deny_domains,omitempty"`
	RestrictXPaths []string `json:"restrict_xpaths,omitempty"`
	RestrictCSS    []string `json:"restrict_css,omitempty"`
	RestrictText   []string `json:"restrict_text,omitempty"` // regexes on the link text
	Tags           []string `json:"tags,omitempty"`          // default a, area
	Attrs          []string `json:"attrs,omitempty"`         // default href
	Canonicalize   bool     `json:"canonicalize,omitempty"`
	Unique         *bool    `json:"unique,omitempty"` // default true
	Strip          *bool    `json:"strip,omitempty"`  // default true
	DenyExtensions []string `json:"deny_extensions,omitempty"`
	// ProcessValue rewrites each attribute value, joined with the base URL
	// as Python's urljoin joins it but not yet made safe (spaces and
	// non-ASCII as written, "javascript:..." untouched); ok=false drops it
	// (Python's None; "" is a value: the response URL). What it returns
	// is made safe and joined with the response URL. ProcessValueErr is
	// the same for callers that can fail (a JS function); an error aborts
	// the extraction.
	ProcessValue    func(string) (string, bool)                 `json:"-"`
	ProcessValueErr func(string) (v string, ok bool, err error) `json:"-"`
	// MaxLinks caps the links read from one page (LINKEXTRACTOR_MAX_LINKS;
	// 0 = no cap, Scrapy has none): the first MaxLinks candidates in
	// document order, counted before duplicates are dropped and the
	// filters apply; the rest of the page is not read. Extract tells when
	// it happened.
	MaxLinks int `json:"-"`
}

// LinkExtractor is Scrapy's LxmlLinkExtractor. It is immutable and safe for
// concurrent use.
type LinkExtractor struct {
	allow, deny               []*urlPattern
	restrictText              []*regexp2.Regexp
	allowDomains, denyDomains []string
	restrictXPaths            []string
	restrictCSS               []string
	tags, attrs               map[string]bool
	// tagList and attrList hold small tags/attrs sets (the usual a, area
	// and href): comparing a few strings beats hashing each name.
	tagList, attrList    []string
	tagsKey, attrsKey    string
	canonicalize, unique bool
	strip                bool
	denyExt              []string
	// denyExtByTail indexes denyExt by the part from its last '.': a path
	// ending with e ends with e's tail, and that tail is what follows the
	// path's own last '.', so one map look-up finds the few e to test.
	denyExtByTail map[string][]string
	process       func(string) (string, bool, error)
	maxLinks      int
}

// NewLinkExtractor validates opts (regexes, XPath, CSS) and builds an
// extractor.
func NewLinkExtractor(opts LinkExtractorOptions) (*LinkExtractor, error) {
	le := &LinkExtractor{
		canonicalize: opts.Canonicalize,
		unique:       opts.Unique == nil || *opts.Unique,
		strip:        opts.Strip == nil || *opts.Strip,
		maxLinks:     max(opts.MaxLinks, 0),
	}
	var err error
	if le.allow, err = compileURLPatterns("allow", opts.Allow); err != nil {
		return nil, err
	}
	if le.deny, err = compileURLPatterns("deny", opts.Deny); err != nil {
		return nil, err
	}
	if le.restrictText, err = compileAll("restrict_text", opts.RestrictText); err != nil {
		return nil, err
	}
	for _, d := range opts.AllowDomains {
		le.allowDomains = append(le.allowDomains, strings.ToLower(d))
	}
	for _, d := range opts.DenyDomains {
		le.denyDomains = append(le.denyDomains, strings.ToLower(d))
	}
	for i, x := range opts.RestrictXPaths {
		if err := CompileXPath(x); err != nil {
			return nil, fmt.Errorf("restrict_xpaths[%d]: %w", i, err)
		}
	}
	for i, c := range opts.RestrictCSS {
		if err := CompileCSS(c); err != nil {
			return nil, fmt.Errorf("restrict_css[%d]: %w", i, err)
		}
	}
	le.restrictXPaths, le.restrictCSS = opts.RestrictXPaths, opts.RestrictCSS
	le.tags = toSet(opts.Tags, []string{"a", "area"})
	le.attrs = toSet(opts.Attrs, []string{"href"})
	le.tagsKey, le.attrsKey = setKey(le.tags), setKey(le.attrs)
	le.tagList, le.attrList = smallSet(le.tags), smallSet(le.attrs)
	ext := opts.DenyExtensions
	if ext == nil {
		ext = IgnoredExtensions
	}
	for _, e := range ext {
		// Scrapy lower-cases the path, not the extensions: "PDF" never
		// matches.
		le.denyExt = append(le.denyExt, "."+e)
	}
	le.denyExtByTail = map[string][]string{}
	for _, e := range le.denyExt {
		tail := e[strings.LastIndexByte(e, '.'):]
		le.denyExtByTail[tail] = append(le.denyExtByTail[tail], e)
	}
	switch {
	case opts.ProcessValueErr != nil:
		le.process = opts.ProcessValueErr
	case opts.ProcessValue != nil:
		pv := opts.ProcessValue
		le.process = func(s string) (string, bool, error) { v, ok := pv(s); return v, ok, nil }
	}
	return le, nil
}

func compileAll(field string, pats []string) ([]*regexp2.Regexp, error) {
	var out []*regexp2.Regexp
	for i, p := range pats {
		re, err := CompileRegex(p)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func compileURLPatterns(field string, pats []string) ([]*urlPattern, error) {
	var out []*urlPattern
	for i, p := range pats {
		re, err := CompileURLPattern(p)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		out = append(out, re)
	}
	return out, nil
}

func anyURLMatch(res []*urlPattern, s string) (bool, error) {
	for _, re := range res {
		ok, err := re.MatchString(s)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func toSet(v, def []string) map[string]bool {
	if v == nil {
		v = def
	}
	m := make(map[string]bool, len(v))
	for _, s := range v {
		m[s] = true
	}
	return m
}

func anyMatch(res []*regexp2.Regexp, s string) (bool, error) {
	for _, re := range res {
		ok, err := re.MatchString(s)
		if err != nil {
			return false, regexErr(re.String(), err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// urlIsFromAnyDomain is Scrapy's url_is_from_any_domain; like Scrapy it
// compares the whole netloc (Python's urlparse), so a host with a port or
// user info must be listed with them.
func urlIsFromAnyDomain(rawURL string, domains []string) bool {
	netloc, err := weburl.Netloc(rawURL)
	if err != nil {
		return false
	}
	host := strings.ToLower(netloc)
	if host == "" {
		return false
	}
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

func isValidLinkScheme(u string) bool {
	scheme, _, ok := strings.Cut(u, "://")
	if !ok {
		return false
	}
	switch scheme {
	case "http", "https", "file", "ftp":
		return true
	}
	return false
}

// Matches is LinkExtractor.matches(url): the domain and allow/deny tests
// alone.
func (le *LinkExtractor) Matches(rawURL string) (bool, error) {
	if len(le.allow) > 0 {
		ok, err := anyURLMatch(le.allow, rawURL)
		if err != nil || !ok {
			return false, err
		}
	}
	if len(le.deny) > 0 {
		bad, err := anyURLMatch(le.deny, rawURL)
		if err != nil || bad {
			return false, err
		}
	}
	if len(le.allowDomains) > 0 && !urlIsFromAnyDomain(rawURL, le.allowDomains) {
		return false, nil
	}
	if len(le.denyDomains) > 0 && urlIsFromAnyDomain(rawURL, le.denyDomains) {
		return false, nil
	}
	return true, nil
}

func (le *LinkExtractor) allowed(l Link) (bool, error) {
	if !isValidLinkScheme(l.URL) {
		return false, nil
	}
	if ok, err := le.Matches(l.URL); err != nil || !ok {
		return false, err
	}
	if len(le.denyExt) > 0 && le.deniedExtension(weburl.Path(l.URL)) {
		return false, nil
	}
	if len(le.restrictText) > 0 {
		return anyMatch(le.restrictText, l.Text)
	}
	return true, nil
}

// deniedExtension reports whether the lower-cased path p ends with one of
// denyExt. Only the part from p's last '.' is lower-cased (lower-casing
// maps rune by rune and '.' is always a rune of its own).
func (le *LinkExtractor) deniedExtension(p string) bool {
	i := strings.LastIndexByte(p, '.')
	if i < 0 {
		return false
	}
	es := le.denyExtByTail[strings.ToLower(p[i:])]
	if len(es) == 0 {
		return false
	}
	p = strings.ToLower(p)
	for _, e := range es {
		if strings.HasSuffix(p, e) {
			return true
		}
	}
	return false
}

// ExtractLinks returns the page's links in document order, filtered and
// deduplicated as Scrapy's LxmlLinkExtractor.extract_links does. Only HTML
// and XML responses have links; a page that cannot be parsed is an error.
func (le *LinkExtractor) ExtractLinks(resp *crawl.Response) ([]Link, error) {
	links, _, err := le.Extract(resp)
	return links, err
}

// Extract is ExtractLinks that also tells whether the page had more
// candidate links than MaxLinks (the ones past the cap were not read).
//
// An HTML page of 1 MiB or more whose document has not been parsed yet,
// read without restrict_xpaths or restrict_css, is read by a streaming
// pass (Stream of the HTML5 parser): the same tree construction, but
// subtrees are released as soon as they are complete, so a page of a
// million links costs its text plus the links kept, not its tree (about
// 7 × the page). Otherwise the links come from the page's document (Root).
func (le *LinkExtractor) Extract(resp *crawl.Response) (links []Link, truncated bool, err error) {
	if le.streams(resp) {
		all, truncated, err := le.extractFrom(resp, nil, le.urlContext(resp))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", resp.URL, err)
		}
		return all, truncated, nil
	}
	root, err := Root(resp)
	if err != nil {
		return nil, false, err
	}
	uc := le.urlContext(resp)
	docs := SelectorList{root}
	if len(le.restrictXPaths) > 0 || len(le.restrictCSS) > 0 {
		docs = SelectorList{}
		for _, x := range le.restrictXPaths {
			r, err := root.XPath(x)
			if err != nil {
				return nil, false, fmt.Errorf("restrict_xpaths: %w", err)
			}
			docs = append(docs, r...)
		}
		for _, c := range le.restrictCSS {
			r, err := root.CSS(c)
			if err != nil {
				return nil, false, fmt.Errorf("restrict_css: %w", err)
			}
			docs = append(docs, r...)
		}
	}
	var all []Link
	for _, d := range docs {
		if d.kind != kindNode {
			// Scrapy fails too (AttributeError: a string has no
			// elements to iterate).
			return nil, false, fmt.Errorf("restrict_xpaths/restrict_css: a region must be an element, not the text or attribute value %q", d.value)
		}
		links, cut, err := le.extractFrom(resp, d, uc)
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", resp.URL, err)
		}
		truncated = truncated || cut
		all = append(all, links...)
	}
	// Scrapy's unique_list(all_links): whole links (URL, text, fragment,
	// nofollow), across regions, which may overlap. One region's links
	// are unique already (extractFrom).
	if le.unique && len(docs) > 1 {
		all = dedupeLinks(all)
	}
	if le.maxLinks > 0 && len(all) > le.maxLinks {
		// Several regions: the cap holds for the page.
		all, truncated = all[:le.maxLinks], true
	}
	if all == nil {
		all = []Link{}
	}
	return all, truncated, nil
}

// MaxLinks is the cap on the links read from one page (0 = none).
func (le *LinkExtractor) MaxLinks() int { return le.maxLinks }

// streamMinSize is the body size from which an unparsed HTML page is
// read by the streaming pass. Smaller pages are parsed into their
// document as before: it is about 20 % faster on a 20 KB page, and the
// callbacks' selectors usually need the document anyway.
const streamMinSize = 1 << 20

// streams tells whether Extract reads resp with the streaming pass.
func (le *LinkExtractor) streams(resp *crawl.Response) bool {
	return len(resp.Body) >= streamMinSize && len(le.restrictXPaths) == 0 && len(le.restrictCSS) == 0 &&
		ResponseType(resp) == TypeHTML && !Parsed(resp)
}

// linkURLs is what links are resolved with (see urls.go): the base URL
// (get_base_url), the response URL as it is, and the page encoding (nil
// for UTF-8).
type linkURLs struct {
	base, resp weburl.Base
	enc        encoding.Encoding
}

type linkURLsKey struct{}

// urlContext is resp's linkURLs, shared by the extractors of a response.
func (le *LinkExtractor) urlContext(resp *crawl.Response) *linkURLs {
	return resp.Memo(linkURLsKey{}, func() any {
		return &linkURLs{base: weburl.NewBase(pageBase(resp).s), resp: weburl.NewBase(resp.URL), enc: queryEncoding(Encoding(resp))}
	}).(*linkURLs)
}

// dedupe is the unique_list(links, key=link_key) of Scrapy's
// LxmlParserLinkExtractor: link_key is the URL when canonicalize is on
// (the URLs are canonical by then), else canonicalize_url(url,
// keep_fragments=True), so "/~a" and "/%7Ea", or "?b=1&a=2" and
// "?a=2&b=1", are one link. The first link of a key is kept.
func (le *LinkExtractor) dedupe(links []Link) []Link {
	seen := make(map[string]bool, len(links))
	out := links[:0]
	for _, l := range links {
		key := l.URL
		if !le.canonicalize {
			key = weburl.Canonicalize(l.URL, true)
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, l)
	}
	return out
}

// dedupeLinks is Scrapy's unique_list(links): equal links (URL, text,
// fragment and nofollow) once, the first kept.
func dedupeLinks(links []Link) []Link {
	seen := make(map[Link]bool, len(links))
	out := links[:0]
	for _, l := range links {
		if seen[l] {
			continue
		}
		seen[l] = true
		out = append(out, l)
	}
	return out
}

const xhtmlNS = "http://www.w3.org/1999/xhtml"

func (le *LinkExtractor) tagName(d *document, n *html.Node) string {
	if d.typ == TypeXML && n.Namespace != "" && n.Namespace != xhtmlNS {
		return "{" + n.Namespace + "}" + n.Data
	}
	return n.Data
}

// candidateKey identifies a candidate-link list that several extractors
// (a CrawlSpider's rules) can share on one response: same region (nil for
// the whole page read by the streaming pass), tags, attributes, strip and
// cap, and no process_value.
type candidateKey struct {
	node         *html.Node
	tags, attrs  string
	strip, canon bool
	max          int
}

// smallSet lists m's members when there are at most four, else nil.
func smallSet(m map[string]bool) []string {
	if len(m) > 4 {
		return nil
	}
	l := make([]string, 0, len(m))
	for k := range m {
		l = append(l, k)
	}
	return l
}

// inSet reports whether s is in m, whose members list is small when not
// nil.
func inSet(small []string, m map[string]bool, s string) bool {
	if small == nil {
		return m[s]
	}
	for _, x := range small {
		if x == s {
			return true
		}
	}
	return false
}

func setKey(m map[string]bool) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, "\x00")
}

// candidateLinks is a region's candidate links, all of them and with
// repeated URLs dropped (first occurrence kept), shared by the extractors
// of one response; truncated when the cap cut them short.
type candidateLinks struct {
	all, unique []Link
	truncated   bool
}

// candidates lists the links of a region (sel; nil is the whole page, read
// by the streaming pass) before filtering, in document order (Scrapy's
// _extract_links), deduplicated when le.unique, at most le.maxLinks of
// them. The result may be shared: callers must not modify it.
func (le *LinkExtractor) candidates(resp *crawl.Response, sel *Selector, uc *linkURLs) ([]Link, bool, error) {
	read := func() ([]Link, bool, error) {
		if sel == nil {
			return le.streamLinks(Text(resp), uc)
		}
		return le.walkLinks(sel, uc)
	}
	if le.process == nil {
		var node *html.Node
		if sel != nil {
			node = sel.node
		}
		key := candidateKey{node, le.tagsKey, le.attrsKey, le.strip, le.canonicalize, le.maxLinks}
		c := resp.Memo(key, func() any {
			// Without process_value reading cannot fail (a page that does
			// not parse fails Root, or reads as flattened markup).
			l, cut, _ := read()
			return candidateLinks{all: l, unique: le.dedupe(append([]Link(nil), l...)), truncated: cut}
		}).(candidateLinks)
		if le.unique {
			return c.unique, c.truncated, nil
		}
		return c.all, c.truncated, nil
	}
	links, truncated, err := read()
	if err == nil && le.unique {
		links = le.dedupe(links)
	}
	return links, truncated, err
}

// linkAttrs calls f with every attribute of n that holds a link (n is an
// element named in le.tags).
func (le *LinkExtractor) linkAttrs(d *document, n *html.Node, f func(a html.Attribute) bool) bool {
	for _, a := range n.Attr {
		if a.Namespace == xmlnsSpace || !inSet(le.attrList, le.attrs, attrName(d, a)) {
			continue
		}
		if !f(a) {
			return false
		}
	}
	return true
}

func (le *LinkExtractor) walkLinks(sel *Selector, uc *linkURLs) ([]Link, bool, error) {
	var links []Link
	lt := linkTaker{le: le, uc: uc}
	// add keeps one more link, or returns false to stop the walk.
	add := func(n *html.Node, a html.Attribute) bool {
		l, keep, goOn := lt.take(n, a, len(links))
		if keep {
			links = append(links, l)
		}
		return goOn
	}
	var walk func(n *html.Node) bool
	walk = func(n *html.Node) bool {
		if n.Type == html.ElementNode && inSet(le.tagList, le.tags, le.tagName(sel.doc, n)) {
			if !le.linkAttrs(sel.doc, n, func(a html.Attribute) bool { return add(n, a) }) {
				return false
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if !walk(c) {
				return false
			}
		}
		return true
	}
	walk(sel.node)
	return links, lt.truncated, lt.err
}

// linkTaker turns link attributes into Links for both readers of a page
// (the tree walk and the streaming pass): makeLink's filters, then the
// MaxLinks cap.
type linkTaker struct {
	le        *LinkExtractor
	uc        *linkURLs
	truncated bool  // a link past the cap was found
	err       error // makeLink's error, which stops the read
}

// take reads attribute a of n when kept links are already there: the
// link to keep (keep), and whether the read goes on.
func (lt *linkTaker) take(n *html.Node, a html.Attribute, kept int) (l Link, keep, goOn bool) {
	l, ok, err := lt.le.makeLink(n, a.Val, lt.uc)
	switch {
	case err != nil:
		lt.err = err
		return Link{}, false, false
	case !ok:
		return Link{}, false, true
	case lt.le.maxLinks > 0 && kept == lt.le.maxLinks:
		lt.truncated = true
		return Link{}, false, false
	}
	return l, true, true
}

// streamLinks reads the candidate links of an HTML page with html5.Stream:
// each link element is handed over once complete (its text known), then
// released with everything else the parser is done with. Links come in
// document order (see html5.Stream for the broken markup where the parser
// itself moves elements around).
func (le *LinkExtractor) streamLinks(text string, uc *linkURLs) ([]Link, bool, error) {
	type seqLink struct {
		seq int
		Link
	}
	var links []seqLink
	lt := linkTaker{le: le, uc: uc}
	htmlDoc := &document{typ: TypeHTML}
	keep := func(n *html.Node) bool {
		lxmlNames(n) // what parseHTML's undoImplied does to the tree
		if !inSet(le.tagList, le.tags, n.Data) {
			return false
		}
		for _, a := range n.Attr {
			if a.Namespace != xmlnsSpace && inSet(le.attrList, le.attrs, attrName(htmlDoc, a)) {
				return true
			}
		}
		return false
	}
	closed := func(n *html.Node, seq int) bool {
		return le.linkAttrs(htmlDoc, n, func(a html.Attribute) bool {
			l, keep, goOn := lt.take(n, a, len(links))
			if keep {
				links = append(links, seqLink{seq, l})
			}
			return goOn
		})
	}
	opts := html5.StreamOptions{Keep: keep, Closed: closed}
	err := html5.Stream(text, opts, html5.ParseOptionEnableScripting(false))
	if err != nil && strings.Contains(err.Error(), "512") {
		// Too deep: read a flattened copy, as parseHTML does.
		links, lt.truncated = links[:0], false
		err = html5.Stream(flattenHTML(text), opts, html5.ParseOptionEnableScripting(false))
		if err != nil && strings.Contains(err.Error(), "512") {
			return nil, false, ErrTooDeep
		}
	}
	if err != nil {
		return nil, false, fmt.Errorf("parse html: %w", err)
	}
	if lt.err != nil {
		return nil, false, lt.err
	}
	slices.SortStableFunc(links, func(a, b seqLink) int { return a.seq - b.seq })
	out := make([]Link, len(links))
	for i, l := range links {
		out[i] = l.Link
	}
	return out, lt.truncated, nil
}

func (le *LinkExtractor) extractFrom(resp *crawl.Response, sel *Selector, uc *linkURLs) ([]Link, bool, error) {
	links, truncated, err := le.candidates(resp, sel, uc)
	if err != nil {
		return nil, false, err
	}
	// Scrapy deduplicates the raw links first (the first occurrence of a
	// URL wins even if a filter then drops it: candidates did that), then
	// _process_links filters, canonicalizes and deduplicates again. The
	// candidates may be shared, so the result is a new slice.
	out := make([]Link, 0, len(links))
	for _, l := range links {
		ok, err := le.allowed(l)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		if le.canonicalize {
			l.URL = weburl.Canonicalize(l.URL, false)
		}
		out = append(out, l)
	}
	// Filtering keeps URLs unique; only canonicalization can make two
	// equal.
	if le.unique && le.canonicalize {
		out = le.dedupe(out)
	}
	return out, truncated, nil
}

// makeLink is one link of Scrapy's _extract_links: the attribute value
// (stripped), joined with the base URL, given to process_value, made safe
// and joined with the response URL (linkURLs.resolve). ok=false skips it.
func (le *LinkExtractor) makeLink(n *html.Node, val string, uc *linkURLs) (Link, bool, error) {
	if le.strip {
		val = trimHTML5Space(val)
	}
	abs, ok, err := uc.resolve(val, le.process)
	if err != nil || !ok {
		return Link{}, false, err
	}
	// An absolute href may come back as the attribute value itself (or
	// part of it), a substring of the page (internal/html5): a copy keeps
	// queued requests from pinning the pages they were found on. A longer
	// result was built by the join and is new already (unless
	// process_value handed back some other page string).
	if len(abs) <= len(val) || le.process != nil {
		abs = strings.Clone(abs)
	}
	return Link{URL: abs, Text: stringValue(n), NoFollow: relHasNoFollow(n)}, true, nil
}

// trimHTML5Space is stripHTML5Whitespace (strings.Trim of " \t\n\r\f")
// without building a byte set per call.
func trimHTML5Space(s string) string {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' }
	i, j := 0, len(s)
	for i < j && isSpace(s[i]) {
		i++
	}
	for j > i && isSpace(s[j-1]) {
		j--
	}
	return s[i:j]
}

func relHasNoFollow(n *html.Node) bool {
	for _, a := range n.Attr {
		if a.Key == "rel" && a.Namespace == "" {
			for _, f := range strings.Fields(strings.ReplaceAll(a.Val, ",", " ")) {
				if f == "nofollow" {
					return true
				}
			}
		}
	}
	return false
}
